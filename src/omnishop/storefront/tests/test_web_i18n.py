"""The web shop in English and Simplified Chinese: the language from Accept-Language or the header's switch,
translated pages, buttons and checkout errors, money for the language, the JSON APIs left in English, and the
compiled catalogue (.mo) in step with its source (.po)."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import orjson
import pytest
from django.core import mail
from django.test import Client

from omnishop.orders.models import Order
from omnishop.storefront.web.common import money

from .test_web_pages import CHECKOUT, text

pytestmark = pytest.mark.django_db(transaction=False)

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"


def test_a_chinese_browser_gets_the_shop_in_chinese(client, store):
    home = client.get("/", **ZH)
    body = text(home)
    assert '<html lang="zh-hans">' in body
    assert "新品上架" in body and ">搜索</button>" in body and "跳到正文" in body and "购物车" in body
    assert "New in" not in body and ">Search</button>" not in body
    assert home["Content-Language"] == "zh-hans"
    # A cache in front must keep the languages apart; the page stays publicly cacheable.
    assert "Accept-Language" in home["Vary"] and home["Cache-Control"].startswith("public")
    product = text(client.get("/p/chaz-hoodie/", **ZH))
    assert ">加入购物车</button>" in product and ">立即购买</button>" in product
    assert "仅剩 1 件" in product and "已售罄" in product and "£52.00" in product
    results = text(client.get("/search", {"q": "hoodie"}, **ZH))
    assert "“hoodie”的搜索结果" in results and "排序方式" in results and "仅显示有货" in results
    nothing = text(client.get("/search", {"q": "submarine"}, **ZH))
    assert "没有找到与“submarine”匹配的商品" in nothing
    missing = client.get("/p/no-such-thing/", **ZH)
    assert missing.status_code == 404 and "找不到该页面" in text(missing)


def test_english_is_unchanged(client, store):
    for headers in ({}, {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}, {"HTTP_ACCEPT_LANGUAGE": "fr-FR"}):
        body = text(client.get("/", **headers))
        assert '<html lang="en">' in body and "New in" in body and ">Search</button>" in body
        assert "新品上架" not in body
    product = text(client.get("/p/chaz-hoodie/"))
    assert ">Add to cart</button>" in product and ">Buy now</button>" in product and "Only 1 left" in product


def test_the_header_switch_changes_the_language_without_javascript_and_keeps_the_page(store):
    browser = Client(enforce_csrf_checks=True)  # the switch is on publicly cached pages: no CSRF token
    page = text(browser.get("/p/chaz-hoodie/"))
    assert 'action="/i18n/setlang/"' in page and '<label for="language">Language</label>' in page
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in page
    switched = browser.post("/i18n/setlang/", {"language": "zh-hans", "next": "/p/chaz-hoodie/"})
    assert switched.status_code == 302 and switched["Location"] == "/p/chaz-hoodie/"
    cookie = switched.cookies["django_language"]
    assert cookie.value == "zh-hans" and cookie["httponly"] and cookie["samesite"] == "Lax"
    page = text(browser.get("/p/chaz-hoodie/"))  # the cookie wins over the browser's English
    assert ">加入购物车</button>" in page and '<label for="language">语言</label>' in page
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in page
    browser.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert ">Add to cart</button>" in text(browser.get("/p/chaz-hoodie/", **ZH))
    # An address elsewhere is not followed.
    away = browser.post("/i18n/setlang/", {"language": "en", "next": "https://evil.example/"})
    assert away["Location"] == "/"


def test_checkout_errors_and_messages_in_chinese(client, store):
    added = client.post("/cart/add", {"sku": "TEE-1"}, HTTP_ACCEPT="application/json", **ZH)
    assert added.json()["message"] == "已加入购物车。"
    cart = text(client.get("/cart", **ZH))
    assert "去结算" in cart and "商品小计" in cart
    bad = client.post("/checkout", {**CHECKOUT, "postcode": "12", "email": "", "name": ""}, **ZH)
    body = text(bad)
    assert bad.status_code == 422
    assert "请修改标出的 3 处内容。" in body
    assert "这不是有效的英国邮政编码。" in body and "请输入接收订单确认的电子邮箱。" in body
    assert "请输入您的姓名。" in body
    assert '<label for="f-postcode">邮政编码</label>' in body and "<legend>收货地址</legend>" in body
    assert ">提交订单</button>" in body and '<option value="GB" selected>英国</option>' in body
    declined = text(client.post("/checkout", {**CHECKOUT, "card_number": "4000 0000 0000 0002"}, **ZH))
    assert "您的银行卡被拒绝。请检查卡号，或换一张卡。" in declined


def test_an_order_placed_in_chinese(client, store, django_capture_on_commit_callbacks):
    client.post("/cart/add", {"sku": "TEE-1"}, **ZH)
    with django_capture_on_commit_callbacks(execute=True):
        placed = client.post("/checkout", CHECKOUT, **ZH)
    order = Order.objects.get()
    page = text(client.get(placed["Location"], **ZH))
    assert f"感谢您的订购——订单 {order.number} 已提交" in page and "已付款，待发货" in page
    assert mail.outbox[0].subject == f"您的订单 {order.number}"
    assert (
        f"感谢您的订购！订单号：{order.number}。" in mail.outbox[0].body and "合计：" in mail.outbox[0].body
    )


def test_english_checkout_errors_are_unchanged(client, store):
    client.post("/cart/add", {"sku": "TEE-1"})
    body = text(client.post("/checkout", {**CHECKOUT, "postcode": "12", "email": ""}))
    assert "Please correct the 2 marked fields." in body
    assert "This is not a valid postal code for United Kingdom." in body
    assert "Enter the e-mail address for your receipt." in body


@pytest.mark.parametrize(
    ("amount", "currency", "english", "chinese"),
    [
        ("1234.5", "GBP", "£1,234.50", "£1,234.50"),
        ("88", "CNY", "CN¥88.00", "¥88.00"),
        ("88", "JPY", "¥88", "JP¥88"),
        ("1999.99", "USD", "$1,999.99", "US$1,999.99"),
        ("3.5", "EUR", "€3.50", "€3.50"),
        ("-5", "GBP", "-£5.00", "-£5.00"),
        ("1234.5", "CHF", "1,234.50 CHF", "CHF 1,234.50"),
    ],
)
def test_money_for_the_language(amount, currency, english, chinese):
    assert money(amount, currency, "en") == english
    assert money(amount, currency, "zh-hans") == chinese


def test_money_follows_the_active_language():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert money("88", "CNY") == "¥88.00"
    with translation.override("en"):
        assert money("88", "CNY") == "CN¥88.00"


def test_the_json_apis_stay_english_whatever_the_client_asks(client, store):
    unknown = client.get("/api/v1/no-such-thing", **ZH)
    assert unknown.status_code == 404 and unknown.json()["error"]["message"].startswith("No API endpoint")
    assert "Content-Language" not in unknown and "Accept-Language" not in unknown.get("Vary", "")
    client.cookies["django_language"] = "zh-hans"
    refused = client.post(
        "/_allauth/app/v1/auth/login",
        orjson.dumps({"email": "nobody@example.com", "password": "not the password"}),
        content_type="application/json",
        **ZH,
    )
    assert refused.status_code == 400
    message = orjson.dumps(refused.json()).decode()
    assert "not correct" in message, message
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in message)


# --- the catalogue: the compiled .mo says what the .po says ------------------------------------------------


def _po_blocks(path: Path):
    """Each entry of a .po file: its fields (msgctxt, msgid, msgid_plural, msgstr or msgstr[n]) and whether it
    is marked fuzzy; obsolete (#~) entries have no fields."""
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in block.strip().splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith('"'):
                fields[key] += ast.literal_eval(line)
                continue
            key, _, value = line.partition(" ")
            fields[key] = ast.literal_eval(value)
        yield fields, fuzzy


def _po_entries(path: Path) -> dict:
    """msgid (or (msgctxt, msgid), or (msgid, n) for plurals) -> msgstr, as GNUTranslations keys its catalog;
    untranslated and fuzzy entries are left out, as msgfmt leaves them out."""
    entries: dict = {}
    for fields, fuzzy in _po_blocks(path):
        if "msgid" not in fields or fields["msgid"] == "" or fuzzy:
            continue
        msgid = fields["msgid"]
        if "msgctxt" in fields:
            msgid = f"{fields['msgctxt']}\x04{msgid}"
        if "msgid_plural" in fields:
            for name, value in fields.items():
                if name.startswith("msgstr[") and value:
                    entries[(msgid, int(name[7:-1]))] = value
        elif fields.get("msgstr"):
            entries[msgid] = fields["msgstr"]
    return entries


def test_every_po_file_is_compiled_into_its_mo():
    catalogues = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/django.po"))
    assert catalogues, LOCALE_DIR
    for po in catalogues:
        mo = po.with_suffix(".mo")
        assert mo.exists(), f"{mo} is missing: run `omnishop compilemessages`"
        with mo.open("rb") as handle:
            compiled = gettext.GNUTranslations(handle)._catalog
        compiled = {k: v for k, v in compiled.items() if k != ""}
        source = _po_entries(po)
        assert len(source) > 100
        stale = {k: (v, compiled.get(k)) for k, v in source.items() if compiled.get(k) != v}
        extra = set(compiled) - set(source)
        assert not stale and not extra, (
            f"{mo} is older than {po}: run `omnishop compilemessages` "
            f"(differs: {sorted(map(str, stale))[:5]}, not in the .po: {sorted(map(str, extra))[:5]})"
        )


def test_every_message_is_translated_and_none_is_fuzzy():
    """The shop's and the desks' catalogue: makemessages adds new strings untranslated (or guessed and marked
    fuzzy, which Django ignores); each must be translated before it is committed."""
    for po in LOCALE_DIR.glob("*/LC_MESSAGES/django.po"):
        untranslated, fuzzy = [], []
        for fields, is_fuzzy in _po_blocks(po):
            if fields.get("msgid", "") == "":
                continue  # the header (or an obsolete #~ entry)
            if is_fuzzy:
                fuzzy.append(fields["msgid"])
            if not all(v for k, v in fields.items() if k.startswith("msgstr")):
                untranslated.append(fields["msgid"])
        assert not untranslated and not fuzzy, (po, untranslated[:10], fuzzy[:10])


def test_every_translation_keeps_its_placeholders():
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]")
    for po in LOCALE_DIR.glob("*/LC_MESSAGES/django.po"):
        for key, value in _po_entries(po).items():
            msgid = key[0] if isinstance(key, tuple) else key
            msgid = msgid.split("\x04")[-1]
            assert sorted(placeholder.findall(value)) == sorted(placeholder.findall(msgid)), (key, value)


