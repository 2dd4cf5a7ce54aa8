"""The demo's support desk: five inboxes (e-mail, web chat, phone, marketplace messages, the contact form)
with SLA policies in UK business hours and bank holidays, the `customer-service` member of staff as the
agent of every inbox and online, the starter canned replies, and conversations a desk really sees, in
English and Chinese: where is my order, a wrong size to return, a damaged item with a photo, a marketplace
buyer's question, a missed call to return, a contact-form message, and resolved ones with their ratings.

Several are about real orders of the demo's customers (placed here on the app and the marketplace, shipped
where the story needs it). Messages arrive through `support.services.receive` with external ids
`demo:<story>`, so a second load finds them and changes nothing. Times are relative to the load: the
overdue conversation was written five days earlier, the marketplace one just under a day ago (its 24-hour
target is near)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from omnishop.channels.models import Channel
from omnishop.customers.models import Customer
from omnishop.inventory.models import StockLevel
from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, Order
from omnishop.storefront.models import ContactMessage
from omnishop.support import services
from omnishop.support.models import (
    Call,
    CallbackTask,
    CannedReply,
    Conversation,
    Inbox,
    Message,
    SlaPolicy,
)
from omnishop.support.services import canned, contact

AGENT_USERNAME = "customer-service"
DESK_PATH = "/admin/ops/support/"
ACTOR = "demo:support"

WEEKDAYS = {str(d): [["09:00", "17:30"]] for d in range(5)} | {"5": [["10:00", "14:00"]]}
# England and Wales bank holidays (gov.uk), with the substitute days when they fall on a weekend.
UK_HOLIDAYS = [
    "2026-01-01",
    "2026-04-03",
    "2026-04-06",
    "2026-05-04",
    "2026-05-25",
    "2026-08-31",
    "2026-12-25",
    "2026-12-28",
    "2027-01-01",
    "2027-03-26",
    "2027-03-29",
    "2027-05-03",
    "2027-05-31",
    "2027-08-30",
    "2027-12-27",
    "2027-12-28",
]
POLICIES = {
    "UK office hours": {
        "first_response_minutes": 120,
        "resolution_minutes": 3 * 510,  # three working days of 8½ hours
        "time_zone": "Europe/London",
        "business_hours": WEEKDAYS,
        "holidays": UK_HOLIDAYS,
    },
    "Chat, around the clock": {"first_response_minutes": 10, "resolution_minutes": 240, "business_hours": {}},
    # Marketplaces rank sellers by answers within 24 hours, weekends included.
    "Marketplace 24 hours": {"first_response_minutes": 24 * 60, "resolution_minutes": 72 * 60},
}


@dataclass(frozen=True)
class PlannedInbox:
    code: str
    name: str
    kind: str
    channel: str
    address: str
    policy: str
    assignment: str
    language: str = "en"


INBOXES = (
    PlannedInbox(
        "help",
        "help@omnishop.example",
        "email",
        "web",
        "help@omnishop.example",
        "UK office hours",
        "round_robin",
    ),
    PlannedInbox("chat", "Web chat", "chat", "web", "", "Chat, around the clock", "least_open"),
    PlannedInbox(
        "phone", "Phone +44 20 7946 0999", "phone", "web", "+442079460999", "UK office hours", "manual"
    ),
    PlannedInbox(
        "marketplace",
        "Marketplace messages",
        "channel",
        "marketplace-eu",
        "",
        "Marketplace 24 hours",
        "manual",
    ),
    PlannedInbox("contact-form", "Contact form", "contact_form", "web", "", "UK office hours", "round_robin"),
)


def tiny_png(width: int = 24, height: int = 16) -> bytes:
    """A small PNG (a cracked mug's glaze colour with a dark crack), made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b""
    for y in range(height):
        row = b"\x00"
        for x in range(width):
            crack = abs(x - (y + 4)) <= 0
            row += bytes((60, 40, 30) if crack else (214, 226, 240))
        rows += row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ensure_support(channels: dict[str, Channel]) -> None:
    """Create whatever of the desk's demo is missing (a loaded demo is left as it is)."""
    agent = get_user_model().objects.get(username=AGENT_USERNAME)
    policies = _ensure_policies()
    inboxes = _ensure_inboxes(channels, policies, agent)
    presence = getattr(agent, "support_presence", None)
    if presence is None or not presence.is_online:
        services.set_online(user=agent, online=True)
    if not CannedReply.objects.exists():
        canned.ensure_canned_replies()
    if Message.objects.filter(external_id__startswith="demo:").exists():
        return  # the stories are in: a second load changes nothing
    placed = _ensure_orders(channels)
    _stories(inboxes, placed, agent)


def _ensure_policies() -> dict[str, SlaPolicy]:
    found = {p.name: p for p in SlaPolicy.objects.filter(name__in=POLICIES)}
    for name, values in POLICIES.items():
        if name not in found:
            found[name] = SlaPolicy.objects.create(name=name, **values)
    return found


def _ensure_inboxes(channels, policies, agent) -> dict[str, Inbox]:
    found = {i.code: i for i in Inbox.objects.filter(code__in=[p.code for p in INBOXES])}
    for p in INBOXES:
        if p.code not in found:
            found[p.code] = Inbox.objects.create(
                code=p.code,
                name=p.name,
                kind=p.kind,
                channel=channels[p.channel],
                address=p.address,
                sla_policy=policies[p.policy],
                assignment=p.assignment,
                language=p.language,
            )
        if not found[p.code].members.filter(pk=agent.pk).exists():
            found[p.code].members.add(agent)
    return found


# --- orders the conversations are about -------------------------------------------------------------------


def _sku_in_stock(channel: Channel, *, exclude: set[str]) -> str:
    level = (
        StockLevel.objects.filter(
            location__channel_links__channel=channel,
            variant__listings__channel=channel,
            variant__listings__is_published=True,
            on_hand__gte=5,
        )
        .exclude(variant__sku__in=exclude)
        .select_related("variant")
        .order_by("variant__sku")
        .first()
    )
    if level is None:
        raise RuntimeError(f"The demo has no stock to sell on {channel.code}.")
    return level.variant.sku


def _customer(email: str) -> Customer:
    return Customer.objects.get(email=email.lower())


@dataclass(frozen=True)
class PlannedOrder:
    key: str
    channel: str
    email: str
    address: dict
    then: str  # paid | shipped | delivered


ADDRESSES = {
    "amelia": {
        "name": "Amelia Hughes",
        "line1": "22 Laurel Avenue",
        "city": "Twickenham",
        "postcode": "TW1 4JA",
        "country": "GB",
    },
    "daniel": {
        "name": "Daniel Okafor",
        "line1": "8 Canal Street",
        "city": "Manchester",
        "postcode": "M1 3HE",
        "country": "GB",
    },
    "ava": {
        "name": "Ava Mitchell",
        "line1": "4 The Crescent",
        "city": "York",
        "postcode": "YO24 1AW",
        "country": "GB",
    },
    "lukas": {
        "name": "Lukas Schneider",
        "line1": "Bergmannstraße 12",
        "city": "Berlin",
        "postcode": "10961",
        "country": "DE",
    },
    "grace": {
        "name": "Grace Thompson",
        "line1": "3 Mill Lane",
        "city": "Leeds",
        "postcode": "LS6 3AB",
        "country": "GB",
    },
    "wang": {
        "name": "Wang Fang",
        "line1": "9 Park Row",
        "city": "Leeds",
        "postcode": "LS1 5HD",
        "country": "GB",
    },
}
ORDERS = (
    PlannedOrder("amelia", "app", "amelia.hughes@example.com", ADDRESSES["amelia"], "shipped"),
    PlannedOrder("daniel", "app", "daniel.okafor@example.com", ADDRESSES["daniel"], "delivered"),
    PlannedOrder("ava", "app", "ava.mitchell@example.com", ADDRESSES["ava"], "delivered"),
    PlannedOrder("lukas", "marketplace-eu", "lukas.schneider@example.de", ADDRESSES["lukas"], "paid"),
    PlannedOrder("grace", "app", "grace.thompson@example.co.uk", ADDRESSES["grace"], "paid"),
    PlannedOrder("wang", "app", "wang.fang@example.cn", ADDRESSES["wang"], "paid"),
)


def _ensure_orders(channels: dict[str, Channel]) -> dict[str, Order]:
    wang = Customer.objects.filter(email="wang.fang@example.cn").first()
    if wang is None:
        from omnishop.customers import services as customers

        wang = customers.resolve_customer(
            channel=channels["app"],
            email="wang.fang@example.cn",
            first_name="Fang",
            last_name="Wang",
        ).customer
        customers.update_preferences(customer=wang, language="zh-hans")
    placed: dict[str, Order] = {}
    used: set[str] = set()
    for p in ORDERS:
        channel = channels[p.channel]
        sku = _sku_in_stock(channel, exclude=used)
        used.add(sku)
        order, _ = orders.create_channel_order(
            channel=channel,
            lines=[orders.ChannelLine(sku=sku, quantity=1)],
            external_id=f"DEMO-SUPPORT-{p.key.upper()}",
            customer=_customer(p.email),
            email=p.email,
            shipping_address=p.address,
            shipping_total="3.95" if p.channel != "marketplace-eu" else "4.90",
            actor=ACTOR,
        )
        if p.then in ("shipped", "delivered") and order.status == Order.Status.PAID:
            for fulfilment in orders.create_fulfilments(order=order, actor=ACTOR):
                orders.ship_fulfilment(
                    fulfilment=fulfilment,
                    carrier="royal-mail",
                    tracking_number=f"RM{order.pk:07d}GB",
                    actor=ACTOR,
                )
            if p.then == "delivered":
                for fulfilment in order.fulfilments.filter(status=Fulfilment.Status.SHIPPED):
                    orders.mark_delivered(fulfilment=fulfilment, actor=ACTOR)
        placed[p.key] = Order.objects.get(pk=order.pk)
    return placed


# --- the conversations ------------------------------------------------------------------------------------


def _write(inbox: Inbox, key: str, when: datetime, **fields) -> Conversation:
    message = services.receive(
        inbox=inbox,
        incoming=services.Incoming(external_id=f"demo:{key}", received_at=when, **fields),
    )
    return message.conversation


def _answer(conversation: Conversation, agent, key: str, *, when: datetime, then: str | None = None) -> None:
    """The agent's reply from a canned reply, dated `when` (the demo's past), and the status it left."""
    text = canned.render(canned.pick(key=key, language=conversation.language), conversation, agent)
    message = services.reply(conversation=conversation, author=agent, body_text=text, then=then)
    Message.objects.filter(pk=message.pk).update(created_at=when)
    changes: dict = {"first_response_at": when, "last_message_at": when}
    if then == Conversation.Status.RESOLVED:
        changes["resolved_at"] = when
    Conversation.objects.filter(pk=conversation.pk).update(**changes)


def _stories(inboxes: dict[str, Inbox], placed: dict[str, Order], agent) -> None:
    now = timezone.now()
    S = Conversation.Status

    # 1. Where is my order? (e-mail, an order on its way; still waiting for the first answer)
    _write(
        inboxes["help"],
        "amelia-wismo",
        now - timedelta(minutes=50),
        via=Message.Via.EMAIL,
        sender_email="amelia.hughes@example.com",
        sender_name="Amelia Hughes",
        subject=f"Where is my order {placed['amelia'].number}?",
        body_text=f"Hello,\n\nI ordered on the app last week (order {placed['amelia'].number}) and it says "
        "shipped, but nothing has arrived yet. Could you check where it is? It is a birthday present.\n\n"
        "Thanks,\nAmelia",
    )

    # 2. Wrong size, to return (web chat, answered with the return instructions; waiting on the shopper)
    daniel = _write(
        inboxes["chat"],
        "daniel-size",
        now - timedelta(hours=3),
        via=Message.Via.CHAT,
        sender_email="daniel.okafor@example.com",
        sender_name="Daniel Okafor",
        body_text=f"Hi, the jacket from order {placed['daniel'].number} is too small, I normally wear a "
        "medium. Can I send it back and get a large?",
    )
    _answer(daniel, agent, "return-instructions", when=now - timedelta(hours=2, minutes=50), then=S.PENDING)

    # 3. Damaged item with a photo (e-mail, five days old and unanswered: past its SLA)
    ava = _write(
        inboxes["help"],
        "ava-damaged",
        now - timedelta(days=5),
        via=Message.Via.EMAIL,
        sender_email="ava.mitchell@example.com",
        sender_name="Ava Mitchell",
        subject="Item arrived damaged",
        body_text=f"Hello, my parcel for order {placed['ava'].number} arrived today and the item inside is "
        "cracked. Photo attached. Can you send a replacement?\n\nAva",
        attachments=[services.IncomingAttachment("cracked.png", "image/png", tiny_png())],
    )
    services.set_priority(conversation=ava, priority=Conversation.Priority.HIGH)
    services.set_tags(conversation=ava, names=["damaged", "replacement"])

    # 4. A marketplace buyer's question (channel messages, 24-hour target, due in about two hours)
    _write(
        inboxes["marketplace"],
        "lukas-marketplace",
        now - timedelta(hours=22),
        via=Message.Via.CHANNEL,
        sender_email="lukas.schneider@example.de",
        sender_name="Lukas Schneider",
        subject=f"Question about order {placed['lukas'].number}",
        body_text="Hello, does this hoodie run small? If so I would like to change to the next size before "
        "it ships. Delivery to Berlin by Friday would be great.",
    )

    # 5. A missed call with a callback task (phone)
    isla = _write(
        inboxes["phone"],
        "isla-call",
        now - timedelta(minutes=40),
        via=Message.Via.PHONE,
        sender_phone="020 7946 0842",
        sender_name="Isla Morgan",
        body_text="Missed call from +44 20 7946 0842 (no voicemail).",
    )
    call = Call.objects.create(
        conversation=isla,
        provider_sid="CADEMO0000000000000000000000000001",
        from_number="+442079460842",
        to_number="+442079460999",
        provider_status="no-answer",
        outcome=Call.Outcome.MISSED,
        started_at=now - timedelta(minutes=40),
        ended_at=now - timedelta(minutes=39),
    )
    CallbackTask.objects.create(
        call=call, conversation=isla, due_at=now + timedelta(minutes=20), assignee=agent
    )

    # 6. Resolved with a rating (e-mail: an address changed in time)
    grace = _write(
        inboxes["help"],
        "grace-address",
        now - timedelta(days=2, hours=3),
        via=Message.Via.EMAIL,
        sender_email="grace.thompson@example.co.uk",
        sender_name="Grace Thompson",
        subject="Change of delivery address",
        body_text=f"Hi, I have just moved. Could order {placed['grace'].number} go to 3 Mill Lane, Leeds LS6 3AB "
        "instead?",
    )
    _answer(grace, agent, "address-changed", when=now - timedelta(days=2, hours=2), then=S.RESOLVED)
    services.rate(conversation=grace, rating=5, comment="Very quick, thank you!")

    # 7. 我的订单什么时候发货？ (Chinese e-mail about a paid order, new)
    _write(
        inboxes["help"],
        "wang-wismo",
        now - timedelta(minutes=25),
        via=Message.Via.EMAIL,
        sender_email="wang.fang@example.cn",
        sender_name="Wang Fang",
        language="zh-hans",
        subject=f"订单 {placed['wang'].number} 什么时候发货？",
        body_text=f"您好，\n\n我三天前下的订单 {placed['wang'].number} 还没有发货。请问什么时候可以寄出？\n\n谢谢！\n王芳",
    )

    # 8. 能开发票吗？ (Chinese web chat, answered, resolved and rated)
    li = _write(
        inboxes["chat"],
        "li-invoice",
        now - timedelta(days=1, hours=4),
        via=Message.Via.CHAT,
        sender_email="li.wei@example.com",
        sender_name="Li Wei",
        language="zh-hans",
        body_text="你好，请问下单后可以开发票吗？公司报销需要。",
    )
    _answer(li, agent, "thanks-closing", when=now - timedelta(days=1, hours=3), then=S.RESOLVED)
    services.rate(conversation=li, rating=4, comment="回复很快，谢谢。")

    # 9. The contact form (a message through the storefront's form, taken over by the desk)
    sent = ContactMessage.objects.create(
        channel=inboxes["contact-form"].channel,
        email="m.khan@example.co.uk",
        name="Mohammed Khan",
        message="Do you offer gift wrapping? I would like to send a present straight to my sister.",
    )
    contact.take_over(sent)
    Message.objects.filter(external_id=contact.external_id(sent)).update(created_at=now - timedelta(hours=1))


def counts() -> dict[str, int]:
    return {
        "support_inboxes": Inbox.objects.count(),
        "support_conversations": Conversation.objects.count(),
    }
