"""Canned replies: prepared answers in each language with a fixed set of placeholders ({{ order.number }} …),
filled from the conversation by a tiny renderer that only looks values up in a whitelist and never runs
template code, so an agent-written text cannot reach anything the whitelist does not hand it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from omnishop.orders.models import Fulfilment, Order

from ..errors import CannedReplyExists, CannedReplyNotFound, UnknownPlaceholder
from ..models import CannedReply, Conversation

log = logging.getLogger(__name__)

PLACEHOLDERS = (
    "customer.first_name",
    "customer.name",
    "order.number",
    "order.status",
    "tracking_url",
    "conversation.number",
    "agent.first_name",
)
# `{{ name }}` or `{{ name.attr }}`; anything else between braces ({% … %}, filters) is not a placeholder and
# is left as plain text.
PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")
FALLBACK_LANGUAGE = "en"

# Order statuses as a shopper reads them (the model's labels are the back-office's English).
ORDER_STATUS_TEXT = {
    "en": {
        "pending_payment": "waiting for payment",
        "paid": "paid and being prepared",
        "on_hold": "being checked by our team",
        "partially_fulfilled": "partly shipped",
        "fulfilled": "shipped",
        "delivered": "delivered",
        "completed": "completed",
        "partially_returned": "partly returned",
        "returned": "returned",
        "cancelled": "cancelled",
        "merged": "merged into another order",
    },
    "zh": {
        "pending_payment": "等待付款",
        "paid": "已付款，正在备货",
        "on_hold": "正在由我们的团队核查",
        "partially_fulfilled": "部分已发货",
        "fulfilled": "已发货",
        "delivered": "已送达",
        "completed": "已完成",
        "partially_returned": "部分已退货",
        "returned": "已退货",
        "cancelled": "已取消",
        "merged": "已合并到另一个订单",
    },
}


@dataclass(frozen=True)
class Rendered:
    """A filled-in reply and what could not be filled: `unknown` placeholders the desk does not know and
    `missing` ones it knows but has no value for here (no order linked, nothing shipped yet). Both stay
    visible in `text` so the agent sees them before sending."""

    text: str
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def placeholders_in(text: str) -> list[str]:
    """The placeholders a text uses, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in PATTERN.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in placeholders_in(text) if name not in PLACEHOLDERS]


