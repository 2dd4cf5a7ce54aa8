"""Connector API: the channels' own webhooks (Shopify, WooCommerce), verified with their signature schemes.

A webhook with a bad signature is answered 401 `bad_signature` and nothing is queued.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from omnishop.core.schemas import ERRORS

from . import services
from .schemas import WebhookAcceptedOut

router = Router(tags=["connectors"])


@router.post("/shopify/{channel_code}/webhooks", response={200: WebhookAcceptedOut, **ERRORS}, auth=None)
def shopify_webhook(request: HttpRequest, channel_code: str):
    """Shopify webhooks (orders/create, orders/updated…), signed with X-Shopify-Hmac-Sha256: base64
    HMAC-SHA256 of the raw body under the app's client secret."""
    return services.handle_webhook(
        kind="shopify", channel_code=channel_code, headers=request.headers, body=request.body
    )


@router.post("/woocommerce/{channel_code}/webhooks", response={200: WebhookAcceptedOut, **ERRORS}, auth=None)
def woocommerce_webhook(request: HttpRequest, channel_code: str):
    """WooCommerce webhooks (order.created, order.updated), signed with X-WC-Webhook-Signature: base64
    HMAC-SHA256 of the body under the webhook's secret."""
    return services.handle_webhook(
        kind="woocommerce", channel_code=channel_code, headers=request.headers, body=request.body
    )
