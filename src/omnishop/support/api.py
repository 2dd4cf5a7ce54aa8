"""The support desk's REST API under /api/v1/support (parse → call a service → serialise)."""

from __future__ import annotations

from ninja import Router

from . import errors  # noqa: F401  (the codes are published with the API)

router = Router(tags=["support"])
