"""storefront.pages: the web shop's HTML pages over HTTP on PostgreSQL, against one raw SQL query per page.

Data: the fixed catalogue of bench/catalog_fixture.py (UCI Online Retail stock codes as products with 1–5
variants, 11 categories, the `web` channel listing ~90 % of them, stock in two warehouses) loaded into its
own database on the bench PostgreSQL and migrated with `omnishop migrate`; a worker process then gives the
web channel two shipping methods and VAT (so the cart page can quote), builds the search index, runs
VACUUM ANALYZE (bulk-loaded tables have no statistics yet), picks the
paths to request and counts the SQL statements of each page in-process (Django's test client under
`django.test.utils.CaptureQueriesContext`, the second request of each page so per-process start-up work
is not counted).

Load: `omnishop serve` (its default server, granian since ADR 0053: 2 workers of one thread) on 127.0.0.1, driven by wrk at 1, 8 and 32 connections,
rotating over many paths per page type: home `/`, every category `/c/<path>/`, `/search?q=` over words
of the catalogue, `/p/<slug>/` over published products, and `/cart` over 32 sessions, each holding a cart
made through the real form (GET the product page, read the csrftoken cookie and the form's
csrfmiddlewaretoken, POST /cart/add). Each page twice: cold (plain GET, no validator) and warm (a
conditional GET with `If-None-Match: <the page's ETag>`, as a browser revalidates). Each case runs
REPEATS times; the value is the median req/s with the median of the runs' p50 and p99 (wrk's histogram).

Baseline, same run, same database: the data each page shows read by ONE raw SQL statement per page
(prepared, psycopg, 8 threads with a connection each, rotating over the same paths): req/s, p50, p99.
ratio = HTTP req/s ÷ that baseline's req/s.

Then, if Chromium and playwright are installed, the product page's largest-contentful-paint in Chromium
through the Performance API (PerformanceObserver, buffered), median of 5 loads, each in a fresh context.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

if __name__ == "__main__":  # `python bench/bench_storefront_pages.py --worker …`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_api_catalog import (
    _baseline,
    _children,
    _env,
    _free_port,
    _postgres_pids,
    _run,
    _wrk,
    server_pid,
)
from bench.harness import RESULTS, BenchContext, median
from bench.worker import run_worker, serve, stop

BENCHMARK = "storefront.pages"
DB_NAME = "omnishop_bench_storefront"
CONNECTIONS = (1, 8, 32)
REPEATS = 3
CARTS = 32
PAGES = ("home", "category", "search", "product", "cart")
SEARCH_WORDS = [
    "candle", "mug", "heart", "christmas", "bag", "card", "light", "cake", "vintage", "box", "glass",
    "paper", "wall", "sign", "garden", "flower", "star", "tea", "jar", "frame", "retro", "pink", "wooden",
    "set", "lunch", "doormat", "cushion", "clock", "tin", "ribbon",
]  # fmt: skip
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LUA = r"""
local entries = {%(entries)s}
local reqs = {}
local counter = 0
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = (id or 0) * 7919
  for i, e in ipairs(entries) do
    reqs[i] = wrk.format("GET", e[1], e[2])
  end
