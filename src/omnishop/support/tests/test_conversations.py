"""A message from any channel lands in one conversation per customer problem, bound to the customer and order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from omnishop.customers.merging import merge_customers, undo_merge
from omnishop.customers.models import Customer
from omnishop.support import services
from omnishop.support.errors import (
    EmptyMessage,
    InvalidConversationTransition,
    InvalidRating,
    NotAnInboxMember,
    OrderOfAnotherCustomer,
    SenderRequired,
    SnoozeNeedsTime,
)
from omnishop.support.models import Conversation, Inbox, Message, SlaPolicy

pytestmark = pytest.mark.django_db
S = Conversation.Status


def test_a_new_sender_gets_a_customer_and_a_conversation(write_in):
    message = write_in(
        "Hello, do you ship to Wales?", sender="New.Person@Example.com", sender_name="Nia Jones"
    )
    conversation = message.conversation
    assert conversation.customer.email == "new.person@example.com"
    assert conversation.customer.first_name == "Nia"
    assert conversation.status == S.OPEN
    assert conversation.number.startswith("C-")
    assert conversation.subject == "Hello, do you ship to Wales?"


def test_a_known_email_finds_the_unified_customer(write_in):
    ada = Customer.objects.create(email="ada@example.com", first_name="Ada")
    assert write_in(sender="ADA@example.com").conversation.customer == ada


def test_the_same_message_delivered_twice_is_stored_once(write_in):
    first = write_in(external_id="<m1@mail.example>")
    again = write_in(external_id="<m1@mail.example>")
    assert again.pk == first.pk
    assert Message.objects.count() == 1


def test_a_second_message_of_the_customer_joins_the_open_conversation_across_channels(write_in, web_channel):
    chat = Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    first = write_in("My order is late")
    second = write_in("Me again, on the chat", inbox=chat, via=Message.Via.CHAT)
    assert second.conversation == first.conversation
    assert Conversation.objects.count() == 1


def test_a_reply_to_a_resolved_conversation_reopens_it(write_in):
    first = write_in(external_id="<a@mail.example>")
    services.set_status(conversation=first.conversation, status=S.RESOLVED)
    again = write_in("It still has not come", external_id="<b@mail.example>", in_reply_to="<a@mail.example>")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert again.conversation_id == conversation.pk
    assert conversation.status == S.OPEN and conversation.resolved_at is None


def test_a_message_without_thread_after_resolution_starts_a_new_conversation(write_in):
    first = write_in()
    services.set_status(conversation=first.conversation, status=S.RESOLVED)
    assert write_in("Another question").conversation_id != first.conversation_id


def test_the_reply_token_threads_whatever_the_headers(write_in):
    first = write_in()
    services.set_status(conversation=first.conversation, status=S.RESOLVED)
    again = write_in("answer", reply_token=first.conversation.reply_token, sender="other@example.com")
    assert again.conversation_id == first.conversation_id


def test_the_order_named_in_the_message_is_linked(write_in, shop):
    ada = Customer.objects.create(email="ada@example.com")
    v = shop.variant()
    one = shop.checkout({v: 1}, key="o1", customer=ada)
    shop.checkout({v: 1}, key="o2", customer=ada)
    message = write_in(f"About order {one.number.lower()}, please")
    assert message.conversation.order == one


def test_the_only_open_order_is_linked_when_none_is_named(write_in, shop):
    ada = Customer.objects.create(email="ada@example.com")
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=ada)
    assert write_in("Where is it?").conversation.order == order


def test_someone_elses_order_number_is_not_linked(write_in, shop):
    owner = Customer.objects.create(email="owner@example.com")
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=owner)
    order.email = "owner@example.com"
    order.save(update_fields=["email"])
    message = write_in(f"Cancel {order.number}", sender="stranger@example.com")
    assert message.conversation.order is None


def test_html_is_sanitised_but_kept_as_received(write_in):
    html = '<p onclick="steal()">Hi<script>alert(1)</script><img src=x onerror=alert(2)></p>'
    message = write_in("Hi", body_html=html)
    assert "script" not in message.body_html and "onerror" not in message.body_html
    assert "onclick" not in message.body_html
    assert message.body_raw == html


def test_dangerous_or_oversized_attachments_are_refused_with_a_reason(write_in, settings):
    settings.OMNISHOP_SUPPORT_ATTACHMENT_MAX_BYTES = 1024
    message = write_in(
        attachments=[
            services.IncomingAttachment("receipt.pdf", "application/pdf", b"%PDF-1.4 small"),
            services.IncomingAttachment("invoice.exe", "application/octet-stream", b"MZ"),
            services.IncomingAttachment("photo.png", "image/png", b"x" * 2048),
        ]
    )
    kept = list(message.attachments.all())
    assert [a.filename for a in kept] == ["receipt.pdf"]
    assert len(kept[0].sha256) == 64 and kept[0].size == 14
    assert {r["filename"] for r in message.refused_attachments} == {"invoice.exe", "photo.png"}


def test_an_empty_message_or_a_message_without_sender_is_refused(write_in):
    with pytest.raises(EmptyMessage):
        write_in("   ")
    with pytest.raises(SenderRequired):
        write_in("hello", sender="")


def test_spoofed_email_marks_the_conversation_unverified(write_in):
    message = write_in(auth_results={"spf": "fail", "dkim": "none"})
    assert message.conversation.sender_verified is False
    assert (
        write_in("again", auth_results={"spf": "pass", "dkim": "pass"}).conversation.sender_verified is True
    )


def test_reply_records_first_response_and_notes_do_not(write_in, make_agent, email_inbox):
    agent = make_agent(inboxes=[email_inbox])
    conversation = write_in().conversation
    services.reply(conversation=conversation, author=agent, body_text="Looking into it", note=True)
    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    out = services.reply(conversation=conversation, author=agent, body_text="It ships today")
    conversation.refresh_from_db()
    assert out.direction == Message.Direction.OUTBOUND and out.via == Message.Via.EMAIL
    assert conversation.first_response_at is not None and conversation.assignee == agent


def test_registered_sender_gets_outbound_messages_after_commit(
    write_in, make_agent, email_inbox, django_capture_on_commit_callbacks
):
    sent = []
    previous = services.sender_for(Message.Via.CHAT)  # the chat's own sender, put back afterwards
    services.register_sender(Message.Via.CHAT, sent.append)
    try:
        conversation = write_in(via=Message.Via.CHAT).conversation
        with django_capture_on_commit_callbacks(execute=True):
            out = services.reply(
                conversation=conversation, author=make_agent(inboxes=[email_inbox]), body_text="Hi"
            )
        assert sent == [out]
    finally:
        services.register_sender(Message.Via.CHAT, previous)


def test_status_moves_follow_the_table(write_in):
    conversation = write_in().conversation
    with pytest.raises(SnoozeNeedsTime):
        services.set_status(conversation=conversation, status=S.SNOOZED)
    services.set_status(
        conversation=conversation, status=S.SNOOZED, snoozed_until=timezone.now() + timedelta(hours=1)
    )
    services.set_status(conversation=conversation, status=S.RESOLVED)
    with pytest.raises(InvalidConversationTransition):
        services.set_status(conversation=conversation, status=S.PENDING)
    assert Conversation.objects.get(pk=conversation.pk).resolved_at is not None


def test_snoozed_conversations_wake_up(write_in):
    conversation = write_in().conversation
    services.set_status(
        conversation=conversation, status=S.SNOOZED, snoozed_until=timezone.now() + timedelta(minutes=5)
    )
    assert services.wake_snoozed(now=timezone.now() + timedelta(minutes=6)) == 1
    assert Conversation.objects.get(pk=conversation.pk).status == S.OPEN


def test_csat_only_after_resolution_and_from_1_to_5(write_in):
    conversation = write_in().conversation
    with pytest.raises(InvalidConversationTransition):
        services.rate(conversation=conversation, rating=5)
    services.set_status(conversation=conversation, status=S.RESOLVED)
    with pytest.raises(InvalidRating):
        services.rate(conversation=conversation, rating=6)
    assert services.rate(conversation=conversation, rating=4, comment="quick").satisfaction == 4


def test_agents_see_only_their_inboxes(write_in, make_agent, email_inbox, web_channel):
    other = Inbox.objects.create(code="other", name="Other", kind=Inbox.Kind.EMAIL, channel=web_channel)
    mine = make_agent("mine", inboxes=[email_inbox])
    outsider = make_agent("outsider", inboxes=[other])
    conversation = write_in().conversation
    assert list(services.visible_to(mine)) == [conversation]
    assert list(services.visible_to(outsider)) == []
    with pytest.raises(NotAnInboxMember):
        services.assign(conversation=conversation, assignee=outsider)


def test_linking_someone_elses_order_is_refused(write_in, shop):
    other = Customer.objects.create(email="other@example.com")
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=other)
    with pytest.raises(OrderOfAnotherCustomer):
        services.link_order(conversation=write_in().conversation, order=order)


def test_conversations_move_with_a_merge_and_back_with_its_undo(write_in):
    survivor = Customer.objects.create(email="keep@example.com")
    conversation = write_in(sender="dupe@example.com").conversation
    duplicate = conversation.customer
    record = merge_customers(survivor=survivor, merged=duplicate)
    assert Conversation.objects.get(pk=conversation.pk).customer == survivor
    undo_merge(record=record)
    assert Conversation.objects.get(pk=conversation.pk).customer == duplicate


# --- SLA clocks and assignment ------------------------------------------------------------------------------

WEEKDAYS = {str(d): [["09:00", "17:00"]] for d in range(5)}


def policy(**kw) -> SlaPolicy:
    return SlaPolicy.objects.create(
        name=kw.pop("name", "office"), time_zone="Europe/London", business_hours=WEEKDAYS, **kw
    )


def test_business_minutes_skip_nights_weekends_and_holidays():
    p = policy(holidays=["2026-12-28"])
    friday_4pm = datetime(2026, 12, 25, 16, 0, tzinfo=UTC)  # London is UTC in winter
    # 60 minutes left Friday; Saturday, Sunday and the Monday holiday have none; Tuesday 09:00 + 60.
    assert services.add_business_minutes(p, friday_4pm, 120) == datetime(2026, 12, 29, 10, 0, tzinfo=UTC)
    assert services.business_minutes_between(p, friday_4pm, datetime(2026, 12, 29, 10, 0, tzinfo=UTC)) == 120


def test_business_hours_follow_summer_time():
    p = policy()
    monday = datetime(2026, 7, 6, 7, 30, tzinfo=UTC)  # 08:30 in London (BST)
    assert services.add_business_minutes(p, monday, 30) == datetime(2026, 7, 6, 8, 30, tzinfo=UTC)


def test_the_clock_pauses_while_waiting_on_the_customer(write_in, email_inbox):
    email_inbox.sla_policy = SlaPolicy.objects.create(
        name="24h", first_response_minutes=60, resolution_minutes=600
    )
    email_inbox.save()
    conversation = write_in().conversation
    due = conversation.resolution_due_at
    services.set_status(conversation=conversation, status=S.PENDING)
    Conversation.objects.filter(pk=conversation.pk).update(
        pending_since=timezone.now() - timedelta(minutes=90)
    )
    write_in("Here is the photo you asked for")
    conversation.refresh_from_db()
    assert conversation.status == S.OPEN
    assert conversation.sla_paused_minutes == 90
    assert conversation.resolution_due_at == due + timedelta(minutes=90)


def test_round_robin_and_least_open_pick_online_agents(write_in, make_agent, email_inbox):
    email_inbox.assignment = Inbox.Assignment.ROUND_ROBIN
    email_inbox.save()
    a, b = make_agent("a", inboxes=[email_inbox]), make_agent("b", inboxes=[email_inbox])
    make_agent("away", inboxes=[email_inbox], online=False)
    first = write_in(sender="one@example.com").conversation
    second = write_in(sender="two@example.com").conversation
    assert {first.assignee, second.assignee} == {a, b}
    email_inbox.assignment = Inbox.Assignment.LEAST_OPEN
    email_inbox.save()
    services.set_status(conversation=first, status=S.RESOLVED)
    third = write_in(sender="three@example.com").conversation
    assert third.assignee == first.assignee  # the one whose conversation was resolved has fewer open
