"""Product search API (filled in below the recommendations work)."""

from ninja import Router

router = Router(tags=["search"])
