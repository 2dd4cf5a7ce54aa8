"""Background imports: a thin Celery wrapper around services.run_import (eager in-process without Redis)."""

from celery import shared_task


@shared_task(name="omnishop.datahub.tasks.run_import_job", acks_late=True, bind=True)
def run_import_job(self, job_id: int) -> int:
    from .errors import JobNotRunnable
    from .models import ImportJob
    from .services import run_import

    job = ImportJob.objects.get(pk=job_id)
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return job.pk  # delivered again after it finished
    try:
        # A running job is resumed after its last committed line (each batch commits with its line mark, so
        # no row is written twice), and only once its runner's lease has run out: the runner died, or this is
        # the broker handing out a job whose runner is still at work.
        run_import(job=job, resume=job.status == ImportJob.Status.RUNNING)
    except JobNotRunnable as exc:
        wait = exc.details.get("retry_after")
        if wait is None or self.request.is_eager:
            return job.pk  # finished meanwhile, or run by this very process
        # Its runner holds the job: look again when the lease would run out. A live runner will have
        # finished or renewed it; a dead one's job is then resumed here.
        raise self.retry(countdown=wait, max_retries=None) from None
    return job.pk
