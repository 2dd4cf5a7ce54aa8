"""The demo's support desk, as `omnishop demo` loads it: inboxes on every channel with SLA policies, the
customer-service agent in all of them and online, conversations in English and Chinese about real demo
orders, one overdue, a missed call to return, rated resolutions; a second load changes nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from omnishop.core.management.commands.demo import banner
from omnishop.demo import loader
from omnishop.demo import support as support_demo
from omnishop.support.models import (
    AgentPresence,
    Attachment,
    CallbackTask,
    CannedReply,
    Conversation,
    Inbox,
    Message,
)
from omnishop.support.services import canned, csat, jobs


@pytest.fixture
def small_demo(db, tmp_path):
    cache.clear()
    yield loader.load_demo(small=True, credentials_file=tmp_path / "demo-credentials.json")
    cache.clear()


def _state() -> dict:
    return {
        "inboxes": list(Inbox.objects.values_list("code", "kind", "sla_policy__name").order_by("code")),
        "conversations": list(
            Conversation.objects.values_list("number", "status", "updated_at", "satisfaction").order_by(
                "number"
            )
        ),
        "messages": Message.objects.count(),
        "canned": CannedReply.objects.count(),
    }


def test_the_demo_desk_has_every_channel_an_online_agent_and_stories_in_english_and_chinese(small_demo):
    kinds = set(Inbox.objects.values_list("kind", flat=True))
    assert kinds == {"email", "chat", "phone", "channel", "contact_form"}
    assert Inbox.objects.get(kind="channel").channel.code == "marketplace-eu"
    assert Inbox.objects.get(kind="email").sla_policy.holidays[:1] == ["2026-01-01"]
    agent = AgentPresence.objects.get(user__username=support_demo.AGENT_USERNAME)
    assert agent.is_online
    assert set(agent.user.support_inboxes.values_list("code", flat=True)) == {
        i.code for i in support_demo.INBOXES
    }
    conversations = Conversation.objects.select_related("order", "customer", "inbox")
    assert conversations.count() == 9
    assert {c.language for c in conversations} == {"en", "zh-hans"}
    assert set(Message.objects.filter(direction="inbound").values_list("via", flat=True)) == {
        "email",
        "chat",
        "phone",
        "channel",
        "contact_form",
    }
    linked = [c for c in conversations if c.order is not None]
    assert len(linked) >= 5
    assert all(c.order.customer_id == c.customer_id for c in linked)  # their own orders, never a stranger's
    damaged = Attachment.objects.get()
    assert damaged.content_type == "image/png" and damaged.file.read().startswith(b"\x89PNG")
    assert CallbackTask.objects.filter(done_at__isnull=True, due_at__gt=timezone.now()).count() == 1
    rated = conversations.filter(status="resolved", satisfaction__isnull=False)
    assert sorted(rated.values_list("satisfaction", flat=True)) == [4, 5]
    # SLA clocks run: one is past its target, another's target is still ahead.
    overdue = {b.conversation.pk for b in jobs.sla_breaches()}
    assert Conversation.objects.get(subject="Item arrived damaged").pk in overdue
    assert conversations.filter(
        first_response_due_at__gt=timezone.now(), first_response_at__isnull=True
    ).exists()
    # The canned replies were rendered for real: no placeholder left in what the agent sent.
    sent = Message.objects.filter(direction="outbound")
    assert sent.count() == 3 and not any("{{" in m.body_text for m in sent)
    chinese = sent.get(conversation__language="zh-hans")
    assert "感谢您的耐心" in chinese.body_text
    assert CannedReply.objects.count() == len(canned.STARTER_SET)
    assert csat.figures()["agents"][0].responses == 2


def test_loading_the_demo_again_changes_no_support_row(small_demo, tmp_path):
    before = _state()
    again = loader.load_demo(small=True, credentials_file=tmp_path / "demo-credentials.json")
    assert _state() == before
    assert again.created["support_conversations"] == 0


def test_the_banner_prints_the_agents_log_in_and_the_desk_and_the_log_in_works(small_demo):
    text = banner(small_demo, host="127.0.0.1", port=8000)
    line = next(line for line in text.splitlines() if line.strip().startswith("support agent"))
    assert "customer-service" in line and "http://127.0.0.1:8000/admin/ops/support/" in line
    member = next(m for m in small_demo.role_staff if m["username"] == "customer-service")
    assert member["password"] in line
    client = Client()
    assert client.login(username="customer-service", password=member["password"])
