"""Back-office: each channel's feed (its URLs, rotate the token) and the Google category mapping."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from . import services
from .models import ChannelFeed, GoogleCategory


@admin.register(ChannelFeed)
class ChannelFeedAdmin(admin.ModelAdmin):
    list_display = ("channel", "is_enabled", "version", "token_rotated_at")
    list_filter = ("is_enabled",)
    readonly_fields = ("channel", "feed_urls", "version", "created_at", "token_rotated_at")
    fields = ("channel", "is_enabled", "feed_urls", "version", "created_at", "token_rotated_at")
    actions = ["rotate_tokens"]

    def has_add_permission(self, request):
        return False  # created per channel by `omnishop feeds` (services.ensure_feeds)

    @admin.display(description=_("Feed URLs"))
    def feed_urls(self, obj: ChannelFeed):
        return format_html_join("", "<div>{}</div>", ((path,) for path in services.feed_paths(obj).values()))

    @admin.action(description=_("Rotate the secret token (the old URLs stop working)"))
    def rotate_tokens(self, request, queryset):
        for feed in queryset.select_related("channel"):
            services.rotate_token(feed=feed)
        self.message_user(request, _("%(n)d token(s) rotated.") % {"n": queryset.count()}, messages.SUCCESS)


@admin.register(GoogleCategory)
class GoogleCategoryAdmin(admin.ModelAdmin):
    list_display = ("category", "google_product_category")
    search_fields = ("category__path", "google_product_category")
    autocomplete_fields = ()
