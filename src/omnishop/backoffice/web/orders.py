"""Orders desk: find orders, the order page with its timeline, and every operation on an order."""

from __future__ import annotations

from django.urls import path  # noqa: F401

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = []

urlpatterns: list = []
