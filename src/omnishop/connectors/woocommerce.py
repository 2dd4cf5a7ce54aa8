"""WooCommerce connector: the REST API v3 (`/wp-json/wc/v3`), Basic auth with the consumer key and secret
over HTTPS.

Documentation (the fake in fakes/woocommerce.py is written from the same pages):
- https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https
- https://woocommerce.github.io/woocommerce-rest-api-docs/#pagination (page, per_page ≤ 100, X-WP-Total,
  X-WP-TotalPages)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#batch-update-products and
  #batch-update-product-variations (`{"update": [...]}`, at most 100 objects per request, per-item `error`)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-products (`sku`, `include`),
  #list-all-product-variations, #create-a-product
- https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders (`modified_after`, `orderby`,
  `order`), #retrieve-an-order, #update-an-order (`status`)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#create-an-order-note, #list-all-order-notes,
  #create-a-refund, #list-all-refunds
- https://woocommerce.com/document/webhooks/ (X-WC-Webhook-Signature: base64 HMAC-SHA256 of the body with the
  webhook's secret; X-WC-Webhook-Topic order.created / order.updated)
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.utils.dateparse import parse_datetime

from .base import (
    ChannelView,
    Connector,
    ItemResult,
    ListingUpdate,
    OrderPage,
    RemoteLine,
    RemoteOrder,
    RemoteRef,
    StockUpdate,
    WebhookIntent,
    parse_order,
    register,
    signature_matches,
)
from .errors import ChannelRejected, ChannelUnavailable

BATCH_LIMIT = (
    100  # "This API helps you to batch update multiple … Note: By default it's limited to up to 100 objects"
)


@register
class WooCommerceConnector(Connector):
    kind = "woocommerce"
    max_stock_batch = BATCH_LIMIT
    max_listing_batch = BATCH_LIMIT

    # -- transport ---------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: dict | None = None, body=None):
        self.require_https()
        url = f"{self.connection.base_url.rstrip('/')}/wp-json/wc/v3{path}"
        if params:
            url += "?" + urlencode(params)
        basic = base64.b64encode(
            f"{self.connection.consumer_key}:{self.connection.consumer_secret}".encode()
        ).decode()
        response = self.http(
            method,
            url,
            headers={
                "Authorization": f"Basic {basic}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            json=body,
        )
        try:
            data = response.json()
        except ValueError:
            raise ChannelUnavailable(
                "WooCommerce answered something that is not JSON.", code="malformed_response"
            ) from None
        if response.status_code >= 400:
            code = data.get("code", "") if isinstance(data, dict) else ""
            message = data.get("message", "") if isinstance(data, dict) else ""
            raise ChannelRejected(
                f"WooCommerce {response.status_code} {code}: {message}",
                code="not_found" if response.status_code == 404 else "rejected",
            )
        return response, data

    # -- catalogue ---------------------------------------------------------------------------------------
    def find_listings(self, skus: list[str]) -> dict[str, RemoteRef]:
        found: dict[str, RemoteRef] = {}
        for sku in skus:
            _, items = self.call("GET", "/products", params={"sku": sku, "per_page": 10})
            for item in items:
                if item.get("sku") != sku:
                    continue
                if item.get("parent_id"):
                    found[sku] = RemoteRef(sku, str(item["parent_id"]), str(item["id"]))
                else:
                    found[sku] = RemoteRef(sku, str(item["id"]))
        return found

    def publish_listings(self, updates: list[ListingUpdate]) -> list[ItemResult]:
        results: list[ItemResult] = []
        simple: list[tuple[ListingUpdate, dict]] = []
        variations: dict[str, list[tuple[ListingUpdate, dict]]] = {}
        for u in updates:
            if u.ref is None:
                results.append(self._create_product(u))
                continue
            prices = _prices(u)
            if u.ref.variant_id:
                item = {
                    "id": int(u.ref.variant_id),
                    **prices,
                    "status": "publish" if u.published else "private",
                }
                variations.setdefault(u.ref.product_id, []).append((u, item))
            else:
                item = {
                    "id": int(u.ref.product_id),
                    **prices,
                    "status": "publish" if u.published else "draft",
                }
                simple.append((u, item))
        results += self._batch("/products/batch", simple)
        for product_id, items in variations.items():
            results += self._batch(f"/products/{product_id}/variations/batch", items)
        return results

    def _create_product(self, u: ListingUpdate) -> ItemResult:
        body = {
            "name": u.title or u.sku,
            "type": "simple",
            "sku": u.sku,
            "description": u.description,
            "status": "publish" if u.published else "draft",
            "manage_stock": True,
            "images": [{"src": src} for src in u.images],
            "attributes": [{"name": k, "options": [v], "visible": True} for k, v in u.attributes.items()],
            **_prices(u),
        }
        _, created = self.call("POST", "/products", body=body)
        return ItemResult(u.sku, True, ref=RemoteRef(u.sku, str(created["id"])))

    def push_stock(self, updates: list[StockUpdate]) -> list[ItemResult]:
        simple, variations = [], {}
        for u in updates:
            item = {"manage_stock": True, "stock_quantity": u.quantity}
            if u.ref.variant_id:
                variations.setdefault(u.ref.product_id, []).append((u, {"id": int(u.ref.variant_id), **item}))
            else:
                simple.append((u, {"id": int(u.ref.product_id), **item}))
        results = self._batch("/products/batch", simple)
        for product_id, items in variations.items():
            results += self._batch(f"/products/{product_id}/variations/batch", items)
        return results

    def _batch(self, path: str, items: list[tuple]) -> list[ItemResult]:
        results = []
        for i in range(0, len(items), BATCH_LIMIT):
            chunk = items[i : i + BATCH_LIMIT]
            _, data = self.call("POST", path, body={"update": [item for _, item in chunk]})
            answered = {str(x.get("id")): x for x in data.get("update", [])}
            for u, item in chunk:
                sku = u.sku if isinstance(u, ListingUpdate) else u.ref.sku
                got = answered.get(str(item["id"]))
                if got is None:
                    results.append(
                        ItemResult(
                            sku, False, "missing_in_answer", "The batch answer left it out.", retryable=True
                        )
                    )
                elif "error" in got:
                    error = got["error"]
                    results.append(
                        ItemResult(sku, False, error.get("code", "rejected"), error.get("message", ""))
                    )
                else:
                    results.append(ItemResult(sku, True, quantity=item.get("stock_quantity")))
        return results

    def read_listings(self, refs: list[RemoteRef]) -> dict[str, ChannelView]:
        views: dict[str, ChannelView] = {}
        simple = [r for r in refs if not r.variant_id]
        variations: dict[str, list[RemoteRef]] = {}
        for r in refs:
            if r.variant_id:
                variations.setdefault(r.product_id, []).append(r)
        for i in range(0, len(simple), 100):
            ids = ",".join(r.product_id for r in simple[i : i + 100])
            _, items = self.call("GET", "/products", params={"include": ids, "per_page": 100})
            for item in items:
                views[item["sku"]] = _view(item, published=item.get("status") == "publish")
        for product_id, chunk in variations.items():
            ids = ",".join(r.variant_id for r in chunk)
            _, items = self.call(
                "GET", f"/products/{product_id}/variations", params={"include": ids, "per_page": 100}
            )
            for item in items:
                views[item["sku"]] = _view(item, published=item.get("status") == "publish")
        return views

    # -- orders ------------------------------------------------------------------------------------------
    def pull_orders(self, *, updated_since: datetime | None, page: str | None) -> OrderPage:
        number = int(page or 1)
        params = {"page": number, "per_page": 50, "orderby": "modified", "order": "asc"}
        if updated_since:
            # modified_after is exclusive; step back a second and let idempotent import absorb the overlap.
            since = (updated_since - timedelta(seconds=1)).astimezone(UTC).replace(tzinfo=None)
            params["modified_after"] = since.isoformat(timespec="seconds")
            params["dates_are_gmt"] = "true"
        response, items = self.call("GET", "/orders", params=params)
        total_pages = int(response.headers.get("X-WP-TotalPages") or 1)
        return OrderPage(
            orders=[parse_order(_order, item) for item in items],
            next_page=str(number + 1) if number < total_pages else None,
        )

    def fetch_order(self, remote_id: str) -> RemoteOrder:
        _, data = self.call("GET", f"/orders/{int(remote_id)}")
        return parse_order(_order, data)

    def acknowledge_order(self, *, remote_id: str, our_number: str) -> None:
        self.call(
            "POST",
            f"/orders/{int(remote_id)}/notes",
            body={"note": f"Imported into Omnishop as {our_number}.", "customer_note": False},
        )

    def push_fulfilment(
        self, *, remote_id: str, marker: str, carrier: str, tracking_number: str, tracking_url: str = ""
    ) -> bool:
        _, notes = self.call("GET", f"/orders/{int(remote_id)}/notes", params={"type": "any"})
        new = not any(f"[{marker}]" in (n.get("note") or "") for n in notes)
        if new:
            text = f"Shipped with {carrier}, tracking number {tracking_number}"
            if tracking_url:
                text += f" ({tracking_url})"
            self.call(
                "POST",
                f"/orders/{int(remote_id)}/notes",
                body={"note": f"{text}. [{marker}]", "customer_note": True},
            )
        # Setting the status is idempotent; done every time so a lost answer after the note still completes.
        self.call("PUT", f"/orders/{int(remote_id)}", body={"status": "completed"})
        return new

    def push_cancellation(self, *, remote_id: str, reason: str) -> bool:
        order = self.fetch_order(remote_id)
        if order.status == "cancelled":
            return False
        self.call("PUT", f"/orders/{int(remote_id)}", body={"status": "cancelled"})
        return True

    def push_refund(
        self, *, remote_id: str, amount: Decimal, currency: str, reason: str, marker: str
    ) -> bool:
        _, refunds = self.call("GET", f"/orders/{int(remote_id)}/refunds")
        if any(f"[{marker}]" in (r.get("reason") or "") for r in refunds):
            return False
        self.call(
            "POST",
            f"/orders/{int(remote_id)}/refunds",
            # api_refund false: the money moved already (through Omnishop's payment); WooCommerce records it.
            body={"amount": str(amount), "reason": f"{reason} [{marker}]", "api_refund": False},
        )
        return True

    # -- webhooks ----------------------------------------------------------------------------------------
    def verify_webhook(self, *, headers, body: bytes) -> bool:
        return signature_matches(self.connection.webhook_secret, body, headers.get("X-WC-Webhook-Signature"))

    def is_ping(self, *, headers, body: bytes) -> bool:
        # On creation WooCommerce posts `webhook_id=<id>` (form-encoded, no topic) to check the URL.
        return not headers.get("X-WC-Webhook-Topic") and body.startswith(b"webhook_id=") and len(body) < 40

    def parse_webhook(self, *, headers, body: bytes) -> WebhookIntent:
        topic = headers.get("X-WC-Webhook-Topic", "")
        if topic not in ("order.created", "order.updated"):
            return WebhookIntent(topic=topic)
        try:
            remote_id = int(json.loads(body)["id"])
        except (ValueError, KeyError, TypeError):
            raise ChannelRejected("The webhook's order has no id.", code="malformed_webhook") from None
        return WebhookIntent(topic=topic, remote_order_id=str(remote_id))


def _prices(u: ListingUpdate) -> dict:
    # WooCommerce shows sale_price struck against regular_price: our compare-at price is the regular one.
    if u.compare_at_price is not None and u.compare_at_price > u.price:
        return {"regular_price": str(u.compare_at_price), "sale_price": str(u.price)}
    return {"regular_price": str(u.price), "sale_price": ""}


def _view(item: dict, *, published: bool) -> ChannelView:
    price = item.get("price") or item.get("regular_price")
    quantity = item.get("stock_quantity")
    return ChannelView(
        sku=item["sku"],
        quantity=int(quantity) if quantity is not None else None,
        price=Decimal(price) if price not in (None, "") else None,
        published=published,
    )


def _order(item: dict) -> RemoteOrder:
    modified = item.get("date_modified_gmt") or item.get("date_created_gmt")
    updated = parse_datetime(modified) if modified else None
    if updated is None:
        raise ChannelRejected(f"Order {item.get('id')} has no modification time.", code="malformed_response")
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    ship = item.get("shipping") or {}
    address = {
        "name": f"{ship.get('first_name', '')} {ship.get('last_name', '')}".strip(),
        "line1": ship.get("address_1") or "",
        "line2": ship.get("address_2") or "",
        "city": ship.get("city") or "",
        "postcode": ship.get("postcode") or "",
        "country": ship.get("country") or "",
    }
    address = {k: v for k, v in address.items() if v}
    return RemoteOrder(
        remote_id=str(item["id"]),
        name=str(item.get("number") or item["id"]),
        updated_at=updated,
        status=item.get("status") or "",
        currency=item.get("currency") or "",
        email=(item.get("billing") or {}).get("email") or "",
        total=item.get("total"),
        shipping_total=item.get("shipping_total"),
        shipping_address=address or None,
        cancelled=item.get("status") == "cancelled",
        paid=item.get("status") in ("processing", "completed"),
        lines=[
            RemoteLine(
                sku=line.get("sku") or "", quantity=int(line["quantity"]), unit_price=_str(line.get("price"))
            )
            for line in item.get("line_items", [])
        ],
        raw=item,
    )


def _str(value) -> str | None:
    if value is None or value == "":
        return None
    return str(Decimal(str(value)).quantize(Decimal("0.01")))
