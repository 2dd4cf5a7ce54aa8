"""Sending deliveries: claim under a lease, sign (Standard Webhooks), POST through egress, record, reschedule.

`deliver_due` is a relay worker (settings OMNISHOP_RELAY_WORKERS). It works in rounds: it claims up to
`OMNISHOP_WEBHOOK_CONCURRENCY` due deliveries in one short transaction (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, and a compare-and-set UPDATE everywhere that sets `status=delivering`, `locked_until` and a
random `claim_token`), sends them at once (one request per thread of a pool kept for the process, no
database work in the threads, no transaction open; egress keeps a keep-alive connection pool per checked
address), and records every attempt in one transaction with a fixed number of statements (one INSERT for
the attempts, one UPDATE per success status code, one for the failures) — only for the rows it still holds
by its token. A round lasts at most egress's 15 s limit, well within the 60 s lease; a relay that died leaves rows
that another relay takes over once `locked_until` has passed, and the two never both record one attempt.

Order per aggregate: a delivery is not claimed while an earlier one (lower `sequence`) of the same endpoint
and aggregate is pending or being sent, or while an earlier event of the aggregate has not been fanned out
yet (another relay's batch), so `order.shipped` never overtakes an `order.paid` still in retry.
"""

from __future__ import annotations

import email.utils
import logging
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q, Subquery
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from omnishop.core import egress, outbox, rows
from omnishop.core.models import OutboxEvent

from ..events import PING
from ..models import RESPONSE_EXCERPT_BYTES, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .endpoints import disable_endpoint, pause_endpoint, signing_secrets

logger = logging.getLogger("omnishop.webhooks")

Status = WebhookDelivery.Status

# Seconds to wait after the 1st, 2nd, … failed attempt (about 2.75 days in all, ±20 % jitter each).
DEFAULT_RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 24 * 3600, 24 * 3600)
DEFAULT_PAUSE_AFTER = 20
DEFAULT_LEASE_SECONDS = 60
DEFAULT_CONCURRENCY = 32
MAX_RETRY_AFTER = 24 * 3600
USER_AGENT = "Omnishop-Webhooks/1"