end
function request()
  counter = counter + 1
  return reqs[(counter %% #reqs) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"status":%%d,"bytes":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status, summary.bytes))
end
"""

# --- baseline: one statement per page ----------------------------------------------------------------------

# Product cards (price range, compare-at, first image, stock) of the products `picked` selects.
_CARDS = """
WITH ch AS (SELECT id, currency FROM channels_channel WHERE code = 'web' AND is_active),
picked AS ({picked})
SELECT p.id, p.slug, p.title, ch.currency, MIN(l.price), MAX(l.price), MAX(l.compare_at_price),
  (SELECT i.url FROM catalog_productimage i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1),
  (SELECT coalesce(sum(greatest(s.on_hand - s.allocated - s.reserved, 0)), 0)
     FROM inventory_stocklevel s
     JOIN inventory_channellocation cl ON cl.location_id = s.location_id AND cl.channel_id = ch.id
     JOIN catalog_variant sv ON sv.id = s.variant_id AND sv.product_id = p.id AND sv.is_active){extra}
FROM picked k
JOIN catalog_product p ON p.id = k.id
CROSS JOIN ch
JOIN catalog_variant v ON v.product_id = p.id AND v.is_active
JOIN catalog_channellisting l ON l.variant_id = v.id AND l.channel_id = ch.id AND l.is_published
GROUP BY p.id, p.slug, p.title, ch.id, ch.currency, k.rank
ORDER BY k.rank
"""
_LISTED = """p.is_active AND EXISTS (SELECT 1 FROM catalog_variant v JOIN catalog_channellisting l
  ON l.variant_id = v.id WHERE v.product_id = p.id AND v.is_active AND l.is_published
  AND l.channel_id = (SELECT id FROM ch))"""
_PG_VECTOR = "d.search_vector"  # the stored, GIN-indexed weighted vector (search migration 0003)
BASELINE_SQL = {
    "home": _CARDS.format(
        picked=f"SELECT p.id, -p.id AS rank FROM catalog_product p WHERE {_LISTED} ORDER BY p.id DESC LIMIT 8",
        extra=",\n  (SELECT json_agg(json_build_array(c.name, c.path) ORDER BY c.position, c.name)::text"
        " FROM catalog_category c WHERE c.parent_id IS NULL)",
    ),
    "category": _CARDS.format(
        picked=f"""SELECT p.id, p.id AS rank FROM catalog_product p WHERE {_LISTED}
          AND p.category_id IN (SELECT id FROM catalog_category WHERE path = %s OR path LIKE %s)
          ORDER BY p.id LIMIT 24""",
        extra="",
    ),
    "search": _CARDS.format(
        picked=f"""SELECT m.id, m.rank FROM (
            SELECT d.product_id AS id, -ts_rank_cd({_PG_VECTOR}, q, 1) AS rank
            FROM search_searchdocument d, to_tsquery('simple', %s) q
            WHERE {_PG_VECTOR} @@ q ORDER BY rank, d.product_id LIMIT 200) m
          JOIN catalog_product p ON p.id = m.id WHERE {_LISTED} ORDER BY m.rank LIMIT 24""",
        extra="",
    ),
    "product": """
SELECT p.id, p.slug, p.title, p.description, p.brand, p.attributes::text, c.path, c.name, ch.currency,
  v.id, v.sku, v.title, v.attributes::text, l.price, l.compare_at_price, l.title,
  (SELECT coalesce(json_agg(json_build_array(i.url, i.alt) ORDER BY i.position, i.id), '[]')::text
     FROM catalog_productimage i WHERE i.product_id = p.id),
  (SELECT coalesce(sum(greatest(s.on_hand - s.allocated - s.reserved, 0)), 0) FROM inventory_stocklevel s
     JOIN inventory_channellocation cl ON cl.location_id = s.location_id AND cl.channel_id = ch.id
     WHERE s.variant_id = v.id)
FROM catalog_product p
JOIN channels_channel ch ON ch.code = 'web' AND ch.is_active
JOIN catalog_variant v ON v.product_id = p.id AND v.is_active
JOIN catalog_channellisting l ON l.variant_id = v.id AND l.channel_id = ch.id AND l.is_published
LEFT JOIN catalog_category c ON c.id = p.category_id
WHERE p.slug = %s AND p.is_active
ORDER BY v.position, v.id
""",
    "cart": """
SELECT v.sku, v.title, p.title, p.slug, cl.quantity, l.price, l.title, l.is_published, ch.currency,
  (SELECT coalesce(sum(greatest(s.on_hand - s.allocated - s.reserved, 0)), 0) FROM inventory_stocklevel s
     JOIN inventory_channellocation lc ON lc.location_id = s.location_id AND lc.channel_id = ch.id
     WHERE s.variant_id = v.id),
  (SELECT min(m.price) FROM orders_shippingmethod m WHERE m.channel_id = ch.id AND m.is_active)
FROM orders_cart c
JOIN channels_channel ch ON ch.id = c.channel_id
JOIN orders_cartline cl ON cl.cart_id = c.id
JOIN catalog_variant v ON v.id = cl.variant_id
JOIN catalog_product p ON p.id = v.product_id
LEFT JOIN catalog_channellisting l ON l.variant_id = v.id AND l.channel_id = ch.id
WHERE c.token = %s AND c.status = 'open'
ORDER BY cl.id
""",
}
BASELINE_WHAT = {
    "home": "8 newest cards (price range, image, stock) + top categories",
    "category": "24 cards of the category subtree (no facets, no ranking)",
    "search": "full-text match (ts_rank_cd, GIN) → 24 published cards (no facets)",
    "product": "the product's published variants with prices, images and stock per variant",
    "cart": "the cart's lines with listing, stock per line and cheapest shipping",
}


# --- worker: runs with Django set up on the bench database --------------------------------------------------


def _worker_prepare() -> dict:
    """Shipping and tax for the web channel, the search index, the paths to request, SQL per page."""
    from bench.worker import setup_django

    setup_django(os.environ["DATABASE_URL"])
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from omnishop.catalog.models import Category, ChannelListing
    from omnishop.channels.models import Channel
    from omnishop.demo.shipping import TAX_RATES, UK_DELIVERY
    from omnishop.orders import services as orders
    from omnishop.search import services as search

    web = Channel.objects.get(code="web")
    for m in UK_DELIVERY:
        if m.kind != "pickup":
            orders.create_shipping_method(
                channel=web,
                code=m.code,
                name=m.name,
                kind=m.kind,
                price=m.price,
                free_over=m.free_over,
                countries=m.countries,
            )
    for country, rate in TAX_RATES["web"].items():
        orders.set_tax_rate(channel=web, country=country, rate=rate)
    started = time.perf_counter()
    indexed = search.index_products()
    index_s = time.perf_counter() - started
    # The fixture is bulk-loaded: without statistics the planner picks plans a live shop never sees (the
    # home page's newest-products statement took 67 ms until autovacuum's ANALYZE came by mid-run).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    categories = list(Category.objects.order_by("position").values_list("path", flat=True))
    # Published products of the web channel with at least one variant in stock (the cart needs one).
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL["product"].replace("WHERE p.slug = %s AND", "WHERE"))
        rows = cursor.fetchall()
    by_product: dict[str, list] = {}
    for row in rows:
        by_product.setdefault(row[1], []).append((row[10], row[-1]))
    slugs = sorted(by_product)
    step = max(1, len(slugs) // 400)
    products = slugs[::step][:400]
    skus = [sku for slug in products for sku, stock in by_product[slug] if stock >= 5][: CARTS * 3]
    listed = ChannelListing.objects.filter(channel=web, is_published=True).count()

    # SQL statements per page, in-process (test client), the second request of each page counted.
    client = Client()
    cart_client = Client()
    cart_client.get(f"/p/{products[0]}/")
    cart_client.post("/cart/add", {"sku": skus[0], "quantity": "1"})
    cart_client.post("/cart/add", {"sku": skus[1], "quantity": "1"})
    cart_client.get("/cart")  # shows (and so consumes) the "Added to your cart." message
    paths = {
        "home": "/",
        "category": f"/c/{categories[1]}/",
        "search": f"/search?q={SEARCH_WORDS[0]}",
        "product": f"/p/{products[1]}/",
        "cart": "/cart",
    }
    sql: dict[str, dict] = {}
    for page, path in paths.items():
        c = cart_client if page == "cart" else client
        first = c.get(path)
        tag = first.headers.get("ETag")
        counts: dict = {}
        for kind, headers in (("cold", {}), ("warm", {"If-None-Match": tag} if tag else {})):
            with CaptureQueriesContext(connection) as captured:
                response = c.get(path, headers=headers)
            counts[kind] = {"statements": len(captured), "status": response.status_code}
            counts[f"{kind}_sql"] = [
                f"{float(q['time']) * 1000:.2f} ms  {q['sql'] or '(prepared storefront statement)'}"[:220]
                for q in captured.captured_queries
            ]
            counts[kind]["sql_ms"] = round(sum(float(q["time"]) for q in captured.captured_queries) * 1000, 2)
        sql[page] = counts
    return {
        "indexed": indexed,
        "index_seconds": round(index_s, 2),
        "listed_web": listed,
        "categories": categories,
        "products": products,
        "skus": skus,
        "sql": sql,
        "sql_paths": paths,
    }


# --- HTTP helpers ---------------------------------------------------------------------------------------------


def _get(port: int, path: str, headers: dict | None = None, body: bytes | None = None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.headers, data
    finally:
        conn.close()


def _cookies(headers, jar: dict) -> dict:
    for raw in headers.get_all("Set-Cookie") or []:
        name, _, rest = raw.partition("=")
        value = rest.split(";", 1)[0]
        if value in ("", '""'):  # deleted (e.g. the messages cookie once shown)
            jar.pop(name.strip(), None)
        else:
            jar[name.strip()] = value
    return jar


def _cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items() if v)


_FORM_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _make_cart(port: int, slug: str, skus: list[str]) -> tuple[dict, str]:
    """A browser's cart: product page → csrftoken cookie + form token → POST /cart/add for each SKU."""
    jar: dict = {}
    status, headers, body = _get(port, f"/p/{slug}/")
    if status != 200:
        raise RuntimeError(f"/p/{slug}/ answered {status}")
    _cookies(headers, jar)
    token = _FORM_TOKEN.search(body.decode()).group(1)
    for sku in skus:
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "sku": sku, "quantity": "1", "next": f"/p/{slug}/"}
        ).encode()
        status, headers, _ = _get(
            port,
            "/cart/add",
            {
                "Cookie": _cookie_header(jar),
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{port}/p/{slug}/",
            },
            form,
            "POST",
        )
        _cookies(headers, jar)
        if status != 302 or headers.get("Location") != "/cart":
            raise RuntimeError(f"POST /cart/add answered {status} {headers.get('Location')}")
    status, headers, _ = _get(port, "/cart", {"Cookie": _cookie_header(jar)})  # consumes the message
    _cookies(headers, jar)
    return jar, _cookie_header(jar)


