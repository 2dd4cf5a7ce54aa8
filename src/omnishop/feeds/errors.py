"""The feeds context's errors."""

from __future__ import annotations

from omnishop.core.errors import NotFound, ValidationFailed


class FeedNotFound(NotFound):
    code = "feed_not_found"
    default_message = "No such feed."


class UnknownFeedFormat(ValidationFailed):
    code = "unknown_feed_format"
    default_message = "Feeds come as meta.csv or google.xml."
