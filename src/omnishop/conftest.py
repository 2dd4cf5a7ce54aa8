"""Fixtures shared by every app's tests: channels, keys, users and an API client that speaks JSON."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from django.test import Client

os.environ.setdefault("OMNISHOP_TESTING", "1")

# Real-browser fixtures (chromium_browser, browser_page) and the ordering of `browser` tests.
pytest_plugins = ["omnishop.testing_browser"]


class ApiClient:
    """A thin JSON client over Django's test client, for /api/v1 paths."""

    def __init__(self, client: Client | None = None, headers: dict | None = None) -> None:
        self.client = client or Client()
        self.headers = dict(headers or {})

    def with_key(self, secret: str) -> ApiClient:
        return ApiClient(self.client, {**self.headers, "Authorization": f"Bearer {secret}"})

    def with_session(self, token: str) -> ApiClient:
        return ApiClient(self.client, {**self.headers, "X-Session-Token": token})

    def _headers(self, extra: dict | None) -> dict:
        return {**self.headers, **(extra or {})}

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(f"/api/v1{path}", params or {}, headers=self._headers(headers))

    def post(
        self,
        path: str,
        body=None,
        headers: dict | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ):
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
        return self.client.post(
            f"/api/v1{path}", data, content_type=content_type, headers=self._headers(headers)
        )

    def put(self, path: str, body=None, headers: dict | None = None):
        return self.client.put(
            f"/api/v1{path}",
            orjson.dumps(body),
            content_type="application/json",
            headers=self._headers(headers),
        )

    def patch(self, path: str, body=None, headers: dict | None = None):
        return self.client.patch(
            f"/api/v1{path}",
            orjson.dumps(body),
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, headers: dict | None = None):
        return self.client.delete(f"/api/v1{path}", headers=self._headers(headers))


@pytest.fixture(autouse=True)
def _fresh_storefront_response_cache():
    """Each test starts with an empty storefront response cache (ADR 0043): a body kept by an earlier test
    must not answer a later one whose rolled-back ids and frozen clocks happen to give the same version."""
    from omnishop.storefront import response_cache

    response_cache.clear()
    yield


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def make_channel(db):
    from omnishop.channels.services import create_channel

    def make(code: str = "web", kind: str = "web", currency: str = "GBP", **kwargs):
        return create_channel(
            code=code, name=kwargs.pop("name", code.title()), kind=kind, currency=currency, **kwargs
        )

    return make


@pytest.fixture
def web_channel(make_channel):
    return make_channel("web", "web", "GBP")


@pytest.fixture
def market_channel(make_channel):
    return make_channel("marketplace", "marketplace", "EUR", locale="de-DE", country="DE")


@pytest.fixture
def make_key(db):
    from omnishop.channels.models import ApiKey
    from omnishop.channels.services import issue_api_key

    def make(channel, scopes=ApiKey.SCOPE_NAMES, name="test key") -> str:
        return issue_api_key(channel=channel, name=name, scopes=scopes).secret

    return make


@pytest.fixture
def staff_user(db, django_user_model):
    from allauth.account.models import EmailAddress

    user = django_user_model.objects.create_superuser(
        email="staff@example.com", username="staff", password="correct horse battery staple"
    )
    # A proven e-mail, as the demo's staff has: e-mail verification is mandatory for allauth log-ins.
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def staff_api(staff_user) -> ApiClient:
    client = Client(enforce_csrf_checks=False)
    client.force_login(staff_user)
    return ApiClient(client)


if os.environ.get("OMNISHOP_MUTATION"):
    # `make mutate`: mutmut forks one worker per mutant from the process that ran the suite once. Sharing
    # that process's SQLite test file, workers re-create it under each other and die with "disk I/O
    # error", which mutmut counts as killed mutants. Each worker gets its own copy of a database migrated
    # once (copying takes milliseconds, migrating seconds).
    @pytest.fixture(scope="session")
    def django_db_setup(django_db_blocker):
        from django.db import connection

        with django_db_blocker.unblock():
            if connection.vendor == "postgresql":
                yield from _postgresql_worker_database(connection)
            else:
                yield from _sqlite_worker_database(connection)

    def _sqlite_worker_database(connection):
        import shutil

        from django.conf import settings

        base = settings.VAR_DIR / "mutation"
        base.mkdir(parents=True, exist_ok=True)
        template = base / "template.sqlite3"
        mine = base / f"worker-{os.getpid()}.sqlite3"
        if not template.exists():
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
            shutil.copyfile(connection.settings_dict["NAME"], template)
        connection.close()
        shutil.copyfile(template, mine)
        _use_database(connection, str(mine))
        yield
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{mine}{suffix}").unlink(missing_ok=True)

    def _postgresql_worker_database(connection):
        # The same on PostgreSQL (`scripts/mutate --postgresql`, for code that runs only there): the first
        # process migrates a template database; each worker clones it with CREATE DATABASE … TEMPLATE.
        from psycopg import sql

        # Fixed names: the forked workers inherit settings that an earlier session of the same process changed.
        template = "omnishop_mutation_template"
        mine = f"omnishop_mutation_{os.getpid()}"
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            exists = cursor.fetchone() is not None
        if not exists:
            connection.settings_dict.setdefault("TEST", {})["NAME"] = template
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        connection.close()
        with connection._nodb_cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(mine)))
            cursor.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(mine), sql.Identifier(template)
                )
            )
        _use_database(connection, mine)
        yield
        connection.close()
        _use_database(connection, template)
        with connection._nodb_cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(mine)))

    def _use_database(connection, name: str) -> None:
        from django.conf import settings

        settings.DATABASES["default"]["NAME"] = name
        connection.settings_dict["NAME"] = name
