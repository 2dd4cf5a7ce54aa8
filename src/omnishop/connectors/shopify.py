"""Shopify connector: the Admin GraphQL API, version 2025-01.

Documentation (the fake in fakes/shopify.py is written from the same pages):
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/inventorySetQuantities (compare-and-set with
  `compareQuantity`; `ignoreCompareQuantity: false`; userError code COMPARE_QUANTITY_STALE)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/productVariantsBulkUpdate
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/productSet (create a product with its variant)
- https://shopify.dev/docs/api/admin-graphql/2025-01/queries/productVariants (look SKUs up)
- https://shopify.dev/docs/api/admin-graphql/2025-01/queries/nodes (read back for reconcile)
- https://shopify.dev/docs/api/admin-graphql/2025-01/queries/orders (`query: "updated_at:>='…'"`,
  `sortKey: UPDATED_AT`, cursor pagination through `pageInfo.endCursor`)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/fulfillmentCreate (fulfillment orders,
  `trackingInfo`)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/orderCancel,
  https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/refundCreate,
  https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/tagsAdd (acknowledge: tag the order)
- https://shopify.dev/docs/api/usage/rate-limits (cost, `extensions.cost.throttleStatus`, THROTTLED)
- https://shopify.dev/docs/apps/build/webhooks/subscribe/https (X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of
  the raw body with the app's client secret)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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
from .errors import ChannelRateLimited, ChannelRejected, ChannelUnavailable

API_VERSION = "2025-01"

INVENTORY_SET = """
mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta } }
    userErrors { code field message }
  }
}"""

VARIANTS_BULK_UPDATE = """
mutation productVariantsBulkUpdate($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price compareAtPrice }
    userErrors { code field message }
  }
}"""

PRODUCT_UPDATE = """
mutation productUpdate($product: ProductUpdateInput!) {
  productUpdate(product: $product) {
    product { id status }
    userErrors { field message }
  }
}"""

PRODUCT_SET = """
mutation productSet($input: ProductSetInput!, $synchronous: Boolean!) {
  productSet(input: $input, synchronous: $synchronous) {
    product { id variants(first: 1) { nodes { id sku inventoryItem { id } } } }
    userErrors { code field message }
  }
}"""

FIND_VARIANTS = """
query productVariants($first: Int!, $query: String) {
  productVariants(first: $first, query: $query) {
    nodes { id sku product { id } inventoryItem { id } }
  }
}"""

READ_VARIANTS = """
query nodes($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) {
    ... on ProductVariant {
      id sku price product { status }
      inventoryItem { inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } }
    }
  }
}"""

ORDER_FIELDS = """
  id name updatedAt cancelledAt email currencyCode displayFinancialStatus
  totalPriceSet { shopMoney { amount currencyCode } }
  totalShippingPriceSet { shopMoney { amount currencyCode } }
  shippingAddress { name address1 address2 city zip countryCodeV2 phone }
  lineItems(first: 100) { nodes { sku quantity originalUnitPriceSet { shopMoney { amount currencyCode } } } }
"""

ORDERS = (
    """
query orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {"""
    + ORDER_FIELDS
    + """}
    pageInfo { hasNextPage endCursor }
  }
}"""
)

ORDER = "query order($id: ID!) { order(id: $id) {" + ORDER_FIELDS + "} }"

FULFILLMENT_ORDERS = """
query fulfillmentOrders($id: ID!) {
  order(id: $id) { fulfillmentOrders(first: 20) { nodes { id status } } }
}"""

FULFILLMENT_CREATE = """
mutation fulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}"""

ORDER_CANCEL = """
mutation orderCancel($orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!, $restock: Boolean!,
                     $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refund: $refund, restock: $restock,
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { code field message }
  }
}"""

ORDER_REFUNDS = """
query orderRefunds($id: ID!) { order(id: $id) { refunds(first: 50) { id note } } }"""

REFUND_CREATE = """
mutation refundCreate($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id note }
    userErrors { field message }
  }
}"""

TAGS_ADD = """
mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}"""


@register
class ShopifyConnector(Connector):
    kind = "shopify"
    max_stock_batch = 250  # inventorySetQuantities takes many quantities in one call
    max_listing_batch = 100

    # -- transport ---------------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict) -> dict:
        self.require_https()
        url = f"{self.connection.base_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json"
        response = self.http(
            "POST",
            url,
            headers={
                "X-Shopify-Access-Token": self.connection.access_token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            json={"query": query, "variables": variables},
        )
        if response.status_code >= 400:
            raise ChannelRejected(
                f"Shopify answered HTTP {response.status_code}.", code=f"http_{response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            raise ChannelUnavailable(
                "Shopify answered something that is not JSON.", code="malformed_response"
            ) from None
        errors = body.get("errors") or []
        if errors:
            if isinstance(errors, list) and any(
                (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)
            ):
                raise ChannelRateLimited("Shopify: THROTTLED", retry_after=_throttle_wait(body))
            message = (
                errors[0].get("message")
                if isinstance(errors, list) and isinstance(errors[0], dict)
                else errors
            )
            raise ChannelRejected(f"Shopify GraphQL error: {message}", code="graphql_error")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ChannelUnavailable("Shopify answered without data.", code="malformed_response")
        return data

    # -- catalogue ---------------------------------------------------------------------------------------
    def find_listings(self, skus: list[str]) -> dict[str, RemoteRef]:
        found: dict[str, RemoteRef] = {}
        for i in range(0, len(skus), 50):
            chunk = skus[i : i + 50]
            query = " OR ".join(f"sku:{_quote(s)}" for s in chunk)
            data = self.graphql(FIND_VARIANTS, {"first": 250, "query": query})
            for node in data["productVariants"]["nodes"]:
                if node.get("sku") in chunk:
                    found[node["sku"]] = RemoteRef(
                        sku=node["sku"],
                        product_id=node["product"]["id"],
                        variant_id=node["id"],
                        inventory_item_id=node["inventoryItem"]["id"],
                    )
        return found

    def publish_listings(self, updates: list[ListingUpdate]) -> list[ItemResult]:
        results: list[ItemResult] = []
        by_product: dict[str, list[ListingUpdate]] = {}
        for u in updates:
            if u.ref is None:
                results.append(self._create_product(u))
            else:
                by_product.setdefault(u.ref.product_id, []).append(u)
        for product_id, items in by_product.items():
            variants = [
                {
                    "id": u.ref.variant_id,
                    "price": str(u.price),
                    "compareAtPrice": str(u.compare_at_price) if u.compare_at_price is not None else None,
                }
                for u in items
            ]
            data = self.graphql(VARIANTS_BULK_UPDATE, {"productId": product_id, "variants": variants})
            errors = data["productVariantsBulkUpdate"]["userErrors"]
            if errors:
                message = "; ".join(e["message"] for e in errors)
                results += [ItemResult(u.sku, False, "user_error", message, ref=u.ref) for u in items]
                continue
            # A product is published when any of our SKUs on it is (one Shopify product, one status).
            status = "ACTIVE" if any(u.published for u in items) else "DRAFT"
            data = self.graphql(PRODUCT_UPDATE, {"product": {"id": product_id, "status": status}})
            errors = data["productUpdate"]["userErrors"]
            message = "; ".join(e["message"] for e in errors)
            results += [
                ItemResult(u.sku, not errors, "user_error" if errors else "", message, ref=u.ref)
                for u in items
            ]
        return results

    def _create_product(self, u: ListingUpdate) -> ItemResult:
        product = {
            "title": u.title or u.sku,
            "descriptionHtml": u.description,
            "status": "ACTIVE" if u.published else "DRAFT",
            "productOptions": [{"name": "Title", "values": [{"name": "Default Title"}]}],
            "variants": [
                {
                    "optionValues": [{"optionName": "Title", "name": "Default Title"}],
                    "price": str(u.price),
                    "compareAtPrice": str(u.compare_at_price) if u.compare_at_price is not None else None,
                    "inventoryItem": {"sku": u.sku, "tracked": True},
                }
            ],
        }
        if u.images:
            product["files"] = [{"originalSource": src, "contentType": "IMAGE"} for src in u.images]
        data = self.graphql(PRODUCT_SET, {"input": product, "synchronous": True})
        errors = data["productSet"]["userErrors"]
        if errors:
            return ItemResult(u.sku, False, "user_error", "; ".join(e["message"] for e in errors))
        created = data["productSet"]["product"]
        variant = created["variants"]["nodes"][0]
        ref = RemoteRef(u.sku, created["id"], variant["id"], variant["inventoryItem"]["id"])
        return ItemResult(u.sku, True, ref=ref)

    def push_stock(self, updates: list[StockUpdate]) -> list[ItemResult]:
        location = self.connection.location_id
        if not location:
            raise ChannelRejected("The Shopify connection has no location id.", code="no_location")
        quantities = [
            {
                "inventoryItemId": u.ref.inventory_item_id,
                "locationId": location,
                "quantity": u.quantity,
                "compareQuantity": u.expected,
            }
            for u in updates
        ]
        data = self.graphql(
            INVENTORY_SET,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "referenceDocumentUri": "omnishop://connectors/stock",
                    "ignoreCompareQuantity": False,
                    "quantities": quantities,
                }
            },
        )
        errors = data["inventorySetQuantities"]["userErrors"]
        if not errors:
            return [ItemResult(u.ref.sku, True, quantity=u.quantity) for u in updates]
        # The mutation is all-or-nothing: one stale compareQuantity refuses the whole batch. Name the items
        # the errors point at (field ["input", "quantities", i, …]); the rest are retried as they are.
        stale: dict[int, dict] = {}
        for e in errors:
            path = e.get("field") or []
            if len(path) >= 3 and path[1] == "quantities" and str(path[2]).isdigit():
                stale[int(path[2])] = e
        out = []
        for i, u in enumerate(updates):
            e = stale.get(i)
            if e is not None:
                out.append(
                    ItemResult(
                        u.ref.sku,
                        False,
                        (e.get("code") or "user_error").lower(),
                        e["message"],
                        retryable=True,
                    )
                )
            elif stale:
                out.append(
                    ItemResult(
                        u.ref.sku,
                        False,
                        "batch_refused",
                        "Another item of the batch was refused.",
                        retryable=True,
                    )
                )
            else:
                out.append(
                    ItemResult(u.ref.sku, False, "user_error", "; ".join(x["message"] for x in errors))
                )
        return out

    def read_listings(self, refs: list[RemoteRef]) -> dict[str, ChannelView]:
        views: dict[str, ChannelView] = {}
        for i in range(0, len(refs), 100):
            chunk = refs[i : i + 100]
            data = self.graphql(
                READ_VARIANTS,
                {"ids": [r.variant_id for r in chunk], "locationId": self.connection.location_id},
            )
            for node in data["nodes"]:
                if not node:
                    continue
                level = (node.get("inventoryItem") or {}).get("inventoryLevel") or {}
                quantity = next(
                    (q["quantity"] for q in level.get("quantities", []) if q["name"] == "available"), None
                )
                views[node["sku"]] = ChannelView(
                    sku=node["sku"],
                    quantity=quantity,
                    price=Decimal(node["price"]) if node.get("price") is not None else None,
                    published=(node.get("product") or {}).get("status") == "ACTIVE",
                )
        return views

    # -- orders ------------------------------------------------------------------------------------------
    def pull_orders(self, *, updated_since: datetime | None, page: str | None) -> OrderPage:
        query = f"updated_at:>='{updated_since.isoformat()}'" if updated_since else None
        data = self.graphql(ORDERS, {"first": 50, "after": page, "query": query})
        orders = data["orders"]
        info = orders["pageInfo"]
        return OrderPage(
            orders=[parse_order(_order, node) for node in orders["nodes"]],
            next_page=info["endCursor"] if info["hasNextPage"] else None,
        )

    def fetch_order(self, remote_id: str) -> RemoteOrder:
        data = self.graphql(ORDER, {"id": remote_id})
        if not data.get("order"):
            raise ChannelRejected(f"Shopify has no order {remote_id}.", code="order_not_found")
        return parse_order(_order, data["order"])

    def acknowledge_order(self, *, remote_id: str, our_number: str) -> None:
        data = self.graphql(TAGS_ADD, {"id": remote_id, "tags": ["omnishop", f"omnishop:{our_number}"]})
        errors = data["tagsAdd"]["userErrors"]
        if errors:
            raise ChannelRejected("; ".join(e["message"] for e in errors), code="user_error")

    def push_fulfilment(
        self, *, remote_id: str, marker: str, carrier: str, tracking_number: str, tracking_url: str = ""
    ) -> bool:
        data = self.graphql(FULFILLMENT_ORDERS, {"id": remote_id})
        if not data.get("order"):
            raise ChannelRejected(f"Shopify has no order {remote_id}.", code="order_not_found")
        open_orders = [
            n["id"]
            for n in data["order"]["fulfillmentOrders"]["nodes"]
            if n["status"] in ("OPEN", "IN_PROGRESS")
        ]
        if not open_orders:
            return False  # fulfilled already (by an earlier attempt whose answer we lost, or on Shopify)
        tracking = {"company": carrier, "number": tracking_number}
        if tracking_url:
            tracking["url"] = tracking_url
        data = self.graphql(
            FULFILLMENT_CREATE,
            {
                "fulfillment": {
                    "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo} for fo in open_orders],
                    "notifyCustomer": True,
                    "trackingInfo": tracking,
                },
                "message": marker,
            },
        )
        errors = data["fulfillmentCreate"]["userErrors"]
        if errors:
            raise ChannelRejected("; ".join(e["message"] for e in errors), code="user_error")
        return True

    def push_cancellation(self, *, remote_id: str, reason: str) -> bool:
        order = self.fetch_order(remote_id)
        if order.cancelled:
            return False
        data = self.graphql(
            ORDER_CANCEL,
            {
                "orderId": remote_id,
                "reason": "OTHER",
                "refund": True,
                "restock": False,  # stock is ours; the next stock push sets Shopify's figure
                "notifyCustomer": True,
                "staffNote": reason[:255],
            },
        )
        errors = data["orderCancel"]["orderCancelUserErrors"]
        if errors:
            raise ChannelRejected("; ".join(e["message"] for e in errors), code="user_error")
        return True

    def push_refund(
        self, *, remote_id: str, amount: Decimal, currency: str, reason: str, marker: str
    ) -> bool:
        data = self.graphql(
            REFUND_CREATE,
            {
                "input": {
                    "orderId": remote_id,
                    "note": f"{reason} [{marker}] {amount} {currency}"[:255],
                    "notify": True,
                }
            },
        )
        errors = data["refundCreate"]["userErrors"]
        if errors:
            raise ChannelRejected("; ".join(e["message"] for e in errors), code="user_error")
        return True

    # -- webhooks ----------------------------------------------------------------------------------------
    def verify_webhook(self, *, headers, body: bytes) -> bool:
        return signature_matches(self.connection.webhook_secret, body, headers.get("X-Shopify-Hmac-Sha256"))

    def parse_webhook(self, *, headers, body: bytes) -> WebhookIntent:
        import json

        topic = headers.get("X-Shopify-Topic", "")
        if topic not in ("orders/create", "orders/updated", "orders/cancelled", "orders/paid"):
            return WebhookIntent(topic=topic)
        try:
            payload = json.loads(body)
            remote_id = payload.get("admin_graphql_api_id") or f"gid://shopify/Order/{int(payload['id'])}"
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ChannelRejected("The webhook's order has no id.", code="malformed_webhook") from None
        return WebhookIntent(topic=topic, remote_order_id=str(remote_id))


def _order(node: dict) -> RemoteOrder:
    address = node.get("shippingAddress")
    shipping = None
    if address:
        shipping = {
            "name": address.get("name") or "",
            "line1": address.get("address1") or "",
            "line2": address.get("address2") or "",
            "city": address.get("city") or "",
            "postcode": address.get("zip") or "",
            "country": address.get("countryCodeV2") or "",
        }
        shipping = {k: v for k, v in shipping.items() if v}
    return RemoteOrder(
        remote_id=node["id"],
        name=node.get("name") or "",
        updated_at=_when(node["updatedAt"]),
        status=(node.get("displayFinancialStatus") or "").lower(),
        currency=node.get("currencyCode") or "",
        email=node.get("email") or "",
        total=_money(node.get("totalPriceSet")),
        shipping_total=_money(node.get("totalShippingPriceSet")),
        shipping_address=shipping,
        cancelled=bool(node.get("cancelledAt")),
        paid=(node.get("displayFinancialStatus") or "") in ("PAID", "PARTIALLY_REFUNDED", "REFUNDED"),
        lines=[
            RemoteLine(
                sku=line.get("sku") or "",
                quantity=int(line["quantity"]),
                unit_price=_money(line.get("originalUnitPriceSet")),
            )
            for line in node["lineItems"]["nodes"]
        ],
        raw=node,
    )


def _money(price_set: dict | None) -> str | None:
    if not price_set:
        return None
    return (price_set.get("shopMoney") or {}).get("amount")


def _when(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ChannelRejected(f"Unreadable time {value!r}.", code="malformed_response")
    return parsed


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _throttle_wait(body: dict) -> float:
    """Seconds until the bucket holds the requested cost again (rate-limits doc: restoreRate per second)."""
    cost = ((body.get("extensions") or {}).get("cost")) or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", 50)) - float(status.get("currentlyAvailable", 0))
        return max(0.5, missing / max(float(status.get("restoreRate", 50)), 1.0))
    except (TypeError, ValueError):
        return 1.0
