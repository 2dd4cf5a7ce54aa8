"""The browser-test harness itself, proven on allauth's log-in page: a shopper signs in with a real Chromium
at phone and desktop sizes, static files come from the live server, and nothing reaches another host."""

from __future__ import annotations

import pytest

from omnishop.testing_browser import assert_accessible, axe_violations, is_loopback, screenshot

# The live server reads the database from its own thread, so a browser test's data must be committed:
# django_db(transaction=True).

EMAIL = "ada@example.com"
PASSWORD = "analytical engine 1843"


@pytest.fixture
def shopper(django_user_model):
    from allauth.account.models import EmailAddress

    user = django_user_model.objects.create_user(username="ada", email=EMAIL, password=PASSWORD)
    # Sign-in needs a proven e-mail (ACCOUNT_EMAIL_VERIFICATION = "mandatory").
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    return user


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_shopper_signs_in_on_the_log_in_page(browser_page, shopper, viewport):
    page = browser_page(viewport)
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, f"sign-in-{viewport}")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    # The session is the shopper's: the page of their e-mail addresses opens and shows theirs.
    page.goto("/accounts/email/")
    assert "/accounts/login/" not in page.url
    assert page.get_by_text(EMAIL).first.is_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_keeps_the_shopper_on_the_log_in_page(browser_page, shopper):
    page = browser_page("phone")
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url
    assert page.get_by_text("not correct").first.is_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_log_in_page_is_accessible(browser_page, viewport):
    page = browser_page(viewport)
    page.goto("/accounts/login/")
    assert_accessible(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_axe_runs_in_the_page_and_finds_a_known_violation(browser_page):
    """A check that cannot fail is worse than none: an image without alternative text is critical."""
    page = browser_page("desktop")
    page.goto("/accounts/login/")
    page.evaluate("document.body.append(Object.assign(document.createElement('img'), {src: 'data:,'}))")
    assert "image-alt" in {v["id"] for v in axe_violations(page)}
    with pytest.raises(pytest.fail.Exception, match="image-alt"):
        assert_accessible(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_static_files_come_from_the_live_server(browser_page):
    page = browser_page("desktop")
    response = page.goto("/static/admin/css/base.css")
    assert response is not None and response.ok
    assert "text/css" in response.headers["content-type"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_requests_to_other_hosts_are_refused_and_reported(browser_page):
    page = browser_page("desktop")
    page.goto("/accounts/login/")
    # A script's fetch to another host is stopped by the Content-Security-Policy before any request;
    # a navigation is not, so it shows the guard itself refusing it.
    outcome = page.evaluate(
        "fetch('https://cdn.example.com/tracker.js').then(() => 'reached', () => 'refused')"
    )
    assert outcome == "refused"
    with pytest.raises(Exception, match="ERR_BLOCKED_BY_CLIENT"):
        page.goto("https://cdn.example.com/landing")
    page = browser_page("desktop")
    page.goto("/accounts/login/")
    page.evaluate(
        "new Promise(done => { const ws = new WebSocket('wss://chat.example.com/live');"
        " ws.onclose = ws.onerror = () => done(); })"
    )
    assert "GET https://cdn.example.com/landing" in browser_page.refused
    assert not any("tracker.js" in r for r in browser_page.refused)  # CSP stopped it first
    assert set(browser_page.refused) <= {
        "GET https://cdn.example.com/landing",
        "WEBSOCKET wss://chat.example.com/live",
    }
    browser_page.refused.clear()  # seen; the fixture would otherwise fail this test at teardown


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:8000/", True),
        ("http://127.0.0.1:41234/static/x.css", True),
        ("http://[::1]:8000/", True),
        ("data:image/png;base64,AAAA", True),
        ("https://fonts.googleapis.com/css", False),
        ("http://10.0.0.5/", False),
        ("http://localhost.example.com/", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(url, loopback):
    assert is_loopback(url) is loopback


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_screenshots_are_written_only_when_asked_for(browser_page, monkeypatch, tmp_path):
    from omnishop import testing_browser

    monkeypatch.setattr(testing_browser, "SCREENSHOT_DIR", tmp_path)
    page = browser_page("phone")
    page.goto("/accounts/login/")
    monkeypatch.delenv(testing_browser.SCREENSHOTS_VARIABLE, raising=False)
    assert screenshot(page, "ordinary-run") is None and not list(tmp_path.iterdir())
    monkeypatch.setenv(testing_browser.SCREENSHOTS_VARIABLE, "1")
    written = screenshot(page, "regenerated")
    assert written == tmp_path / "regenerated.png"
    assert written.read_bytes().startswith(b"\x89PNG")
