"""The recommendations context's operations. Other apps import from here (never from api or admin).

`events` (recording behaviour, linking anonymous visitors, retention), `training` (building, evaluating
and activating model versions), `serving` (the recommendation lists, filtered for a channel).
"""

from .events import (
    EVENT_WEIGHTS,
    MAX_BATCH,
    BatchResult,
    Rejection,
    link_anonymous,
    purge_old_events,
    record_events,
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
    "BatchResult",
    "Recommendation",
    "Rejection",
    "active_version",
    "bought_together",
    "for_cart",
    "for_customer",
    "for_session",
    "link_anonymous",
    "purge_old_events",
    "record_events",
    "similar_products",
    "train",
]