def retry_schedule() -> tuple[int, ...]:
    return tuple(getattr(settings, "OMNISHOP_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))


def pause_after() -> int:
    return int(getattr(settings, "OMNISHOP_WEBHOOK_PAUSE_AFTER", DEFAULT_PAUSE_AFTER))


def concurrency() -> int:
    """Deliveries a relay sends at once (one round)."""
    return max(1, int(getattr(settings, "OMNISHOP_WEBHOOK_CONCURRENCY", DEFAULT_CONCURRENCY)))


def per_endpoint() -> int:
    """Deliveries of one endpoint a relay has in flight at most (default: half its concurrency), so that a
    slow endpoint leaves the other slots to the others."""
    default = max(1, concurrency() // 2)
    return max(1, int(getattr(settings, "OMNISHOP_WEBHOOK_PER_ENDPOINT", default) or default))


def lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "OMNISHOP_WEBHOOK_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def retry_delay(attempts: int, *, retry_after: float | None = None) -> timedelta | None:
    """How long to wait after `attempts` failed attempts; None once the schedule is used up (give up).
    A receiver's Retry-After (429, 503) replaces the schedule's wait for that attempt."""
    schedule = retry_schedule()
    if attempts > len(schedule):
        return None
    if retry_after is not None:
        return timedelta(seconds=min(max(retry_after, 1), MAX_RETRY_AFTER))
    return timedelta(seconds=schedule[attempts - 1] * random.uniform(0.8, 1.2))


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


# --- claiming -------------------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.DELIVERING, locked_until__lt=now
    )


def due_deliveries(now: datetime):
    """Deliveries a relay may send now: due (or abandoned by a dead relay), to an endpoint that is sending,
    and not held back by an earlier unsettled delivery of the same endpoint and aggregate."""
    return _sendable().filter(_claimable(now)).order_by("next_attempt_at", "id")


def _sendable(*, fanned_out: bool = True):
    earlier = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
        status__in=WebhookDelivery.UNSETTLED,
    )
    # A scalar subquery, not NOT EXISTS: PostgreSQL turns NOT EXISTS into an anti-join, and with statistics
    # taken while the queue was short (its usual state) it scanned every unsettled delivery for each
    # candidate: tens of ms a claim behind a backlog of 3,000, growing with its square. A scalar subquery is
    # run per candidate as a probe of the unsettled index for its aggregate.
    # A ping goes to a paused endpoint too: it is how staff check that the receiver is back before resuming.
    query = (
        WebhookDelivery.objects.filter(
            Q(endpoint__paused_at__isnull=True) | Q(event_type=PING),
            endpoint__is_active=True,
            endpoint__disabled_at__isnull=True,
        )
        .alias(held_by=Subquery(earlier.order_by().values("pk")[:1]))
        .filter(held_by__isnull=True)
    )
    if fanned_out:
        # Relays fan out in parallel: an earlier event of the aggregate may still be on its way to the sink.
        query = query.filter(~Exists(_not_fanned_out()))
    return query


def _not_fanned_out():
    return OutboxEvent.objects.filter(
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
        dispatched_at__isnull=True,
    )


def _candidates(now: datetime, limit: int, *, room: dict[int, int] | None = None) -> list[int]:
    """Ids to claim, abandoned leases first. Each query walks an index in the order it sorts by and stops at
    `limit` (no sort of every due row); held deliveries (paused endpoints) sort after every due one.
    `room`: endpoint id → how many more of its deliveries may be claimed (absent: `per_endpoint()`)."""
    left = dict(room or {})
    rows: list[tuple[int, str, str, int]] = []
    full = [endpoint_id for endpoint_id, n in left.items() if n <= 0]
    for due, order in (
        (Q(status=Status.DELIVERING, locked_until__lt=now), "locked_until"),
        (Q(status=Status.PENDING, next_attempt_at__lte=now), "next_attempt_at"),
    ):
        query = _sendable(fanned_out=False).filter(due).order_by(order)
        if full:
            query = query.exclude(endpoint_id__in=full)
        if connection.features.has_select_for_update_skip_locked:
            query = query.select_for_update(skip_locked=True, of=("self",))
        found = query.values_list("id", "aggregate_type", "aggregate_id", "sequence", "endpoint_id")[
            : limit - len(rows)
        ]
        for pk, kind, ident, sequence, endpoint_id in found:
            # One endpoint gets at most its share of a claim: a slow one cannot take every slot (the rows left
            # out were locked by this transaction only; they stay pending for the next claim).
            if left.setdefault(endpoint_id, per_endpoint()) <= 0:
                continue
            left[endpoint_id] -= 1
            rows.append((pk, kind, ident, sequence))
        if len(rows) >= limit:
            break
    return _fanned_out(rows)


# The whole claim on PostgreSQL in one statement (autocommit: one round trip). Candidates: abandoned leases
# first, then each sending endpoint's due deliveries from its own index (webhook_delivery_endpoint_due), at
# most its room, so an endpoint at its in-flight cap costs nothing — a single walk of the global due index
# that left such an endpoint out had to read (and probe the order of) every one of its pending rows to find
# none: with one receiver 500 deliveries behind, every round of a relay read ~500 rows (events.delivery,
# 5 December). Paused endpoints take only pings (their own index). `_HELD` is the per-aggregate order: an
# earlier unsettled delivery of the same endpoint and aggregate holds a row back (a scalar subquery: a probe
# of webhook_delivery_unsettled per row). Then each endpoint within its room across the phases, those whose
# aggregate has no earlier event still waiting to be fanned out (by another relay; a probe of
# outbox_aggregate_undispatched per row), leased and read back with their endpoints. Rows locked and not
# taken stay pending (this statement's locks only).
_HELD = """(SELECT h.id FROM webhooks_webhookdelivery h
              WHERE h.endpoint_id = d.endpoint_id AND h.aggregate_type = d.aggregate_type
                AND h.aggregate_id = d.aggregate_id AND h.sequence < d.sequence
                AND h.status IN ('pending', 'delivering') LIMIT 1) IS NULL"""
_CLAIM = f"""
WITH room AS (
    SELECT e.id, GREATEST(%(cap)s - COALESCE(r.n, 0), 0) AS n, e.paused_at IS NULL AS sending
      FROM webhooks_webhookendpoint e
      LEFT JOIN unnest(%(ids)s::bigint[], %(taken)s::int[]) AS r(endpoint_id, n) ON r.endpoint_id = e.id
     WHERE e.is_active AND e.disabled_at IS NULL
),
leased AS (
    SELECT 0 AS phase, d.locked_until AS due_at, d.id, d.aggregate_type, d.aggregate_id, d.sequence,
           d.endpoint_id
      FROM webhooks_webhookdelivery d
      JOIN room ON room.id = d.endpoint_id AND room.n > 0
     WHERE d.status = 'delivering' AND d.locked_until < %(now)s AND (room.sending OR d.event_type = %(ping)s)
       AND {_HELD}
     ORDER BY d.locked_until
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
),
due AS (
    SELECT d.*
      FROM room
     CROSS JOIN LATERAL (
        SELECT 1 AS phase, d.next_attempt_at AS due_at, d.id, d.aggregate_type, d.aggregate_id, d.sequence,
               d.endpoint_id
          FROM webhooks_webhookdelivery d
         WHERE d.endpoint_id = room.id AND d.status = 'pending' AND d.next_attempt_at <= %(now)s AND {_HELD}
         ORDER BY d.next_attempt_at
         LIMIT room.n
           FOR UPDATE OF d SKIP LOCKED
     ) d
     WHERE room.sending AND room.n > 0
),
pings AS (
    SELECT 1 AS phase, d.next_attempt_at AS due_at, d.id, d.aggregate_type, d.aggregate_id, d.sequence,
           d.endpoint_id
      FROM webhooks_webhookdelivery d
      JOIN room ON room.id = d.endpoint_id AND NOT room.sending AND room.n > 0
     WHERE d.status = 'pending' AND d.event_type = %(ping)s AND d.next_attempt_at <= %(now)s
     ORDER BY d.next_attempt_at
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
), found AS (
    SELECT f.*, row_number() OVER (PARTITION BY f.endpoint_id ORDER BY f.phase, f.due_at, f.id) AS nth
      FROM (SELECT * FROM leased UNION ALL SELECT * FROM due UNION ALL SELECT * FROM pings) AS f
), chosen AS (
    SELECT found.id
      FROM found JOIN room ON room.id = found.endpoint_id
     WHERE found.nth <= room.n
       AND (SELECT o.id FROM core_outboxevent o
             WHERE o.aggregate_type = found.aggregate_type AND o.aggregate_id = found.aggregate_id
               AND o.sequence < found.sequence AND o.dispatched_at IS NULL LIMIT 1) IS NULL
     ORDER BY found.phase, found.due_at, found.id
     LIMIT %(limit)s
)
UPDATE webhooks_webhookdelivery d
   SET status = 'delivering', locked_until = %(until)s, claim_token = %(token)s
  FROM chosen, webhooks_webhookendpoint e
 WHERE d.id = chosen.id AND e.id = d.endpoint_id
RETURNING {{columns}}
"""


def _fanned_out(rows: list[tuple[int, str, str, int]]) -> list[int]:
    """The candidates whose aggregate has no earlier event still waiting to be fanned out (by another relay).
    One query for all candidates: as a subquery per candidate PostgreSQL walked every undispatched event for
    each one (its statistics say the undispatched index is tiny), 1-2 ms a candidate behind a backlog."""
    if not rows:
        return []
    first_undispatched: dict[tuple[str, str], int] = dict(
        ((kind, ident), first)
        for kind, ident, first in OutboxEvent.objects.filter(
            dispatched_at__isnull=True,
            aggregate_type__in={row[1] for row in rows},
            aggregate_id__in={row[2] for row in rows},
        )
        .values_list("aggregate_type", "aggregate_id")
        .annotate(first=Min("sequence"))
        .order_by()
    )
    return [
        pk
        for pk, kind, ident, sequence in rows
        if first_undispatched.get((kind, ident), sequence) >= sequence
    ]


def claim_due(*, limit: int = 100, room: dict[int, int] | None = None) -> tuple[str, list[WebhookDelivery]]:
    """Take up to `limit` due deliveries under a lease; returns the claim token and the claimed rows (with
    their endpoints). `room` limits how many more deliveries of an endpoint may be taken (`_candidates`)."""
    now = timezone.now()
    token = secrets.token_hex(16)
    if connection.vendor == "postgresql":
        return token, _claim_on_postgresql(now, limit, room or {}, token=token)
    with transaction.atomic():
        ids = _candidates(now, limit, room=room)
        if not ids:
            return token, []
        WebhookDelivery.objects.filter(Q(id__in=ids) & _claimable(now)).update(
            status=Status.DELIVERING, locked_until=now + lease(), claim_token=token
        )
    claimed = (
        WebhookDelivery.objects.filter(id__in=ids, claim_token=token)
        .select_related("endpoint")  # send_claimed needs every endpoint: read with the rows, not after
        .order_by("next_attempt_at", "id")
    )
    return token, list(claimed)


def _claim_on_postgresql(
    now: datetime, limit: int, room: dict[int, int], *, token: str
) -> list[WebhookDelivery]:
    columns = f"{rows.columns(WebhookDelivery, 'd')}, {rows.columns(WebhookEndpoint, 'e')}"
    cap = per_endpoint()
    ids = list(room)
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM.replace("{columns}", columns),
            {
                "cap": cap,
                "ids": ids,
                "taken": [cap - room[i] for i in ids],
                "now": now,
                "ping": PING,
                "limit": limit,
                "until": now + lease(),
                "token": token,
            },
        )
        found = cursor.fetchall()
    claimed = []
    split = rows.width(WebhookDelivery)
    for row in found:
        delivery = rows.instance(WebhookDelivery, row)
        WebhookDelivery.endpoint.field.set_cached_value(delivery, rows.instance(WebhookEndpoint, row, split))
        claimed.append(delivery)
    claimed.sort(key=lambda d: (d.next_attempt_at, d.pk))
    return claimed


