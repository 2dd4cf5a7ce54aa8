"""The chat widget in a real browser (Chromium on the live server): a guest starts a chat on a shop page,
sees the agent's answer appear without reloading, keeps chatting — on a phone and on a desktop; axe-core
clean; without JavaScript the widget is a link to the contact page."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from playwright.sync_api import expect

from omnishop.support import services
from omnishop.support.models import Conversation, Inbox, Message
from omnishop.support.services import chat_hub
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # the shared test machine is often busy


@pytest.fixture(autouse=True)
def chat_setup(web_channel, make_agent):
    cache.clear()
    inbox = Inbox.objects.create(code="chat", name="Chat", kind=Inbox.Kind.CHAT, channel=web_channel)
    with override_settings(OMNISHOP_CHAT_STREAM_SECONDS=10, OMNISHOP_CHAT_POLL_SECONDS=0.1):
        yield make_agent("ann", inboxes=[inbox])
        chat_hub.HUB.shutdown()  # streams still open on the live server end now, not after the test
    cache.clear()


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_guest_chats_and_sees_the_answer_arrive_live(browser_page, chat_setup, viewport):
    agent = chat_setup
    page = browser_page(viewport)
    page.set_default_timeout(30_000)
    page.goto("/contact")
    chat = page.get_by_role("complementary", name="Chat with us")
    chat.get_by_role("button", name="Chat with us").click()
    expect(chat.get_by_text("We are online")).to_be_visible()
    expect(chat.get_by_role("textbox", name="Your name")).to_be_focused()
    chat.get_by_role("textbox", name="Your name").fill("Grace Hopper")
    chat.get_by_role("textbox", name="Your e-mail").fill("grace@example.com")
    chat.get_by_role("textbox", name="Your message").fill("Is the blue mug dishwasher safe?")
    chat.get_by_role("button", name="Start chat").click()

    log = chat.get_by_role("log", name="Messages")
    expect(log.get_by_text("Is the blue mug dishwasher safe?")).to_be_visible()
    conversation = Conversation.objects.get()
    assert "Chat started on /contact." in conversation.messages.get(direction="event").body_text

    services.reply(conversation=conversation, author=agent, body_text="Yes, up to 65 °C.")
    expect(log.get_by_text("Yes, up to 65 °C.")).to_be_visible()  # live: no reload

    chat.get_by_role("textbox", name="Your message").fill("Thank you!")
    chat.get_by_role("button", name="Send").click()
    expect(log.get_by_text("Thank you!")).to_be_visible()
    assert conversation.messages.filter(direction=Message.Direction.INBOUND, body_text="Thank you!").exists()
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = page.locator("#chat-panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert_accessible(page)
    if viewport == "desktop":
        screenshot(page, "support-chat-widget")

    page.keyboard.press("Escape")
    expect(chat.get_by_role("button", name="Chat with us")).to_be_focused()  # focus back where it was


def test_with_nobody_online_the_widget_says_so_and_the_chat_continues_by_email(browser_page, chat_setup):
    services.set_online(user=chat_setup, online=False)
    page = browser_page("phone")
    page.set_default_timeout(30_000)
    page.goto("/contact")
    chat = page.get_by_role("complementary", name="Chat with us")
    chat.get_by_role("button", name="Chat with us").click()
    expect(chat.get_by_text("Nobody is online right now")).to_be_visible()
    chat.get_by_role("textbox", name="Your name").fill("Grace Hopper")
    chat.get_by_role("textbox", name="Your message").fill("Hello?")
    chat.get_by_role("button", name="Start chat").click()
    expect(chat.get_by_role("alert")).to_contain_text("e-mail")  # the address is needed now
    chat.get_by_role("textbox", name="Your e-mail").fill("grace@example.com")
    chat.get_by_role("button", name="Start chat").click()
    expect(chat.get_by_role("log", name="Messages").get_by_text("Hello?")).to_be_visible()
    assert "answer by e-mail to grace@example.com" in Message.objects.get(direction="event").body_text
    assert_accessible(page)


def test_without_javascript_the_widget_is_a_link_to_the_contact_page(
    chromium_browser, live_server, chat_setup
):
    context = chromium_browser.new_context(java_script_enabled=False, base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/")
        chat = page.get_by_role("complementary", name="Chat with us")
        link = chat.get_by_role("link", name="Questions? Contact us")
        expect(link).to_have_attribute("href", "/contact")
        expect(chat.get_by_role("button", name="Chat with us")).to_be_hidden()
    finally:
        context.close()
