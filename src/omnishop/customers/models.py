"""The unified customer: one person across every channel, the identities each channel knows them by,
their address book, their preferences and consents, and the record of every merge of two profiles.

Identifiers (e-mail, phone) are stored normalised (lower-case e-mail, E.164 phone) so that matching is an
equality on an index; normalisation itself lives in `normalise.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    """One person, whichever channels they buy through. A merged-away record keeps its row (history, undo)
    with `merged_into` pointing at the survivor; nothing new attaches to it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
        help_text="The shopper account, when the customer has signed up.",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.CharField(max_length=254, blank=True, db_index=True, help_text="Normalised, lower-case.")
    phone = models.CharField(max_length=20, blank=True, db_index=True, help_text="E.164, e.g. +447700900123.")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("merge_customer", "Can merge and unmerge customers")]
        indexes = [models.Index(fields=["last_name", "first_name"], name="customer_name_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="customer_not_merged_into_self"
            )
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Customer {self.pk}"

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ChannelIdentity(models.Model):
    """How one channel knows the customer: its own customer id (when it has one) and the contact details it
    gave us. The same person usually has one identity per channel they used."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.PROTECT, related_name="customer_identities"
    )
    external_id = models.CharField(max_length=200, blank=True, help_text="The channel's own customer id.")
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["channel_id", "pk"]
        verbose_name_plural = "channel identities"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="identity_external_id_unique_per_channel",
            )
        ]
        indexes = [models.Index(fields=["channel", "customer"], name="identity_channel_customer_idx")]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id or self.email or self.phone}"


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    name = models.CharField(max_length=200, help_text="Recipient as it goes on the parcel.")
    company = models.CharField(max_length=200, blank=True)
    line1 = models.CharField(max_length=200)
    line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    postcode = models.CharField(max_length=20, blank=True, db_index=True)
    region = models.CharField(max_length=100, blank=True, help_text="State, county or province.")
    country = models.CharField(max_length=2, help_text="ISO-3166 alpha-2.")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164.")
    is_default_shipping = models.BooleanField(default=False)
    is_default_billing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default_shipping", "pk"]
        verbose_name_plural = "addresses"
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default_shipping=True),
                name="one_default_shipping_address",
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_default_billing=True), name="one_default_billing_address"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}, {self.line1}, {self.city} {self.postcode} {self.country}"


class CustomerPreferences(models.Model):
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="preferences")
    language = models.CharField(max_length=20, blank=True, help_text="BCP-47 tag, e.g. en-GB, zh-Hans.")
    favourite_categories = models.ManyToManyField("catalog.Category", blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "customer preferences"

    def __str__(self) -> str:
        return f"Preferences of {self.customer_id}"


class MarketingConsent(models.Model):
    """Whether the customer agreed to marketing on one channel, when, and how we learned it (the proof
    a regulator asks for)."""

    class Source(models.TextChoices):
        CUSTOMER_ACCOUNT = "customer_account", _("Customer's own account")
        CHANNEL = "channel", _("Reported by the channel")
        STAFF = "staff", _("Entered by staff")
        IMPORT = "import", _("Data import")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.ForeignKey("channels.Channel", on_delete=models.PROTECT, related_name="+")
    granted = models.BooleanField()
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta:
        ordering = ["channel_id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="one_consent_per_customer_channel")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.channel_id}: {'yes' if self.granted else 'no'}"


class MergeRecord(models.Model):
    """One merge of `merged` into `survivor`: who, when, why, and everything needed to undo it exactly."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, blank=True, help_text="'cli', 'sign-up', a username …")
    reason = models.CharField(max_length=500, blank=True)
    score = models.FloatField(null=True, blank=True)
    snapshot = models.JSONField(help_text="What moved and the prior rows; read by undo_merge.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Merge {self.pk}: {self.merged_id} → {self.survivor_id}"


class DistinctPair(models.Model):
    """Staff judged these two records to be different people: duplicate detection stops proposing them."""

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["customer_a", "customer_b"], name="distinct_pair_unique"),
            models.CheckConstraint(
                condition=Q(customer_a__lt=models.F("customer_b")), name="distinct_pair_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_a_id} ≠ {self.customer_b_id}"
