/* Live messages on the agent desk (docs/support.md "Live chat").

   The contract with the page that loads this script (the desk's conversation page, the inbox list):
   - an element with id="support-live" and data-stream-url: the server-sent-event stream to read, i.e.
     {% url 'support:agent-stream' number=conversation.number %} for one conversation or
     {% url 'support:agent-inbox-stream' %} for the agent's inboxes; add ?after=<the last message's id
     rendered on the page> so nothing between rendering and connecting is missed (without it the stream
     starts from the newest message);
   - an element with id="support-thread": each arriving message is appended to it as an <li> (or an <article>
     when the thread is not a list) with class "msg msg-<direction>" and data-message-id, holding the author,
     for the inbox stream the conversation number, and the text (as text, never as HTML);
   - optionally the element with id="support-live" doubles as a polite live region: it is given the text
     "New message from <author>" so a screen reader hears what arrived.
   The page fires a "support:message" event on document for each message (detail = the message's JSON), so
   the desk may update counters or lists itself. EventSource reconnects by itself, resuming after the last
   message it received (Last-Event-ID); messages already on the page (same data-message-id) are skipped. */
(function () {
  "use strict";
  var live = document.getElementById("support-live");
  var thread = document.getElementById("support-thread");
  if (!live || !thread || !live.dataset.streamUrl || !window.EventSource) return;

  function render(message) {
    if (thread.querySelector('[data-message-id="' + message.id + '"]')) return;
    var tag = /^(UL|OL)$/.test(thread.tagName) ? "li" : "article";
    var item = document.createElement(tag);
    item.className = "msg msg-" + message.direction;
    item.dataset.messageId = String(message.id);
    var head = document.createElement("p");
    head.className = "msg-head";
    var who = document.createElement("strong");
    who.textContent = message.author || message.direction;
    head.appendChild(who);
    if (live.dataset.showConversation !== undefined || /agent\/stream/.test(live.dataset.streamUrl)) {
      head.appendChild(document.createTextNode(" · " + message.conversation));
    }
    var time = document.createElement("time");
    time.dateTime = message.at;
    time.textContent = " " + new Date(message.at).toLocaleTimeString();
    head.appendChild(time);
    var body = document.createElement("p");
    body.className = "msg-body";
    body.textContent = message.text;
    item.appendChild(head);
    item.appendChild(body);
    thread.appendChild(item);
    if (live.getAttribute("aria-live")) {
      live.textContent = (live.dataset.announce || "New message from") + " " + (message.author || message.direction);
    }
    document.dispatchEvent(new CustomEvent("support:message", { detail: message }));
  }

  var stream = new EventSource(live.dataset.streamUrl, { withCredentials: true });
  stream.addEventListener("message", function (event) { render(JSON.parse(event.data)); });
})();
