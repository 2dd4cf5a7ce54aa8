"""The desks in Simplified Chinese: every desk page in zh-hans shows its headings, labels, buttons, choices
and statuses translated, and none of the catalogue's English messages left over; the language comes from the
header's switch (Django's set_language, no JavaScript) or the browser's Accept-Language; English unchanged."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from omnishop.catalog.models import Product
from omnishop.customers.models import Customer
from omnishop.inventory import services as inventory

from .stock_world import World

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
SHOWN = ("aria-label", "placeholder", "title", "alt", "data-show", "data-hide")


def english_messages() -> set[str]:
    """Every msgid of the catalogue whose translation differs from it ('SKU', 'CSV' stay as they are)."""
    from omnishop.storefront.tests.test_web_i18n import _po_entries

    everything = set()
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        lines = [x for x in block.splitlines() if x.startswith("msgid ") and x != 'msgid ""']
        if lines:
            everything.add(lines[0][len("msgid ") :].strip('"'))
    translated = _po_entries(PO)
    return {m for m in everything if translated.get(m) != m and "%" not in m and len(m) > 1}


class _Shown(HTMLParser):
    """The text a person reads or hears on a page: text nodes and the attributes assistive technology speaks."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.shown += [" ".join(v.split()) for k, v in attrs if k in SHOWN and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.shown.append(" ".join(data.split()))


def shown(response) -> list[str]:
    parser = _Shown()
    # The admin's sidebar lists the apps' and models' names, which stay English (docs/backoffice.md).
    parser.feed(re.sub(r'<nav [^>]*id="nav-sidebar".*?</nav>', "", response.content.decode(), flags=re.S))
    return parser.shown


def leftovers(response) -> list[str]:
    """English messages of the catalogue still shown on a page that should be in Chinese."""
    english = english_messages()
    return sorted({text for text in shown(response) if text in english or text.rstrip(":") in english})


def chinese(client: Client, path: str, *expected: str) -> str:
    response = client.get(path, **ZH)
    assert response.status_code == 200, (path, response.status_code)
    body = response.content.decode()
    assert '<html lang="zh-hans"' in body, path
    missing = [e for e in expected if e not in body]
    assert not missing, (path, missing)
    assert leftovers(response) == [], (path, leftovers(response))
    return body


def url(name: str, *args) -> str:
    return reverse(f"backoffice:{name}", args=args)


@pytest.fixture
def world(web_channel, make_key):
    return World(web_channel, make_key)


@pytest.fixture
def desk(client, staff_user):
    client.force_login(staff_user)
    return client


# --- every desk in Chinese ----------------------------------------------------------------------------------


def test_the_home_and_the_dashboard_in_chinese(desk, world):
    world.shipped_order({world.mug: 1}, "k-dash")
    assert desk.get(url("home"), **ZH)["Location"] == url("dashboard")  # a superuser lands there
    body = chinese(desk, url("dashboard"), "关键指标", "净销售额", "平均订单金额", "待办事项", "图表")
    assert "各渠道销售额趋势" in body and "显示表格" in body and "时间段和渠道" in body
    for panel in ("warehouse", "service", "merchandising", "finance"):
        chinese(desk, url("home") + f"?desk={panel}")


def test_the_orders_desk_in_chinese(desk, world):
    order = world.shipped_order({world.mug: 2}, "k-orders")
    body = chinese(desk, url("orders"), "查找订单", "任意状态", "任意渠道", "1 个订单")
    assert ">已发货<" in body  # the order's status, a model choice
    body = chinese(desk, url("order", order.number), "订单操作", "付款与退款", "发货单", "订单动态")
    assert "添加备注" in body and "已发货" in body


def test_the_returns_desk_in_chinese(desk, world):
    rma = world.requested_return()
    chinese(desk, url("returns"), "退货单，最新的在前")
    body = chinese(desk, url("return", rma.number), "退货单 " + rma.number, "批准或拒绝", "记录处理决定")
    assert "原支付方式" in body  # refund to: a model choice


def test_the_stock_pages_in_chinese(desk, world):
    chinese(desk, url("stock"), "有库存的 SKU", "已分配或已预留")
    chinese(desk, url("stock-sku", "MUG"), "MUG 的库存", "各库位库存", "各渠道可售数量", "最近的库存流水")
    chinese(desk, url("stock-receive"), "入库", "库位")
    chinese(desk, url("stock-adjust"), "调整库存", "在库数量变动")
    chinese(desk, url("stock-alerts"), "未关闭的低库存预警")


