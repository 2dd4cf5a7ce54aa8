"""Catalogue feeds: one per channel, served at a stable URL that carries a secret token, and the mapping of
our categories to Google's product taxonomy for the `google_product_category` column."""

from __future__ import annotations

from django.db import models


class ChannelFeed(models.Model):
    """A channel's product feed. `version` moves whenever something the feed shows may have changed (the
    outbox sink bumps it); the served file is cached per version and content fingerprint."""

    channel = models.OneToOneField("channels.Channel", on_delete=models.CASCADE, related_name="feed")
    # A capability in the URL, kept in clear so staff and `omnishop feeds` can hand the URL out; compared in
    # constant time. 128 random bits: guessing is hopeless, and a wrong token looks like an unknown channel.
    token = models.CharField(max_length=64)
    is_enabled = models.BooleanField(default=True)
    version = models.BigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    token_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["channel__code"]

    def __str__(self) -> str:
        return f"feed of {self.channel.code}"


class GoogleCategory(models.Model):
    """Our category → Google product taxonomy (id or full path), inherited by sub-categories."""

    category = models.OneToOneField("catalog.Category", on_delete=models.CASCADE, related_name="+")
    google_product_category = models.CharField(
        max_length=300, help_text="Google taxonomy id (e.g. 2169) or path (e.g. 'Home & Garden > Kitchen')."
    )

    class Meta:
        verbose_name = "Google product category"

    def __str__(self) -> str:
        return f"{self.category} → {self.google_product_category}"
