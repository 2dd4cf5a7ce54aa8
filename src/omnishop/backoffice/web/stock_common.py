"""What the stock desk's views share: running a service with its refusal shown on the form field it names,
running it at most once per page (the form's token), and the permissions the inventory and returns APIs
check, so the desk and the API agree on who may do what."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import orjson
from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from omnishop.core.errors import DomainError, IdempotencyInProgress
from omnishop.core.idempotency import run_idempotent

from ..forms.stock import new_token
from .common import actor

# Permissions, as the APIs check them (inventory/api/*.py, orders/api.py).
VIEW_STOCK = "inventory.view_stocklevel"
MOVE_STOCK = "inventory.add_stockmovement"
VIEW_COUNTS = "inventory.view_stockmovement"
VIEW_TRANSFERS = "inventory.view_transfer"
ADD_TRANSFER = "inventory.add_transfer"
CHANGE_TRANSFER = "inventory.change_transfer"
VIEW_ALERTS = "inventory.view_lowstockalert"
VIEW_PO = "inventory.view_purchaseorder"
ADD_PO = "inventory.add_purchaseorder"
CHANGE_PO = "inventory.change_purchaseorder"
VIEW_COST = "inventory.view_cost"  # unit, landed and average costs: the buyers' data
VIEW_RETURNS = "orders.view_returnrequest"
CHANGE_ORDERS = "orders.change_order"


def field_for(form, name: str | None) -> str | None:
    """The form field a service's error names: 'lines[2].quantity' → 'lines', 'delta' → 'delta'."""
    if not name:
        return None
    for candidate in (name, name.split("[")[0].split(".")[0]):
        if candidate in form.fields:
            return candidate
    return None


def refuse(form, error: DomainError | dict) -> None:
    if isinstance(error, DomainError):
        error = error.as_dict()
    form.add_error(field_for(form, error.get("field")), f"{error['message']} ({error['code']})")


def run(request: HttpRequest, form, call: Callable[[], object], *, done: str) -> object | None:
    """Run a service; a DomainError becomes an error on the field it names (or on the form)."""
    try:
        result = call()
    except DomainError as exc:
        refuse(form, exc)
        return None
    messages.success(request, done)
    return result


def once(request: HttpRequest, form, operation: str, call: Callable[[], object], *, done: str) -> int | None:
    """Run a service that creates something at most once per form token; return the created row's pk.

    A second post of the same page (double click, back and resubmit) finds the first result stored under
    the token and books nothing. A refusal is stored too, so the form gets a fresh token to try again."""

    def work() -> tuple[int, bytes]:
        return 200, orjson.dumps({"pk": call().pk})

    # The stored answer is matched to what the form said, not to the raw body (the CSRF token and the
    # encoding — a browser's urlencoded body, a test client's multipart — are not part of the request).
    said = {k: form.data.getlist(k) for k in sorted(form.data) if k not in ("csrfmiddlewaretoken", "confirm")}
    try:
        response = run_idempotent(
            SimpleNamespace(body=orjson.dumps(said)),
            scope=f"desk:{actor(request)}",
            key=form.cleaned_data["token"],
            operation=f"desk:{operation}",
            work=work,
        )
    except IdempotencyInProgress as exc:  # the first post is still running: this one must not book
        refuse(form, exc)
        return None
    except DomainError as exc:  # the page's token already booked a different form (changed after posting)
        refuse(form, exc)
        renew_token(form)
        return None
    body = orjson.loads(response.content)
    if response.status_code >= 400:
        refuse(form, body["error"])
        renew_token(form)
        return None
    if response.get("Idempotent-Replayed"):
        messages.info(request, _("This was already done; nothing was booked twice."))
    else:
        messages.success(request, done)
    return body["pk"]


def renew_token(form) -> None:
    """A refused form is shown again with a new token, so its corrected version runs."""
    form.data = form.data.copy()
    form.data["token"] = new_token()
