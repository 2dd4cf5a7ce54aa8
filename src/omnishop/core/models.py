"""Tables shared by every context: stored responses for Idempotency-Key replays."""

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