def deliver_due(limit: int = 100) -> int:
    """Relay worker: send what is due, in rounds of `concurrency()` deliveries sent at once; returns how
    many deliveries it attempted. Each round is claimed just before it is sent, so a round lasts at most the
    egress time limit (15 s), well within the lease. In a relay loop the requests stay in flight between
    rounds instead (`_deliver_in_flight`): a slow endpoint does not hold the round for the others."""
    if outbox.in_relay_loop():
        return _deliver_in_flight(limit)
    attempted = 0
    while attempted < limit:
        token, claimed = claim_due(limit=min(concurrency(), limit - attempted))
        if not claimed:
            break
        sent = send_claimed(claimed, token=token, fresh=True)
        if not sent:
            break
        attempted += sent
    return attempted


# --- sending a round ------------------------------------------------------------------------------------


def signed_headers(endpoint: WebhookEndpoint, *, msg_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: one `v1,` signature per secret in use (two during a rotation)."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id, now, body) for secret in signing_secrets(endpoint, now=now)
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


@dataclass
class _Outcome:
    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    started_at: datetime
    response: egress.Response | None = None
    error_code: str = ""
    refused: bool = False
    duration_ms: int = 0


def _post(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> _Outcome:
    """One signed POST through egress (no database access: it runs in a thread of the round's pool)."""
    now = timezone.now()
    body = orjson.dumps(delivery.payload)
    headers = signed_headers(endpoint, msg_id=delivery.event_id, body=body.decode(), now=now)
    outcome = _Outcome(delivery=delivery, endpoint=endpoint, started_at=now)
    started = time.monotonic()
    try:
        outcome.response = egress.request(
            "POST",
            endpoint.url,
            headers=headers,
            content=body,
            timeout=getattr(settings, "OMNISHOP_WEBHOOK_TIMEOUT", None),
            follow_redirects=False,  # a POST is not re-sent elsewhere; a 3xx is a failed attempt
        )
    except egress.EgressRefused as exc:
        # A name that does not resolve may be a passing DNS failure: retried. Any other refusal (a private,
        # loopback or metadata address, a bad scheme) will not fix itself: the endpoint is paused.
        outcome.error_code, outcome.refused = exc.code, exc.code != "bad_host"
    except egress.EgressFailed as exc:
        outcome.error_code = exc.code
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """The process's delivery threads, kept between rounds (starting 16 threads a round cost more CPU than
    signing and posting a round's deliveries); grown when the concurrency setting asks for more."""
    global _POOL, _POOL_SIZE
    wanted = max(size, concurrency())
    with _POOL_LOCK:
        if _POOL is None or wanted > _POOL_SIZE:
            # The old pool is not shut down: another relay thread may be submitting to it right now; its idle
            # threads end once it is collected.
            _POOL, _POOL_SIZE = ThreadPoolExecutor(wanted, thread_name_prefix="webhook"), wanted
        return _POOL


def send_claimed(claimed: list[WebhookDelivery], *, token: str, fresh: bool = False) -> int:
    """Send claimed deliveries at once (a thread per request) and record every attempt; returns how many
    were sent. A delivery whose endpoint was paused or disabled meanwhile goes back (or is cancelled); one
    whose lease was lost sends nothing (`fresh`: claimed just now by `claim_due`, not checked again)."""
    sendable = _still_sendable(claimed, token=token, fresh=fresh)
    if len(sendable) == 1:
        outcomes = [_post(*sendable[0])]
    elif sendable:
        outcomes = list(_pool(len(sendable)).map(lambda pair: _post(*pair), sendable))
    else:
        return 0
    _record(outcomes, token=token)
    return len(outcomes)


def _still_sendable(
    claimed: list[WebhookDelivery], *, token: str, fresh: bool = False
) -> list[tuple[WebhookDelivery, WebhookEndpoint]]:
    """The claimed deliveries still ours and to an endpoint that takes them, with their endpoints; the others
    go back to pending (endpoint paused or inactive) or are cancelled (endpoint disabled). `fresh`: claimed
    by `claim_due` just now (the lease is ours: not read again)."""
    if not fresh:
        still_ours = set(
            WebhookDelivery.objects.filter(
                pk__in=[d.pk for d in claimed],
                claim_token=token,
                status=Status.DELIVERING,
                locked_until__gt=timezone.now(),
            ).values_list("pk", flat=True)
        )
        claimed = [d for d in claimed if d.pk in still_ours]  # a relay stalled past its lease sends nothing
    # claim_due reads the endpoints with the rows; a caller's own list may not have them.
    missing = {d.endpoint_id for d in claimed if not WebhookDelivery.endpoint.is_cached(d)}
    endpoints = WebhookEndpoint.objects.in_bulk(missing) if missing else {}
    endpoints.update({d.endpoint_id: d.endpoint for d in claimed if WebhookDelivery.endpoint.is_cached(d)})
    sendable = []
    for delivery in claimed:
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            continue  # deleted meanwhile, with its deliveries
        if (
            endpoint.disabled_at
            or not endpoint.is_active
            or (endpoint.paused_at and delivery.event_type != PING)
        ):
            WebhookDelivery.objects.filter(
                pk=delivery.pk, claim_token=token, status=Status.DELIVERING
            ).update(
                status=Status.CANCELLED if endpoint.disabled_at else Status.PENDING,
                locked_until=None,
                claim_token="",
            )
            continue
        sendable.append((delivery, endpoint))
    return sendable


# --- requests in flight between rounds (relay loops) -----------------------------------------------------

_flight = threading.local()


@dataclass
class _InFlight:
    """A relay loop's requests in flight: its own bounded pool (OMNISHOP_WEBHOOK_CONCURRENCY threads), each
    request with the token of its claim, and how many each endpoint has in flight."""

    pool: ThreadPoolExecutor
    requests: list[tuple[Future, str]]
    per_endpoint: Counter[int]


def _in_flight() -> _InFlight:
    state = getattr(_flight, "state", None)
    if state is None:
        pool = ThreadPoolExecutor(concurrency(), thread_name_prefix="webhook-loop")
        state = _flight.state = _InFlight(pool=pool, requests=[], per_endpoint=Counter())
    return state


def _harvest(state: _InFlight, *, wait: bool = False) -> int:
    """Record the requests that finished (all of them with `wait`), per claim; returns how many."""
    if wait:
        for future, _ in state.requests:
            future.exception()  # waits; _post catches every failure of a request itself
    done = [(future, token) for future, token in state.requests if future.done()]
    if not done:
        return 0
    state.requests = [(future, token) for future, token in state.requests if not future.done()]
    by_token: dict[str, list[_Outcome]] = defaultdict(list)
    for future, token in done:
        outcome = future.result()
        by_token[token].append(outcome)
        state.per_endpoint[outcome.endpoint.pk] -= 1
    for token, outcomes in by_token.items():
        _record(outcomes, token=token)
    return len(done)


def _deliver_in_flight(limit: int) -> int:
    """One round of a relay loop: record the requests that finished, then claim and start as many as there
    are free threads (no endpoint more than `per_endpoint()` at once). A finished request wakes the loop
    (`outbox.wake`), so a fast endpoint's deliveries go on while a slow one's request is still open; order
    per aggregate holds because a delivery in flight keeps the later ones of its aggregate unclaimable.
    Returns how many attempts it recorded (requests merely started are not work: the wake-up brings the
    loop back when they finish)."""
    state = _in_flight()
    recorded = _harvest(state)
    free = min(limit, concurrency() - len(state.requests))
    if free <= 0:
        outbox.pressed()
        return recorded
    room = {endpoint_id: per_endpoint() - n for endpoint_id, n in state.per_endpoint.items() if n}
    token, claimed = claim_due(limit=free, room=room)
    for delivery, endpoint in _still_sendable(claimed, token=token, fresh=True) if claimed else []:
        future = state.pool.submit(_post, delivery, endpoint)
        future.add_done_callback(lambda _: outbox.wake())
        state.requests.append((future, token))
        state.per_endpoint[endpoint.pk] += 1
    if len(claimed) >= free or any(n >= per_endpoint() for n in state.per_endpoint.values()):
        outbox.pressed()  # the relay's or an endpoint's room is full: do not pace the next round
    return recorded


def finish_in_flight() -> None:
    """When a relay loop ends: wait for its requests and record them (a lease would hand them over to
    another relay otherwise, which would send them again)."""
    state = getattr(_flight, "state", None)
    if state is None:
        return
    _harvest(state, wait=True)
    state.pool.shutdown(wait=False)
    _flight.state = None


outbox.on_loop_end(finish_in_flight)


# --- recording ------------------------------------------------------------------------------------------


def _excerpt(content: bytes) -> str:
    return content[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "")


def _verdict(outcome: _Outcome, now: datetime) -> tuple[str, dict]:
    """What the attempt means ("ok", "gone", "refused", "throttled", "failed") and the delivery's new state."""
    delivery, response = outcome.delivery, outcome.response
    status_code = response.status_code if response is not None else None
    if status_code is not None and not 200 <= status_code < 300:
        outcome.error_code = f"http_{status_code}"
    attempts = delivery.attempts + 1
    changes: dict = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": outcome.error_code[:50],
        "locked_until": None,
        "claim_token": "",
    }
    if status_code is not None and 200 <= status_code < 300:
        return "ok", {**changes, "status": Status.SUCCEEDED, "delivered_at": now}
    if status_code == 410:
        return "gone", {**changes, "status": Status.FAILED}
    retry_after = None
    if response is not None and status_code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
    delay = retry_delay(attempts, retry_after=retry_after)
    if delay is None:
        changes.update(status=Status.FAILED)
    else:
        changes.update(status=Status.PENDING, next_attempt_at=now + delay)
        outbox.wake_within(delay.total_seconds())  # a relay loop comes back for the retry, not a poll later
    if outcome.refused:
        return "refused", changes
    return ("throttled" if status_code == 429 else "failed"), changes


_FAILURE_FIELDS = ["attempts", "last_status_code", "last_error", "locked_until", "claim_token", "status",
                   "next_attempt_at"]  # fmt: skip


# PostgreSQL, a round where every request was answered 2xx by endpoints with no failures to reset (the
# steady state): the deliveries still ours are marked succeeded and their attempts written in one statement —
# one round trip in autocommit instead of BEGIN, a locking read, an UPDATE, an INSERT and COMMIT. A delivery no
# longer ours (lease taken over) is neither updated nor given an attempt, as in the general path.
_SUCCESSES = """
WITH sent AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(started)s::timestamptz[], %(durations)s::int[], %(codes)s::int[],
                         %(excerpts)s::text[]) AS a(id, started_at, duration_ms, status_code, excerpt)
), done AS (
    UPDATE webhooks_webhookdelivery d
       SET status = 'succeeded', delivered_at = %(now)s, attempts = d.attempts + 1,
           last_status_code = sent.status_code, last_error = '', locked_until = NULL, claim_token = ''
      FROM sent
     WHERE d.id = sent.id AND d.claim_token = %(token)s AND d.status = 'delivering'
 RETURNING d.id
)
INSERT INTO webhooks_webhookattempt (delivery_id, started_at, duration_ms, status_code, error_code,
                                     response_excerpt)
SELECT sent.id, sent.started_at, sent.duration_ms, sent.status_code, '', sent.excerpt
  FROM sent JOIN done ON done.id = sent.id
"""


def _record_successes(outcomes: list[_Outcome], *, token: str, now: datetime) -> bool:
    """The one-statement record of an all-2xx round (above); False when the round needs the general path."""
    if connection.vendor != "postgresql" or not outcomes:
        return False
    for outcome in outcomes:
        response = outcome.response
        if response is None or not 200 <= response.status_code < 300 or outcome.endpoint.consecutive_failures:
            return False
    with connection.cursor() as cursor:
        cursor.execute(
            _SUCCESSES,
            {
                "ids": [o.delivery.pk for o in outcomes],
                "started": [o.started_at for o in outcomes],
                "durations": [o.duration_ms for o in outcomes],
                "codes": [o.response.status_code for o in outcomes],  # type: ignore[union-attr]
                "excerpts": [_excerpt(o.response.content) for o in outcomes],  # type: ignore[union-attr]
                "now": now,
                "token": token,
            },
        )
    return True


def _record(outcomes: list[_Outcome], *, token: str) -> None:
    """Every attempt of a round in one transaction, each only while the delivery is still ours (a few
    statements per round: successes are one UPDATE per status code); then the endpoints' consequences
    (disable on 410, pause on a refusal or too many failures in a row)."""
    now = timezone.now()
    if _record_successes(outcomes, token=token, now=now):
        return
    effects: list[tuple[str, _Outcome]] = []
    attempts = []
    succeeded: dict[int, list[int]] = defaultdict(list)  # status code → delivery ids
    unsent: list[WebhookDelivery] = []  # failed attempts: one UPDATE for all of them
    failures: Counter[int] = Counter()  # endpoint id → failed attempts this round
    reset: set[int] = set()  # endpoints that answered 2xx this round
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            pk__in=[o.delivery.pk for o in outcomes], claim_token=token, status=Status.DELIVERING
        )
        if connection.features.has_select_for_update:
            claimed = claimed.select_for_update()
        ours = set(claimed.values_list("pk", flat=True))
        for outcome in outcomes:
            if outcome.delivery.pk not in ours:
                continue  # no longer ours (lease taken over, endpoint deleted): the other relay's record stands
            verdict, changes = _verdict(outcome, now)
            if verdict == "ok":
                succeeded[changes["last_status_code"]].append(outcome.delivery.pk)
                reset.add(outcome.endpoint.pk)
            else:
                row = WebhookDelivery(pk=outcome.delivery.pk, **changes)
                row.next_attempt_at = changes.get("next_attempt_at", outcome.delivery.next_attempt_at)
                unsent.append(row)
                if verdict != "throttled":
                    failures[outcome.endpoint.pk] += 1
            response = outcome.response
            attempts.append(
                WebhookAttempt(
                    delivery_id=outcome.delivery.pk,
                    started_at=outcome.started_at,
                    duration_ms=outcome.duration_ms,
                    status_code=response.status_code if response is not None else None,
                    error_code=outcome.error_code[:50],
                    response_excerpt=_excerpt(response.content) if response is not None else "",
                )
            )
            effects.append((verdict, outcome))
        for status_code, ids in succeeded.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=Status.SUCCEEDED,
                delivered_at=now,
                attempts=F("attempts") + 1,
                last_status_code=status_code,
                last_error="",
                locked_until=None,
                claim_token="",
            )
        if unsent:
            WebhookDelivery.objects.bulk_update(unsent, _FAILURE_FIELDS)
        endpoints = {o.endpoint.pk: o.endpoint for o in outcomes}
        for endpoint_id in reset:
            if endpoints[endpoint_id].consecutive_failures and not failures[endpoint_id]:
                WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=0)
        for endpoint_id, count in failures.items():
            # A round with answers and failures for one endpoint counts only its failures.
            base = 0 if endpoint_id in reset else F("consecutive_failures")
            WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=base + count)
        WebhookAttempt.objects.bulk_create(attempts)

    for verdict, outcome in effects:
        endpoint_id, code = outcome.endpoint.pk, outcome.error_code
        if verdict == "gone":
            disable_endpoint(
                endpoint_id=endpoint_id,
                reason=f"the receiver answered 410 Gone to {outcome.delivery.event_id}",
            )
        elif verdict == "refused":
            pause_endpoint(endpoint_id=endpoint_id, reason=f"egress refused the URL ({code})")
        elif verdict == "failed":
            in_a_row = (
                WebhookEndpoint.objects.filter(pk=endpoint_id)
                .values_list("consecutive_failures", flat=True)
                .first()
            )
            if in_a_row is not None and in_a_row >= pause_after():
                pause_endpoint(
                    endpoint_id=endpoint_id, reason=f"{in_a_row} failed attempts in a row (last: {code})"
                )
