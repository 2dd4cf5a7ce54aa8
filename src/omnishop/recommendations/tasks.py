"""Background jobs of the recommendations context: retraining and event retention."""

from celery import shared_task

from . import services


@shared_task(name="omnishop.recommendations.tasks.train_models")
def train_models() -> int:
    return services.train().number


@shared_task(name="omnishop.recommendations.tasks.purge_old_events")
def purge_old_events() -> int:
    return services.purge_old_events()
