"""What a storefront API request costs in process: a response-cache miss, a hit, and a 304, per request.

Not a benchmark and not a test: a measuring tool whose figures do not depend on the machine's load. It sends
the sample paths of bench/bench_api_catalog.py (list pages and product details of the bench catalogue)
through `omnishop.storefront.wsgi:application` — the WSGI app `omnishop serve` runs — in this process, and
prints, for each kind and mode, the statements per request (CaptureQueriesContext) and the Python CPU ms
per request (time.process_time; median of `--rounds` passes over every path). Database CPU is not in it:
`api.*` measures that per request from /proc (a hit's database work is the revalidated case's: one statement).

    # a database holding the bench catalogue, and its sample:
    DATABASE_URL=postgres://…/catalog PYTHONPATH=src .venv/bin/omnishop migrate
    DATABASE_URL=… PYTHONPATH=src:. .venv/bin/python -m bench.catalog_fixture load
    DATABASE_URL=… PYTHONPATH=src:. .venv/bin/python -m bench.catalog_fixture sample /tmp/sample.json
    DATABASE_URL=… PYTHONPATH=src .venv/bin/python bench/profile_storefront_cache.py /tmp/sample.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sample", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ["OMNISHOP_HTTP_CACHE_VERSION_TTL"] = "86400"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from omnishop.storefront import response_cache
    from omnishop.storefront.wsgi import application

    sample = json.loads(args.sample.read_text())

    def get(path: str, etag: str | None = None) -> bytes:
        raw, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": raw,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
        }
        if etag:
            environ["HTTP_IF_NONE_MATCH"] = etag
        seen = {}

        def start_response(status, headers, exc_info=None):
            seen["status"] = status

        body = b"".join(application(environ, start_response))
        if not seen["status"].startswith(("200", "304")):
            raise RuntimeError(f"{path}: {seen['status']}")
        return body

    print("kind    mode         statements/request  Python CPU ms/request (median of rounds)")
    for kind in ("list", "detail"):
        items = sample[kind]
        for mode, cache_bytes in (("miss", 0), ("hit", 32 * 1024 * 1024), ("304", 0)):
            with override_settings(OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES=cache_bytes):
                response_cache.clear()
                for item in items:  # warm: prepared statements, and the cache for "hit"
                    get(item["path"], item["etag"] if mode == "304" else None)
                with CaptureQueriesContext(connection) as queries:
                    for item in items:
                        get(item["path"], item["etag"] if mode == "304" else None)
                rounds = []
                for _ in range(args.rounds):
                    started = time.process_time()
                    for item in items:
                        get(item["path"], item["etag"] if mode == "304" else None)
                    rounds.append((time.process_time() - started) * 1000 / len(items))
                if mode == "hit":
                    stats = response_cache.current().stats()
                    assert stats["evictions"] == 0, stats
            print(
                f"{kind:<7} {mode:<12} {len(queries.captured_queries) / len(items):>18.2f}  "
                f"{statistics.median(rounds):.3f}  (rounds: {', '.join(f'{r:.3f}' for r in rounds)})"
            )


if __name__ == "__main__":
    main()
