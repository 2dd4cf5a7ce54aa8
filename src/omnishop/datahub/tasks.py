"""Background imports: a thin Celery wrapper around services.run_import (eager in-process without Redis)."""

from celery import shared_task


@shared_task(name="omnishop.datahub.tasks.run_import_job", acks_late=True, bind=True)
def run_import_job(self, job_id: int) -> int:
    from .models import ImportJob
    from .services import run_import

    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.PENDING:
        run_import(job=job)
    elif job.status == ImportJob.Status.RUNNING and _redelivered(self.request):
        # The worker running it died (its job went back to the queue unacknowledged): carry on after the
        # last committed line. Each batch commits with its line mark, so no row is written twice.
        run_import(job=job, resume=True)
    # Otherwise delivered twice while the first delivery runs or after it finished: that delivery does it.
    return job.pk


def _redelivered(request) -> bool:
    """Whether the broker handed this job out before (Redis restores an unacknowledged job with this flag)."""
    return bool((request.delivery_info or {}).get("redelivered"))
