"""Carriers (configuration) and the tracking events they send for shipped fulfilments."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Carrier(models.Model):
    """A carrier as configuration: how to link to its tracking page, its webhook secret, its status words."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    tracking_url_template = models.CharField(
        max_length=300, blank=True, help_text="e.g. https://track.example/{tracking_number}"
    )
    webhook_secret = models.CharField(
        max_length=200, help_text="Shared secret for the HMAC on tracking webhooks."
    )
    status_map = models.JSONField(
        default=dict, blank=True, help_text="The carrier's own status words → our normalised statuses."
    )
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class TrackingEvent(models.Model):
    class Status(models.TextChoices):
        LABEL_CREATED = "label_created", _("Label created")
        IN_TRANSIT = "in_transit", _("In transit")
        OUT_FOR_DELIVERY = "out_for_delivery", _("Out for delivery")
        DELIVERED = "delivered", _("Delivered")
        EXCEPTION = "exception", _("Exception")
        RETURNED = "returned", _("Returned to sender")

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="events")
    fulfilment = models.ForeignKey(
        "orders.Fulfilment", on_delete=models.CASCADE, related_name="tracking_events"
    )
    event_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices)
    carrier_status = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["carrier", "event_id"], name="tracking_event_once")]
