"""CSAT: a resolved conversation's shopper gets one survey e-mail in their language with a signed, expiring
link; the page takes one rating per resolution; reopening closes the old link; figures per inbox and agent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from omnishop.customers.models import Customer
from omnishop.support import services
from omnishop.support.errors import AlreadyRated, SurveyClosed, SurveyLinkExpired, SurveyLinkInvalid
from omnishop.support.models import Conversation, Inbox, Message
from omnishop.support.services import csat

pytestmark = pytest.mark.django_db
S = Conversation.Status
LINK = re.compile(r"https?://\S+/support/rate/(\S+)")


@pytest.fixture
def agent(make_agent, email_inbox):
    return make_agent("sam", inboxes=[email_inbox])


@pytest.fixture
def resolved(write_in, agent):
    """Ada's conversation, answered and resolved."""
    Customer.objects.create(email="ada@example.com", first_name="Ada")

    def make(body="Where is my parcel?", **kw):
        conversation = write_in(body, **kw).conversation
        services.reply(conversation=conversation, author=agent, body_text="On its way.", then=S.RESOLVED)
        return Conversation.objects.get(pk=conversation.pk)

    return make


def _token_from(mail) -> str:
    return LINK.search(mail.body).group(1)


def test_a_resolved_conversation_gets_one_survey_email_with_a_working_link(resolved, mailoutbox, settings):
    settings.OMNISHOP_SITE_URL = "https://shop.example"
    conversation = resolved()
    assert csat.send_due_surveys() == 1
    assert csat.send_due_surveys() == 0  # once per resolution
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.com"]
    assert conversation.number in mail.subject and "Hello Ada," in mail.body
    assert "https://shop.example/support/rate/" in mail.body
    assert csat.open_survey(_token_from(mail)) == conversation
    assert (
        conversation.messages.filter(direction=Message.Direction.EVENT, body_text__contains="survey").count()
        == 1
    )


def test_the_survey_is_in_the_conversations_language(resolved, mailoutbox):
    resolved("我的包裹在哪里？", language="zh-hans")
    csat.send_due_surveys()
    (mail,) = mailoutbox
    assert "您" in mail.body and "Hello" not in mail.body


def test_the_shopper_rates_once_on_the_page_and_the_rating_is_stored(resolved):
    conversation = resolved()
    token = csat.survey_token(conversation)
    client = Client()
    page = client.get(f"/support/rate/{token}")
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "same-origin"
    assert b'name="rating"' in page.content and conversation.number.encode() in page.content
    done = client.post(f"/support/rate/{token}", {"rating": "4", "comment": " Quick and kind "})
    assert done.status_code == 302
    conversation.refresh_from_db()
    assert (conversation.satisfaction, conversation.satisfaction_comment) == (4, "Quick and kind")
    thanks = client.get(f"/support/rate/{token}")
    assert b"Thank you" in thanks.content and b'name="rating"' not in thanks.content
    again = client.post(f"/support/rate/{token}", {"rating": "1"})
    assert again.status_code == 409
    conversation.refresh_from_db()
    assert conversation.satisfaction == 4
    with pytest.raises(AlreadyRated):
        csat.submit(token=token, rating=2)


def test_a_rating_outside_one_to_five_is_refused_on_the_page(resolved):
    conversation = resolved()
    token = csat.survey_token(conversation)
    answer = Client().post(f"/support/rate/{token}", {"rating": "6"})
    assert answer.status_code == 422 and b"Choose a rating from 1 to 5" in answer.content
    conversation.refresh_from_db()
    assert conversation.satisfaction is None


def test_the_page_speaks_chinese_for_a_chinese_conversation(resolved):
    conversation = resolved("你好", language="zh-hans")
    page = Client().get(f"/support/rate/{csat.survey_token(conversation)}")
    assert "我们做得怎么样".encode() in page.content


def test_reopening_closes_the_old_link_and_the_next_resolution_gets_a_new_survey(
    resolved, write_in, agent, mailoutbox
):
    conversation = resolved()
    csat.send_due_surveys()
    old = _token_from(mailoutbox[0])
    assert csat.submit(token=old, rating=2).satisfaction == 2
    write_in("Actually it never came", reply_token=conversation.reply_token)  # reopens, clears the rating
    conversation.refresh_from_db()
    assert conversation.status == S.OPEN and conversation.satisfaction is None
    with pytest.raises(SurveyClosed):
        csat.open_survey(old)
    assert Client().get(f"/support/rate/{old}").status_code == 410
    services.set_status(conversation=conversation, status=S.RESOLVED, actor=agent)
    assert csat.send_due_surveys() == 1
    new = _token_from(mailoutbox[1])
    with pytest.raises(SurveyClosed):
        csat.submit(token=old, rating=1)
    assert csat.submit(token=new, rating=5).satisfaction == 5


def test_a_forged_or_expired_link_is_refused(resolved, settings):
    conversation = resolved()
    token = csat.survey_token(conversation)
    with pytest.raises(SurveyLinkInvalid):
        csat.open_survey(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    forged = signing.dumps([conversation.pk, "1"], salt="another.salt", compress=True)
    with pytest.raises(SurveyLinkInvalid):
        csat.open_survey(forged)
    assert Client().get(f"/support/rate/{forged}").status_code == 404
    settings.OMNISHOP_SUPPORT_SURVEY_DAYS = 0
    with pytest.raises(SurveyLinkExpired):
        csat.open_survey(token)


def test_old_resolutions_and_customers_without_email_get_no_survey(resolved, write_in, agent, mailoutbox):
    old = resolved()
    Conversation.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=30))
    phone_only = write_in("call me", sender="", sender_phone="+442079460123", via="phone").conversation
    services.set_status(conversation=phone_only, status=S.RESOLVED, actor=agent)
    assert csat.surveys_due() == []
    assert csat.send_due_surveys() == 0 and mailoutbox == []


def test_figures_per_inbox_and_agent(resolved, make_agent, email_inbox, web_channel, write_in):
    chat = Inbox.objects.create(code="chat", name="Web chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    kim = make_agent("kim", inboxes=[chat])
    first = resolved()
    csat.submit(token=csat.survey_token(first), rating=5)
    second = resolved("Another thing entirely")  # a new conversation after the first was resolved
    csat.submit(token=csat.survey_token(second), rating=2)
    resolved("A third, never rated")
    on_chat = write_in("Hi on chat", inbox=chat, via="chat", sender="bo@example.com").conversation
    services.reply(conversation=on_chat, author=kim, body_text="Hello", then=S.RESOLVED)
    csat.submit(token=csat.survey_token(Conversation.objects.get(pk=on_chat.pk)), rating=3)
    figures = csat.figures()
    inboxes = {f.name: (f.average, f.responses, f.resolved) for f in figures["inboxes"]}
    assert inboxes == {"help@shop.example": (3.5, 2, 3), "Web chat": (3.0, 1, 1)}
    agents = {f.name: (f.average, f.responses, f.resolved) for f in figures["agents"]}
    assert agents == {"sam": (3.5, 2, 3), "kim": (3.0, 1, 1)}
    assert next(f for f in figures["agents"] if f.name == "sam").response_rate == pytest.approx(2 / 3)
    later = csat.figures(since=timezone.now() + timedelta(minutes=1))
    assert later == {"inboxes": [], "agents": []}
