"""`omnishop apikey`: staff manage channel keys from the command line."""

import io

import pytest
from django.core.management import CommandError, call_command

from omnishop.channels.services import authenticate_api_key

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_created_key_is_printed_once_and_works_until_revoked(web_channel):
    secret = run("create", "web", "--scope", "catalog:read", "--name", "till").strip()
    key = authenticate_api_key(secret)
    assert key is not None and key.scopes == ["catalog:read"]
    listed = run("list", "web")
    assert key.prefix in listed and secret not in listed
    run("revoke", key.prefix)
    assert authenticate_api_key(secret) is None


def test_unknown_scope_or_channel_is_a_clear_command_error(web_channel):
    with pytest.raises(CommandError, match="invalid_scope"):
        run("create", "web", "--scope", "everything")
    with pytest.raises(CommandError, match="channel_not_found"):
        run("create", "nope", "--all-scopes")
