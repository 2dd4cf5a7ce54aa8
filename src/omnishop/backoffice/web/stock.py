"""Stock desk: returns, receiving, adjustments, transfers, cycle counts, low stock, purchasing."""

from __future__ import annotations

from django.urls import path  # noqa: F401

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = []

urlpatterns: list = []
