"""Background imports: a thin Celery wrapper around services.run_import (eager in-process without Redis)."""

from celery import shared_task


@shared_task(name="omnishop.datahub.tasks.run_import_job", acks_late=True)
def run_import_job(job_id: int) -> int:
    from .models import ImportJob
    from .services import run_import

    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.PENDING:
        return job.pk  # delivered twice: the first delivery runs it
    run_import(job=job)
    return job.pk