def fill(text: str, values: dict[str, str]) -> Rendered:
    """Replace each known placeholder by its value; unknown and valueless ones are left as written."""
    unknown: dict[str, None] = {}
    missing: dict[str, None] = {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDERS:
            unknown.setdefault(name, None)
            return match.group(0)
        value = values.get(name, "")
        if not value:
            missing.setdefault(name, None)
            return match.group(0)
        return value

    return Rendered(text=PATTERN.sub(substitute, text), unknown=list(unknown), missing=list(missing))


def site_url() -> str:
    return str(getattr(settings, "OMNISHOP_SITE_URL", "")).rstrip("/")


def tracking_url(order: Order) -> str:
    """The public tracking page of the order's latest shipment (the order's own page before it ships)."""
    shipment = (
        order.fulfilments.exclude(status=Fulfilment.Status.CANCELLED)
        .filter(shipped_at__isnull=False)
        .order_by("-shipped_at", "-pk")
        .first()
    )
    token = shipment.tracking_token if shipment is not None else order.tracking_token
    if not token:
        return ""
    return site_url() + reverse("shop:order_placed", args=[token])


def _base(language: str) -> str:
    return (language or FALLBACK_LANGUAGE).lower().replace("_", "-").split("-")[0]


def values_for(conversation: Conversation, agent=None) -> dict[str, str]:
    """The whitelist: every value a canned reply may show, as plain strings."""
    customer = conversation.customer
    order = conversation.order
    statuses = ORDER_STATUS_TEXT.get(_base(conversation.language), ORDER_STATUS_TEXT[FALLBACK_LANGUAGE])
    values = {
        "customer.first_name": customer.first_name,
        "customer.name": " ".join(p for p in (customer.first_name, customer.last_name) if p),
        "conversation.number": conversation.number,
        "agent.first_name": (agent.first_name or agent.get_username()) if agent is not None else "",
    }
    if order is not None:
        values["order.number"] = order.number
        values["order.status"] = statuses.get(order.status, order.get_status_display())
        values["tracking_url"] = tracking_url(order)
    return values


def pick(*, key: str, language: str) -> CannedReply:
    """The reply `key` in the language (or its base language: zh-hans → zh), else in English."""
    wanted = (language or FALLBACK_LANGUAGE).lower()
    candidates = {c.language.lower(): c for c in CannedReply.objects.filter(key=key)}
    for code in (wanted, _base(wanted)):
        if code in candidates:
            return candidates[code]
    for code, canned in sorted(candidates.items()):
        if _base(code) == _base(wanted):
            return canned
    if FALLBACK_LANGUAGE in candidates:
        return candidates[FALLBACK_LANGUAGE]
    raise CannedReplyNotFound(f"No canned reply '{key}' in {language or 'English'} or English.", field="key")


def preview(canned: CannedReply, conversation: Conversation, agent=None) -> Rendered:
    """The reply as the agent would send it, with what could not be filled."""
    rendered = fill(canned.body, values_for(conversation, agent))
    if rendered.unknown:
        log.warning(
            "Canned reply %s (%s) uses unknown placeholders %s", canned.key, canned.language, rendered.unknown
        )
    return rendered


def render(canned: CannedReply, conversation: Conversation, agent=None) -> str:
    """The reply's text for this conversation: in its language when the key has one, else in English."""
    if _base(canned.language) != _base(conversation.language):
        canned = pick(key=canned.key, language=conversation.language)
    return preview(canned, conversation, agent).text


def for_conversation(conversation: Conversation) -> list[CannedReply]:
    """Every key once, in the conversation's language where it exists, else in English (the desk's picker)."""
    chosen: dict[str, CannedReply] = {}
    want = _base(conversation.language)
    for canned in CannedReply.objects.order_by("key", "language"):
        have = chosen.get(canned.key)
        if have is None or (_base(canned.language) == want and _base(have.language) != want):
            chosen[canned.key] = canned
    return [c for c in chosen.values() if _base(c.language) in (want, FALLBACK_LANGUAGE)]


# --- Keeping them -----------------------------------------------------------------------------------------


def _braced(name: str) -> str:
    return "{{ " + name + " }}"


def check_body(body: str) -> None:
    """Refuse a text with a placeholder the renderer does not know (UnknownPlaceholder)."""
    unknown = unknown_placeholders(body)
    if unknown:
        raise UnknownPlaceholder(
            "Unknown placeholder(s): "
            + ", ".join(_braced(name) for name in unknown)
            + ". Known: "
            + ", ".join(_braced(name) for name in PLACEHOLDERS)
            + ".",
            field="body",
            unknown=unknown,
        )


def create_canned(*, key: str, language: str, title: str, body: str) -> CannedReply:
    """A new prepared answer; a placeholder the renderer does not know is refused now, not at sending."""
    check_body(body)
    try:
        with transaction.atomic():
            return CannedReply.objects.create(
                key=key.strip(), language=language.strip().lower(), title=title.strip(), body=body
            )
    except IntegrityError:
        raise CannedReplyExists(field="key") from None


def update_canned(
    *, canned: CannedReply, title: str | None = None, body: str | None = None, key: str | None = None
) -> CannedReply:
    if body is not None:
        check_body(body)
        canned.body = body
    if title is not None:
        canned.title = title.strip()
    if key is not None:
        canned.key = key.strip()
    try:
        with transaction.atomic():
            canned.save()
    except IntegrityError:
        raise CannedReplyExists(field="key") from None
    return canned


def delete_canned(*, canned: CannedReply) -> None:
    canned.delete()


# --- The starter set --------------------------------------------------------------------------------------

# (key, language, title, body): a useful set for a giftware shop in English and Simplified Chinese.
STARTER_SET: tuple[tuple[str, str, str, str], ...] = (
    (
        "where-is-my-order",
        "en",
        "Where is my order?",
        "Hello {{ customer.first_name }},\n\nThank you for getting in touch. Your order {{ order.number }} is "
        "{{ order.status }}. You can follow it here: {{ tracking_url }}\n\nIf it has not arrived within two "
        "working days of the date shown, reply to this message and we will chase the carrier for you.\n\n"
        "Kind regards,\n{{ agent.first_name }}",
    ),
    (
        "where-is-my-order",
        "zh",
        "我的订单在哪里？",
        "{{ customer.first_name }}，您好！\n\n感谢您的来信。您的订单 {{ order.number }} 目前状态：{{ order.status }}。"
        "您可以在这里查看物流：{{ tracking_url }}\n\n如果在显示的日期后两个工作日内仍未收到，请直接回复此消息，"
        "我们会帮您联系承运商。\n\n祝好，\n{{ agent.first_name }}",
    ),
    (
        "return-instructions",
        "en",
        "How to return an item",
        "Hello {{ customer.first_name }},\n\nSorry it did not work out. You can return items from order "
        '{{ order.number }} within 30 days: open the order in your account, choose "Return items", and '
        "we will e-mail you a prepaid label. Please pack the items in their original packaging.\n\nYour "
        "refund is issued as soon as the parcel reaches us.\n\nKind regards,\n{{ agent.first_name }}",
    ),
    (
        "return-instructions",
        "zh",
        "如何退货",
        "{{ customer.first_name }}，您好！\n\n很抱歉商品不合您意。订单 {{ order.number }} 中的商品可在 30 天内退货："
        "在您的账户中打开该订单，选择“退货”，我们会通过电子邮件发送预付运单。请使用原包装打包商品。\n\n"
        "包裹到达后我们会立即为您退款。\n\n祝好，\n{{ agent.first_name }}",
    ),
    (
        "refund-issued",
        "en",
        "Refund issued",
        "Hello {{ customer.first_name }},\n\nWe have issued your refund for order {{ order.number }}. It "
        "goes back to the card you paid with and usually shows within 3-5 working days, depending on your "
        "bank.\n\nKind regards,\n{{ agent.first_name }}",
    ),
    (
        "refund-issued",
        "zh",
        "已退款",
        "{{ customer.first_name }}，您好！\n\n我们已为订单 {{ order.number }} 办理退款。款项将退回您付款时使用的银行卡，"
        "通常在 3 至 5 个工作日内到账，具体取决于您的银行。\n\n祝好，\n{{ agent.first_name }}",
    ),
    (
        "address-changed",
        "en",
        "Delivery address changed",
        "Hello {{ customer.first_name }},\n\nDone: order {{ order.number }} will now go to the new address "
        "you gave us. You will receive the tracking link as soon as it ships.\n\nKind regards,\n"
        "{{ agent.first_name }}",
    ),
    (
        "address-changed",
        "zh",
        "收货地址已更改",
        "{{ customer.first_name }}，您好！\n\n已为您处理：订单 {{ order.number }} 将寄往您提供的新地址。"
        "发货后您会收到物流跟踪链接。\n\n祝好，\n{{ agent.first_name }}",
    ),
    (
        "out-of-stock",
        "en",
        "Out of stock / on backorder",
        "Hello {{ customer.first_name }},\n\nSorry: part of order {{ order.number }} is out of stock at the "
        "moment. We have put it on backorder and will ship it as soon as it arrives, usually within two "
        "weeks. If you would rather not wait, reply to this message and we will cancel that item and "
        "refund it.\n\nKind regards,\n{{ agent.first_name }}",
    ),
    (
        "out-of-stock",
        "zh",
        "缺货 / 预订",
        "{{ customer.first_name }}，您好！\n\n很抱歉，订单 {{ order.number }} 中的部分商品目前缺货。我们已为您预订，"
        "到货后会立即发出，通常在两周内。如果您不想等待，请回复此消息，我们会取消该商品并为您退款。\n\n"
        "祝好，\n{{ agent.first_name }}",
    ),
    (
        "thanks-closing",
        "en",
        "Thanks and closing",
        "Hello {{ customer.first_name }},\n\nThank you for your patience. I will close this conversation "
        "({{ conversation.number }}) now; if anything else comes up, just reply and it opens again.\n\n"
        "Have a lovely day,\n{{ agent.first_name }}",
    ),
    (
        "thanks-closing",
        "zh",
        "致谢并结束",
        "{{ customer.first_name }}，您好！\n\n感谢您的耐心。我现在将结束此会话（{{ conversation.number }}）；"
        "如有其他问题，直接回复即可重新打开。\n\n祝您愉快，\n{{ agent.first_name }}",
    ),
)


def ensure_canned_replies(starter: Iterable[tuple[str, str, str, str]] = STARTER_SET) -> int:
    """Add the starter replies that are missing; replies already there (perhaps edited) are left alone.
    Returns how many were added."""
    existing = set(CannedReply.objects.values_list("key", "language"))
    added = 0
    for key, language, title, body in starter:
        if (key, language) in existing:
            continue
        create_canned(key=key, language=language, title=title, body=body)
        added += 1
    return added


__all__ = [
    "PLACEHOLDERS",
    "STARTER_SET",
    "Rendered",
    "check_body",
    "create_canned",
    "delete_canned",
    "ensure_canned_replies",
    "fill",
    "for_conversation",
    "pick",
    "placeholders_in",
    "preview",
    "render",
    "tracking_url",
    "unknown_placeholders",
    "update_canned",
    "values_for",
]
