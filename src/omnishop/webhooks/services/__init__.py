"""Outgoing webhooks: the business operations (endpoints, the outbox sink, the relay worker, replays).

`sink` goes into settings OMNISHOP_OUTBOX_SINKS and `deliver_due` into OMNISHOP_RELAY_WORKERS.
"""

from .delivery import claim_due, deliver_due, due_deliveries, retry_delay, send_claimed, signed_headers
from .endpoints import (
    IssuedEndpoint,
    clean_url,
    create_endpoint,
    delete_endpoint,
    disable_endpoint,
    get_endpoint,
    new_secret,
    pause_endpoint,
    resume_endpoint,
    rotate_secret,
    signing_secrets,
    update_endpoint,
)
from .fanout import ping, replay_delivery, replay_range, sink

__all__ = [
    "IssuedEndpoint",
    "claim_due",
    "clean_url",
    "create_endpoint",
    "delete_endpoint",
    "deliver_due",
    "disable_endpoint",
    "due_deliveries",
    "get_endpoint",
    "new_secret",
    "pause_endpoint",
    "ping",
    "replay_delivery",
    "replay_range",
    "resume_endpoint",
    "retry_delay",
    "rotate_secret",
    "send_claimed",
    "signed_headers",
    "signing_secrets",
    "sink",
    "update_endpoint",
]
