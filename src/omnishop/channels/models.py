"""Sales channels (web shop, app, POS store, marketplace, social shop) and their API keys.

The stock locations that serve a channel, in priority order, attach from the inventory context
(`inventory.ChannelLocation`), which depends on this one and not the reverse.
"""

from django.conf import settings
from django.db import models


class Channel(models.Model):
    class Kind(models.TextChoices):
        WEB = "web", "Web shop"
        MOBILE_APP = "mobile_app", "Mobile app"
        POS_STORE = "pos_store", "Physical store (POS)"
        MARKETPLACE = "marketplace", "Marketplace"
        SOCIAL = "social", "Social-media shop"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = models.CharField(max_length=3, help_text="ISO-4217 code of the channel's prices.")
    locale = models.CharField(
        max_length=20, default="en", help_text="BCP-47 language tag, e.g. en-GB, zh-CN."
    )
    country = models.CharField(
        max_length=2,
        default="GB",
        help_text="Default country (ISO-3166 alpha-2), also the default region for phone numbers.",
    )
    prices_include_tax = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["web", "mobile_app", "pos_store", "marketplace", "social"]),
                name="channel_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ApiKey(models.Model):
    """A channel's credential. The secret is shown once at creation; only its SHA-256 is stored.

    Keys carry 192 random bits, so a fast hash is as safe as a slow one and keeps authentication to a
    single indexed lookup per request.
    """

    SCOPES = (
        ("catalog:read", "Read the catalog and prices"),
        ("catalog:write", "Create products and manage this channel's listings"),
        (
            "catalog:master",
            "Change or delete shared master data (products, variants, categories) every channel sees",
        ),
        ("customers:read", "Read this channel's customers"),
        ("customers:write", "Create and change this channel's customers"),
        ("inventory:read", "Read stock and availability"),
        ("inventory:write", "Reserve, allocate and move stock"),
        ("orders:read", "Read this channel's orders"),
        ("orders:write", "Create and change this channel's orders"),
        ("events:write", "Send behaviour events"),
        ("events:read", "Read this channel's domain events (GET /events: orders, stock, listings)"),
        ("imports:write", "Upload data imports"),
        ("webhooks:manage", "Manage this channel's webhook endpoints and see their deliveries"),
        ("support:write", "Hand over buyers' messages to the support desk"),
    )
    SCOPE_NAMES = tuple(name for name, _ in SCOPES)
    # Scopes that reach beyond the key's own channel: granted only when named, never by "all scopes".
    MASTER_DATA_SCOPES = ("catalog:master",)
    CHANNEL_SCOPE_NAMES = tuple(sorted(set(SCOPE_NAMES) - set(MASTER_DATA_SCOPES), key=SCOPE_NAMES.index))

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, shown in lists and logs.")
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.channel.code}: {self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
