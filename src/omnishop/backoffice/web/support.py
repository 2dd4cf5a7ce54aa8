"""Support desk: the agent's inbox (mine / unassigned / all of their inboxes, filters, SLA badges, search),
the conversation page (thread, reply or note with a collision check, controls, the customer 360 beside it)
and the actions on the conversation's order, each with a confirmation step. Every change goes through
`support.services` (actions: `services.desk`), which records it on the conversation; the orders context's
services write the order's timeline."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from omnishop.core.errors import DomainError
from omnishop.orders import services as orders
from omnishop.orders.models import Order, ReturnRequest
from omnishop.support import services
from omnishop.support.errors import ConversationNotFound, ReplyCollision
from omnishop.support.models import CannedReply, Conversation, Inbox, Message

from ..forms import orders as order_forms
from ..forms import support as forms
from ..kit import money
from .common import attempt, confirmed, denied, desk, staff_view
from .orders_common import refund_limit

VIEW = "support.view_conversation"
CHANGE = "support.change_conversation"
PAGE_SIZE = 25
desk_actions = services.desk

NAV: list[tuple[str, str, str]] = [(gettext_lazy("Support"), "support", VIEW)]


def _conversation(request: HttpRequest, number: str) -> Conversation:
    try:
        return services.get_for_agent(user=request.user, number=number)
    except ConversationNotFound:
        raise Http404(_("No such conversation.")) from None


def conversation_url(conversation: Conversation) -> str:
    return reverse("backoffice:support_conversation", args=[conversation.number])


# --- The inbox --------------------------------------------------------------------------------------------


@staff_view(VIEW)
def inbox(request: HttpRequest) -> HttpResponse:
    mine = Inbox.objects.filter(is_active=True).order_by("name")
    if not request.user.is_superuser:
        mine = mine.filter(members=request.user)
    form = forms.InboxFilterForm(request.GET or None, inboxes=list(mine))
    data = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    found = desk_actions.find(
        user=request.user,
        box=data.get("box") or "all",
        status=data.get("status") or "",
        inbox_id=data.get("inbox"),
        priority=data.get("priority") or "",
        due_within_hours=desk_actions.DUE_SOON_HOURS if data.get("due_soon") else None,
        text=data.get("q") or "",
        now=now,
    )
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"c": c, "sla": desk_actions.sla_state(c, now=now), "due": desk_actions.due_at(c)} for c in page]
    box = data.get("box") or "all"
    return desk(
        request,
        "backoffice/support/inbox.html",
        {"form": form, "page": page, "rows": rows, "box": box, "boxes": forms.BOXES},
        title=_("Support inbox"),
    )


# --- The conversation -------------------------------------------------------------------------------------


def _thread(conversation: Conversation) -> list[dict]:
    rows = []
    for m in conversation.messages.select_related("author").prefetch_related("attachments"):
        rows.append(
            {
                "m": m,
                "who": _who(m),
                # stored sanitised; cleaned again on the way out so an older row cannot carry a script
                "html": mark_safe(services.sanitise_html(m.body_html)) if m.body_html else "",
                "auth": {k: m.auth_results.get(k) for k in ("spf", "dkim", "dmarc") if m.auth_results.get(k)},
            }
        )
    return rows


def _who(m: Message) -> str:
    if m.direction != Message.Direction.EVENT and (m.sender_name or m.sender_address):
        return m.sender_name or m.sender_address
    return (m.author.get_full_name() or m.author.get_username()) if m.author else ""


def _stream_url(conversation: Conversation, thread) -> str:
    """The live stream of this conversation (support/static/support/agent-live.js reads it), resuming after the
    last message rendered so nothing between rendering and connecting is missed."""
    last = max((row["m"].pk for row in thread), default=0)
    return f"{reverse('support:agent-stream', kwargs={'number': conversation.number})}?after={last}"


def _customer_side(conversation: Conversation) -> dict:
    customer = conversation.customer
    view = orders.customer_overview(customer=customer)
    return {
        "customer": customer,
        "orders": view["orders"],
        "payments": [
            {
                "payment": p,
                "captured": money(p.captured, p.currency),
                "refunded": money(p.refunded, p.currency),
            }
            for p in view["payments"]
        ],
        "returns": view["returns"],
        "credit": [money(a.balance, a.currency) for a in view["credit_accounts"]],
        "shipments": desk_actions.shipments_of(customer),
        "conversations": list(services.of_customer(customer).exclude(pk=conversation.pk)[:20]),
    }


def _reply_form(request: HttpRequest, conversation: Conversation, data=None, *, last_seen: int):
    canned = list(CannedReply.objects.filter(language__in=[conversation.language, "en"]))
    return forms.ReplyForm(data, canned=canned, initial={"last_seen": last_seen, "send_as": "reply"})


def _controls_form(conversation: Conversation, data=None):
    agents = list(conversation.inbox.members.filter(is_active=True).order_by("username"))
    initial = {
        "status": conversation.status,
        "snoozed_until": conversation.snoozed_until,
        "priority": conversation.priority,
        "assignee": conversation.assignee_id,
        "tags": ", ".join(t.name for t in conversation.tags.all()),
    }
    return forms.ControlsForm(data, agents=agents, initial=initial)


def _link_form(conversation: Conversation, data=None):
    choices = list(Order.objects.filter(customer=conversation.customer).order_by("-created_at")[:50])
    initial = {"order": conversation.order.number if conversation.order_id else ""}
    return forms.LinkOrderForm(data, orders=choices, initial=initial)


def _page(
    request: HttpRequest,
    conversation: Conversation,
    *,
    reply_form=None,
    arrived: list[Message] | None = None,
    status: int = 200,
) -> HttpResponse:
    thread = _thread(conversation)
    last_seen = max((row["m"].pk for row in thread), default=0)
    desk_actions.viewed(conversation=conversation, user=request.user)
    user = request.user
    allowed = [
        (action, label) for action, label in ACTION_LABELS if user.has_perms(desk_actions.PERMISSIONS[action])
    ]
    return desk(
        request,
        "backoffice/support/conversation.html",
        {
            "conversation": conversation,
            "thread": thread,
            "sla": desk_actions.sla_state(conversation, now=timezone.now()),
            "due": desk_actions.due_at(conversation),
            "viewers": desk_actions.viewers(conversation=conversation, user=user),
            "stream_url": _stream_url(conversation, thread),
            "side": _customer_side(conversation),
            "can_answer": user.has_perm(CHANGE),
            "reply_form": reply_form or _reply_form(request, conversation, last_seen=last_seen),
            "controls_form": _controls_form(conversation),
            "link_form": _link_form(conversation),
            "arrived": [{"m": m, "who": _who(m)} for m in arrived or []],
            "actions": allowed if conversation.order_id else [],
        },
        title=_("Conversation %(number)s") % {"number": conversation.number},
        status=status,
    )


@staff_view(VIEW)
def conversation_page(request: HttpRequest, number: str) -> HttpResponse:
    conversation = _conversation(request, number)
    if request.method != "POST":
        return _page(request, conversation)
    if not request.user.has_perm(CHANGE):
        raise denied()
    form = _reply_form(request, conversation, request.POST, last_seen=0)
    if not form.is_valid():
        return _page(request, conversation, reply_form=form, status=400)
    data = form.cleaned_data
    if "insert" in request.POST:  # fill the message with the chosen canned reply; nothing is sent
        chosen = form.canned_replies.get(data["canned"]) if data["canned"] else None
        post = request.POST.copy()
        if chosen is not None:
            post["body"] = desk_actions.canned_text(chosen, conversation, request.user)
        filled = _reply_form(request, conversation, post, last_seen=0)
        filled.is_valid()
        return _page(request, conversation, reply_form=filled)
    if not data["body"].strip():
        form.add_error("body", _("Write the message first."))
        return _page(request, conversation, reply_form=form, status=400)
    try:
        desk_actions.answer(
            conversation=conversation,
            user=request.user,
            body_text=data["body"],
            last_seen=data["last_seen"],
            note=data["send_as"] == "note",
            then=data["then"] or None,
            send_anyway=request.POST.get("send_anyway") == "yes",
        )
    except ReplyCollision:
        arrived = desk_actions.arrived_since(
            conversation=conversation, last_seen=data["last_seen"], user=request.user
        )
        return _page(request, conversation, reply_form=form, arrived=arrived, status=409)
    except DomainError as exc:
        form.add_error("body" if exc.field not in form.fields else exc.field, f"{exc.message} ({exc.code})")
        return _page(request, conversation, reply_form=form, status=400)
    messages.success(request, _("Note added.") if data["send_as"] == "note" else _("Reply sent."))
    return redirect(conversation_url(conversation))


@staff_view(VIEW, CHANGE)
@require_POST
def controls(request: HttpRequest, number: str) -> HttpResponse:
    conversation = _conversation(request, number)
    form = _controls_form(conversation, request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the conversation's settings: %(errors)s") % {"errors": form.errors})
        return redirect(conversation_url(conversation))
    data, user = form.cleaned_data, request.user
    try:
        if data["status"] != conversation.status or (
            data["status"] == Conversation.Status.SNOOZED
            and data["snoozed_until"] != conversation.snoozed_until
        ):
            if data["status"] == conversation.status:  # a new snooze time: wake, then snooze again
                conversation = services.set_status(
                    conversation=conversation, status=Conversation.Status.OPEN, actor=user
                )
            conversation = services.set_status(
                conversation=conversation,
                status=data["status"],
                snoozed_until=data["snoozed_until"],
                actor=user,
            )
        if data["priority"] != conversation.priority:
            services.set_priority(conversation=conversation, priority=data["priority"])
            services.record_event(
                conversation=conversation, text=f"Priority: {data['priority']}.", author=user
            )
        if data["assignee"] != conversation.assignee_id:
            assignee = conversation.inbox.members.filter(pk=data["assignee"]).first()
            services.assign(conversation=conversation, assignee=assignee, actor=user)
        names = sorted({n.lower() for n in form.tag_names()})
        if names != sorted(t.name for t in conversation.tags.all()):
            services.set_tags(conversation=conversation, names=names)
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")
    else:
        messages.success(request, _("Conversation updated."))
    return redirect(conversation_url(conversation))


@staff_view(VIEW, CHANGE)
@require_POST
def link_order(request: HttpRequest, number: str) -> HttpResponse:
    conversation = _conversation(request, number)
    form = _link_form(conversation, request.POST)
    if form.is_valid():
        chosen = form.cleaned_data["order"]
        try:
            order = orders.get_order(chosen) if chosen else None
            services.link_order(conversation=conversation, order=order, actor=request.user)
        except DomainError as exc:
            messages.error(request, f"{exc.message} ({exc.code})")
        else:
            messages.success(request, _("Order link changed."))
    else:
        messages.error(request, _("Choose one of the customer's orders."))
    return redirect(conversation_url(conversation))


# --- Actions on the conversation's order ----------------------------------------------------------------

ACTION_LABELS: list[tuple[str, object]] = [
    ("refund", gettext_lazy("Refund")),
    ("credit", gettext_lazy("Give store credit")),
    ("start_return", gettext_lazy("Start a return")),
    ("decide_return", gettext_lazy("Approve or reject a return")),
    ("address", gettext_lazy("Change the delivery address")),
    ("cancel", gettext_lazy("Cancel")),
    ("reship", gettext_lazy("Reship a missing item")),
    ("tracking", gettext_lazy("Resend the tracking link")),
]


def _action_form(request: HttpRequest, action: str, conversation: Conversation, order: Order):
    """The form of one action (with the verification fields when the sender is unverified)."""
    lines = list(order.lines.all())
    builders: dict[str, Callable[[type], object]] = {
        "refund": lambda cls: cls(
            data,
            currency=order.currency,
            limit=refund_limit(request),
            initial={"amount": orders.money_of(order)["refundable"]},  # the full refund; type less for part
        ),
        "credit": lambda cls: cls(data, currency=order.currency, limit=refund_limit(request)),
        "start_return": lambda cls: cls(data, lines=lines),
        "decide_return": lambda cls: cls(
            data, returns=list(order.returns.filter(status=ReturnRequest.Status.REQUESTED))
        ),
        "address": lambda cls: cls(data, initial=order.shipping_address or {}),
        "cancel": lambda cls: cls(data, lines=lines),
        "reship": lambda cls: cls(data, lines=lines),
        "tracking": lambda cls: cls(data),
    }
    classes = {
        "refund": order_forms.AmountForm,
        "credit": order_forms.AmountForm,
        "start_return": forms.ReturnForm,
        "decide_return": forms.DecideReturnForm,
        "address": order_forms.AddressForm,
        "cancel": order_forms.CancelForm,
        "reship": order_forms.SplitForm,
        "tracking": forms.TrackingForm,
    }
    data = request.POST if request.method == "POST" else None
    cls = classes[action]
    if not conversation.sender_verified:
        cls = forms.with_verification(cls)
    return builders[action](cls)


def _perform(request: HttpRequest, action: str, conversation: Conversation, order: Order, form) -> object:
    data, user = form.cleaned_data, request.user
    common = {
        "conversation": conversation,
        "user": user,
        "verified_elsewhere": data.get("verified_elsewhere", False),
        "how": data.get("how", ""),
    }
    d = desk_actions
    if action == "refund":
        return d.refund(**common, amount=data["amount"], key=data["token"], reason=data["reason"])
    if action == "credit":
        return d.credit(**common, amount=data["amount"], key=data["token"], reason=data["reason"])
    if action == "start_return":
        return d.start_return(
            **common, lines=form.return_lines(), refund_to=data["refund_to"], note=data["note"]
        )
    if action == "decide_return":
        return d.decide_return(
            **common,
            rma=form.returns[data["rma"]],
            approve=data["decision"] == "approve",
            note=data["note"],
        )
    if action == "address":
        return d.change_address(**common, address=form.address())
    if action == "cancel":
        return d.cancel(
            **common, quantities=None if data["everything"] else form.quantities(), reason=data["reason"]
        )
    if action == "reship":
        return d.reship(**common, quantities=form.quantities())
    page = request.build_absolute_uri(reverse("shop:order_placed", args=[order.tracking_token]))
    return d.resend_tracking(**common, tracking_page_url=page)


def _summary(action: str, order: Order, form) -> list[str]:
    data = form.cleaned_data
    c = order.currency
    if action == "refund":
        return [
            _("Refund %(amount)s of order %(number)s to the original payment method.")
            % {"amount": money(data["amount"], c), "number": order.number},
            _("Refundable now: %(amount)s.") % {"amount": money(orders.money_of(order)["refundable"], c)},
        ]
    if action == "credit":
        return [
            _("Give %(amount)s of store credit; the payment stays as it is.")
            % {"amount": money(data["amount"], c)}
        ]
    if action == "start_return":
        units = {x.pk: x for x in form.lines}
        return [
            _("Return %(count)s × %(sku)s.") % {"count": n, "sku": units[pk].sku}
            for pk, n, _reason in form.return_lines()
        ]
    if action == "decide_return":
        return [
            (_("Approve return %(rma)s.") if data["decision"] == "approve" else _("Reject return %(rma)s."))
            % {"rma": data["rma"]}
        ]
    if action == "address":
        return [
            _("Deliver to: %(address)s.") % {"address": ", ".join(v for v in form.address().values() if v)}
        ]
    if action == "cancel":
        return [_("Cancel every unshipped item.") if data["everything"] else _("Cancel the units given.")]
    if action == "reship":
        units = {x.pk: x for x in form.lines}
        return [
            *(
                _("Move %(count)s × %(sku)s into a new order that ships on its own.")
                % {"count": n, "sku": units[pk].sku}
                for pk, n in form.quantities().items()
            ),
        ]
    return [_("E-mail the customer the tracking link of order %(number)s.") % {"number": order.number}]


@staff_view(VIEW, CHANGE)
def action(request: HttpRequest, number: str, name: str) -> HttpResponse:
    labels = dict(ACTION_LABELS)
    if name not in labels:
        raise Http404(_("No such action."))
    if not request.user.has_perms(desk_actions.PERMISSIONS[name]):
        raise denied()
    conversation = _conversation(request, number)
    if conversation.order_id is None:
        messages.error(request, _("Link the conversation to an order first."))
        return redirect(conversation_url(conversation))
    order = orders.get_order(conversation.order.number)
    form = _action_form(request, name, conversation, order)
    confirm = None
    if request.method == "POST" and form.is_valid():
        if not confirmed(request):
            confirm = _summary(name, order, form)
        elif (
            attempt(
                request, form, lambda: _perform(request, name, conversation, order, form), done=_("Done.")
            )
            is not None
        ):
            return redirect(conversation_url(conversation))
    status = 400 if request.method == "POST" and form.errors else 200
    return desk(
        request,
        "backoffice/support/action.html",
        {
            "conversation": conversation,
            "conversation_url": conversation_url(conversation),
            "order": order,
            "form": form,
            "confirm": confirm,
            "submit": labels[name],
        },
        title=_("%(action)s — order %(order)s, conversation %(number)s")
        % {"action": labels[name], "order": order.number, "number": conversation.number},
        status=status,
    )


urlpatterns = [
    path("support/", inbox, name="support"),
    path("support/<str:number>/", conversation_page, name="support_conversation"),
    path("support/<str:number>/settings/", controls, name="support_controls"),
    path("support/<str:number>/order/", link_order, name="support_link_order"),
    path("support/<str:number>/act/<str:name>/", action, name="support_action"),
]
