"""The demo's staff per role: printed by `omnishop demo`, each signs in at /admin/ and lands on its desk."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client

from omnishop.backoffice import roles
from omnishop.core.management.commands.demo import banner
from omnishop.demo import loader

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_demo(tmp_path):
    cache.clear()  # log-in rate limits live in the cache table
    path = tmp_path / "demo-credentials.json"
    result = loader.load_demo(small=True, credentials_file=path)
    yield result, path
    cache.clear()


def test_the_demo_prints_a_log_in_per_role_and_each_lands_on_its_desk(small_demo):
    result, path = small_demo
    assert [m["role"] for m in result.role_staff] == [r.name for r in roles.ROLES]
    printed = banner(result, host="127.0.0.1", port=8000)
    saved = json.loads(path.read_text())["role_staff"]
    assert saved == result.role_staff
    for member, role in zip(result.role_staff, roles.ROLES, strict=True):
        assert f"{member['username']} / {member['email']}  password: {member['password']}" in printed
        client = Client()
        signed_in = client.post(
            "/admin/login/?next=/admin/",
            {"username": member["username"], "password": member["password"], "next": "/admin/ops/"},
        )
        assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/ops/", member
        desk = client.get("/admin/ops/")
        if role.desk == "dashboard":
            assert desk.status_code == 302 and desk["Location"] == "/admin/ops/dashboard/"
        else:
            assert desk.status_code == 200
            assert desk.context["panel"] == role.desk


def test_loading_the_demo_again_adds_no_second_member_per_role(small_demo, tmp_path):
    from django.contrib.auth import get_user_model

    before = get_user_model().objects.count()
    again = loader.load_demo(small=True, credentials_file=tmp_path / "again.json")
    assert get_user_model().objects.count() == before
    assert again.role_staff == small_demo[0].role_staff