def _lua_entries(entries: list[tuple[str, dict]]) -> str:
    def table(headers: dict) -> str:
        return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "}"

    return ", ".join(f"{{{json.dumps(path)}, {table(headers)}}}" for path, headers in entries)


# --- largest-contentful-paint ----------------------------------------------------------------------------------

_LCP_JS = """() => new Promise((resolve) => {
  let last = null;
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    last = entries[entries.length - 1];
  }).observe({type: 'largest-contentful-paint', buffered: true});
  setTimeout(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    resolve({
      lcp: last ? last.startTime : null,
      element: last && last.element ? last.element.tagName.toLowerCase() : null,
      ttfb: nav ? nav.responseStart : null,
      fcp: fcp ? fcp.startTime : null,
      load: nav ? nav.loadEventEnd : null,
    });
  }, 500);
})"""


def _lcp(port: int, slug: str, loads: int = 5) -> dict | None:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not chromium:
        return None
    runs = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/p/{slug}/", wait_until="load")
                runs.append(page.evaluate(_LCP_JS))
                context.close()
        finally:
            browser.close()
    return {"runs": runs, "slug": slug}


# --- main -------------------------------------------------------------------------------------------------------


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("storefront.pages: BENCH_DATABASE_URL is not set (run through scripts/run-bench); skipped")
        return
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (scripts/ensure-system-packages wrk)")
    seconds = 1 if ctx.quick else 2
    # At 32 clients a slow page queues for seconds: run those longer so enough requests complete.
    duration = {1: seconds, 8: seconds, 32: seconds * 2}
    work = Path(tempfile.mkdtemp(prefix="omnishop-bench-pages-"))
    import psycopg

    with psycopg.connect(ctx.database_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    database_url = ctx.database_url.rsplit("/", 1)[0] + f"/{DB_NAME}"
    env = _env(database_url, work / "var")
    env.pop("REDIS_URL", None)  # no Redis: local-memory cache, sessions in the database (the defaults)
    env.update(
        {
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "OMNISHOP_WEB_CHANNEL": "web",
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on the loopback
            "CSRF_COOKIE_SECURE": "0",
        }
    )
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    started = time.perf_counter()
    _run([omnishop, "migrate", "-v0"], env)
    fixture = json.loads(_run([sys.executable, "-m", "bench.catalog_fixture", "load"], env))
    saved_env = dict(os.environ)
    os.environ.update(env)
    try:
        prepared = run_worker(__file__, "prepare")
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    print(
        f"catalog: {fixture}; search index {prepared['indexed']} products in {prepared['index_seconds']} s; "
        f"set up in {time.perf_counter() - started:.0f} s"
    )
    print("SQL statements per page (in-process):", {k: v["cold"] for k, v in prepared["sql"].items()})

    port = _free_port()
    server = serve(env, port)
    postgres = _postgres_pids(database_url)
    cpu_of = {"server": lambda: _children(server_pid(server))}
    if postgres:
        cpu_of["db"] = lambda: postgres + _children(postgres[0])

    products = prepared["products"]
    skus = prepared["skus"]
    paths = {
        "home": ["/"],
        "category": [f"/c/{c}/" for c in prepared["categories"]],
        "search": [f"/search?q={urllib.parse.quote(w)}" for w in SEARCH_WORDS],
        "product": [f"/p/{s}/" for s in products],
    }
    results: dict = {}
    probes: dict = {}
    lcp = None
    cart_tokens: list[str] = []
    try:
        carts = []
        for n in range(CARTS):
            lines = skus[n * 3 : n * 3 + 1 + n % 3]
            _jar, cookie = _make_cart(port, products[n], lines)
            carts.append(cookie)
        cart_tokens = _cart_tokens(database_url, CARTS)
        for page in PAGES:
            cold: list[tuple[str, dict]] = []
            warm: list[tuple[str, dict]] = []
            statuses = {"cold": {}, "warm": {}}
            sizes = []
            etags = 0
            targets = [("/cart", {"Cookie": c}) for c in carts] if page == "cart" else paths[page]
            for target in targets:
                path, headers = target if isinstance(target, tuple) else (target, {})
                status, response, body = _get(port, path, headers)
                statuses["cold"][status] = statuses["cold"].get(status, 0) + 1
                sizes.append(len(body))
                tag = response.get("ETag")
                cold.append((path, headers))
                if tag:
                    etags += 1
                    conditional = {**headers, "If-None-Match": tag}
                else:
                    conditional = {**headers, "If-None-Match": '"no-etag-was-given"'}
                status2, _, _ = _get(port, path, conditional)
                statuses["warm"][status2] = statuses["warm"].get(status2, 0) + 1
                warm.append((path, conditional))
                last_headers = response
            probes[page] = {
                "paths": len(targets),
                "body_bytes_median": int(statistics.median(sizes)),
                "body_bytes_min": min(sizes),
                "body_bytes_max": max(sizes),
                "with_etag": etags,
                "cache_control": last_headers.get("Cache-Control"),
                "vary": last_headers.get("Vary"),
                "status": statuses,
            }
            print(f"{page}: {probes[page]}", flush=True)
            for kind, entries in (("cold", cold), ("warm", warm)):
                script = work / f"{page}-{kind}.lua"
                script.write_text(LUA % {"entries": _lua_entries(entries)})
                _wrk(port, script, 8, 1)  # warm both workers
                for connections in CONNECTIONS:
                    results[(page, kind, connections)] = [
                        _wrk(port, script, connections, duration[connections], cpu_of) for _ in range(REPEATS)
                    ]
                    r = results[(page, kind, connections)]
                    print(
                        f"  {page} {kind} c={connections}: {[round(x['rps']) for x in r]} req/s", flush=True
                    )
        try:
            lcp = _lcp(port, products[2])
        except Exception as failed:  # a browser problem must not lose the HTTP figures
            lcp = {"error": f"{type(failed).__name__}: {failed}"[:500]}
    finally:
        stop(server)

    baselines = {}
    for page in PAGES:
        sql = BASELINE_SQL[page]
        if page == "home":
            requests = [[(sql, [])]]
        elif page == "category":
            requests = [[(sql, [c, c + "/%"])] for c in prepared["categories"]]
        elif page == "search":
            requests = [[(sql, [w])] for w in SEARCH_WORDS]
        elif page == "product":
            requests = [[(sql, [s])] for s in products]
        else:
            requests = [[(sql, [t])] for t in cart_tokens]
        runs = [_baseline(database_url, requests, max(2, seconds)) for _ in range(REPEATS)]
        baselines[page] = {
            "what": f"one raw SQL statement via psycopg (prepared), 8 threads × own connection: {BASELINE_WHAT[page]}",
            "value": round(median([r["rps"] for r in runs]), 1),
            "p50_ms": round(median([r["p50_ms"] for r in runs]), 3),
            "p99_ms": round(median([r["p99_ms"] for r in runs]), 3),
        }

    load = os.getloadavg()[1]
    common = (
        f"omnishop serve: granian (its default, ADR 0053), 2 workers of 1 thread, DEBUG off, DB sessions, no Redis; wrk on the same "
        f"{os.cpu_count()}-core machine (load average {load:.1f}, shared with other work); "
        f"{REPEATS}×{seconds}s per case ({REPEATS}×{duration[32]}s at 32 clients), median; catalogue {fixture['products']} products / "
        f"{fixture['variants']} variants, {prepared['listed_web']} published web listings; "
        f"SQL statements counted in-process with CaptureQueriesContext + the test client"
    )
    cases = []
    for page in PAGES:
        probe = probes[page]
        sql = prepared["sql"][page]
        for kind in ("cold", "warm"):
            for connections in CONNECTIONS:
                runs = results[(page, kind, connections)]
                errors = sum(r["connect"] + r["read"] + r["write"] + r["timeout"] + r["status"] for r in runs)
                target = _target(page, kind, connections, probe)
                case = {
                    "case": f"{page}-{kind}-{connections}-client{'s' if connections > 1 else ''}",
                    "unit": "requests/s",
                    "value": round(median([r["rps"] for r in runs]), 1),
                    "p50_ms": round(median([r["p50_us"] for r in runs]) / 1000, 3),
                    "p99_ms": round(median([r["p99_us"] for r in runs]) / 1000, 3),
                    "errors": errors,
                    "runs": [round(r["rps"], 1) for r in runs],
                    "status": {str(k): v for k, v in probe["status"][kind].items()},
                    "bytes_per_page": probe["body_bytes_median"] if kind == "cold" else 0,
                    "wire_bytes_per_response": round(
                        median([r["bytes"] / max(r["requests"], 1) for r in runs])
                    ),
                    "sql_statements": sql[kind]["statements"],
                    "cpu_ms_per_request": {
                        name: round(median([r[f"{name}_cpu_ms"] for r in runs]), 3)
                        for name in ("server", "db", "wrk")
                        if f"{name}_cpu_ms" in runs[0]
                    },
                    "baseline": baselines[page],
                    "notes": "; ".join(x for x in (target, _page_note(page, kind, probe), common) if x),
                }
                if kind == "warm" and "304" not in case["status"]:
                    case["bytes_per_page"] = probe["body_bytes_median"]
                cases.append(case)
    cases.append(_lcp_case(lcp))
    ctx.report(BENCHMARK, cases)
    (RESULTS / "storefront.pages.sql.json").write_text(
        json.dumps({"paths": prepared["sql_paths"], "sql": prepared["sql"]}, indent=2) + "\n"
    )
    shutil.rmtree(work, ignore_errors=True)


def _cart_tokens(database_url: str, count: int) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT token FROM orders_cart WHERE status = 'open' ORDER BY id DESC LIMIT %s", [count]
        ).fetchall()
    return [r[0] for r in rows]


