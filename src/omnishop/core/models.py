"""Tables shared by every context: stored responses for Idempotency-Key replays, scheduled jobs, the outbox."""

from django.db import models


class IdempotencyRecord(models.Model):
    """One create-style request, keyed by who sent it and their Idempotency-Key.

    The row is inserted (and committed) before the work runs, so a concurrent duplicate finds it and
    is refused instead of running twice; the response is stored when the work ends and replayed after.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    scope = models.CharField(max_length=120, help_text="Who sent it: a channel key, shopper or staff user.")
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=120, help_text="Method and route, e.g. 'POST /catalog/products'.")
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_scope_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} ({self.state})"


class ScheduledJob(models.Model):
    """One periodic job of the in-process scheduler (core/scheduler.py), shared by every process.

    A process runs a job only after moving `next_run_at` forward with one compare-and-set UPDATE, so any
    number of server workers (or machines on one database) run each due job exactly once.
    """

    name = models.CharField(max_length=120, primary_key=True)
    task = models.CharField(max_length=200)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_owner = models.CharField(max_length=120, blank=True, help_text="host:pid of the process that ran it")
    last_error = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} (next {self.next_run_at:%Y-%m-%d %H:%M:%S})"


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it announces (core/outbox.py).

    The relay fans undispatched events out to webhook endpoints and channel connectors; integrators read
    them with GET /api/v1/events. Rows are never updated except for the relay's bookkeeping columns.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=40, unique=True, help_text="evt_ + a ULID: unique and sortable.")
    type = models.CharField(max_length=60)
    aggregate_type = models.CharField(max_length=30)
    aggregate_id = models.CharField(max_length=150)
    sequence = models.PositiveIntegerField(help_text="1, 2, 3… per aggregate, in commit order.")
    channel = models.CharField(
        max_length=50, blank=True, help_text="Code of the channel it concerns, if any."
    )
    version = models.PositiveSmallIntegerField(default=1, help_text="Version of the payload's schema.")
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    # PostgreSQL: the writing transaction's id, so readers never pass an event whose transaction is still
    # open (see outbox.read). SQLite has one writer at a time: 0, and the id order is the commit order.
    txid = models.BigIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    dispatch_error = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["txid", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "sequence"], name="outbox_aggregate_sequence_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_undispatched"
            ),
            # "Is an earlier event of this aggregate still waiting to be fanned out?" (a webhook claim asks
            # it per candidate): a probe of the few undispatched rows, not of the aggregate's whole history.
            models.Index(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                condition=models.Q(dispatched_at__isnull=True),
                name="outbox_aggregate_undispatched",
            ),
            models.Index(fields=["txid", "id"], name="outbox_read_order"),
            models.Index(fields=["type", "txid", "id"], name="outbox_type_read"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} {self.aggregate_type}:{self.aggregate_id}#{self.sequence}"

    def envelope(self) -> dict:
        """The event as integrators see it (GET /api/v1/events, webhook bodies): Standard Webhooks' shape."""
        return {
            "id": self.event_id,
            "type": self.type,
            "timestamp": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "aggregate": {"type": self.aggregate_type, "id": self.aggregate_id, "sequence": self.sequence},
            "channel": self.channel,
            "version": self.version,
            "data": self.payload,
        }


class OutboxSequence(models.Model):
    """The last sequence number given to an aggregate's events; its row lock orders them per aggregate."""

    aggregate_type = models.CharField(max_length=30)
    aggregate_id = models.CharField(max_length=150)
    last = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["aggregate_type", "aggregate_id"], name="outbox_sequence_unique")
        ]


class RateCounter(models.Model):
    """A fixed-window counter or a timed mark shared by every process (core/ratelimit.py) when there is no
    Redis: one upsert a hit, where the database cache spent a COUNT(*) of its whole table on every write."""

    bucket = models.CharField(max_length=200, primary_key=True)
    window_ends_at = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.bucket}: {self.hits} until {self.window_ends_at:%H:%M:%S}"