def test_transfers_in_chinese(desk, world):
    transfer = inventory.request_transfer(
        source=world.warehouse, destination=world.store, lines=[inventory.SkuQuantity("MUG", 1)]
    )
    chinese(desk, url("stock-transfers"), "调拨单，最新的在前", "新建调拨单")
    chinese(desk, url("stock-transfer", transfer.pk), f"调拨单 {transfer.pk}", "发出（出库）", "取消调拨")
    chinese(desk, url("stock-transfer-new"), "调出库位", "调入库位", "申请调拨")


def test_cycle_counts_in_chinese(desk, world):
    count = inventory.start_count(location=world.warehouse)
    chinese(desk, url("stock-counts"), "盘点单，最新的在前", "开始盘点")
    chinese(desk, url("stock-count", count.pk), "盘点表", "核对差异", "取消盘点")


def test_purchase_orders_in_chinese(desk, world):
    po = inventory.create_purchase_order(
        supplier=world.supplier, location=world.warehouse, lines=[inventory.OrderLine("MUG", 10)]
    )
    chinese(desk, url("purchase_orders"), "采购单，最新的在前", "新建采购单")
    chinese(desk, url("purchase_order", po.pk), f"采购单 {po.number}", "供应商", "单位成本", "发送给供应商")
    chinese(desk, url("replenishment"), "补货建议", "95 % 的服务水平")
    chinese(desk, url("purchase_order-new"), "新建采购单", "选择供应商")


def test_the_customer_desk_in_chinese(desk, world):
    customer = Customer.objects.create(email="ada@example.com", first_name="Ada")
    chinese(desk, url("customers"), "查找客户", "查看疑似重复客户")
    chinese(
        desk, url("customer", customer.pk), "各渠道身份", "营销同意与偏好", "合并记录", "与另一位客户合并"
    )
    chinese(desk, url("duplicates"), "目前没有疑似重复的客户")


def test_the_catalogue_desk_in_chinese(desk, world):
    product = Product.objects.get(variants__sku="MUG")
    chinese(desk, url("products"), "筛选商品", "修改所选商品", "已上架的渠道")
    chinese(desk, url("product", product.pk), "款式与库存", "各渠道上架情况", "供应商报价")
    chinese(desk, url("bulk_price"), "调整某个渠道的价格", "预览调价")


# --- the switch, and English unchanged -----------------------------------------------------------------------


def test_the_header_switch_puts_the_desks_in_chinese_without_javascript(staff_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    page = browser.get(url("orders")).content.decode()
    assert '<form class="desk-language" action="/i18n/setlang/" method="post">' in page
    assert '<label for="desk-language">Language</label>' in page
    assert '<option value="zh-hans" lang="zh-hans">简体中文</option>' in page
    switched = browser.post("/i18n/setlang/", {"language": "zh-hans", "next": url("orders")})
    assert switched.status_code == 302 and switched["Location"] == url("orders")
    page = browser.get(url("orders"), HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()  # the cookie wins
    assert '<label for="desk-language">语言</label>' in page and ">查找订单</button>" in page
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in page
    assert "注销" in page  # Django's own admin frame follows (its "Log out")
    browser.post("/i18n/setlang/", {"language": "en", "next": url("orders")})
    assert ">Find orders</button>" in browser.get(url("orders"), **ZH).content.decode()


def test_the_admin_index_has_the_switch_too(desk):
    page = desk.get(reverse("admin:index"), **ZH).content.decode()
    assert '<label for="desk-language">语言</label>' in page and "工作台" in page


def test_english_is_unchanged(desk, world):
    order = world.shipped_order({world.mug: 1}, "k-en")
    for headers in ({}, {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}, {"HTTP_ACCEPT_LANGUAGE": "fr-FR"}):
        body = desk.get(url("order", order.number), **headers).content.decode()
        assert '<html lang="en"' in body and "Order operations" in body and ">Shipped<" in body
        assert "订单操作" not in body


def test_a_form_error_and_a_message_in_chinese(desk, world):
    refused = desk.post(
        url("stock-adjust"), {"sku": "MUG", "location": world.warehouse.pk, "delta": "0"}, **ZH
    )
    assert "变动为 0 不会有任何改变。" in refused.content.decode()
    transfer = inventory.request_transfer(
        source=world.warehouse, destination=world.store, lines=[inventory.SkuQuantity("MUG", 1)]
    )
    done = desk.post(url("stock-transfer", transfer.pk), {"action": "cancel"}, follow=True, **ZH)
    assert "调拨单已取消。" in done.content.decode()
