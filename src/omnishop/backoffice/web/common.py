"""What every desk view shares: who may open it, the admin frame around it, forms whose errors sit next to
their fields, a confirmation step where money or stock moves, and domain errors shown instead of raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from omnishop.core.errors import DomainError


def staff_view(*permissions: str) -> Callable:
    """A desk view: signed-in active staff with every permission named ('orders.change_order'), never cached.

    Anonymous visitors go to the admin log-in; staff without the permission get 403."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not (user.is_authenticated and user.is_active and user.is_staff):
                return redirect_to_login(request.get_full_path(), login_url="admin:login")
            if not user.has_perms(permissions):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapped.permissions = permissions  # read by the role matrix test
        return never_cache(wrapped)

    return decorate


def actor(request: HttpRequest) -> str:
    """How services and the ledger name a member of staff (the same as the API and the admin actions)."""
    return f"staff:{request.user.pk}"


def desk(
    request: HttpRequest, template: str, context: dict, *, title: str, status: int = 200
) -> HttpResponse:
    """Render a desk page inside the admin's frame (header, breadcrumbs, theme, navigation)."""
    from .urls import navigation  # late: urls imports every desk module

    frame = admin.site.each_context(request)
    frame.update(title=title, desks=navigation(request), **context)
    return render(request, template, frame, status=status)


def attempt(request: HttpRequest, form, call: Callable[[], object], *, done: str) -> object | None:
    """Run a service for a valid form; a DomainError becomes an error on the field it names (or on the form).

    Returns the service's result, or None when it was refused (the form then carries the reason)."""
    try:
        result = call()
    except DomainError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, f"{exc.message} ({exc.code})")
        return None
    messages.success(request, done)
    return result


def confirmed(request: HttpRequest) -> bool:
    """True on the second POST of a two-step form: the first shows what will happen, the second does it."""
    return request.POST.get("confirm") == "yes"


def require_any(user, permissions: Iterable[str]) -> bool:
    return any(user.has_perm(p) for p in permissions)


def denied() -> PermissionDenied:
    return PermissionDenied("Your role does not allow this.")