def _target(page: str, kind: str, connections: int, probe: dict) -> str:
    if connections != 8:
        return ""
    if kind == "warm" and "304" in {str(k) for k in probe["status"]["warm"]}:
        return "issue 10 target: 304 answers ≥ 3,000 req/s at 8 clients (stated, not asserted)"
    if kind == "cold" and page in ("product", "category"):
        return "issue 10 target: ≥ 1,000 req/s with p99 < 50 ms at 8 clients (stated, not asserted)"
    return ""


def _page_note(page: str, kind: str, probe: dict) -> str:
    where = {
        "home": "GET / (newest 8, popular picks, categories)",
        "category": f"rotating over {probe['paths']} category pages /c/<path>/",
        "search": f"rotating over {probe['paths']} one-word queries /search?q=",
        "product": f"rotating over {probe['paths']} product pages /p/<slug>/",
        "cart": f"/cart rotating over {probe['paths']} sessions each holding a cart of 1–3 lines "
        "(made by GET product page → POST /cart/add with csrftoken cookie + csrfmiddlewaretoken)",
    }[page]
    cache = f"Cache-Control: {probe['cache_control']}; Vary: {probe['vary']}"
    if kind == "cold":
        return f"{where}; plain GET, no validator; {cache}"
    if probe["with_etag"]:
        return (
            f"{where}; If-None-Match with the page's own ETag; answers {probe['status']['warm']} "
            "(the view still runs in full: the ETag is a hash of the rendered body)"
        )
    return (
        f"{where}; the page sends no ETag ({cache}), so a browser has no validator to send: the "
        f'conditional GET here carries If-None-Match: "no-etag-was-given" and gets {probe["status"]["warm"]} '
        "(a full page, same work as cold)"
    )


