"""Inventory API: `router` under /api/v1/inventory, `channel_router` adds /api/v1/channels/{code}/availability.

Thin by rule: parse, call a service, serialise. Modules by concept: holds (reservations, allocations,
availability), warehouse (locations, stock, ledger, transfers, counts), purchasing (replenishment, POs).
"""

from . import holds, purchasing, warehouse  # noqa: F401  (registers the endpoints)
from .common import channel_router, router

__all__ = ["channel_router", "router"]
