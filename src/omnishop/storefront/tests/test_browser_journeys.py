"""The web shop in a real browser (Debian's Chromium through Playwright), at phone and desktop widths:
the journeys a shopper takes, found the way a person finds them (roles and labels), with axe-core on every
page type (no serious or critical violation) and the README's screenshots."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from omnishop.orders.models import Order
from omnishop.testing_browser import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
VIEWPORTS = ["phone", "desktop"]
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"


def size(page, label: str):
    """A variant's radio button; its accessible name is the size, then its price and stock."""
    return page.get_by_role("radio", name=re.compile(rf"^{label} "))


def fill_checkout(page, *, card: str = CARD_OK, email: str = "ada@example.com") -> None:
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Full name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Address", exact=True).fill("1 Analytical Row")
    page.get_by_label("City", exact=True).fill("London")
    page.get_by_label("Postal code", exact=True).fill("N1 1AA")
    page.get_by_label("Country", exact=True).select_option("GB")
    page.get_by_label("Card number", exact=True).fill(card)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_guest_browses_searches_buys_with_the_test_card_and_follows_the_order(browser_page, store, viewport):
    page = browser_page(viewport)
    page.goto("/")
    assert page.get_by_role("heading", name="New in").is_visible()
    assert_accessible(page)
    screenshot(page, f"home-{viewport}")

    page.get_by_role("combobox", name="Search products").fill("hoodie")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search?q=hoodie")
    assert_accessible(page)
    screenshot(page, f"search-{viewport}")

    page.get_by_role("link", name="Chaz Kangeroo Hoodie").first.click()
    page.wait_for_url("**/p/chaz-hoodie/")
    assert page.get_by_text("Only 1 left").is_visible()
    assert size(page, "L").is_disabled()  # sold out
    assert_accessible(page)
    screenshot(page, f"product-{viewport}")

    size(page, "S").check()
    page.get_by_role("button", name="Add to cart").click()
    # With JavaScript the page stays and the header's count (aria-live) says what happened.
    page.get_by_text("Added to your cart.").wait_for()
    assert page.locator("#cart-count").inner_text() == "1"

    page.get_by_role("link", name="Cart").click()
    page.wait_for_url("**/cart")
    assert page.get_by_role("link", name="Chaz Kangeroo Hoodie").is_visible()
    assert_accessible(page)
    screenshot(page, f"cart-{viewport}")

    page.get_by_role("link", name="Check out").click()
    page.wait_for_url("**/checkout")
    fill_checkout(page)
    assert_accessible(page)
    screenshot(page, f"checkout-{viewport}")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/track/*")
    order = Order.objects.get()
    assert page.get_by_role("heading", name=f"Thank you — order {order.number} is placed").is_visible()
    assert order.status == "paid" and order.total == Decimal("56.95")
    assert_accessible(page)
    screenshot(page, f"order-{viewport}")

    # The tracking link opens without a session (another browser).
    other = browser_page(viewport)
    other.goto(f"/track/{order.tracking_token}")
    assert other.get_by_role("heading", name=f"Order {order.number}").is_visible()
    assert other.get_by_text("Paid, to be shipped").is_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_declined_card_is_explained_on_the_same_page_and_the_next_card_works(browser_page, store, viewport):
    page = browser_page(viewport)
    page.goto("/p/zhen-tee/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_text("Added to your cart.").wait_for()
    page.goto("/checkout")
    fill_checkout(page, card=CARD_DECLINED)
    page.get_by_role("button", name="Place order").click()
    page.wait_for_load_state()
    error = page.get_by_text("Your card was declined")
    assert error.is_visible()
    assert page.get_by_label("Address", exact=True).input_value() == "1 Analytical Row"  # the input is kept
    card = page.get_by_label("Card number", exact=True)
    assert card.get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    card.fill(CARD_OK)
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/track/*")
    assert Order.objects.filter(status="paid").count() == 1


def test_a_chinese_search_and_type_ahead(browser_page, store):
    page = browser_page("phone")
    page.goto("/")
    box = page.get_by_role("combobox", name="Search products")
    box.press_sequentially("zhe", delay=30)
    suggestion = page.get_by_role("option", name="Zhen 真丝 T-shirt")
    suggestion.wait_for()
    box.fill("真丝")
    box.press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.get_by_role("link", name="Zhen 真丝 T-shirt").first.is_visible()


def test_nothing_found_offers_help(browser_page, store):
    page = browser_page("desktop")
    page.goto("/search?q=submarine")
    assert page.get_by_role("heading", name="Nothing matches “submarine”").is_visible()
    assert_accessible(page)


def test_a_misspelt_search_says_what_it_was_read_as(browser_page, store):
    page = browser_page("desktop")
    page.goto("/search?q=hodie")
    assert page.get_by_text("showing results for “hoodie”").is_visible()
    assert page.get_by_role("link", name="Chaz Kangeroo Hoodie").first.is_visible()
    assert_accessible(page)
    screenshot(page, "search-corrected-desktop")


def test_the_cart_survives_sign_in(browser_page, store):
    from allauth.account.models import EmailAddress

    user = get_user_model().objects.create_user("ada", "ada@example.com", "analytical engine 1843")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = browser_page("desktop")
    page.goto("/p/zhen-tee/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_text("Added to your cart.").wait_for()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("analytical engine 1843")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto("/cart")
    assert page.get_by_role("link", name="Zhen 真丝 T-shirt").is_visible()
    assert page.locator("#cart-count").inner_text() == "1"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_sign_up_then_buy_in_one_click(browser_page, store, viewport):
    page = browser_page(viewport)
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(f"grace-{viewport}@example.com")
    page.get_by_label("Password").fill("compilers are fun 1952")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(lambda url: "/accounts/signup/" not in url)
    # The e-mail must be proven before the account is used: open the link the shop sent.
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(lambda url: "confirm-email" not in url)
    # The first order saves the address and card …
    page.goto("/p/zhen-tee/")
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_text("Added to your cart.").wait_for()
    page.goto("/checkout")
    fill_checkout(page, email=f"grace-{viewport}@example.com")
    page.get_by_label("Save this address and card for one-click buying").check()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/track/*")
    # … so the next one is "Buy now", one confirmation, done.
    page.goto("/p/chaz-hoodie/")
    size(page, "S").check()
    page.get_by_role("button", name="Buy now").click()
    page.wait_for_url("**/buy-now")
    assert page.get_by_text("card •••• 4242").is_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/track/*")
    orders = Order.objects.filter(email=f"grace-{viewport}@example.com", status="paid")
    assert orders.count() == 2
    page.goto("/account/")
    for order in orders:
        assert page.get_by_role("link", name=order.number).is_visible()
    assert_accessible(page)
    screenshot(page, f"account-{viewport}")


@pytest.mark.postgres_only
def test_the_last_unit_bought_in_two_browsers_at_once(browser_page, store):
    """Two shoppers hold the last hoodie in M in their carts and press "Place order" at the same moment:
    one gets the order, the other a clear message on the same page, and the stock is never negative."""
    pages = [browser_page("desktop"), browser_page("phone")]
    for n, page in enumerate(pages):
        page.goto("/p/chaz-hoodie/")
        size(page, "M").check()
        page.get_by_role("button", name="Add to cart").click()
        page.get_by_text("Added to your cart.").wait_for()
        page.goto("/checkout")
        fill_checkout(page, email=f"buyer{n}@example.com")
    # Playwright's sync API is one thread: submit both forms from the pages' own scripts, then wait for
    # both answers (each form posts and the page navigates to the order or back to checkout).
    with pages[0].expect_navigation(), pages[1].expect_navigation():
        for page in pages:
            page.evaluate("document.querySelector('form[data-once]').requestSubmit()")
    placed = Order.objects.filter(lines__sku="HOOD-M").distinct()
    assert placed.count() == 1
    loser = next(p for p in pages if "/track/" not in p.url)
    assert (
        loser.get_by_text("left", exact=False).or_(loser.get_by_text("stock", exact=False)).first.is_visible()
    )
    from omnishop.inventory.models import StockLevel

    assert StockLevel.objects.get(variant__sku="HOOD-M").on_hand >= 0


def test_switching_to_chinese_at_phone_width(browser_page, store):
    page = browser_page("phone")
    page.goto("/p/zhen-tee/")
    page.get_by_label("Language", exact=True).select_option(label="简体中文")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url("**/p/zhen-tee/")  # the switch keeps the page
    page.get_by_role("button", name="加入购物车").wait_for()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_label("语言", exact=True).input_value() == "zh-hans"
    assert_accessible(page)
    page.get_by_role("button", name="加入购物车").click()
    page.get_by_text("已加入购物车。").wait_for()
    page.get_by_role("link", name="购物车").click()
    page.wait_for_url("**/cart")
    assert page.get_by_role("heading", name="购物车", exact=True).is_visible()
    page.get_by_role("link", name="去结算").click()
    page.wait_for_url("**/checkout")
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_load_state()
    assert page.get_by_text("请输入您的姓名。").is_visible()
    assert page.get_by_label("姓名", exact=True).get_attribute("aria-invalid") == "true"
    assert_accessible(page)
