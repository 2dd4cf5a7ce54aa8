"""The agent's desk through the Django test client: the inbox (only the agent's inboxes, filters, SLA badges,
search, a fixed number of queries), the conversation page (thread, safe HTML, presence, reply and note, the
collision check, settings), who may see and do what, and the actions on the conversation's order — the
order changed, its timeline and the conversation's thread both saying so, an unverified sender refused."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from omnishop.backoffice.tests.orders_shop import Shop, carrier, customer
from omnishop.backoffice.tests.test_home import signed_in, staff_in
from omnishop.orders import services as orders
from omnishop.orders.models import Order, OrderEvent, ReturnRequest
from omnishop.payments.models import Refund
from omnishop.support import services
from omnishop.support.models import CannedReply, Conversation, Inbox, Message

pytestmark = pytest.mark.django_db
S = Conversation.Status


@pytest.fixture
def store(web_channel):
    return Shop(web_channel)


@pytest.fixture
def agent(email_inbox):
    user = staff_in("customer_service", username="cara")
    email_inbox.members.add(user)
    return user


@pytest.fixture
def desk(agent):
    return signed_in(agent)


@pytest.fixture
def ada_order(store):
    ada = customer()
    return store.checkout({store.variant(price="40.00"): 2}, customer=ada)


@pytest.fixture
def about_order(write_in, ada_order):
    """Ada writes about her paid order: the conversation is linked to it."""
    conversation = write_in(f"Where is my order {ada_order.number}?").conversation
    assert conversation.order_id == ada_order.pk
    return conversation


def url(name: str, *args) -> str:
    return reverse(f"backoffice:{name}", args=args)


def page_of(conversation) -> str:
    return url("support_conversation", conversation.number)


def act_url(conversation, action: str) -> str:
    return url("support_action", conversation.number, action)


def token(response) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode())[1]


def last_seen(response) -> int:
    return int(re.search(r'name="last_seen" value="(\d+)"', response.content.decode())[1])


def post_confirmed(client, path: str, data: dict):
    first = client.post(path, data)
    assert first.status_code == 200, first.content.decode()[:2000]
    assert "Please confirm" in first.content.decode()
    return client.post(path, {**data, "confirm": "yes"})


def field_error(response, field: str) -> str:
    m = re.search(rf'id="id_{field}_error">([^<]*)<', response.content.decode())
    return m[1] if m else ""


def thread(conversation) -> list[str]:
    return list(
        conversation.messages.filter(direction=Message.Direction.EVENT)
        .order_by("pk")
        .values_list("body_text", flat=True)
    )


# --- The inbox --------------------------------------------------------------------------------------------


def test_the_inbox_shows_only_conversations_of_the_agents_inboxes(desk, write_in, web_channel):
    other = Inbox.objects.create(code="vip", name="VIP desk", kind=Inbox.Kind.EMAIL, channel=web_channel)
    mine = write_in("My parcel is late", sender="ada@example.com").conversation
    theirs = write_in("Private VIP question", sender="bob@example.com", inbox=other).conversation
    html = desk.get(url("support")).content.decode()
    assert mine.number in html and theirs.number not in html
    assert f'href="{url("support")}"' in html  # the desk's navigation entry


def test_mine_and_unassigned_filters_and_the_status_filter(desk, agent, write_in):
    taken = write_in("first", sender="ada@example.com").conversation
    services.assign(conversation=taken, assignee=agent)
    free = write_in("second", sender="bob@example.com").conversation
    services.set_status(conversation=free, status=S.PENDING)
    mine = desk.get(url("support"), {"box": "mine"}).content.decode()
    assert taken.number in mine and free.number not in mine
    unassigned = desk.get(url("support"), {"box": "unassigned"}).content.decode()
    assert free.number in unassigned and taken.number not in unassigned
    pending = desk.get(url("support"), {"status": "pending"}).content.decode()
    assert free.number in pending and taken.number not in pending


def test_search_finds_by_customer_name_email_order_number_and_text(desk, write_in, about_order, ada_order):
    bob = write_in("The blue kettle leaks", sender="bob@example.com", sender_name="Bob Stone").conversation

    def found(q: str) -> str:
        return desk.get(url("support"), {"q": q}).content.decode()

    assert bob.number in found("bob ston") and about_order.number not in found("bob ston")
    assert about_order.number in found("ada@example.com") and bob.number not in found("ada@example.com")
    assert about_order.number in found(ada_order.number) and bob.number not in found(ada_order.number)
    assert bob.number in found("kettle") and about_order.number not in found("kettle")


def test_sla_due_soon_filter_and_worded_badges(desk, write_in):
    now = timezone.now()
    late = write_in("late one", sender="ada@example.com").conversation
    soon = write_in("soon one", sender="bob@example.com").conversation
    later = write_in("later one", sender="cy@example.com").conversation
    Conversation.objects.filter(pk=late.pk).update(first_response_due_at=now - timedelta(minutes=5))
    Conversation.objects.filter(pk=soon.pk).update(first_response_due_at=now + timedelta(hours=1))
    Conversation.objects.filter(pk=later.pk).update(first_response_due_at=now + timedelta(days=2))
    html = desk.get(url("support"), {"due_soon": "on"}).content.decode()
    assert late.number in html and soon.number in html and later.number not in html
    assert ">Overdue<" in html and ">Due soon<" in html


def test_the_inbox_page_costs_the_same_queries_for_3_or_25_conversations(desk, write_in, agent):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert desk.get(url("support")).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        services.set_tags(
            conversation=write_in(f"q{i}", sender=f"a{i}@example.com").conversation, names=["x"]
        )
    few = count()
    for i in range(3, 25):
        c = write_in(f"q{i}", sender=f"a{i}@example.com").conversation
        services.set_tags(conversation=c, names=["x", "y"])
        services.assign(conversation=c, assignee=agent)
    assert count() == few


# --- Who may see what -------------------------------------------------------------------------------------


def test_an_agent_outside_the_inbox_gets_404_for_its_conversation(write_in):
    conversation = write_in().conversation
    outsider = signed_in(staff_in("customer_service", username="olly"))
    assert outsider.get(page_of(conversation)).status_code == 404
    assert outsider.get(act_url(conversation, "refund")).status_code == 404
    assert conversation.number not in outsider.get(url("support")).content.decode()


def test_a_role_without_the_support_permission_gets_403(write_in, email_inbox):
    conversation = write_in().conversation
    picker = staff_in("warehouse", username="wes")
    email_inbox.members.add(picker)
    client = signed_in(picker)
    assert client.get(url("support")).status_code == 403
    assert client.get(page_of(conversation)).status_code == 403


def test_the_analyst_reads_but_may_not_answer(write_in, email_inbox):
    conversation = write_in("Hello there").conversation
    analyst = staff_in("analyst", username="ann")
    email_inbox.members.add(analyst)
    client = signed_in(analyst)
    page = client.get(page_of(conversation))
    assert page.status_code == 200 and "Hello there" in page.content.decode()
    assert 'name="body"' not in page.content.decode()
    assert (
        client.post(page_of(conversation), {"body": "hi", "send_as": "reply", "last_seen": 0}).status_code
        == 403
    )
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


# --- The conversation page ---------------------------------------------------------------------------------


def test_the_thread_shows_kinds_attachments_refusals_and_verdicts_and_warns_of_an_unverified_sender(
    desk, write_in
):
    message = write_in(
        "See the photo",
        auth_results={"spf": "fail", "dkim": "pass"},
        attachments=[
            services.IncomingAttachment("photo.png", "image/png", b"\x89PNG fake"),
            services.IncomingAttachment("run.exe", "application/octet-stream", b"MZ"),
        ],
    )
    conversation = message.conversation
    services.reply(conversation=conversation, author=None, body_text="Internal: check stock", note=True)
    html = desk.get(page_of(conversation)).content.decode()
    attachment = message.attachments.get()
    assert "photo.png" in html and attachment.sha256 in html and "image/png" in html
    assert "Refused run.exe: a file type that can run code" in html
    assert "SPF: fail" in html and "DKIM: pass" in html
    assert "Unverified sender" in html
    assert ">Customer<" in html and ">Internal note<" in html


def test_message_html_is_rendered_sanitised(desk, write_in):
    message = write_in("x", body_html="<p>Hi <b>there</b></p>")
    Message.objects.filter(pk=message.pk).update(
        body_html='<p>Hi <b>there</b></p><script>alert(1)</script><img src=x onerror="alert(2)">'
    )
    html = desk.get(page_of(message.conversation)).content.decode()
    assert "<p>Hi <b>there</b></p>" in html
    assert "alert(1)" not in html and "onerror" not in html


def test_the_page_says_who_else_has_it_open(desk, write_in, email_inbox):
    conversation = write_in().conversation
    other = staff_in("customer_service", username="dora")
    email_inbox.members.add(other)
    signed_in(other).get(page_of(conversation))
    html = desk.get(page_of(conversation)).content.decode()
    assert "Also open by" in html and "dora" in html
    # a minute later she no longer counts as having it open
    later = timezone.now() + timedelta(seconds=services.desk.PRESENCE_SECONDS + 1)
    assert services.desk.viewers(conversation=conversation, user=_user(desk), now=later) == []


def _user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def test_a_reply_is_sent_and_a_note_stays_internal(desk, write_in, agent):
    conversation = write_in().conversation
    seen = last_seen(desk.get(page_of(conversation)))
    done = desk.post(
        page_of(conversation),
        {"body": "On its way!", "send_as": "reply", "then": "pending", "last_seen": seen},
    )
    assert done.status_code == 302
    reply = conversation.messages.get(direction=Message.Direction.OUTBOUND)
    assert reply.body_text == "On its way!" and reply.author == agent
    conversation.refresh_from_db()
    assert conversation.status == S.PENDING and conversation.first_response_at is not None
    seen = last_seen(desk.get(page_of(conversation)))
    desk.post(page_of(conversation), {"body": "VIP", "send_as": "note", "last_seen": seen})
    assert conversation.messages.get(direction=Message.Direction.NOTE).body_text == "VIP"


def test_a_reply_is_held_back_when_the_customer_wrote_meanwhile_until_the_agent_confirms(desk, write_in):
    conversation = write_in("First question", external_id="<1@x>").conversation
    seen = last_seen(desk.get(page_of(conversation)))
    write_in("Actually, cancel it please", external_id="<2@x>", in_reply_to="<1@x>")
    data = {"body": "Shipped today", "send_as": "reply", "last_seen": seen}
    held = desk.post(page_of(conversation), data)
    assert held.status_code == 409
    html = held.content.decode()
    assert "Your message was not sent" in html and "Actually, cancel it please" in html
    assert "Shipped today" in html  # the agent's text is kept in the form
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()
    sent = desk.post(page_of(conversation), {**data, "send_anyway": "yes"})
    assert sent.status_code == 302
    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1


def test_a_colleagues_reply_meanwhile_also_holds_the_reply_back(desk, write_in, email_inbox):
    conversation = write_in().conversation
    seen = last_seen(desk.get(page_of(conversation)))
    other = staff_in("customer_service", username="dora")
    email_inbox.members.add(other)
    services.reply(conversation=conversation, author=other, body_text="Dora here, sorted it")
    held = desk.post(page_of(conversation), {"body": "Me too", "send_as": "reply", "last_seen": seen})
    assert held.status_code == 409 and "Dora here, sorted it" in held.content.decode()
    # the agent's own earlier messages do not count as news
    services.reply(conversation=conversation, author=_user(desk), body_text="my own note", note=True)
    assert (
        services.desk.arrived_since(conversation=conversation, last_seen=seen, user=_user(desk))[0].author
        == other
    )


def test_a_canned_reply_is_inserted_into_the_message(desk, write_in):
    conversation = write_in().conversation
    canned = CannedReply.objects.create(key="where", title="Where is my order", body="It left our warehouse.")
    seen = last_seen(desk.get(page_of(conversation)))
    page = desk.post(
        page_of(conversation), {"canned": canned.pk, "insert": "yes", "send_as": "reply", "last_seen": seen}
    )
    assert page.status_code == 200 and "It left our warehouse.</textarea>" in page.content.decode()
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_the_settings_change_status_priority_assignee_and_tags(desk, write_in, agent):
    conversation = write_in().conversation
    until = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = desk.post(
        url("support_controls", conversation.number),
        {
            "status": "snoozed",
            "snoozed_until": until,
            "priority": "urgent",
            "assignee": agent.pk,
            "tags": "Late, refund",
        },
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == S.SNOOZED and conversation.snoozed_until is not None
    assert conversation.priority == "urgent" and conversation.assignee == agent
    assert sorted(t.name for t in conversation.tags.all()) == ["late", "refund"]
    assert any(t.startswith("Status: Snoozed") for t in thread(conversation))


def test_linking_another_order_of_the_customer(desk, write_in, store, about_order):
    second = store.checkout({store.variant(): 1}, customer=about_order.customer)
    desk.post(url("support_link_order", about_order.number), {"order": second.number})
    about_order.refresh_from_db()
    assert about_order.order == second
    assert thread(about_order)[-1] == f"Linked to order {second.number}."


# --- Actions on the order ----------------------------------------------------------------------------------


def test_refund_an_amount_with_confirmation_changes_the_order_and_both_timelines(
    desk, agent, about_order, ada_order
):
    path = act_url(about_order, "refund")
    first = desk.get(path)
    data = {"token": token(first), "amount": "12.50", "reason": "late delivery"}
    assert post_confirmed(desk, path, data).status_code == 302
    refund = Refund.objects.get()
    assert refund.amount == Decimal("12.50")
    assert orders.money_of(ada_order)["refunded"] == Decimal("12.50")
    event = OrderEvent.objects.get(order=ada_order, kind="refunded")
    assert event.actor == f"staff:{agent.pk}"
    assert f"Refunded 12.50 GBP on order {ada_order.number}: late delivery." in thread(about_order)
    # the same form posted again refunds once
    desk.post(path, {**data, "confirm": "yes"})
    assert Refund.objects.count() == 1


def test_a_refund_above_the_payment_shows_the_domain_error_beside_the_amount(desk, about_order):
    path = act_url(about_order, "refund")
    data = {"token": token(desk.get(path)), "amount": "400.00", "reason": ""}
    page = desk.post(path, {**data, "confirm": "yes"})
    assert page.status_code == 400 and "refund" in field_error(page, "amount").lower()
    assert not Refund.objects.exists()


def test_an_unverified_sender_cannot_get_a_refund_until_the_agent_verifies_them(desk, write_in, ada_order):
    conversation = write_in(f"Refund {ada_order.number} to me", auth_results={"spf": "fail"}).conversation
    assert conversation.sender_verified is False
    path = act_url(conversation, "refund")
    data = {"token": token(desk.get(path)), "amount": "5.00", "reason": ""}
    refused = desk.post(path, {**data, "confirm": "yes"})
    assert "(unverified_sender)" in field_error(refused, "verified_elsewhere")
    assert not Refund.objects.exists()
    done = desk.post(path, {**data, "verified_elsewhere": "on", "how": "called back", "confirm": "yes"})
    assert done.status_code == 302 and Refund.objects.count() == 1
    assert any(
        "confirmed the customer's identity another way (called back)" in t for t in thread(conversation)
    )


def test_the_service_refuses_an_unverified_sender_and_a_role_without_refunds(
    write_in, ada_order, agent, email_inbox
):
    from omnishop.core.errors import PermissionDenied
    from omnishop.support.errors import UnverifiedSender

    conversation = write_in(f"about {ada_order.number}", auth_results={"dkim": "fail"}).conversation
    with pytest.raises(UnverifiedSender):
        services.desk.refund(conversation=conversation, user=agent, amount=Decimal("1.00"), key="k1")
    analyst = staff_in("analyst", username="ann")
    with pytest.raises(PermissionDenied):
        services.desk.refund(
            conversation=conversation, user=analyst, amount=Decimal("1.00"), key="k2", verified_elsewhere=True
        )
    assert not Refund.objects.exists()


def test_store_credit_from_the_conversation(desk, about_order, ada_order):
    path = act_url(about_order, "credit")
    post_confirmed(desk, path, {"token": token(desk.get(path)), "amount": "7.00", "reason": "sorry"})
    assert OrderEvent.objects.filter(order=ada_order, kind="store_credit_issued").exists()
    assert any("store credit" in t for t in thread(about_order))
    assert "7.00 GBP" in desk.get(page_of(about_order)).content.decode()  # the 360's balance


def test_change_the_address_then_cancel(desk, about_order, ada_order):
    path = act_url(about_order, "address")
    address = {
        "name": "Ada Lovelace",
        "line1": "2 New Street",
        "city": "Leeds",
        "postcode": "LS1 1AA",
        "country": "GB",
    }
    assert post_confirmed(desk, path, {"token": token(desk.get(path)), **address}).status_code == 302
    ada_order.refresh_from_db()
    assert ada_order.shipping_address["line1"] == "2 New Street"
    assert OrderEvent.objects.filter(order=ada_order, kind="address_changed").exists()
    path = act_url(about_order, "cancel")
    post_confirmed(desk, path, {"token": token(desk.get(path)), "everything": "on", "reason": "changed mind"})
    ada_order.refresh_from_db()
    assert ada_order.status == Order.Status.CANCELLED
    assert thread(about_order)[-1] == f"Order {ada_order.number} cancelled: changed mind."


def test_reship_splits_the_missing_item_into_its_own_order(desk, about_order, ada_order):
    line = ada_order.lines.get()
    path = act_url(about_order, "reship")
    assert (
        post_confirmed(desk, path, {"token": token(desk.get(path)), f"line_{line.pk}": 1}).status_code == 302
    )
    child = Order.objects.get(parent=ada_order)
    assert child.lines.get().quantity == 1
    assert OrderEvent.objects.filter(order=ada_order, kind="split").exists()
    assert thread(about_order)[-1].startswith(f"Split the missing item(s) off into order {child.number}")


def test_start_and_approve_a_return_then_resend_tracking(desk, agent, about_order, ada_order):
    carrier(code="dhl").__class__.objects.filter(code="dhl").update(
        tracking_url_template="https://track.example/{tracking_number}"
    )
    (fulfilment,) = orders.create_fulfilments(order=ada_order, actor="test")
    orders.ship_fulfilment(
        fulfilment=fulfilment, carrier="dhl", tracking_number="TRK1", parcels=1, actor="test"
    )
    orders.mark_delivered(fulfilment=fulfilment, actor="test")
    line = ada_order.lines.get()
    path = act_url(about_order, "start_return")
    data = {
        "token": token(desk.get(path)),
        f"return_{line.pk}": 1,
        "refund_to": "original",
        "reason": "broken",
    }
    assert post_confirmed(desk, path, data).status_code == 302
    rma = ReturnRequest.objects.get(order=ada_order)
    about_order.refresh_from_db()
    assert about_order.return_request == rma
    path = act_url(about_order, "decide_return")
    data = {"token": token(desk.get(path)), "rma": rma.number, "decision": "approve", "note": ""}
    assert post_confirmed(desk, path, data).status_code == 302
    rma.refresh_from_db()
    assert rma.status == ReturnRequest.Status.APPROVED
    assert OrderEvent.objects.filter(order=ada_order, kind="return_approved").exists()

    path = act_url(about_order, "tracking")
    assert post_confirmed(desk, path, {"token": token(desk.get(path))}).status_code == 302
    sent = about_order.messages.filter(direction=Message.Direction.OUTBOUND).get()
    assert ada_order.tracking_token in sent.body_text and "https://track.example/TRK1" in sent.body_text
    assert "https://track.example/TRK1" in desk.get(page_of(about_order)).content.decode()  # the 360


def test_actions_need_a_linked_order(desk, write_in):
    conversation = write_in("no order here", sender="new@example.com").conversation
    assert conversation.order_id is None
    response = desk.get(act_url(conversation, "refund"))
    assert response.status_code == 302
    assert "Actions on order" not in desk.get(page_of(conversation)).content.decode()


def test_the_conversation_page_costs_the_same_queries_for_1_or_21_messages(desk, write_in, agent):
    conversation = write_in("first").conversation

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert desk.get(page_of(conversation)).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for j in range(20):
        services.reply(conversation=conversation, author=agent, body_text=f"answer {j}", note=j % 2 == 0)
    assert count() == few


def test_the_page_carries_the_live_stream_resuming_after_the_last_message_shown(desk, write_in):
    message = write_in()
    html = desk.get(page_of(message.conversation)).content.decode()
    stream = reverse("support:agent-stream", kwargs={"number": message.conversation.number})
    assert f'data-stream-url="{stream}?after={message.pk}"' in html and 'id="support-thread"' in html
    assert "agent-live.js" in html and f'data-message-id="{message.pk}"' in html


def test_the_inbox_lists_newest_activity_first(desk, write_in):
    older = write_in("older", sender="ada@example.com").conversation
    newer = write_in("newer", sender="bob@example.com").conversation
    Conversation.objects.filter(pk=older.pk).update(last_message_at=timezone.now() - timedelta(hours=2))
    html = desk.get(url("support")).content.decode()
    assert html.index(newer.number) < html.index(older.number)
    write_in("older again", sender="ada@example.com")  # the customer writes again: back on top
    html = desk.get(url("support")).content.decode()
    assert html.index(older.number) < html.index(newer.number)
