"""Customers API (filled in by the customers work)."""

from ninja import Router

router = Router(tags=["customers"])