def _lcp_case(lcp: dict | None) -> dict:
    base = {"case": "product-lcp-chromium", "unit": "ms", "errors": 0}
    if lcp is None:
        return {**base, "value": None, "notes": "Chromium or playwright not installed: not measured"}
    if "error" in lcp:
        return {**base, "value": None, "errors": 1, "notes": f"not measured: {lcp['error']}"}
    values = [r["lcp"] for r in lcp["runs"] if r.get("lcp") is not None]
    return {
        **base,
        "value": round(median(values), 1) if values else None,
        "p50_ms": round(median(values), 1) if values else None,
        "p99_ms": round(max(values), 1) if values else None,
        "errors": len(lcp["runs"]) - len(values),
        "runs": [
            {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in lcp["runs"]
        ],
        "notes": (
            f"largest-contentful-paint of /p/{lcp['slug']}/ in Debian's Chromium (headless, playwright, "
            "1280×800, fresh context per load so nothing is cached) via PerformanceObserver "
            "('largest-contentful-paint', buffered) on 127.0.0.1 while the server is idle; median of "
            f"{len(lcp['runs'])} loads (p99_ms = the slowest); issue 10 target < 1,000 ms (stated, not asserted)"
        ),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"] and sys.argv[2:3] == ["prepare"]:
    print(json.dumps(_worker_prepare()))
