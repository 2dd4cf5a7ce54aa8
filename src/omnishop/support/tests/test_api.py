"""The support API: channels hand over buyers' messages once; staff list, read and answer their inboxes."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from omnishop.conftest import ApiClient
from omnishop.customers.models import ChannelIdentity, Customer
from omnishop.support.models import Conversation, Inbox, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def market_inbox(market_channel):
    return Inbox.objects.create(
        code="market-msgs", name="Marketplace messages", kind=Inbox.Kind.CHANNEL, channel=market_channel
    )


@pytest.fixture
def market(api, make_key, market_channel, market_inbox) -> ApiClient:
    return api.with_key(make_key(market_channel, scopes=["support:write"]))


def buyer_message(**extra) -> dict:
    return {
        "sender": {"channel_customer_id": "buyer-77", "email": "bea@example.com", "name": "Bea Lu"},
        "text": "Is the blue one in stock?",
        "message_id": "m-1001",
        **extra,
    }


def test_a_channel_hands_over_a_buyers_message(market, market_channel):
    response = market.post("/support/messages", buyer_message(subject="Question"))
    assert response.status_code == 201, response.content
    body = response.json()
    conversation = Conversation.objects.get(number=body["conversation"])
    message = Message.objects.get(pk=body["message_id"])
    assert body["created"] is True and message.conversation == conversation
    assert message.via == Message.Via.CHANNEL and message.body_text == "Is the blue one in stock?"
    assert conversation.customer.email == "bea@example.com" and conversation.inbox.code == "market-msgs"
    assert ChannelIdentity.objects.filter(
        channel=market_channel, external_id="buyer-77", customer=conversation.customer
    ).exists()


def test_the_same_channel_message_id_is_stored_once(market):
    first = market.post("/support/messages", buyer_message())
    again = market.post("/support/messages", buyer_message(text="(resent)"))
    assert again.status_code == 200
    assert again.json()["message_id"] == first.json()["message_id"] and again.json()["created"] is False
    assert Message.objects.count() == 1


def test_an_idempotency_key_replays_the_first_answer(market):
    headers = {"Idempotency-Key": "k-1"}
    body = buyer_message(message_id="")
    first = market.post("/support/messages", body, headers=headers)
    again = market.post("/support/messages", body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1
    reused = market.post("/support/messages", buyer_message(message_id="", text="other"), headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"


def test_attachments_are_kept_within_limits_and_refused_with_a_reason(market, settings):
    settings.OMNISHOP_SUPPORT_ATTACHMENT_MAX_BYTES = 1024
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()
    big = base64.b64encode(b"x" * 2000).decode()
    exe = base64.b64encode(b"MZ").decode()
    response = market.post(
        "/support/messages",
        buyer_message(
            attachments=[
                {"filename": "photo.png", "content_type": "image/png", "content_base64": png},
                {"filename": "big.txt", "content_type": "text/plain", "content_base64": big},
                {"filename": "run.exe", "content_type": "application/octet-stream", "content_base64": exe},
            ]
        ),
    )
    assert response.status_code == 201
    refused = {r["filename"]: r["reason"] for r in response.json()["refused_attachments"]}
    assert set(refused) == {"big.txt", "run.exe"}
    message = Message.objects.get()
    assert [a.filename for a in message.attachments.all()] == ["photo.png"]
    bad = market.post(
        "/support/messages",
        buyer_message(
            message_id="m-2",
            attachments=[
                {"filename": "a.png", "content_type": "image/png", "content_base64": "@@not base64"}
            ],
        ),
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_attachment"
    assert bad.json()["error"]["field"] == "attachments[0].content_base64"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"sender": {}}, 422, "sender_required"),
        ({"text": ""}, 422, "empty_message"),
        ({"inbox": "nope"}, 404, "inbox_not_found"),
        ({"order_number": "WEB-ABCDEFGHJK"}, 404, "order_not_found"),
        ({"surprise": 1}, 422, "unknown_field"),
    ],
)
def test_bad_messages_are_refused_with_stable_codes_and_store_nothing(market, change, status, code):
    response = market.post("/support/messages", {**buyer_message(), **change})
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_a_channel_cannot_name_another_channels_customer(market, web_channel):
    from omnishop.customers.services import resolve_customer

    stranger = resolve_customer(channel=web_channel, external_id="w-1", email="s@example.com").customer
    response = market.post("/support/messages", buyer_message(sender={"customer_id": stranger.pk}))
    assert response.status_code == 404 and response.json()["error"]["code"] == "customer_not_found"


def test_without_the_support_scope_a_key_is_refused(api, make_key, market_channel, market_inbox):
    key = api.with_key(make_key(market_channel, scopes=["orders:read"]))
    assert key.post("/support/messages", buyer_message()).status_code == 403
    assert api.post("/support/messages", buyer_message()).status_code == 401
    assert not Message.objects.exists()


# --- Staff ---------------------------------------------------------------------------------------------


@pytest.fixture
def agent_api(make_agent, email_inbox):
    def make(
        username="ann",
        inboxes=(email_inbox,),
        perms=("view_conversation", "add_message", "change_conversation"),
    ):
        from django.contrib.auth.models import Permission

        agent = make_agent(username, inboxes=inboxes)
        agent.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="support", codename__in=perms)
        )
        client = Client()
        client.force_login(agent)
        return agent, ApiClient(client)

    return make


def test_an_agent_lists_and_reads_only_their_inboxes_conversations(agent_api, write_in, web_channel):
    _agent, client = agent_api()
    mine = write_in("Where is my parcel?").conversation
    other_inbox = Inbox.objects.create(code="vip", name="VIP", kind=Inbox.Kind.EMAIL, channel=web_channel)
    theirs = write_in("Secret", sender="vip@example.com", inbox=other_inbox).conversation
    listed = client.get("/support/conversations")
    assert listed.status_code == 200
    assert [c["number"] for c in listed.json()["items"]] == [mine.number]
    detail = client.get(f"/support/conversations/{mine.number}")
    assert detail.status_code == 200
    assert [m["body_text"] for m in detail.json()["messages"]] == ["Where is my parcel?"]
    hidden = client.get(f"/support/conversations/{theirs.number}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "conversation_not_found"


def test_filters_narrow_the_list(agent_api, write_in, email_inbox):
    agent, client = agent_api()
    a = write_in("one", sender="a@example.com").conversation
    b = write_in("two", sender="b@example.com").conversation
    client.patch(f"/support/conversations/{a.number}", {"assignee": agent.pk})
    client.patch(f"/support/conversations/{b.number}", {"status": "resolved"})

    def numbers(**params):
        response = client.get("/support/conversations", params)
        assert response.status_code == 200, response.content
        return [c["number"] for c in response.json()["items"]]

    assert numbers(assignee="me") == [a.number]
    assert numbers(status="resolved") == [b.number]
    assert numbers(customer=b.customer_id) == [b.number]
    assert set(numbers(inbox=email_inbox.code)) == {a.number, b.number}
    assert numbers(inbox="elsewhere") == []
    assert client.get("/support/conversations", {"status": "lost"}).status_code == 422


def test_an_agent_replies_notes_and_resolves(agent_api, write_in):
    _agent, client = agent_api()
    conversation = write_in().conversation
    reply = client.post(
        f"/support/conversations/{conversation.number}/messages",
        {"text": "It left our warehouse today.", "then": "pending"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert (
        reply.status_code == 201
        and reply.json()["direction"] == "outbound"
        and reply.json()["author"] == "ann"
    )
    replay = client.post(
        f"/support/conversations/{conversation.number}/messages",
        {"text": "It left our warehouse today.", "then": "pending"},
        headers={"Idempotency-Key": "r-1"},
    )
    assert replay.json()["id"] == reply.json()["id"]
    note = client.post(
        f"/support/conversations/{conversation.number}/messages", {"text": "VIP", "note": True}
    )
    assert note.json()["direction"] == "note"
    changed = client.patch(
        f"/support/conversations/{conversation.number}",
        {"status": "resolved", "priority": "high", "tags": ["Delivery", "late"]},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["status"] == "resolved" and changed.json()["priority"] == "high"
    assert changed.json()["tags"] == ["delivery", "late"]
    assert Message.objects.filter(conversation=conversation, direction="outbound").count() == 1


def test_illegal_changes_are_refused_with_their_codes(agent_api, write_in, make_agent):
    _agent, client = agent_api()
    conversation = write_in().conversation
    outsider = make_agent("olga")
    refused = client.patch(f"/support/conversations/{conversation.number}", {"assignee": outsider.pk})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_an_inbox_member"
    snooze = client.patch(f"/support/conversations/{conversation.number}", {"status": "snoozed"})
    assert snooze.status_code == 422 and snooze.json()["error"]["code"] == "snooze_needs_time"
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    ok = client.patch(
        f"/support/conversations/{conversation.number}", {"status": "snoozed", "snoozed_until": later}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "snoozed"


def test_an_agent_without_the_permission_is_refused(agent_api, write_in):
    _, client = agent_api("viewer", perms=("view_conversation",))
    conversation = write_in().conversation
    assert client.get(f"/support/conversations/{conversation.number}").status_code == 200
    post = client.post(f"/support/conversations/{conversation.number}/messages", {"text": "hi"})
    assert post.status_code == 403
    assert (
        client.patch(f"/support/conversations/{conversation.number}", {"priority": "high"}).status_code == 403
    )
    assert Conversation.objects.get().priority == "normal"


def test_conversations_follow_a_merge_and_its_undo_through_the_api(staff_api, write_in):
    survivor = Customer.objects.create(email="ada@example.com")
    duplicate = Customer.objects.create(email="ada.l@example.com")
    conversation = write_in(sender="ada.l@example.com").conversation
    assert conversation.customer == duplicate
    merged = staff_api.post("/customers/merges", {"survivor": survivor.pk, "merged": duplicate.pk})
    assert merged.status_code == 201, merged.content
    listed = staff_api.get("/support/conversations", {"customer": survivor.pk}).json()["items"]
    assert [c["number"] for c in listed] == [conversation.number]
    undone = staff_api.post(f"/customers/merges/{merged.json()['id']}/undo")
    assert undone.status_code == 200, undone.content
    assert staff_api.get("/support/conversations", {"customer": survivor.pk}).json()["items"] == []
    listed = staff_api.get("/support/conversations", {"customer": duplicate.pk}).json()["items"]
    assert [c["number"] for c in listed] == [conversation.number]
