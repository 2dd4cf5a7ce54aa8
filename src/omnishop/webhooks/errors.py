"""Webhook failures, one class per business outcome (codes listed in docs/API.md). An unknown event type
is the outbox's `unknown_event_type` (core.outbox.UnknownEventType)."""

from omnishop.core.errors import Conflict, NotFound, ValidationFailed


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    default_message = "No such webhook endpoint."


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    default_message = "No such webhook delivery."


class InvalidWebhookUrl(ValidationFailed):
    code = "invalid_webhook_url"
    default_message = "A webhook URL is an absolute http:// or https:// URL with a host name."


class WebhookOwnerRequired(ValidationFailed):
    code = "webhook_owner_required"
    default_message = "An endpoint belongs to a channel or names the app it serves."


class WebhookEndpointDisabled(Conflict):
    code = "webhook_endpoint_disabled"
    default_message = "The endpoint is disabled (it answered 410 Gone, or was switched off); resume it first."
