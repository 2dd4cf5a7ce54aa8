"""The shopper's messages in a real browser (Debian's Chromium via Playwright): sign in, read the thread,
reply, rate — found by roles and labels, with axe-core on both pages."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from omnishop.customers.services import customer_for_user
from omnishop.support import services
from omnishop.support.models import Conversation, Message
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_shopper_reads_answers_and_rates_a_conversation_in_their_account(
    browser_page, settings, web_channel, write_in, make_agent, email_inbox
):
    settings.OMNISHOP_WEB_CHANNEL = web_channel.code
    user = get_user_model().objects.create_user("ada", "ada@example.com", "analytical engine 1843")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    customer_for_user(user=user)
    agent = make_agent("ann", inboxes=[email_inbox])
    older = write_in(
        "Do you ship to Wales?", sender="ada@example.com", subject="Shipping to Wales"
    ).conversation
    services.reply(conversation=older, author=agent, body_text="Yes, in two days.", then="resolved")
    conversation = write_in(
        "My parcel has not arrived.", sender="ada@example.com", subject="Late parcel"
    ).conversation
    services.reply(conversation=conversation, author=agent, body_text="Sorry! It ships again today.")
    services.reply(
        conversation=conversation, author=agent, body_text="Internal: resend at our cost", note=True
    )

    page = browser_page("desktop")
    page.set_default_timeout(30_000)
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("analytical engine 1843")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto("/account/")
    page.get_by_role("link", name="Messages").click()
    page.wait_for_url("**/account/messages/")
    assert page.get_by_role("heading", name="Messages", level=1).is_visible()
    assert page.get_by_role("link", name="Shipping to Wales").is_visible()
    assert_accessible(page)
    screenshot(page, "support-account-messages")

    page.get_by_role("link", name="Late parcel").click()
    page.wait_for_url(f"**/account/messages/{conversation.number}/")
    assert page.get_by_text("Sorry! It ships again today.").is_visible()
    assert page.get_by_text("Internal: resend").count() == 0
    assert_accessible(page)
    page.get_by_role("main").get_by_role("textbox", name="Your message").fill(
        "Thank you, I will wait."
    )  # the closed chat widget has one too
    page.get_by_role("button", name="Send reply").click()
    page.get_by_text("Your message is sent.").wait_for()
    assert page.get_by_text("Thank you, I will wait.").is_visible()
    assert Message.objects.filter(conversation=conversation, body_text="Thank you, I will wait.").count() == 1

    page.goto(f"/account/messages/{older.number}/")
    page.get_by_role("radio", name="5").check()
    page.get_by_label("Comment (optional)").fill("Quick and kind")
    page.get_by_role("button", name="Send rating").click()
    page.get_by_text("Thank you for your rating.").wait_for()
    assert_accessible(page)
    assert Conversation.objects.get(pk=older.pk).satisfaction == 5
