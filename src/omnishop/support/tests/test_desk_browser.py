"""The agent's desk in a real browser (Chromium through Playwright): filter the inbox, open a conversation,
reply, refund an amount with its confirmation step — controls found by role and name, axe-core clean at
1280 and 768 px wide."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from playwright.sync_api import expect

from omnishop.backoffice.tests.orders_shop import Shop, customer
from omnishop.backoffice.tests.test_home import staff_in
from omnishop.payments.models import Refund
from omnishop.support.models import Conversation, Message
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # the shared test machine is often busy
PASSWORD = "correct horse battery staple"


@pytest.fixture
def agent(email_inbox):
    user = staff_in("customer_service", username="cara", password=PASSWORD)
    user.first_name, user.last_name, user.email = "Cara", "Agent", "cara@example.com"
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    email_inbox.members.add(user)
    return user


@pytest.fixture
def world(web_channel, write_in):
    """Ada's paid order and her question about it (overdue), and Bob's question about a kettle."""
    shop = Shop(web_channel)
    order = shop.checkout({shop.variant(price="40.00"): 2}, customer=customer())
    ada = write_in(
        f"Hello, my order {order.number} has not arrived yet.", sender_name="Ada Lovelace"
    ).conversation
    bob = write_in(
        "The blue kettle leaks",
        sender="bob@example.com",
        sender_name="Bob Stone",
        body_html="<p>The <b>blue</b> kettle leaks</p>",
    ).conversation
    Conversation.objects.filter(pk=ada.pk).update(
        first_response_due_at=timezone.now() - timedelta(minutes=30)
    )
    return order, ada, bob


def log_in(page, user, then: str) -> None:
    page.set_default_timeout(30_000)
    page.goto(f"/admin/login/?next={then}")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{then}")


def test_filter_the_inbox_open_a_conversation_and_reply(browser_page, agent, world):
    _order, ada, bob = world
    page = browser_page("desktop")
    log_in(page, agent, "/admin/ops/support/")
    expect(page.get_by_role("link", name=ada.number)).to_be_visible()
    expect(page.get_by_role("link", name=bob.number)).to_be_visible()
    expect(page.get_by_text("Overdue", exact=True)).to_be_visible()

    page.get_by_label("SLA due within 4 hours or overdue").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=bob.number)).to_have_count(0)
    expect(page.get_by_role("link", name=ada.number)).to_be_visible()
    assert_accessible(page)
    page.get_by_label("SLA due within 4 hours or overdue").uncheck()
    page.get_by_label("Customer, e-mail, phone, order number or text").fill("kettle")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=ada.number)).to_have_count(0)
    page.get_by_label("Customer, e-mail, phone, order number or text").fill("")
    page.get_by_role("button", name="Filter").click()
    screenshot(page, "support-inbox")

    page.get_by_role("link", name=bob.number).click()
    page.wait_for_url(f"**/admin/ops/support/{bob.number}/")
    expect(page.locator("#support-thread").get_by_text("kettle leaks")).to_be_visible()
    page.get_by_role("textbox", name="Your message").fill("Sorry about that! A new kettle is on its way.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Reply sent.")).to_be_visible()
    reply = Message.objects.get(conversation=bob, direction=Message.Direction.OUTBOUND)
    assert reply.author == agent and reply.body_text.startswith("Sorry about that!")
    expect(page.locator("#support-thread").get_by_text("A new kettle is on its way.")).to_be_visible()
    assert_accessible(page)


def test_refund_an_amount_with_confirmation_at_1280_and_768(browser_page, agent, world):
    order, ada, _bob = world
    page = browser_page("desktop")
    log_in(page, agent, f"/admin/ops/support/{ada.number}/")
    side = page.get_by_role("complementary")
    expect(side.get_by_role("link", name=order.number)).to_be_visible()  # the customer 360 beside the thread
    assert_accessible(page)
    screenshot(page, "support-conversation")

    page.get_by_role("link", name="Refund", exact=True).click()
    page.get_by_label("Amount (GBP)").fill("12.50")
    page.get_by_label("Reason").fill("late delivery")
    page.get_by_role("button", name="Refund", exact=True).click()
    confirm = page.get_by_role("region", name="Confirm")
    expect(confirm.get_by_text("Refund 12.50 GBP")).to_be_visible()
    assert not Refund.objects.exists()  # nothing moves before the confirmation
    assert_accessible(page)
    confirm.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"**/admin/ops/support/{ada.number}/")
    expect(
        page.locator("#support-thread").get_by_text(f"Refunded 12.50 GBP on order {order.number}")
    ).to_be_visible()
    assert Refund.objects.get().amount == Decimal("12.50")

    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet: the 360 goes under the thread
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    expect(page.get_by_role("link", name="Refund", exact=True)).to_be_visible()
    assert_accessible(page)
