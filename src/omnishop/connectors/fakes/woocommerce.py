"""A fake WooCommerce REST API v3 (`/wp-json/wc/v3`) on 127.0.0.1.

Written from the public documentation:
- https://woocommerce.github.io/woocommerce-rest-api-docs/#authentication-over-https (HTTP Basic with the
  consumer key and secret; 401 `woocommerce_rest_cannot_view` / `woocommerce_rest_authentication_error`)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#pagination (`page`, `per_page` ≤ 100,
  X-WP-Total and X-WP-TotalPages headers)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#errors (`{"code", "message", "data": {"status"}}`)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#batch-update-products,
  #batch-update-product-variations (`{"create"|"update"|"delete": [...]}`, at most 100 objects, an item that
  fails carries `{"id", "error": {"code", "message", "data"}}` while the others are applied)
- https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-products (`sku`, `include`),
  #create-a-product, #list-all-product-variations
- https://woocommerce.github.io/woocommerce-rest-api-docs/#list-all-orders (`modified_after`,
  `dates_are_gmt`, `orderby`, `order`), #retrieve-an-order, #update-an-order
- https://woocommerce.github.io/woocommerce-rest-api-docs/#order-notes (create, list),
  #refunds (create, list)
- https://woocommerce.com/document/webhooks/ and WC_Webhook::get_signature (X-WC-Webhook-Signature = base64
  HMAC-SHA256 of the payload with the webhook's secret; X-WC-Webhook-Topic/-Resource/-Event/-ID/-Delivery-ID)

Start it alone: `python -m omnishop.connectors.fakes.woocommerce --port 8702` (ck_demo / cs_demo).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import re
from datetime import UTC, datetime, timedelta

from .base import FakeApp, FakeServer, Reply, Request, main

PREFIX = "/wp-json/wc/v3"
BATCH_LIMIT = 100


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status}})


class FakeWooCommerce(FakeApp):
    def __init__(
        self,
        *,
        key: str = "ck_demo",
        secret: str = "cs_demo",
        webhook_secret: str = "woo-webhook-secret",
        currency: str = "GBP",
    ):
        super().__init__()
        self.key, self.secret, self.webhook_secret, self.currency = key, secret, webhook_secret, currency
        self.products: dict[int, dict] = {}
        self.variations: dict[int, dict] = {}
        self.orders: dict[int, dict] = {}
        self.notes: dict[int, list[dict]] = {}
        self.refunds: dict[int, list[dict]] = {}
        self.applied: list[tuple] = []
        self._ids = itertools.count(101)
        self._clock = datetime(2025, 1, 1, tzinfo=UTC)

    # -- test helpers ------------------------------------------------------------------------------------
    def tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%S")

    def add_product(self, *, sku: str, price: str = "10.00", quantity: int = 0, name: str = "") -> int:
        with self.lock:
            pid = next(self._ids)
            self.products[pid] = {
                "id": pid,
                "name": name or sku,
                "type": "simple",
                "status": "publish",
                "sku": sku,
                "price": price,
                "regular_price": price,
                "sale_price": "",
                "manage_stock": True,
                "stock_quantity": quantity,
                "parent_id": 0,
                "variations": [],
            }
            return pid

    def add_variable(self, *, name: str, variations: list[tuple[str, str, int]]) -> tuple[int, list[int]]:
        with self.lock:
            pid = next(self._ids)
            self.products[pid] = {
                "id": pid,
                "name": name,
                "type": "variable",
                "status": "publish",
                "sku": "",
                "price": "",
                "regular_price": "",
                "sale_price": "",
                "manage_stock": False,
                "stock_quantity": None,
                "parent_id": 0,
                "variations": [],
            }
            ids = []
            for sku, price, quantity in variations:
                vid = next(self._ids)
                self.variations[vid] = {
                    "id": vid,
                    "parent_id": pid,
                    "sku": sku,
                    "status": "publish",
                    "price": price,
                    "regular_price": price,
                    "sale_price": "",
                    "manage_stock": True,
                    "stock_quantity": quantity,
                }
                self.products[pid]["variations"].append(vid)
                ids.append(vid)
            return pid, ids

    def item_by_sku(self, sku: str) -> dict:
        return next(x for x in [*self.products.values(), *self.variations.values()] if x["sku"] == sku)

    def add_order(
        self,
        *,
        lines: list[tuple[str, int, str]],
        status: str = "processing",
        currency: str | None = None,
        email: str = "buyer@example.com",
        shipping: str = "0.00",
    ) -> int:
        with self.lock:
            oid = next(self._ids)
            now = self.tick()
            total = sum(int(q) * float(p) for _, q, p in lines) + float(shipping)
            self.orders[oid] = {
                "id": oid,
                "number": str(oid),
                "status": status,
                "currency": currency or self.currency,
                "date_created_gmt": now,
                "date_modified_gmt": now,
                "total": f"{total:.2f}",
                "shipping_total": shipping,
                "billing": {"first_name": "Ada", "last_name": "Lovelace", "email": email},
                "shipping": {
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "address_1": "1 Analytical Row",
                    "address_2": "",
                    "city": "London",
                    "postcode": "N1 1AA",
                    "country": "GB",
                },
                "line_items": [
                    {
                        "id": next(self._ids),
                        "sku": sku,
                        "quantity": q,
                        "price": float(p),
                        "total": f"{q * float(p):.2f}",
                    }
                    for sku, q, p in lines
                ],
            }
            self.notes[oid], self.refunds[oid] = [], []
            return oid

    def update_order(self, oid: int, **changes) -> None:
        with self.lock:
            self.orders[oid].update(changes)
            self.orders[oid]["date_modified_gmt"] = self.tick()

    def webhook(self, topic: str, oid: int, *, secret: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps(self.orders[oid]).encode()
        mac = hmac.new((secret or self.webhook_secret).encode(), body, hashlib.sha256).digest()
        resource, event = topic.split(".")
        return body, {
            "X-WC-Webhook-Source": "https://woo.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": base64.b64encode(mac).decode(),
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": str(next(self._ids)),
        }

    def count(self, op: str, key=None) -> int:
        return sum(1 for a in self.applied if a[0] == op and (key is None or a[1] == key))

    # -- HTTP --------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if not request.path.startswith(PREFIX):
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        if auth != expected:
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        path = request.path[len(PREFIX) :]
        routes = [
            ("GET", r"/products", self.list_products),
            ("POST", r"/products", self.create_product),
            ("POST", r"/products/batch", self.batch_products),
            ("GET", r"/products/(\d+)/variations", self.list_variations),
            ("POST", r"/products/(\d+)/variations/batch", self.batch_variations),
            ("GET", r"/orders", self.list_orders),
            ("GET", r"/orders/(\d+)", self.get_order),
            ("PUT", r"/orders/(\d+)", self.update_order_api),
            ("GET", r"/orders/(\d+)/notes", self.list_notes),
            ("POST", r"/orders/(\d+)/notes", self.create_note),
            ("GET", r"/orders/(\d+)/refunds", self.list_refunds),
            ("POST", r"/orders/(\d+)/refunds", self.create_refund),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                try:
                    return handler(request, *(int(g) for g in match.groups()))
                except (ValueError, KeyError, TypeError) as exc:
                    return _error(400, "rest_invalid_param", f"Invalid parameter(s): {exc}")
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    @staticmethod
    def _page(request: Request, rows: list) -> Reply:
        per_page = int(request.query.get("per_page", 10))
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        page = int(request.query.get("page", 1))
        total_pages = max(1, math.ceil(len(rows) / per_page))
        items = rows[(page - 1) * per_page : page * per_page]
        return Reply(200, items, {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(total_pages)})

    # -- products ------------------------------------------------------------------------------------------
    def list_products(self, request: Request) -> Reply:
        rows = list(self.products.values())
        if "sku" in request.query:
            wanted = set(request.query["sku"].split(","))
            # A SKU search finds variations as well (they are products with a parent_id).
            rows = [x for x in [*rows, *self.variations.values()] if x["sku"] in wanted]
        if "include" in request.query:
            ids = {int(i) for i in request.query["include"].split(",") if i}
            rows = [x for x in rows if x["id"] in ids]
        return self._page(request, [dict(x) for x in rows])

    def create_product(self, request: Request) -> Reply:
        data = request.json()
        if data.get("sku") and any(
            x["sku"] == data["sku"] for x in [*self.products.values(), *self.variations.values()]
        ):
            return _error(400, "product_invalid_sku", "Invalid or duplicated SKU.")
        pid = self.add_product(
            sku=data.get("sku", ""), price=data.get("regular_price", ""), name=data.get("name", "")
        )
        product = self.products[pid]
        product.update(
            {k: data[k] for k in ("status", "description", "images", "attributes", "sale_price") if k in data}
        )
        product["price"] = data.get("sale_price") or data.get("regular_price", "")
        self.applied.append(("create", data.get("sku"), pid))
        return Reply(201, dict(product))

    def _apply(self, item: dict, update: dict, kind: str) -> None:
        for field in ("regular_price", "sale_price", "status", "manage_stock", "stock_quantity", "name"):
            if field in update and update[field] != item.get(field):
                item[field] = update[field]
                if field == "stock_quantity":
                    self.applied.append(("stock", item["sku"], update[field]))
                elif field in ("regular_price", "sale_price"):
                    self.applied.append(("price", item["sku"], field, update[field]))
                elif field == "status":
                    self.applied.append(("status", item["sku"], update[field]))
        item["price"] = item.get("sale_price") or item.get("regular_price", "")

    def _batch(self, request: Request, table: dict[int, dict], parent: int | None) -> Reply:
        data = request.json()
        updates = data.get("update", [])
        if len(updates) + len(data.get("create", [])) + len(data.get("delete", [])) > BATCH_LIMIT:
            return _error(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        out = []
        for update in updates:
            item = table.get(int(update.get("id", 0)))
            if item is None or (parent is not None and item["parent_id"] != parent):
                out.append(
                    {
                        "id": update.get("id"),
                        "error": {
                            "code": "woocommerce_rest_product_invalid_id"
                            if parent is None
                            else "woocommerce_rest_product_variation_invalid_id",
                            "message": "Invalid ID.",
                            "data": {"status": 400},
                        },
                    }
                )
                continue
            for field in ("regular_price", "sale_price"):
                if (
                    field in update
                    and update[field] != ""
                    and not re.fullmatch(r"\d+(\.\d+)?", str(update[field]))
                ):
                    out.append(
                        {
                            "id": item["id"],
                            "error": {
                                "code": "rest_invalid_param",
                                "message": f"Invalid {field}.",
                                "data": {"status": 400},
                            },
                        }
                    )
                    break
            else:
                self._apply(item, update, "variation" if parent else "product")
                out.append(dict(item))
        return Reply(200, {"update": out})

    def batch_products(self, request: Request) -> Reply:
        return self._batch(request, self.products, None)

    def list_variations(self, request: Request, pid: int) -> Reply:
        if pid not in self.products:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        rows = [self.variations[v] for v in self.products[pid]["variations"]]
        if "include" in request.query:
            ids = {int(i) for i in request.query["include"].split(",") if i}
            rows = [x for x in rows if x["id"] in ids]
        return self._page(request, [dict(x) for x in rows])

    def batch_variations(self, request: Request, pid: int) -> Reply:
        if pid not in self.products:
            return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return self._batch(request, self.variations, pid)

    # -- orders ----------------------------------------------------------------------------------------
    def list_orders(self, request: Request) -> Reply:
        rows = list(self.orders.values())
        if "modified_after" in request.query:
            since = request.query["modified_after"]
            rows = [o for o in rows if o["date_modified_gmt"] > since]
        key = "date_modified_gmt" if request.query.get("orderby") == "modified" else "date_created_gmt"
        rows.sort(key=lambda o: (o[key], o["id"]), reverse=request.query.get("order", "desc") == "desc")
        return self._page(request, [dict(o) for o in rows])

    def get_order(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return Reply(200, dict(self.orders[oid]))

    def update_order_api(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        data = request.json()
        order = self.orders[oid]
        if "status" in data and data["status"] != order["status"]:
            order["status"] = data["status"]
            order["date_modified_gmt"] = self.tick()
            self.applied.append(("status", oid, data["status"]))
        return Reply(200, dict(order))

    def list_notes(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return Reply(200, list(self.notes[oid]))

    def create_note(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        data = request.json()
        if not data.get("note"):
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): note")
        note = {
            "id": next(self._ids),
            "note": data["note"],
            "customer_note": bool(data.get("customer_note")),
            "date_created_gmt": self.tick(),
        }
        self.notes[oid].append(note)
        self.applied.append(("note", oid, data["note"]))
        return Reply(201, note)

    def list_refunds(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return Reply(200, list(self.refunds[oid]))

    def create_refund(self, request: Request, oid: int) -> Reply:
        if oid not in self.orders:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        data = request.json()
        refund = {
            "id": next(self._ids),
            "amount": data.get("amount"),
            "reason": data.get("reason", ""),
            "date_created_gmt": self.tick(),
        }
        self.refunds[oid].append(refund)
        self.applied.append(("refund", oid, data.get("amount")))
        return Reply(201, refund)


def serve(port: int = 0, **kwargs) -> FakeServer:
    return FakeServer(FakeWooCommerce(**kwargs), port).start()


if __name__ == "__main__":
    main(FakeWooCommerce, "Fake WooCommerce REST API v3")
