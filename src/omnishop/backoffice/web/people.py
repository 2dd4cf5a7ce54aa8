"""Home and people: the role landing, the customer 360, merges and the duplicates queue."""

from __future__ import annotations

from django.urls import path  # noqa: F401

# (label, url name, permission needed to see the entry) — shown in every desk's navigation
NAV: list[tuple[str, str, str]] = []

urlpatterns: list = []
