"""Hostile requests at the HTTP edge: every answer under /api/v1 and /_allauth is the JSON error envelope
with a 4xx — no HTML page, no 500, whatever the body, the method or the address."""

from __future__ import annotations

import io

import orjson
import pytest
from django.test import Client

from omnishop.edge import dechunked

pytestmark = pytest.mark.django_db

LOGIN = "/_allauth/app/v1/auth/login"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "details"}
    return error


def test_deeply_nested_json_to_the_log_in_endpoint_is_a_400_not_a_recursion_error():
    body = b"[" * 100_000 + b"]" * 100_000
    response = Client().post(LOGIN, body, content_type="application/json")
    assert error_of(response, 400)["code"] == "malformed_json"


def test_a_2_mib_body_to_the_log_in_endpoint_is_a_json_413():
    body = orjson.dumps({"email": "a@example.com", "password": "x" * (2 * 1024 * 1024)})
    response = Client().post(LOGIN, body, content_type="application/json")
    assert error_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
def test_an_unknown_api_path_is_a_json_404_whatever_the_method(method):
    client = Client(enforce_csrf_checks=True)
    response = client.generic(method.upper(), "/api/v1/no/such/thing", b"{}", content_type="application/json")
    assert error_of(response, 404)["code"] == "not_found"


def test_a_csrf_refusal_under_the_api_is_the_envelope(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/_allauth/browser/v1/auth/session", b"{}", content_type="application/json")
    assert response.status_code in (403, 405)
    assert response["Content-Type"].startswith("application/json")


def test_a_nul_character_in_a_server_import_path_is_refused(staff_api):
    body = {"profile": "products", "path": "inbox/a\x00.csv"}
    response = staff_api.post("/datahub/imports/server", body)
    error = error_of(response, 422)
    assert error["field"] == "path"


def test_a_nul_character_in_the_address_is_refused(staff_api):
    error = error_of(staff_api.get("/orders", {"external_id": "a\x00b"}), 422)
    assert (error["code"], error["field"]) == ("validation_error", "external_id")
    assert error_of(staff_api.get("/orders/WEB-1%00"), 404)["code"] == "not_found"


def test_a_multipart_upload_without_a_boundary_is_a_400(api, web_channel, make_key):
    client = api.with_key(make_key(web_channel))
    response = client.post("/datahub/imports", raw=b"--x\r\n\r\n--x--", content_type="multipart/form-data")
    assert error_of(response, 400)["code"] == "malformed_multipart"


def test_a_body_without_a_content_type_is_a_415(staff_api):
    response = staff_api.post("/channels", raw=b'{"code": "x"}', content_type="")
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_a_channel_key_on_a_staff_only_endpoint_is_a_403_not_a_401(api, web_channel, make_key):
    client = api.with_key(make_key(web_channel))
    error = error_of(client.get("/inventory/stock"), 403)
    assert error["code"] == "permission_denied"


def test_a_shopper_on_a_staff_only_endpoint_is_a_403_and_nobody_is_a_401(api, django_user_model):
    user = django_user_model.objects.create_user(
        username="ada", email="ada@example.com", password="pw-pw-pw-1"
    )
    shopper = Client()
    shopper.force_login(user)
    assert error_of(shopper.get("/api/v1/inventory/stock"), 403)["code"] == "permission_denied"
    assert error_of(api.get("/inventory/stock"), 401)["code"] == "authentication_required"
    assert error_of(api.with_key("osk_not_a_key").get("/inventory/stock"), 401)["code"] == (
        "authentication_required"
    )


def test_a_chunked_body_reaches_the_application_with_its_length():
    seen = {}

    def app(environ, start_response):
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        return []

    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b'{"code": "web"}')}
    dechunked(app)(environ, None)
    assert (seen["body"], environ["CONTENT_LENGTH"]) == (b'{"code": "web"}', "15")


def test_the_served_application_reads_chunked_bodies():
    from omnishop import wsgi

    assert wsgi.application.__qualname__.startswith("dechunked")
