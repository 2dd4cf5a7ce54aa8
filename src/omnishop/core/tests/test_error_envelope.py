"""Every API error is JSON with a stable code, a message and the offending field — never a 500 or HTML."""

import orjson
import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

CHANNEL = {"code": "web2", "name": "Web 2", "kind": "web", "currency": "GBP"}


def error_of(response) -> dict:
    assert response["Content-Type"].startswith("application/json"), response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


def test_malformed_json_is_a_400_with_code(staff_api):
    response = staff_api.post("/channels", raw=b'{"code": "x", ')
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


def test_unknown_field_is_refused_and_named(staff_api):
    response = staff_api.post("/channels", {**CHANNEL, "colour": "red"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "unknown_field" and error["field"] == "colour"


def test_missing_required_field_is_named(staff_api):
    body = dict(CHANNEL)
    del body["currency"]
    error = error_of(staff_api.post("/channels", body))
    assert error["code"] == "required" and error["field"] == "currency"


def test_wrong_type_is_a_validation_error_on_that_field(staff_api):
    error = error_of(staff_api.post("/channels", {**CHANNEL, "prices_include_tax": "perhaps"}))
    assert error["code"] == "validation_error" and error["field"] == "prices_include_tax"


def test_invalid_currency_is_refused_without_writing(staff_api):
    from omnishop.channels.models import Channel

    response = staff_api.post("/channels", {**CHANNEL, "currency": "ABC"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_currency"
    assert not Channel.objects.filter(code="web2").exists()


def test_duplicate_code_is_a_409_already_exists(staff_api, web_channel):
    error = error_of(staff_api.post("/channels", {**CHANNEL, "code": "web"}))
    assert error == {
        "code": "already_exists",
        "message": "A channel with code 'web' exists.",
        "field": "code",
        "details": {},
    }


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048, OMNISHOP_API_MAX_BODY=2048)
def test_oversized_body_is_a_413(staff_api):
    response = staff_api.post("/channels", {**CHANNEL, "name": "x" * 5000})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_non_json_content_type_is_a_415(staff_api):
    response = staff_api.post("/channels", raw=b"code=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/no/such/thing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_missing_credentials_is_a_json_401(api, web_channel):
    response = api.get("/channels")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_required"


def test_openapi_schema_and_docs_page_are_served(api):
    schema = api.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Omnishop API"
    assert "/api/v1/channels" in schema.json()["paths"]
    assert api.get("/docs").status_code == 200


def test_repeated_bad_keys_are_rate_limited(api, web_channel):
    from django.core.cache import cache

    cache.clear()
    codes = [api.with_key("osk_deadbeef0000_nope").get("/channels").status_code for _ in range(40)]
    assert codes[0] == 401
    assert codes[-1] == 429
    cache.clear()


def test_details_may_use_any_key_even_the_envelopes_own_names():
    from omnishop.api import error_response

    response = error_response(409, "invalid_transition", "No.", "state", status="sent", code="x", field="y")
    body = orjson.loads(response.content)
    assert body["error"]["code"] == "invalid_transition"
    assert body["error"]["details"] == {"status": "sent", "code": "x", "field": "y"}