def test_the_services_refusals_in_the_shoppers_language(client, store):
    client.post("/cart/add", {"sku": "HOOD-M"}, **ZH)
    store.checkout({"HOOD-M": 1}, key="elsewhere")  # the last unit sells in another channel
    cart = text(client.get("/cart", **ZH))
    assert "已售罄：请删除此商品，或等到货后再来。" in cart and "请先处理标出的商品，再去结算。" in cart
    response = client.post("/checkout", CHECKOUT, **ZH)
    assert response.status_code == 422
    assert "库存不足，无法满足您选择的数量。" in text(response), text(response)


def test_a_refusal_is_the_services_message_in_english_and_ours_in_chinese():
    from django.utils import translation

    from omnishop.core.errors import DomainError
    from omnishop.inventory.errors import InsufficientStock
    from omnishop.storefront.web.common import refusal

    short = InsufficientStock("Only 0 of HOOD-M available.")
    other = DomainError("Something only the service can say.")
    with translation.override("en"):
        assert refusal(short) == "Only 0 of HOOD-M available."
    with translation.override("zh-hans"):
        assert refusal(short) == "库存不足，无法满足您选择的数量。"
        assert refusal(other) == "Something only the service can say."


def test_the_account_in_chinese(client, store):
    from django.contrib.auth import get_user_model

    from omnishop.customers.services import customer_for_user

    user = get_user_model().objects.create_user("ada", "ada@example.com", "correct horse")
    order = store.checkout({"TEE-1": 1}, customer=customer_for_user(user=user), key="a")
    client.force_login(user)
    account = text(client.get("/account/", **ZH))
    assert "<h1>我的账户</h1>" in account and "已付款，待发货" in account and "£" in account
    detail = text(client.get(f"/account/orders/{order.number}/", **ZH))
    assert (
        f"<h1>订单 {order.number}</h1>" in detail and "订单动态" in detail and ">取消订单</button>" in detail
    )
    assert "年" in detail and "月" in detail  # the timeline's dates in the Chinese format
    cancelled = client.post(f"/account/orders/{order.number}/cancel", **ZH, follow=True)
    assert f"订单 {order.number} 已取消，已付款项将原路退回。" in text(cancelled)
