"""Orders API: carts and checkout, one-click buy, channel orders, the order lifecycle, returns, exceptions.

Parse → call a service → serialise. Who may do what: a channel key acts on its own channel's carts and
orders; a shopper on their own; staff by Django permission (docs/orders.md has the matrix).
"""

from __future__ import annotations

from . import carts, configuration, operations, returns  # noqa: F401  (each registers its operations)
from .access import channel_router, router

# isort: split
# Registered last: `GET /{number}` would otherwise answer for `/exceptions`, `/merge`, ….
from . import one_order  # noqa: F401

__all__ = ["channel_router", "router"]
