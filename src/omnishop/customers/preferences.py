"""Preferences: language, favourite categories, and marketing consent per channel with when and how it
was given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from django.db import transaction
from django.utils import timezone

from omnishop.catalog.errors import CategoryNotFound
from omnishop.channels.services import ChannelNotFound
from omnishop.core.errors import ValidationFailed

from . import events
from .models import Customer, CustomerPreferences, MarketingConsent


class InvalidLanguage(ValidationFailed):
    code = "invalid_language"


def preferences_of(customer: Customer) -> CustomerPreferences:
    prefs, _ = CustomerPreferences.objects.get_or_create(customer=customer)
    return prefs


@dataclass(frozen=True)
class ConsentChange:
    channel: str  # channel code
    granted: bool


def update_preferences(
    *,
    customer: Customer,
    language: str | None = None,
    favourite_category_ids: Sequence[int] | None = None,
    consents: Sequence[ConsentChange] = (),
    source: str = MarketingConsent.Source.CUSTOMER_ACCOUNT,
    at: datetime | None = None,
) -> CustomerPreferences:
    """Change language, favourite categories and per-channel marketing consent (each consent change is
    stamped with when and from where it came)."""
    from omnishop.catalog.models import Category
    from omnishop.channels.models import Channel

    now = at or timezone.now()
    if language is not None and language.strip():
        language = _clean_language(language)
    channels = {}
    for index, change in enumerate(consents):
        found = Channel.objects.filter(code=change.channel).first()
        if found is None:
            raise ChannelNotFound(
                f"No channel '{change.channel}'.", field=f"marketing_consent[{index}].channel"
            )
        channels[change.channel] = found
    if favourite_category_ids is not None:
        ids = list(dict.fromkeys(favourite_category_ids))
        existing = set(Category.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in existing]
        if missing:
            raise CategoryNotFound(
                f"No category {missing[0]}.", field="favourite_categories", missing=missing
            )
    with transaction.atomic():
        prefs = preferences_of(customer)
        if language is not None:
            prefs.language = language.strip()
        prefs.save()
        if favourite_category_ids is not None:
            prefs.favourite_categories.set(ids)
        for change in consents:
            before = (
                MarketingConsent.objects.filter(customer=customer, channel=channels[change.channel])
                .values_list("granted", flat=True)
                .first()
            )
            MarketingConsent.objects.update_or_create(
                customer=customer,
                channel=channels[change.channel],
                defaults={"granted": change.granted, "recorded_at": now, "source": source},
            )
            if before is None or bool(before) != bool(change.granted):
                events.consent_changed(
                    customer_id=customer.pk,
                    channel=change.channel,
                    granted=bool(change.granted),
                    source=source,
                )
    return prefs


def _clean_language(tag: str) -> str:
    tag = tag.strip()
    try:
        Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        raise InvalidLanguage(f"'{tag}' is not a known language tag.", field="language") from None
    return tag
