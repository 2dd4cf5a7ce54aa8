"""Channel API keys: shown once, stored hashed, scoped to one channel, revocable."""

import pytest

from omnishop.channels.models import ApiKey
from omnishop.channels.services import authenticate_api_key, issue_api_key, revoke_api_key

pytestmark = pytest.mark.django_db


def test_key_secret_is_never_stored_in_clear(web_channel):
    issued = issue_api_key(channel=web_channel, name="pos till 1", scopes=["catalog:read"])
    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.secret not in (stored.secret_hash, stored.prefix)
    assert issued.secret.startswith("osk_" + stored.prefix + "_")
    assert authenticate_api_key(issued.secret) == stored


def test_a_key_with_a_wrong_secret_part_is_refused(web_channel):
    issued = issue_api_key(channel=web_channel, name="k", scopes=["catalog:read"])
    last = issued.secret[-1]
    tampered = issued.secret[:-1] + ("A" if last != "A" else "B")
    assert authenticate_api_key(tampered) is None


def test_revoked_key_is_refused_on_the_next_request(api, web_channel):
    issued = issue_api_key(channel=web_channel, name="k", scopes=["catalog:read"])
    assert api.with_key(issued.secret).get("/channels").status_code == 200
    revoke_api_key(api_key=issued.api_key)
    response = api.with_key(issued.secret).get("/channels")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"


def test_a_channel_key_sees_only_its_own_channel(api, web_channel, market_channel, make_key):
    key = make_key(web_channel, scopes=["catalog:read"])
    assert [c["code"] for c in api.with_key(key).get("/channels").json()] == ["web"]
    assert api.with_key(key).get("/channels/marketplace").status_code == 404
    assert api.with_key(key).get("/channels/web").status_code == 200


def test_unknown_scope_is_a_clear_error(staff_api, web_channel):
    response = staff_api.post("/channels/web/api-keys", {"name": "x", "scopes": ["catalog:read", "root"]})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_scope",
        "message": "Unknown scope(s): root.",
        "field": "scopes",
        "details": {"allowed": list(ApiKey.SCOPE_NAMES)},
    }


def test_staff_issue_a_key_through_the_api_and_it_works_once_shown(staff_api, api, web_channel):
    response = staff_api.post(
        "/channels/web/api-keys", {"name": "marketplace sync", "scopes": ["catalog:read"]}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "web" and body["scopes"] == ["catalog:read"]
    assert api.with_key(body["key"]).get("/channels/web").status_code == 200
    listed = staff_api.get("/channels/web/api-keys").json()
    assert [k["prefix"] for k in listed] == [body["prefix"]] and "key" not in listed[0]


def test_replayed_key_issue_does_not_repeat_the_secret_or_create_a_second_key(staff_api, web_channel):
    headers = {"Idempotency-Key": "issue-1"}
    first = staff_api.post(
        "/channels/web/api-keys", {"name": "k", "scopes": ["catalog:read"]}, headers=headers
    )
    again = staff_api.post(
        "/channels/web/api-keys", {"name": "k", "scopes": ["catalog:read"]}, headers=headers
    )
    assert first.json()["key"] and again.json()["key"] is None
    assert again.json()["prefix"] == first.json()["prefix"]
    assert again["Idempotent-Replayed"] == "true"
    assert ApiKey.objects.count() == 1


def test_key_without_the_needed_scope_is_forbidden_not_unauthenticated(
    api, web_channel, make_key, staff_user
):
    key = make_key(web_channel, scopes=["catalog:read"])
    response = api.with_key(key).post(
        "/channels", {"code": "x", "name": "x", "kind": "web", "currency": "GBP"}
    )
    assert response.status_code == 403  # creating channels is staff-only; a key is not a staff credential
    assert response.json()["error"]["code"] == "permission_denied"
