"""Catalog API (filled in by the catalog work)."""

from ninja import Router

router = Router(tags=["catalog"])
