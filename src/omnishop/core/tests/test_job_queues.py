"""Every background job has its queue, so a worker per queue keeps an import or a retraining from delaying
the checkout's jobs (ADR 0031). No worker: the routing the application itself applies when it sends a job."""

from django.conf import settings

from omnishop.celery import app

QUEUE_OF = {
    "omnishop.inventory.tasks.expire_reservations": "checkout",
    "omnishop.orders.tasks.allocate_backorders": "checkout",
    "omnishop.core.tasks.relay": "delivery",
    "omnishop.connectors.tasks.pull_orders": "delivery",
    "omnishop.connectors.tasks.reconcile_all": "delivery",
    "omnishop.connectors.tasks.work_due": "delivery",
    "omnishop.payments.tasks.settle_unknown_attempts": "delivery",
    "omnishop.support.tasks.poll_imap": "delivery",
    "omnishop.support.tasks.resend_failed_email": "delivery",
    "omnishop.datahub.tasks.run_import_job": "imports",
    "omnishop.recommendations.tasks.train_models": "training",
    "omnishop.recommendations.tasks.purge_old_events": "training",
    "omnishop.core.tasks.purge_expired_idempotency_keys": "default",
    "omnishop.core.tasks.purge_outbox": "default",
    "omnishop.core.tasks.purge_rate_counters": "default",
    "omnishop.inventory.tasks.purge_folded_stock_marks": "default",
    "omnishop.inventory.tasks.replenish": "default",
    "omnishop.support.tasks.flag_overdue_callbacks": "default",
    "omnishop.support.tasks.mark_sla_breaches": "default",
    "omnishop.support.tasks.send_surveys": "default",
    "omnishop.support.tasks.wake_snoozed": "default",
}


def test_each_job_is_sent_to_its_queue():
    app.loader.import_default_modules()
    jobs = sorted(name for name in app.tasks if name.startswith("omnishop."))
    # A new job must be given a queue here on purpose (else it lands on `default`, perhaps rightly).
    assert jobs == sorted(QUEUE_OF)
    assert {name: app.amqp.router.route({}, name)["queue"].name for name in jobs} == QUEUE_OF


def test_a_worker_started_without_queues_consumes_every_queue():
    assert sorted(app.amqp.queues) == ["checkout", "default", "delivery", "imports", "training"]
    assert set(QUEUE_OF.values()) == set(app.amqp.queues)


def test_every_scheduled_job_is_a_known_job():
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(QUEUE_OF)


def test_a_job_whose_worker_dies_goes_back_on_its_queue():
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
