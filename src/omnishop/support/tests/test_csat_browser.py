"""The satisfaction survey page in a real browser (Debian's Chromium through Playwright): the shopper follows
the e-mailed link, rates by label, and sees the thanks; in Chinese for a Chinese conversation; axe-core finds
no serious or critical violation; the strict CSP holds (the page has no script of its own)."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from omnishop.customers.models import Customer
from omnishop.support import services
from omnishop.support.models import Conversation
from omnishop.support.services import csat
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def survey_link(write_in, make_agent, email_inbox, live_server, settings):
    settings.OMNISHOP_SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agent = make_agent("sam", inboxes=[email_inbox])

    def make(body: str, language: str = "") -> tuple[Conversation, str]:
        conversation = write_in(body, language=language).conversation
        services.reply(conversation=conversation, author=agent, body_text="Done.", then="resolved")
        mail.outbox = []
        assert csat.send_due_surveys() == 1
        link = re.search(r"https?://\S+/support/rate/\S+", mail.outbox[0].body).group(0)
        return Conversation.objects.get(pk=conversation.pk), link

    return make


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_shopper_rates_the_help_from_the_emailed_link(browser_page, survey_link, viewport):
    Customer.objects.create(email="ada@example.com", first_name="Ada")
    conversation, link = survey_link("Where is my parcel?")
    page = browser_page(viewport)
    page.set_default_timeout(30_000)
    page.goto(link)
    assert page.get_by_role("heading", name="How did we do?").is_visible()
    assert_accessible(page)
    screenshot(page, f"support-csat-{viewport}")
    page.get_by_role("radio", name="4 — Satisfied").check()
    page.get_by_label("Anything you would like to tell us? (optional)").fill("Quick answer, thanks")
    page.get_by_role("button", name="Send rating").click()
    page.get_by_text(f"Thank you! Your rating of conversation {conversation.number}").wait_for()
    assert_accessible(page)
    conversation.refresh_from_db()
    assert (conversation.satisfaction, conversation.satisfaction_comment) == (4, "Quick answer, thanks")


def test_the_survey_page_speaks_chinese_for_a_chinese_conversation(browser_page, survey_link):
    conversation, link = survey_link("我的包裹在哪里？", language="zh-hans")
    page = browser_page("phone")
    page.set_default_timeout(30_000)
    page.goto(link)
    assert page.get_by_role("heading", name="我们做得怎么样？").is_visible()
    page.get_by_role("radio", name="5 — 非常满意").check()
    page.get_by_role("button", name="提交评分").click()
    page.get_by_text("谢谢！").wait_for()
    assert_accessible(page)
    conversation.refresh_from_db()
    assert conversation.satisfaction == 5
