"""The desk's operations: periodic jobs run through the project's scheduler (snoozed conversations wake, SLA
breaches marked and alerted once, surveys sent, overdue callbacks flagged), the storefront contact form as a
conversation (rate-limited), the backlog take-over, and the admin screens' checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from omnishop.core import scheduler
from omnishop.customers.models import Customer
from omnishop.storefront.models import ContactMessage
from omnishop.support import services
from omnishop.support.admin import SlaPolicyForm, business_hours_problems
from omnishop.support.models import Call, CallbackTask, CannedReply, Conversation, Inbox, Message, SlaPolicy
from omnishop.support.services import contact, jobs

pytestmark = pytest.mark.django_db
S = Conversation.Status
SUPPORT_JOBS = {k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("support-")}


@pytest.fixture(autouse=True)
def _fresh_rate_limits(db):  # the cache is a database table; the contact form counts in it
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def agent(make_agent, email_inbox):
    user = make_agent("sam", inboxes=[email_inbox])
    user.email = "sam@shop.example"
    user.save()
    return user


def _run_scheduled_jobs() -> list[str]:
    """The support jobs as the scheduler runs them: the first tick schedules, a tick an interval later runs."""
    now = timezone.now()
    scheduler.run_due(now=now, schedule=SUPPORT_JOBS)
    return scheduler.run_due(now=now + timedelta(minutes=5), schedule=SUPPORT_JOBS)


def test_the_support_jobs_are_in_the_beat_schedule_and_their_tasks_resolve():
    assert set(SUPPORT_JOBS) == {
        "support-wake-snoozed",
        "support-sla-breaches",
        "support-send-surveys",
        "support-overdue-callbacks",
        "support-poll-imap",
        "support-resend-email",
    }
    for entry in SUPPORT_JOBS.values():
        assert callable(scheduler.resolve(entry["task"]))


def test_the_scheduler_wakes_snoozed_conversations_whose_time_has_come(write_in, agent):
    due = write_in("first", sender="a@example.com").conversation
    later = write_in("second", sender="b@example.com").conversation
    services.set_status(
        conversation=due, status=S.SNOOZED, snoozed_until=timezone.now() + timedelta(seconds=1)
    )
    services.set_status(
        conversation=later, status=S.SNOOZED, snoozed_until=timezone.now() + timedelta(days=1)
    )
    Conversation.objects.filter(pk=due.pk).update(snoozed_until=timezone.now() - timedelta(minutes=1))
    assert "support-wake-snoozed" in _run_scheduled_jobs()
    assert Conversation.objects.get(pk=due.pk).status == S.OPEN
    assert Conversation.objects.get(pk=later.pk).status == S.SNOOZED


def test_sla_breaches_are_listed_marked_once_and_alerted_to_the_agent(
    write_in, agent, email_inbox, mailoutbox
):
    policy = SlaPolicy.objects.create(name="Fast", first_response_minutes=30, resolution_minutes=120)
    email_inbox.sla_policy = policy
    email_inbox.save()
    hour_ago = timezone.now() - timedelta(hours=1)
    late = write_in("No answer yet", sender="late@example.com", received_at=hour_ago).conversation
    services.assign(conversation=late, assignee=agent)
    answered = write_in("Answered", sender="fine@example.com", received_at=hour_ago).conversation
    services.reply(conversation=answered, author=agent, body_text="Here you go")
    waiting = write_in("Waiting on them", sender="wait@example.com", received_at=hour_ago).conversation
    services.set_status(conversation=waiting, status=S.PENDING)
    fresh = write_in("Just now", sender="new@example.com").conversation
    breaches = jobs.sla_breaches()
    assert [(b.conversation.pk, b.target) for b in breaches] == [(late.pk, jobs.FIRST_RESPONSE)]
    assert fresh.pk not in {b.conversation.pk for b in breaches}
    assert "support-sla-breaches" in _run_scheduled_jobs()
    assert jobs.mark_sla_breaches() == []  # marked once, however often the job runs
    marks = Message.objects.filter(conversation=late, body_text__startswith="SLA breached")
    assert marks.count() == 1 and "first response" in marks.get().body_text
    (alert,) = [m for m in mailoutbox if "SLA" in m.subject]
    assert alert.to == ["sam@shop.example"] and late.number in alert.body
    # Two hours in, the resolution target passes too: a second, different mark.
    later = timezone.now() + timedelta(hours=2)
    again = jobs.mark_sla_breaches(now=later)
    assert [b.target for b in again if b.conversation.pk == late.pk] == [jobs.RESOLUTION]
    assert waiting.pk not in {b.conversation.pk for b in again}  # waiting on the customer: the clock stopped
    assert Message.objects.filter(conversation=late, body_text__startswith="SLA breached").count() == 2


def test_the_dashboards_action_list_counts_the_conversations_past_their_sla(write_in, agent, email_inbox):
    from omnishop.backoffice.analytics import queries

    email_inbox.sla_policy = SlaPolicy.objects.create(
        name="Fast", first_response_minutes=30, resolution_minutes=120
    )
    email_inbox.save()
    hour_ago = timezone.now() - timedelta(hours=1)
    late = write_in("No answer yet", sender="late@example.com", received_at=hour_ago).conversation
    answered = write_in("Answered", sender="fine@example.com", received_at=hour_ago).conversation
    services.reply(conversation=answered, author=agent, body_text="Here you go")
    waiting = write_in("Waiting on them", sender="wait@example.com", received_at=hour_ago).conversation
    services.set_status(conversation=waiting, status=S.PENDING)
    write_in("Just now", sender="new@example.com")

    def action():
        return {row.action: row for row in queries.actions().rows}["conversations_breaching_sla"]

    assert action().count == 1  # the unanswered one; answered, waiting on the customer and fresh are not
    assert action().link == "/admin/ops/support/?box=all&due_soon=on"
    services.reply(conversation=late, author=agent, body_text="Sorry for the wait")
    assert action().count == 0  # answered now, and its resolution is not due for another hour


def test_an_unassigned_breach_alerts_the_inboxs_agents(write_in, agent, make_agent, email_inbox, mailoutbox):
    other = make_agent("kim", inboxes=[email_inbox])
    other.email = "kim@shop.example"
    other.save()
    email_inbox.sla_policy = SlaPolicy.objects.create(name="Fast", first_response_minutes=5)
    email_inbox.save()
    write_in("Hello?", received_at=timezone.now() - timedelta(minutes=10))
    jobs.mark_sla_breaches()
    assert sorted(address for m in mailoutbox for address in m.to) == ["kim@shop.example", "sam@shop.example"]


def test_the_scheduler_sends_surveys_for_newly_resolved_conversations(write_in, agent, mailoutbox):
    conversation = write_in("Where is it?").conversation
    services.reply(conversation=conversation, author=agent, body_text="Here.", then=S.RESOLVED)
    assert "support-send-surveys" in _run_scheduled_jobs()
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def _missed_call(conversation, *, due_in: timedelta) -> CallbackTask:
    call = Call.objects.create(
        conversation=conversation,
        provider_sid=f"CA{conversation.pk:032d}",
        from_number="+442079460123",
        outcome=Call.Outcome.MISSED,
        started_at=timezone.now() - timedelta(hours=2),
    )
    return CallbackTask.objects.create(call=call, conversation=conversation, due_at=timezone.now() + due_in)


def test_overdue_callbacks_are_flagged_once_and_raise_the_priority(write_in, agent):
    late = write_in("missed call", sender="a@example.com").conversation
    soon = write_in("missed call too", sender="b@example.com").conversation
    overdue = _missed_call(late, due_in=timedelta(minutes=-30))
    _missed_call(soon, due_in=timedelta(hours=1))
    done = _missed_call(
        write_in("called back", sender="c@example.com").conversation, due_in=timedelta(hours=-3)
    )
    CallbackTask.objects.filter(pk=done.pk).update(done_at=timezone.now())
    assert list(jobs.overdue_callbacks()) == [overdue]
    assert "support-overdue-callbacks" in _run_scheduled_jobs()
    assert jobs.flag_overdue_callbacks() == []
    late.refresh_from_db()
    soon.refresh_from_db()
    assert late.priority == Conversation.Priority.HIGH and soon.priority == Conversation.Priority.NORMAL
    assert late.messages.filter(body_text__startswith="Callback to +442079460123 is overdue").count() == 1


def test_run_jobs_command_reports_each_job(write_in, agent, capsys):
    call_command("support", "run-jobs")
    out = capsys.readouterr().out
    for name in ("woken", "sla_breaches", "surveys", "overdue_callbacks"):
        assert f"{name}: 0" in out


# --- the contact form ------------------------------------------------------------------------------------


def test_a_contact_form_message_becomes_a_conversation_in_the_contact_inbox(web_channel, shop):
    ada = Customer.objects.create(email="ada@example.com", first_name="Ada")
    order = shop.checkout({shop.variant(): 1}, key="o1", customer=ada)
    shop.checkout({shop.variant(): 1}, key="o2", customer=ada)  # two open orders: only the named one links
    answer = Client().post(
        "/contact",
        {"email": "ada@example.com", "name": "Ada L", "order_number": order.number, "message": "It is late."},
    )
    assert answer.status_code == 302
    sent = ContactMessage.objects.get()
    message = Message.objects.get(via=Message.Via.CONTACT_FORM)
    assert message.external_id == f"contact:{sent.pk}" and message.body_text == "It is late."
    conversation = message.conversation
    assert conversation.inbox.kind == Inbox.Kind.CONTACT_FORM and conversation.inbox.channel == web_channel
    assert conversation.customer == ada and conversation.order == order
    assert conversation.subject == f"Order {order.number}: It is late."
    # The inbox's agents see it on the desk and answer it by e-mail.
    desk = _staff()
    conversation.inbox.members.add(desk)
    assert services.visible_to(desk).filter(pk=conversation.pk).exists()
    assert services.reply(conversation=conversation, author=desk, body_text="On its way").via == "email"


def _staff():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="desk", defaults={"is_staff": True})
    return user


def test_an_existing_contact_form_inbox_is_used_and_none_is_made_twice(web_channel):
    mine = Inbox.objects.create(code="web-contact", name="Web contact", kind=Inbox.Kind.CONTACT_FORM)
    for text in ("one", "two"):
        Client().post("/contact", {"email": f"{text}@example.com", "message": text})
    assert Inbox.objects.filter(kind=Inbox.Kind.CONTACT_FORM).count() == 1
    assert Conversation.objects.filter(inbox=mine).count() == 2


def test_the_backlog_of_contact_messages_is_taken_over_once(web_channel):
    for i in range(3):
        ContactMessage.objects.create(channel=web_channel, email=f"s{i}@example.com", message=f"Question {i}")
    assert contact.take_over_all() == 2 + 1
    assert contact.take_over_all() == 0
    call_command("support", "take-over-contact")
    assert Message.objects.filter(via=Message.Via.CONTACT_FORM).count() == 3
    assert contact.take_over(ContactMessage.objects.first()).conversation.inbox.code == contact.INBOX_CODE
    assert Message.objects.filter(via=Message.Via.CONTACT_FORM).count() == 3


def test_the_contact_form_is_rate_limited_per_client_address(web_channel, settings):
    settings.OMNISHOP_CONTACT_FORM_PER_HOUR = 2
    client = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(2):
        assert client.post("/contact", {"email": "x@example.com", "message": f"m{i}"}).status_code == 302
    refused = client.post("/contact", {"email": "x@example.com", "message": "m3"})
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert b"several messages in a short time" in refused.content
    assert ContactMessage.objects.count() == 2 and Conversation.objects.count() == 1  # one sender, one thread
    other = Client(REMOTE_ADDR="198.51.100.8")
    assert other.post("/contact", {"email": "y@example.com", "message": "hi"}).status_code == 302


# --- admin ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ({"7": [["09:00", "17:00"]]}, "'7' is not a weekday"),
        ({"0": [["9:00", "17:00"]]}, "Monday: ['9:00', '17:00'] is not a"),
        ({"1": [["17:00", "09:00"]]}, "Tuesday: 17:00-09:00 closes before it opens"),
        ({"2": [["09:00", "13:00"], ["12:00", "17:00"]]}, "Wednesday: 12:00-17:00 overlaps"),
        ({"3": "09:00-17:00"}, "Thursday: a list of"),
        ([["09:00", "17:00"]], "an object keyed by weekday number"),
    ],
)
def test_business_hours_mistakes_are_explained(hours, problem):
    assert any(problem in p for p in business_hours_problems(hours)), business_hours_problems(hours)


def test_the_sla_policy_form_refuses_bad_hours_holidays_and_zones_and_takes_good_ones():
    good = {
        "name": "UK office",
        "first_response_minutes": 60,
        "resolution_minutes": 1440,
        "time_zone": "Europe/London",
        "business_hours": '{"0": [["09:00", "12:30"], ["13:30", "17:30"]], "4": [["09:00", "16:00"]]}',
        "holidays": '["2026-12-25"]',
    }
    assert SlaPolicyForm(data=good).is_valid()
    bad = SlaPolicyForm(
        data={
            **good,
            "business_hours": '{"0": [["18:00", "09:00"]]}',
            "holidays": '["25/12/2026"]',
            "time_zone": "Mars/Olympus",
        }
    )
    assert not bad.is_valid()
    assert "Monday: 18:00-09:00 closes before it opens." in bad.errors["business_hours"]
    assert "'25/12/2026' is not a date written YYYY-MM-DD." in bad.errors["holidays"]
    assert "not a time zone name" in bad.errors["time_zone"][0]


def test_admin_screens_open_and_the_canned_reply_form_refuses_unknown_placeholders(
    admin_client, write_in, agent
):
    conversation = write_in("Hello there")
    for path in (
        "/admin/support/inbox/",
        "/admin/support/slapolicy/add/",
        "/admin/support/team/",
        "/admin/support/cannedreply/add/",
        "/admin/support/conversation/",
        f"/admin/support/conversation/{conversation.conversation_id}/change/",
        "/admin/support/call/",
        "/admin/support/callbacktask/",
    ):
        assert admin_client.get(path).status_code == 200, path
    page = admin_client.get(f"/admin/support/conversation/{conversation.conversation_id}/change/")
    assert (
        b"Hello there" in page.content and conversation.conversation.reply_token.encode() not in page.content
    )
    refused = admin_client.post(
        "/admin/support/cannedreply/add/",
        {"key": "hi", "language": "en", "title": "Hi", "body": "Hi {{ customer.password }}"},
    )
    assert refused.status_code == 200 and b"Unknown placeholder" in refused.content
    assert not CannedReply.objects.exists()
    saved = admin_client.post(
        "/admin/support/cannedreply/add/",
        {"key": "hi", "language": "en", "title": "Hi", "body": "Hi {{ customer.first_name }}"},
    )
    assert saved.status_code == 302 and CannedReply.objects.get().key == "hi"


def test_an_agent_sees_only_their_inboxes_conversations_in_the_admin(
    client, write_in, make_agent, web_channel
):
    from django.contrib.auth.models import Permission

    chat = Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    mine = write_in("In my inbox", sender="a@example.com").conversation
    theirs = write_in("Elsewhere", sender="b@example.com", inbox=chat, via="chat").conversation
    agent = make_agent("kim", inboxes=[mine.inbox])
    agent.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    client.force_login(agent)
    page = client.get("/admin/support/conversation/")
    assert mine.number.encode() in page.content and theirs.number.encode() not in page.content
    assert client.get(f"/admin/support/conversation/{theirs.pk}/change/").status_code == 302  # "not found"


def test_the_imap_job_does_nothing_without_a_mailbox(settings):
    from omnishop.support import tasks

    settings.OMNISHOP_SUPPORT_IMAP_HOST = ""
    assert tasks.poll_imap() == 0
