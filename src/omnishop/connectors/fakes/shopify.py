"""A fake Shopify Admin GraphQL API, version 2025-01, on 127.0.0.1.

Written from the public documentation:
- https://shopify.dev/docs/api/admin-graphql/2025-01 (endpoint POST /admin/api/2025-01/graphql.json,
  X-Shopify-Access-Token; https://shopify.dev/docs/api/usage/authentication)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/inventorySetQuantities (compareQuantity,
  userErrors with code COMPARE_QUANTITY_STALE; the whole input is refused when one quantity is stale)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/productVariantsBulkUpdate,
  …/mutations/productUpdate, …/mutations/productSet, …/queries/productVariants, …/queries/nodes
- https://shopify.dev/docs/api/admin-graphql/2025-01/queries/orders (search syntax `updated_at:>='…'`,
  https://shopify.dev/docs/api/usage/pagination-graphql: `first`/`after`, `pageInfo { hasNextPage endCursor }`)
- https://shopify.dev/docs/api/admin-graphql/2025-01/mutations/fulfillmentCreate,
  …/mutations/orderCancel, …/mutations/refundCreate, …/mutations/tagsAdd
- https://shopify.dev/docs/api/usage/rate-limits (calculated query cost, `extensions.cost.throttleStatus`,
  errors `extensions.code: THROTTLED` with HTTP 200; HTTP 429 with Retry-After)
- https://shopify.dev/docs/apps/build/webhooks/subscribe/https (X-Shopify-Topic, X-Shopify-Hmac-Sha256 =
  base64 HMAC-SHA256 of the raw body with the app's client secret, X-Shopify-Shop-Domain, X-Shopify-Webhook-Id)

GraphQL is not parsed: a request is routed by its root field (the first field of the operation) and read
through its `variables`, which is how the connector sends every input. The fake checks the operation names
the fields the connector relies on.

Start it alone: `python -m omnishop.connectors.fakes.shopify --port 8701` (token "shpat_demo").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from .base import FakeApp, FakeServer, Reply, Request, main

VERSION = "2025-01"
LOCATION = "gid://shopify/Location/1"
COST = 10


class FakeShopify(FakeApp):
    def __init__(
        self, *, token: str = "shpat_demo", secret: str = "shopify-app-secret", currency: str = "GBP"
    ):
        super().__init__()
        self.token, self.secret, self.currency = token, secret, currency
        self.products: dict[str, dict] = {}
        self.variants: dict[str, dict] = {}
        self.inventory: dict[tuple[str, str], int] = {}
        self.orders: dict[str, dict] = {}
        self.applied: list[tuple] = []  # every change the API applied, in order
        self._ids = itertools.count(1001)
        self._clock = datetime(2025, 1, 1, tzinfo=UTC)

    # -- test helpers ------------------------------------------------------------------------------------
    def tick(self) -> str:
        # Shopify's timestamps have second precision; each change moves the fake's clock one second on.
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_product(
        self, *, sku: str, price: str = "10.00", quantity: int = 0, title: str = "", status="ACTIVE"
    ):
        with self.lock:
            n = next(self._ids)
            pid, vid, iid = (
                f"gid://shopify/Product/{n}",
                f"gid://shopify/ProductVariant/{n}",
                f"gid://shopify/InventoryItem/{n}",
            )
            self.products[pid] = {
                "id": pid,
                "title": title or sku,
                "status": status,
                "variants": [vid],
                "descriptionHtml": "",
            }
            self.variants[vid] = {
                "id": vid,
                "sku": sku,
                "price": price,
                "compareAtPrice": None,
                "product": pid,
                "inventoryItem": iid,
            }
            self.inventory[(iid, LOCATION)] = quantity
            return pid, vid, iid

    def variant_by_sku(self, sku: str) -> dict:
        return next(v for v in self.variants.values() if v["sku"] == sku)

    def available(self, sku: str) -> int:
        return self.inventory[(self.variant_by_sku(sku)["inventoryItem"], LOCATION)]

    def add_order(
        self,
        *,
        lines: list[tuple[str, int, str]],
        email: str = "buyer@example.com",
        paid: bool = True,
        currency: str | None = None,
        shipping: str = "0.00",
    ) -> str:
        with self.lock:
            n = next(self._ids)
            oid = f"gid://shopify/Order/{n}"
            total = sum(int(q) * float(p) for _, q, p in lines) + float(shipping)
            cur = currency or self.currency
            self.orders[oid] = {
                "id": oid,
                "legacyResourceId": str(n),
                "name": f"#{n}",
                "updatedAt": self.tick(),
                "cancelledAt": None,
                "email": email,
                "currencyCode": cur,
                "displayFinancialStatus": "PAID" if paid else "PENDING",
                "totalPriceSet": {"shopMoney": {"amount": f"{total:.2f}", "currencyCode": cur}},
                "totalShippingPriceSet": {"shopMoney": {"amount": shipping, "currencyCode": cur}},
                "shippingAddress": {
                    "name": "Ada Lovelace",
                    "address1": "1 Analytical Row",
                    "address2": None,
                    "city": "London",
                    "zip": "N1 1AA",
                    "countryCodeV2": "GB",
                    "phone": None,
                },
                "lineItems": {
                    "nodes": [
                        {
                            "sku": sku,
                            "quantity": q,
                            "originalUnitPriceSet": {"shopMoney": {"amount": p, "currencyCode": cur}},
                        }
                        for sku, q, p in lines
                    ]
                },
                "tags": [],
                "fulfillmentOrders": [{"id": f"gid://shopify/FulfillmentOrder/{n}", "status": "OPEN"}],
                "fulfillments": [],
                "refunds": [],
            }
            return oid

    def update_order(self, oid: str, **changes) -> None:
        with self.lock:
            self.orders[oid].update(changes)
            self.orders[oid]["updatedAt"] = self.tick()

    def webhook(self, topic: str, oid: str, *, secret: str | None = None) -> tuple[bytes, dict]:
        """The body and headers Shopify would POST for `topic` about order `oid` (REST JSON shape)."""
        order = self.orders[oid]
        body = json.dumps(
            {
                "id": int(order["legacyResourceId"]),
                "admin_graphql_api_id": oid,
                "name": order["name"],
                "updated_at": order["updatedAt"],
            }
        ).encode()
        mac = hmac.new((secret or self.secret).encode(), body, hashlib.sha256).digest()
        return body, {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(mac).decode(),
            "X-Shopify-Shop-Domain": "omnishop-test.myshopify.com",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-API-Version": VERSION,
        }

    def count(self, op: str, key=None) -> int:
        return sum(1 for a in self.applied if a[0] == op and (key is None or a[1] == key))

    # -- HTTP --------------------------------------------------------------------------------------------
    def fault_reply(self, mode: str, retry_after: float) -> Reply:
        if mode == "throttled":
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": COST,
                            "actualQueryCost": None,
                            "throttleStatus": {
                                "maximumAvailable": 2000.0,
                                "currentlyAvailable": 0,
                                "restoreRate": 100.0,
                            },
                        }
                    },
                },
            )
        return super().fault_reply(mode, retry_after)

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != f"/admin/api/{VERSION}/graphql.json":
            return Reply(404, {"errors": "Not Found"})
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return Reply(
                401,
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
            )
        try:
            body = request.json()
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return Reply(400, {"errors": [{"message": "Bad Request"}]})
        root = re.search(r"\{\s*(\w+)", query)
        name = root.group(1) if root else ""
        handler = getattr(self, f"op_{name}", None)
        if handler is None:
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "message": f"Field '{name}' doesn't exist on type 'QueryRoot'",
                            "extensions": {"code": "undefinedField"},
                        }
                    ]
                },
            )
        data = handler(variables, query)
        cost = {
            "requestedQueryCost": COST,
            "actualQueryCost": COST,
            "throttleStatus": {
                "maximumAvailable": 2000.0,
                "currentlyAvailable": 1990.0,
                "restoreRate": 100.0,
            },
        }
        return Reply(200, {"data": {name: data}, "extensions": {"cost": cost}})

    # -- catalogue -----------------------------------------------------------------------------------------
    def op_inventorySetQuantities(self, v: dict, query: str):
        data = v["input"]
        errors = []
        if data.get("name") not in ("available", "on_hand"):
            errors.append(
                {
                    "code": "INVALID_NAME",
                    "field": ["input", "name"],
                    "message": "The quantity name must be available or on_hand.",
                }
            )
        if not data.get("reason"):
            errors.append(
                {"code": "INVALID_REASON", "field": ["input", "reason"], "message": "The reason is invalid."}
            )
        for i, q in enumerate(data.get("quantities", [])):
            key = (q["inventoryItemId"], q["locationId"])
            if key not in self.inventory:
                errors.append(
                    {
                        "code": "INVALID_INVENTORY_ITEM",
                        "field": ["input", "quantities", str(i), "inventoryItemId"],
                        "message": "The specified inventory item could not be found.",
                    }
                )
            elif not data.get("ignoreCompareQuantity"):
                if q.get("compareQuantity") is None:
                    errors.append(
                        {
                            "code": "COMPARE_QUANTITY_REQUIRED",
                            "field": ["input", "quantities", str(i), "compareQuantity"],
                            "message": "The compareQuantity argument must be given to each quantity or ignored using ignoreCompareQuantity.",
                        }
                    )
                elif q["compareQuantity"] != self.inventory[key]:
                    errors.append(
                        {
                            "code": "COMPARE_QUANTITY_STALE",
                            "field": ["input", "quantities", str(i), "compareQuantity"],
                            "message": "The compareQuantity argument no longer matches the persisted quantity.",
                        }
                    )
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes = []
        for q in data["quantities"]:
            key = (q["inventoryItemId"], q["locationId"])
            delta = q["quantity"] - self.inventory[key]
            self.inventory[key] = q["quantity"]
            sku = next(x["sku"] for x in self.variants.values() if x["inventoryItem"] == q["inventoryItemId"])
            self.applied.append(("stock", sku, q["quantity"]))
            changes.append({"name": data["name"], "delta": delta})
        return {"inventoryAdjustmentGroup": {"reason": data["reason"], "changes": changes}, "userErrors": []}

    def op_productVariantsBulkUpdate(self, v: dict, query: str):
        product = self.products.get(v["productId"])
        if product is None:
            return {
                "productVariants": None,
                "userErrors": [
                    {
                        "code": "PRODUCT_DOES_NOT_EXIST",
                        "field": ["productId"],
                        "message": "Product does not exist",
                    }
                ],
            }
        errors = []
        for i, item in enumerate(v["variants"]):
            if item.get("id") not in product["variants"]:
                errors.append(
                    {
                        "code": "PRODUCT_VARIANT_DOES_NOT_EXIST",
                        "field": ["variants", str(i), "id"],
                        "message": "Product variant does not exist",
                    }
                )
            elif item.get("price") is not None and not re.fullmatch(r"\d+(\.\d{1,2})?", str(item["price"])):
                errors.append(
                    {"code": "INVALID", "field": ["variants", str(i), "price"], "message": "Price is invalid"}
                )
        if errors:
            return {"productVariants": None, "userErrors": errors}
        out = []
        for item in v["variants"]:
            variant = self.variants[item["id"]]
            if "price" in item:
                variant["price"] = item["price"]
                self.applied.append(("price", variant["sku"], item["price"]))
            if "compareAtPrice" in item:
                variant["compareAtPrice"] = item["compareAtPrice"]
            out.append(
                {"id": variant["id"], "price": variant["price"], "compareAtPrice": variant["compareAtPrice"]}
            )
        return {"productVariants": out, "userErrors": []}

    def op_productUpdate(self, v: dict, query: str):
        data = v.get("product") or {}
        product = self.products.get(data.get("id"))
        if product is None:
            return {"product": None, "userErrors": [{"field": ["id"], "message": "Product does not exist"}]}
        if "status" in data and data["status"] != product["status"]:
            product["status"] = data["status"]
            self.applied.append(("status", product["id"], data["status"]))
        return {"product": {"id": product["id"], "status": product["status"]}, "userErrors": []}

    def op_productSet(self, v: dict, query: str):
        data = v["input"]
        variant = (data.get("variants") or [{}])[0]
        sku = (variant.get("inventoryItem") or {}).get("sku", "")
        pid, vid, iid = self.add_product(
            sku=sku,
            price=variant.get("price", "0.00"),
            title=data.get("title", ""),
            status=data.get("status", "ACTIVE"),
        )
        self.products[pid]["descriptionHtml"] = data.get("descriptionHtml", "")
        self.applied.append(("create", sku, pid))
        return {
            "product": {
                "id": pid,
                "variants": {"nodes": [{"id": vid, "sku": sku, "inventoryItem": {"id": iid}}]},
            },
            "userErrors": [],
        }

    def op_productVariants(self, v: dict, query: str):
        wanted = {m.replace('\\"', '"') for m in re.findall(r'sku:"((?:[^"\\]|\\.)*)"', v.get("query") or "")}
        nodes = [
            {
                "id": x["id"],
                "sku": x["sku"],
                "product": {"id": x["product"]},
                "inventoryItem": {"id": x["inventoryItem"]},
            }
            for x in self.variants.values()
            if x["sku"] in wanted
        ][: v.get("first", 50)]
        return {"nodes": nodes}

    def op_nodes(self, v: dict, query: str):
        out = []
        for gid in v["ids"]:
            x = self.variants.get(gid)
            if x is None:
                out.append(None)
                continue
            quantity = self.inventory.get((x["inventoryItem"], v.get("locationId")))
            level = (
                None if quantity is None else {"quantities": [{"name": "available", "quantity": quantity}]}
            )
            out.append(
                {
                    "id": x["id"],
                    "sku": x["sku"],
                    "price": x["price"],
                    "product": {"status": self.products[x["product"]]["status"]},
                    "inventoryItem": {"inventoryLevel": level},
                }
            )
        return out

    # -- orders ----------------------------------------------------------------------------------------
    def _node(self, order: dict) -> dict:
        return {
            k: v
            for k, v in order.items()
            if k not in ("tags", "fulfillmentOrders", "fulfillments", "refunds", "legacyResourceId")
        }

    def op_orders(self, v: dict, query: str):
        assert "pageInfo" in query and "endCursor" in query
        rows = sorted(self.orders.values(), key=lambda o: (o["updatedAt"], o["id"]))
        search = v.get("query") or ""
        match = re.search(r"updated_at:(>=?)'([^']+)'", search)
        if match:
            op, since = match.groups()
            since_dt = datetime.fromisoformat(since.replace("Z", "+00:00"))

            def keep(o):
                at = datetime.fromisoformat(o["updatedAt"].replace("Z", "+00:00"))
                return at >= since_dt if op == ">=" else at > since_dt

            rows = [o for o in rows if keep(o)]
        if v.get("after"):
            # Cursors are keyset positions (sort key + id), like Shopify's: a row that changes while the
            # client pages moves behind the cursor and is seen again, never skipped.
            after = tuple(json.loads(base64.b64decode(v["after"])))
            rows = [o for o in rows if (o["updatedAt"], o["id"]) > after]
        first = min(int(v.get("first") or 50), 250)
        page = rows[:first]
        end = (
            base64.b64encode(json.dumps([page[-1]["updatedAt"], page[-1]["id"]]).encode()).decode()
            if page
            else None
        )
        return {
            "nodes": [self._node(o) for o in page],
            "pageInfo": {"hasNextPage": len(rows) > first, "endCursor": end},
        }

    def op_order(self, v: dict, query: str):
        order = self.orders.get(v["id"])
        if order is None:
            return None
        if "refunds(" in query:
            return {"refunds": [dict(r) for r in order["refunds"]]}
        if "fulfillmentOrders" in query:
            return {"fulfillmentOrders": {"nodes": [dict(f) for f in order["fulfillmentOrders"]]}}
        return self._node(order)

    def op_fulfillmentCreate(self, v: dict, query: str):
        data = v["fulfillment"]
        wanted = [x["fulfillmentOrderId"] for x in data.get("lineItemsByFulfillmentOrder", [])]
        owner = next(
            (o for o in self.orders.values() if any(f["id"] in wanted for f in o["fulfillmentOrders"])), None
        )
        if owner is None:
            return {
                "fulfillment": None,
                "userErrors": [{"field": ["fulfillment"], "message": "Fulfillment order does not exist."}],
            }
        for f in owner["fulfillmentOrders"]:
            if f["id"] in wanted and f["status"] not in ("OPEN", "IN_PROGRESS"):
                return {
                    "fulfillment": None,
                    "userErrors": [
                        {
                            "field": ["fulfillment"],
                            "message": f"Fulfillment order {f['id']} has an unfulfillable status= {f['status'].lower()}.",
                        }
                    ],
                }
        for f in owner["fulfillmentOrders"]:
            if f["id"] in wanted:
                f["status"] = "CLOSED"
        info = data.get("trackingInfo") or {}
        fulfillment = {
            "id": f"gid://shopify/Fulfillment/{next(self._ids)}",
            "status": "SUCCESS",
            "trackingInfo": [
                {"company": info.get("company"), "number": info.get("number"), "url": info.get("url")}
            ],
        }
        owner["fulfillments"].append(fulfillment)
        owner["updatedAt"] = self.tick()
        self.applied.append(("fulfilment", owner["id"], info.get("number")))
        return {"fulfillment": fulfillment, "userErrors": []}

    def op_orderCancel(self, v: dict, query: str):
        order = self.orders.get(v["orderId"])
        if order is None:
            return {
                "job": None,
                "orderCancelUserErrors": [
                    {"code": "NOT_FOUND", "field": ["orderId"], "message": "Order does not exist"}
                ],
            }
        for required in ("reason", "refund", "restock"):
            if required not in v:
                return {
                    "job": None,
                    "orderCancelUserErrors": [
                        {"code": "INVALID", "field": [required], "message": f"{required} is required"}
                    ],
                }
        if order["cancelledAt"]:
            return {
                "job": None,
                "orderCancelUserErrors": [
                    {"code": "INVALID", "field": ["orderId"], "message": "Order has already been cancelled"}
                ],
            }
        order["cancelledAt"] = self.tick()
        order["updatedAt"] = order["cancelledAt"]
        self.applied.append(("cancel", order["id"], v["reason"]))
        return {
            "job": {"id": f"gid://shopify/Job/{uuid.uuid4()}", "done": False},
            "orderCancelUserErrors": [],
        }

    def op_refundCreate(self, v: dict, query: str):
        data = v["input"]
        order = self.orders.get(data.get("orderId"))
        if order is None:
            return {"refund": None, "userErrors": [{"field": ["orderId"], "message": "Order does not exist"}]}
        refund = {"id": f"gid://shopify/Refund/{next(self._ids)}", "note": data.get("note")}
        order["refunds"].append(refund)
        order["updatedAt"] = self.tick()
        self.applied.append(("refund", order["id"], data.get("note")))
        return {"refund": refund, "userErrors": []}

    def op_tagsAdd(self, v: dict, query: str):
        order = self.orders.get(v["id"])
        if order is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Resource does not exist"}]}
        new = [t for t in v["tags"] if t not in order["tags"]]
        if new:
            order["tags"] += new
            order["updatedAt"] = self.tick()
            self.applied.append(("tags", order["id"], tuple(new)))
        return {"node": {"id": order["id"]}, "userErrors": []}


def serve(port: int = 0, **kwargs) -> FakeServer:
    return FakeServer(FakeShopify(**kwargs), port).start()


if __name__ == "__main__":
    main(FakeShopify, "Fake Shopify Admin GraphQL API 2025-01")
