"""The agent's desk in Simplified Chinese: the inbox and a conversation with its customer 360 and order
actions translated (labels, choices, statuses), nothing of the catalogue left in English; the timeline the
desk writes stays English whatever language the agent works in."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from omnishop.backoffice.tests.orders_shop import Shop, customer
from omnishop.backoffice.tests.test_desks_i18n import ZH, chinese
from omnishop.backoffice.tests.test_home import signed_in, staff_in
from omnishop.support import services
from omnishop.support.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(email_inbox):
    user = staff_in("customer_service", username="cara")
    email_inbox.members.add(user)
    return user


@pytest.fixture
def about_order(write_in, web_channel):
    store = Shop(web_channel)
    order = store.checkout({store.variant(price="40.00"): 2}, customer=customer())
    return write_in(f"Where is my order {order.number}?").conversation


def test_the_inbox_and_a_conversation_in_chinese(agent, about_order):
    desk = signed_in(agent)
    body = chinese(
        desk, reverse("backoffice:support"), "筛选会话", "我的所有收件箱", "任意优先级", "1 个会话"
    )
    assert "处理中" in body  # the conversation's status, a model choice
    page = reverse("backoffice:support_conversation", args=[about_order.number])
    body = chinese(desk, page, "会话设置", "保存设置", "回复客户", "内部备注", "快捷回复")
    assert "您的角色" not in body and "订单 " + about_order.order.number + " 的操作" in body
    assert "普通" in body  # priority: a model choice


def test_the_timeline_the_desk_writes_stays_english_in_any_language(agent, about_order):
    with translation.override("zh-hans"):
        services.set_status(conversation=about_order, status=Conversation.Status.RESOLVED, actor=agent)
    texts = [m.body_text for m in about_order.messages.order_by("pk")]
    assert "Status: Resolved." in texts, texts
    desk = signed_in(agent)
    assert "已解决" in desk.get(reverse("backoffice:support"), {"status": "resolved"}, **ZH).content.decode()
