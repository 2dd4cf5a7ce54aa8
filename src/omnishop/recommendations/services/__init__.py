"""The recommendations context's operations. Other apps import from here (never from api or admin).

`events` (recording behaviour, linking anonymous visitors, retention), `training` (building, evaluating
and activating model versions), `serving` (the recommendation lists, filtered for a channel),
`performance` (impressions and clicks per placement); `attribution` (orders' lines brought by a clicked
recommendation) is connected at start-up and not re-exported (it reads orders' tables).
"""

from .events import (
    EVENT_WEIGHTS,
    MAX_BATCH,
    BatchResult,
    Rejection,
    link_anonymous,
    purge_old_events,
    record_events,
    record_search,
)
from .performance import (
    PLACEMENTS,
    attribution_days,
    is_robot,
    placement,
    record_click,
    record_impressions,
    shopping_as,
)
from .serving import (
    Recommendation,
    bought_together,
    for_cart,
    for_customer,
    for_session,
    similar_products,
)
from .training import active_version, train

__all__ = [
    "EVENT_WEIGHTS",
    "MAX_BATCH",
    "PLACEMENTS",
    "BatchResult",
    "Recommendation",
    "Rejection",
    "active_version",
    "attribution_days",
    "bought_together",
    "for_cart",
    "for_customer",
    "for_session",
    "is_robot",
    "link_anonymous",
    "placement",
    "purge_old_events",
    "record_click",
    "record_events",
    "record_impressions",
    "record_search",
    "shopping_as",
    "similar_products",
    "train",
]
