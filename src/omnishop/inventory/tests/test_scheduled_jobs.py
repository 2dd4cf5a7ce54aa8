"""The embedded default runs its periodic jobs: `omnishop serve` without Redis expires abandoned holds."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from omnishop.core.models import ScheduledJob
from omnishop.inventory import services
from omnishop.inventory.models import Reservation
from omnishop.inventory.services import LineRequest
from omnishop.storefront.tests.test_serving import OMNISHOP, free_port, get, production_env, stop

from .conftest import assert_books_balance


@pytest.mark.skipif(
    bool(os.environ.get("OMNISHOP_MUTATION")),
    reason="a server in a subprocess runs unmutated code: no use to make mutate",
)
@pytest.mark.django_db(transaction=True)
def test_omnishop_serve_without_redis_expires_abandoned_reservations_once(
    tmp_path, shop, warehouse, make_variant, stock, level
):
    scarf = make_variant("SCARF")
    stock(scarf, warehouse, 4)
    hold = services.reserve_stock(channel=shop, lines=[LineRequest("SCARF", 3)], key="abandoned")
    Reservation.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    ScheduledJob.objects.create(
        name="inventory-expire-reservations", task="x", next_run_at=timezone.now() - timedelta(seconds=1)
    )
    port = free_port()
    server = subprocess.Popen(
        [OMNISHOP, "serve", "--port", str(port), "--workers", "2", "--no-collectstatic"],
        env=production_env(tmp_path, OMNISHOP_SCHEDULER_TICK="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while Reservation.objects.get(pk=hold.pk).status != Reservation.Status.EXPIRED:
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(f"the hold was not expired by the server:\n{stop(server)}")
            time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
        time.sleep(1)  # both workers have ticked several times since
    finally:
        stop(server)
    job = ScheduledJob.objects.get(name="inventory-expire-reservations")
    assert (job.runs, job.failures, job.last_error) == (1, 0, "")
    assert job.next_run_at > timezone.now() and job.task == "omnishop.inventory.tasks.expire_reservations"
    assert level(scarf, warehouse).reserved == 0
    assert_books_balance()
