"""The customers context's outbox events: customer.created, customer.merged, customer.consent_changed.

A customer is created in several places (checkout, channel resolution, sign-up, imports); the post_save
receiver covers every save in the creating transaction, and the bulk path (`created_in_bulk`) announces the
id-only customers it inserts without model instances. Payloads carry ids, never personal data: an
integrator fetches the customer through the API, where its scopes apply.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from omnishop.core import outbox

from .models import Customer


@receiver(post_save, sender=Customer, dispatch_uid="customers-outbox-created")
def _created(sender, instance: Customer, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        outbox.emit(
            "customer.created",
            aggregate_type="customer",
            aggregate_id=instance.pk,
            payload={"customer_id": instance.pk},
        )


def created_in_bulk(ids: list[int]) -> None:
    outbox.emit_many(
        [
            outbox.NewEvent(
                type="customer.created",
                aggregate_type="customer",
                aggregate_id=str(i),
                payload={"customer_id": i},
            )
            for i in ids
        ]
    )


def merged(*, survivor_id: int, merged_id: int, merge_id: int, undone: bool = False) -> None:
    payload = {"survivor_id": survivor_id, "merged_id": merged_id, "merge_id": merge_id, "undone": undone}
    outbox.emit_many(
        [
            outbox.NewEvent(
                type="customer.merged", aggregate_type="customer", aggregate_id=str(pk), payload=payload
            )
            for pk in (survivor_id, merged_id)
        ]
    )


def consent_changed(*, customer_id: int, channel: str, granted: bool, source: str) -> None:
    outbox.emit(
        "customer.consent_changed",
        aggregate_type="customer",
        aggregate_id=customer_id,
        channel=channel,
        payload={"customer_id": customer_id, "channel": channel, "granted": granted, "source": source},
    )
