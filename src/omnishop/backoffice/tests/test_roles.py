"""The role groups: made from roles.py on migrate, kept exact by `omnishop roles sync`, given with `assign`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from omnishop.backoffice import roles
from omnishop.core.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


def group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def test_every_listed_permission_exists_after_all_migrations():
    report = roles.ensure_roles()
    assert not report.missing, f"no such permission (typo?): {report.missing}"
    existing = {
        f"{app}.{code}" for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    assert roles.all_permissions() <= existing


def test_migrate_leaves_every_role_group_with_exactly_its_permissions():
    # The test database was migrated (post_migrate ran ensure_roles): nothing to create or correct.
    report = roles.ensure_roles()
    assert report.created == [] and report.changed == []
    for role in roles.ROLES:
        assert group_permissions(role.name) == set(role.permissions) - set(report.missing)


def test_sync_removes_a_permission_nobody_listed_and_restores_a_removed_one():
    warehouse = Group.objects.get(name=roles.BY_KEY["warehouse"].name)
    warehouse.permissions.add(Permission.objects.get(codename="change_refund"))
    warehouse.permissions.remove(Permission.objects.get(codename="add_stockmovement"))

    report = roles.ensure_roles()

    assert report.changed == ["Warehouse and fulfilment"]
    perms = group_permissions("Warehouse and fulfilment")
    assert "payments.change_refund" not in perms
    assert "inventory.add_stockmovement" in perms
    assert roles.ensure_roles().changed == []  # idempotent


def test_a_deleted_group_is_made_again():
    Group.objects.filter(name="Finance").delete()
    report = roles.ensure_roles()
    assert report.created == ["Finance"]
    assert "payments.change_refund" in group_permissions("Finance")


def test_only_finance_may_refund_above_the_limit_and_the_analyst_changes_nothing():
    above = [r.key for r in roles.ROLES if roles.REFUND_ABOVE_LIMIT in r.permissions]
    assert above == ["finance"]
    analyst = roles.BY_KEY["analyst"]
    assert all(p.split(".", 1)[1].startswith("view_") for p in analyst.permissions)


def test_the_roles_command_syncs_lists_and_assigns(django_user_model):
    Group.objects.filter(name="Merchandiser").delete()
    out = StringIO()
    call_command("roles", "sync", stdout=out, stderr=StringIO())
    assert "1 created" in out.getvalue() and "created   Merchandiser" in out.getvalue()

    django_user_model.objects.create_user(username="mia", password="x" * 12)
    out = StringIO()
    call_command("roles", "assign", "mia", "merchandiser", stdout=out)
    mia = django_user_model.objects.get(username="mia")
    assert mia.is_staff and mia.has_perm("catalog.change_channellisting")
    assert not mia.has_perm("orders.change_order")
    assert [r.key for r in roles.roles_of(mia)] == ["merchandiser"]

    out = StringIO()
    call_command("roles", "list", "--permissions", stdout=out)
    listing = out.getvalue()
    assert "merchandiser      Merchandiser" in listing and "members: mia" in listing
    assert "catalog.change_channellisting" in listing


def test_assigning_an_unknown_user_or_role_is_refused(django_user_model):
    with pytest.raises(CommandError, match="not_found"):
        call_command("roles", "assign", "nobody", "finance", stdout=StringIO())
    django_user_model.objects.create_user(username="bo", password="x" * 12)
    with pytest.raises(ValidationFailed):
        roles.assign(username="bo", role_key="janitor")
    with pytest.raises(NotFound):
        roles.assign(username="ghost", role_key="finance")


def test_the_cli_runs_the_roles_command(capsys):
    from omnishop.cli import main

    main(["omnishop", "roles", "list"])
    assert "finance           Finance" in capsys.readouterr().out


def test_the_separation_of_duties_the_issue_asks_for():
    """Pinned by hand, not derived: a change to roles.py that breaks one of these is a policy change."""
    ops = {op.key: op for op in roles.OPERATIONS}

    def may(role_key: str, op_key: str) -> bool:
        return roles.allows(roles.BY_KEY[role_key], ops[op_key])

    assert may("warehouse", "orders.ship") and may("warehouse", "inventory.adjust")
    assert not may("warehouse", "payments.refund") and not may("warehouse", "catalog.price")
    assert may("merchandiser", "catalog.price") and not may("merchandiser", "orders.ship")
    assert not may("merchandiser", "payments.refund")
    assert may("finance", "payments.refund") and not may("finance", "inventory.adjust")
    assert may("customer_service", "customers.merge") and may("customer_service", "payments.refund")
    assert not may("customer_service", "inventory.adjust") and not may("customer_service", "catalog.price")
    assert not any(may("analyst", key) for key in ops if key not in ("orders.list", "customers.view"))
    assert all(may("store_manager", key) for key in ops)
