"""Background jobs of the support desk, thin wrappers around services/jobs.py (schedule in settings)."""

from celery import shared_task

from .services import jobs


@shared_task(name="omnishop.support.tasks.wake_snoozed")
def wake_snoozed() -> int:
    """Every minute: snoozed conversations whose time has come are open again."""
    return jobs.wake_snoozed()


@shared_task(name="omnishop.support.tasks.mark_sla_breaches")
def mark_sla_breaches() -> int:
    """Every minute: conversations past their SLA targets are marked once and their agents alerted."""
    return len(jobs.mark_sla_breaches())


@shared_task(name="omnishop.support.tasks.send_surveys")
def send_surveys() -> int:
    """Every five minutes: the satisfaction survey for newly resolved conversations."""
    return jobs.send_surveys()


@shared_task(name="omnishop.support.tasks.flag_overdue_callbacks")
def flag_overdue_callbacks() -> int:
    """Every five minutes: missed calls not returned in time are flagged in their conversations."""
    return len(jobs.flag_overdue_callbacks())


@shared_task(name="omnishop.support.tasks.poll_imap")
def poll_imap() -> int:
    """Every minute: the IMAP mailbox's unseen messages (nothing to do without OMNISHOP_SUPPORT_IMAP_HOST)."""
    from .services import imap_config
    from .services import poll_imap as poll

    if imap_config() is None:
        return 0
    return poll().stored


@shared_task(name="omnishop.support.tasks.resend_failed_email")
def resend_failed_email() -> int:
    """Every five minutes: e-mail replies whose sending failed are sent again."""
    from .services import resend_failed

    return resend_failed()
