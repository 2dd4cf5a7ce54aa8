"""The back-office roles: Django groups whose permissions are written here, once, as data.

Each role names the Django permissions (`app_label.codename`) the desks' `staff_view(...)` and the API's
`staff("…")` check, so a member of staff can do through the API exactly what their desk lets them do.
`ensure_roles()` makes the groups match this file (run after every `migrate`, and by `omnishop roles sync`);
`docs/backoffice.md` shows `permissions_table()` and `operations_table()`, and the role matrix test
(tests/test_roles_matrix.py) calls every operation below as every role.

Conventions (docs/adr/0018-back-office-roles.md): refunds need `payments.change_payment`; a refund above
`OMNISHOP_REFUND_LIMIT` also needs `payments.change_refund`, which only finance has; store credit needs
`payments.add_storecreditentry`; order operations (ship, cancel, address, split, merge, returns) need
`orders.change_order`; stock operations need what the inventory API asks for; the dashboard needs
`backoffice.view_dashboard`; the support desk needs `support.view_conversation` to read and
`support.change_conversation` to answer and act (plus the order and payment permissions of each action), and
an agent sees only the conversations of the inboxes they are a member of.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_noop

DASHBOARD = "backoffice.view_dashboard"
REFUND = "payments.change_payment"
REFUND_ABOVE_LIMIT = "payments.change_refund"
STORE_CREDIT = "payments.add_storecreditentry"
ORDER_OPERATIONS = "orders.change_order"

# Reading what the business runs on: every role but the warehouse sees at least this much.
_READ_ORDERS = ("orders.view_order", "orders.view_returnrequest", "orders.view_orderexception")
_READ_CATALOGUE = (
    "catalog.view_product",
    "catalog.view_variant",
    "catalog.view_channellisting",
    "catalog.view_category",
    "catalog.view_productimage",
)
_READ_STOCK = (
    "inventory.view_stocklevel",
    "inventory.view_stocklocation",
    "inventory.view_stockmovement",
    "inventory.view_lowstockalert",
)
_READ_PAYMENTS = ("payments.view_payment", "payments.view_refund", "payments.view_storecreditaccount")
_READ_CUSTOMERS = ("customers.view_customer",)
# The support desk: reading conversations (of the agent's own inboxes only) and answering and acting on them.
SUPPORT_READ = ("support.view_conversation",)
SUPPORT_ANSWER = ("support.view_conversation", "support.change_conversation")

_STOCK_OPERATIONS = (
    "inventory.add_stockmovement",  # receipts, adjustments, cycle counts
    "inventory.view_transfer",
    "inventory.add_transfer",
    "inventory.change_transfer",  # send and receive a transfer
    "inventory.view_purchaseorder",
    "inventory.change_purchaseorder",  # receive a purchase order
)
_PURCHASING = (
    "inventory.view_purchaseorder",
    "inventory.view_cost",
    "inventory.add_purchaseorder",
    "inventory.change_purchaseorder",
)
_CATALOGUE_EDITING = (
    "catalog.add_product",
    "catalog.change_product",
    "catalog.add_variant",
    "catalog.change_variant",
    "catalog.add_channellisting",
    "catalog.change_channellisting",  # prices and publication
    "catalog.add_productimage",
    "catalog.change_productimage",
    "catalog.view_supplier",
    "catalog.view_supplieroffer",
)
# The product review queue and product merges (accept, keep apart, undo): a catalogue decision.
MERGE_PRODUCTS = "datahub.merge_product"
_PRODUCT_MERGES = (
    "datahub.view_importjob",
    "datahub.view_matchcandidate",
    "datahub.view_productmerge",
    MERGE_PRODUCTS,
)
_CUSTOMER_CARE = (
    "customers.add_customer",
    "customers.change_customer",
    "customers.merge_customer",
    "customers.view_mergerecord",
)


@dataclass(frozen=True)
class Role:
    key: str  # used on the command line: `omnishop roles assign alice warehouse`
    name: str  # the Django group's name (English; the desks show it translated: gettext_noop)
    description: str
    desk: str  # where /admin/ops/ lands this role: a desk panel of web/home.py, or "dashboard"
    permissions: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", tuple(sorted(set(self.permissions))))


ROLES: tuple[Role, ...] = (
    Role(
        key="store_manager",
        name=gettext_noop("Store manager"),
        description="Runs the shop day to day: every order, stock and catalogue operation, refunds up to the "
        "limit and store credit, purchasing; lands on the dashboard.",
        desk="dashboard",
        permissions=(
            DASHBOARD,
            ORDER_OPERATIONS,
            REFUND,
            STORE_CREDIT,
            *_READ_ORDERS,
            *_READ_CATALOGUE,
            *_READ_STOCK,
            *_READ_PAYMENTS,
            *_READ_CUSTOMERS,
            *_STOCK_OPERATIONS,
            *_PURCHASING,
            *_CATALOGUE_EDITING,
            *_PRODUCT_MERGES,
            *_CUSTOMER_CARE,
            *SUPPORT_ANSWER,
            "search.view_synonym",
            "search.change_synonym",
        ),
    ),
    Role(
        key="warehouse",
        name=gettext_noop("Warehouse and fulfilment"),
        description="Picks, packs and ships orders per location, receives returns and stock, adjusts, "
        "transfers and counts stock; no money, no prices.",
        desk="warehouse",
        permissions=(
            ORDER_OPERATIONS,
            "orders.view_order",
            "orders.view_returnrequest",
            "catalog.view_product",
            "catalog.view_variant",
            *_READ_STOCK,
            *_STOCK_OPERATIONS,
        ),
    ),
    Role(
        key="customer_service",
        name=gettext_noop("Customer service"),
        description="Answers customers: order changes and returns, the exception queue, refunds up to the "
        "limit, store credit, the customer 360 and merges, and the support desk's conversations.",
        desk="service",
        permissions=(
            ORDER_OPERATIONS,
            REFUND,
            STORE_CREDIT,
            *_READ_ORDERS,
            *_READ_CATALOGUE,
            "inventory.view_stocklevel",
            "inventory.view_stocklocation",
            *_READ_PAYMENTS,
            *_READ_CUSTOMERS,
            *_CUSTOMER_CARE,
            *SUPPORT_ANSWER,
        ),
    ),
    Role(
        key="merchandiser",
        name=gettext_noop("Merchandiser"),
        description="Owns products, listings, prices and publication per channel, product merges and purchasing; sees "
        "stock and the dashboard; never touches orders or money.",
        desk="merchandising",
        permissions=(
            DASHBOARD,
            *_READ_CATALOGUE,
            *_CATALOGUE_EDITING,
            *_PRODUCT_MERGES,
            *_READ_STOCK,
            *_PURCHASING,
            "search.view_synonym",
            "search.change_synonym",
            "recommendations.view_modelversion",
        ),
    ),
    Role(
        key="finance",
        name=gettext_noop("Finance"),
        description="Captures payments, refunds (also above the refund limit), issues store credit and "
        "reads orders, payments and purchase costs.",
        desk="finance",
        permissions=(
            DASHBOARD,
            REFUND,
            REFUND_ABOVE_LIMIT,
            STORE_CREDIT,
            "payments.view_storecreditentry",
            *_READ_PAYMENTS,
            *_READ_ORDERS,
            *_READ_CUSTOMERS,
            "inventory.view_purchaseorder",
            "inventory.view_cost",
        ),
    ),
    Role(
        key="analyst",
        name=gettext_noop("Analyst (read-only)"),
        description="Reads everything the dashboard and the desks show; changes nothing.",
        desk="dashboard",
        permissions=(
            DASHBOARD,
            *_READ_ORDERS,
            *_READ_CATALOGUE,
            *_READ_STOCK,
            *_READ_PAYMENTS,
            *_READ_CUSTOMERS,
            "inventory.view_purchaseorder",
            "inventory.view_cost",
            "recommendations.view_modelversion",
            "search.view_synonym",
            *SUPPORT_READ,
        ),
    ),
)

BY_KEY: dict[str, Role] = {role.key: role for role in ROLES}


@dataclass(frozen=True)
class Operation:
    """Something staff do, and the permissions it needs (as the API endpoint or desk view checks them)."""

    key: str
    label: str
    permissions: tuple[str, ...]


# The operations the role matrix documents (docs/backoffice.md) and tests through the API, one call each.
# Desk pages and the dashboard's JSON are covered by the matrix test's sweeps over every desk URL and every
# staff GET endpoint (their own declared permissions); the refund limit is checked by the orders desk.
OPERATIONS: tuple[Operation, ...] = (
    Operation("orders.list", "List and search orders", ("orders.view_order",)),
    Operation("orders.ship", "Ship a fulfilment", (ORDER_OPERATIONS,)),
    Operation("orders.exceptions", "Work the exception queue", (ORDER_OPERATIONS,)),
    Operation("payments.refund", "Refund a payment", (REFUND,)),
    Operation("payments.capture", "Capture a payment", (REFUND,)),
    Operation("payments.store_credit", "Issue store credit", (STORE_CREDIT,)),
    Operation("inventory.adjust", "Adjust stock with a reason", ("inventory.add_stockmovement",)),
    Operation("inventory.transfer", "Transfer stock between locations", ("inventory.add_transfer",)),
    Operation("inventory.purchase_order", "Draft a purchase order", ("inventory.add_purchaseorder",)),
    Operation("catalog.price", "Change a listing's price", ("catalog.change_channellisting",)),
    Operation("customers.view", "Read customers", ("customers.view_customer",)),
    Operation("customers.merge", "Merge two customers", ("customers.merge_customer",)),
    Operation(
        "catalog.undo_product_merge", "Undo a product merge", ("datahub.view_importjob", MERGE_PRODUCTS)
    ),
    Operation("search.synonyms", "Edit search synonyms", ("search.change_synonym",)),
)


def allows(role: Role, operation: Operation) -> bool:
    return set(operation.permissions) <= set(role.permissions)


def all_permissions() -> set[str]:
    return {p for role in ROLES for p in role.permissions}


@dataclass
class SyncReport:
    created: list[str]  # group names made now
    changed: list[str]  # groups whose permissions were corrected
    missing: list[str]  # listed permissions that do not exist in this database (skipped)


def _permission_ids() -> dict[str, int]:
    from django.contrib.auth.models import Permission

    wanted = all_permissions()
    labels = {p.split(".", 1)[0] for p in wanted}
    rows = Permission.objects.filter(content_type__app_label__in=labels).values_list(
        "pk", "content_type__app_label", "codename"
    )
    return {f"{app}.{codename}": pk for pk, app, codename in rows if f"{app}.{codename}" in wanted}


def ensure_roles() -> SyncReport:
    """Make every role's group exist with exactly its listed permissions (extras removed); idempotent.

    A listed permission that does not exist yet (its app's migration is not merged) is skipped and reported,
    never a crash: `omnishop roles sync` prints it, and a test fails if one is missing after all migrations."""
    from django.contrib.auth.models import Group

    report = SyncReport(created=[], changed=[], missing=[])
    with transaction.atomic():
        ids = _permission_ids()
        report.missing = sorted(all_permissions() - ids.keys())
        groups = {g.name: g for g in Group.objects.filter(name__in=[r.name for r in ROLES])}
        have: dict[int, set[int]] = {}
        through = Group.permissions.through
        for group_id, permission_id in through.objects.filter(group__in=groups.values()).values_list(
            "group_id", "permission_id"
        ):
            have.setdefault(group_id, set()).add(permission_id)
        for role in ROLES:
            group = groups.get(role.name)
            if group is None:
                group = Group.objects.create(name=role.name)
                report.created.append(role.name)
            wanted = {ids[p] for p in role.permissions if p in ids}
            if have.get(group.pk, set()) != wanted:
                group.permissions.set(wanted)
                if role.name not in report.created:
                    report.changed.append(role.name)
    return report


def assign(*, username: str, role_key: str) -> Role:
    """Put a user into a role's group (and make them staff, so they can sign in to the back-office)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from omnishop.core.errors import NotFound, ValidationFailed

    role = BY_KEY.get(role_key)
    if role is None:
        raise ValidationFailed(
            f"Unknown role {role_key!r}; one of: {', '.join(BY_KEY)}.", field="role", value=role_key
        )
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user {username!r}.", field="username")
    ensure_roles()
    with transaction.atomic():
        user.groups.add(Group.objects.get(name=role.name))
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return role


def roles_of(user) -> list[Role]:
    """The roles a user holds, in the order of ROLES (the first decides where /admin/ops/ lands them)."""
    names = {g.name for g in user.groups.all()}
    return [role for role in ROLES if role.name in names]


def operations_table() -> str:
    """The role matrix as a Markdown table: which role may do which operation (docs/backoffice.md)."""
    head = "| Operation | Permissions | " + " | ".join(r.name for r in ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [
        f"| {op.label} | {', '.join(f'`{p}`' for p in op.permissions)} | "
        + " | ".join("yes" if allows(r, op) else "no" for r in ROLES)
        + " |"
        for op in OPERATIONS
    ]
    return "\n".join([head, rule, *rows])


def permissions_table() -> str:
    """Every role's description, landing desk and permissions as a Markdown table."""
    rows = ["| Role (`key`) | What it is for | Lands on | Permissions |", "|---|---|---|---|"]
    for r in ROLES:
        perms = ", ".join(f"`{p}`" for p in r.permissions)
        rows.append(f"| {r.name} (`{r.key}`) | {r.description} | {r.desk} | {perms} |")
    return "\n".join(rows)
