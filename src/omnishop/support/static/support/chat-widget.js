/* The shop's chat widget (docs/support.md "Live chat"), on top of markup that works without it (a link to
   the contact page). It asks the server who the shopper is and whether anyone is online (the page itself is
   publicly cached), starts a chat with the first message, posts the next ones, and reads the answers live
   from a server-sent-event stream. The chat survives moving between pages (sessionStorage keeps its token).
   No inline script or style: the shop's Content-Security-Policy holds. */
(function () {
  "use strict";
  var root = document.getElementById("support-chat");
  if (!root || !window.fetch || !window.EventSource) return;
  var $ = function (sel) { return root.querySelector(sel); };
  var toggle = $(".chat-toggle"), panel = $(".chat-panel"), log = $("#chat-log"), status = $("#chat-status");
  var error = $("#chat-error"), startForm = $("#chat-start"), sendForm = $("#chat-send");
  var KEY = "omnishop.chat";
  var state = null, stream = null, seen = {};

  function saved() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function save(value) {
    try { value ? sessionStorage.setItem(KEY, JSON.stringify(value)) : sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": state.csrf_token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
        return data;
      });
    });
  }

  function showError(message) { error.textContent = message || ""; }

  function add(message) {
    if (seen[message.id]) return;
    seen[message.id] = true;
    var item = document.createElement("li");
    item.className = message.from;
    var who = document.createElement("span");
    who.className = "chat-who";
    who.textContent = message.from === "you" ? log.dataset.you : (message.author || log.dataset.agent);
    item.appendChild(who);
    item.appendChild(document.createTextNode(message.text));
    log.querySelector("ol").appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function listen(token) {
    if (stream) stream.close();
    // EventSource reconnects by itself when the server ends a (short-lived) stream, sending Last-Event-ID.
    stream = new EventSource(state.stream_url + "?token=" + encodeURIComponent(token));
    stream.addEventListener("message", function (event) { add(JSON.parse(event.data)); });
    stream.addEventListener("error", function () {
      if (stream.readyState === EventSource.CLOSED) showError("");
    });
  }

  function chatting(token) {
    startForm.hidden = true;
    sendForm.hidden = false;
    listen(token);
  }

  function describe() {
    status.textContent = state.online ? status.dataset.online : status.dataset.offline;
    $(".chat-who-fields").hidden = state.signed_in;
    $(".chat-email-field").hidden = state.signed_in && (state.has_email || state.online);
    $("#chat-email").required = !$(".chat-email-field").hidden;
    $("#chat-name").required = !state.signed_in;
  }

  function open() {
    panel.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    var first = startForm.hidden ? $("#chat-message") : startForm.querySelector("input:not([hidden]), textarea");
    var visible = Array.prototype.filter.call(startForm.querySelectorAll("input, textarea"), function (el) {
      return !el.closest("[hidden]");
    });
    (startForm.hidden ? $("#chat-message") : visible[0] || first).focus();
  }

  function close() {
    panel.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  }

  startForm.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var fields = startForm.elements;
    post(state.start_url, {
      name: fields.name.value, email: fields.email.value, message: fields.message.value,
      page: window.location.pathname + window.location.search
    }).then(function (data) {
      save({ token: data.token, email: fields.email.value });
      fields.message.value = "";
      chatting(data.token);
      $("#chat-message").focus();
    }).catch(function (e) { showError(e.message); });
  });

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = sendForm.elements.message, text = field.value;
    if (!text.trim()) return;
    showError("");
    var clientId = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    post(state.messages_url, { token: saved().token, message: text, client_id: clientId })
      .then(function () { field.value = ""; field.focus(); })
      .catch(function (e) { showError(e.message); });
  });

  sendForm.elements.message.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); sendForm.requestSubmit(); }
  });

  $(".chat-transcript").addEventListener("click", function (event) {
    var button = event.currentTarget;
    showError("");
    post(state.transcript_url, { token: saved().token }).then(function (data) {
      status.textContent = button.dataset.sent.replace("%(email)s", data.sent_to);
    }).catch(function (e) { showError(e.message); });
  });

  toggle.addEventListener("click", function () { panel.hidden ? open() : close(); });
  $(".chat-close").addEventListener("click", close);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });

  fetch(root.dataset.stateUrl, { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) throw new Error(response.statusText); return response.json(); })
    .then(function (data) {
      state = data;
      describe();
      $(".chat-fallback").hidden = true;
      toggle.hidden = false;
      var chat = saved();
      if (chat && chat.token) chatting(chat.token);
    })
    .catch(function () { /* no chat inbox or the server refused: the contact link stays */ });
})();
