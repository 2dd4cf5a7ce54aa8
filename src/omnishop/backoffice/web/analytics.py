"""The analytics dashboard: KPI cards, charts, the action list, CSV downloads."""

from __future__ import annotations

from django.urls import path  # noqa: F401

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = []

urlpatterns: list = []
