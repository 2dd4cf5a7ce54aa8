"""Customers API: staff search and 360° views, channel keys recognising their shoppers, signed-in shoppers
managing their own profile, address book and preferences, and staff merging duplicates."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from omnishop.auth import channel_key, shopper, staff
from omnishop.core.errors import NotFound, ValidationFailed
from omnishop.core.http import dumps
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent, run_idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Fraction, Id, Int32, conform

from . import services
from .models import ChannelIdentity, Customer, CustomerPreferences, MergeRecord
from .schemas import (
    AddressIn,
    AddressOut,
    AddressPatch,
    ChannelCustomerOut,
    ChannelCustomerPage,
    Customer360Out,
    CustomerOut,
    CustomerPage,
    DistinctPairIn,
    DistinctPairOut,
    DuplicateOut,
    MergeIn,
    MergeOut,
    MergePage,
    PreferencesIn,
    PreferencesOut,
    ProfilePatch,
    ResolveIn,
    ResolveOut,
)

router = Router(tags=["customers"])
ORDERINGS = ("created_at", "updated_at", "last_name", "email", "id")

READ = [channel_key("customers:read"), staff("customers.view_customer")]
WRITE = [channel_key("customers:write"), staff("customers.add_customer")]
MERGE = [staff("customers.merge_customer")]


def _customer_view(
    request: HttpRequest, customer: Customer, own_identities: list | None = None
) -> Customer | dict:
    """Staff see the whole profile; a channel sees the name and only the contact details it gave us.

    For staff the customer itself (CustomerOut reads it, its resolvers need the model); for a channel the
    fields of ChannelCustomerOut, which CustomerOut cannot read (no `has_account`)."""
    if request.auth.kind != "channel":
        return customer
    own = own_identities
    if own is None:
        own = customer.identities.filter(channel=request.auth.channel).order_by("-last_seen_at", "-pk")
    email = next((i.email for i in own if i.email), "")
    phone = next((i.phone for i in own if i.phone), "")
    return ChannelCustomerOut(
        id=customer.pk,
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=email,
        phone=phone,
        created_at=customer.created_at,
    ).model_dump(mode="json")


def _visible_customer(request: HttpRequest, customer_id: int) -> Customer:
    qs = Customer.objects.filter(pk=customer_id)
    if request.auth.kind == "channel":
        qs = services.customers_on_channel(qs, request.auth.channel)
    customer = qs.first()
    if customer is None:
        raise services.CustomerNotFound(f"No customer {customer_id}.", field="customer_id")
    return customer


def _answer(status: int, schema, data) -> HttpResponse:
    """A ready-made answer validated against, and reduced to, the schema this caller gets (the operations
    answer staff and channels with different schemas), so it cannot drift from the contract. Where a schema
    holds the union of both customer views, pydantic's smart union picks the one that reads the most fields:
    CustomerOut for a Customer, ChannelCustomerOut for a channel's view (CustomerOut cannot read it)."""
    return HttpResponse(dumps(conform(schema, data)), status=status, content_type="application/json")


# --- the signed-in shopper ------------------------------------------------------------------------------


@router.get("/me", response={200: CustomerOut, **ERRORS}, auth=[shopper()])
def my_profile(request: HttpRequest):
    return request.auth.customer


@router.patch("/me", response={200: CustomerOut, **ERRORS}, auth=[shopper()])
def update_my_profile(request: HttpRequest, body: ProfilePatch):
    return services.update_profile(customer=request.auth.customer, **body.dict(exclude_unset=True))


@router.get("/me/addresses", response={200: list[AddressOut], **ERRORS}, auth=[shopper()])
def my_addresses(request: HttpRequest):
    return list(request.auth.customer.addresses.all())


@router.post("/me/addresses", response={201: AddressOut, **ERRORS}, auth=[shopper()])
def add_my_address(request: HttpRequest, body: AddressIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    customer = request.auth.customer
    return idempotent(
        request,
        idempotency_key,
        201,
        lambda: AddressOut.from_orm(services.add_address(customer=customer, **body.dict())),
    )


@router.patch("/me/addresses/{address_id}", response={200: AddressOut, **ERRORS}, auth=[shopper()])
def update_my_address(request: HttpRequest, address_id: Id, body: AddressPatch):
    address = services.get_address(customer=request.auth.customer, address_id=address_id)
    changes = body.dict(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None]
    if nulls:
        raise ValidationFailed(f"'{nulls[0]}' cannot be null; leave it out to keep it.", field=nulls[0])
    return services.update_address(address=address, **changes)


@router.delete("/me/addresses/{address_id}", response={204: None, **ERRORS}, auth=[shopper()])
def delete_my_address(request: HttpRequest, address_id: Id):
    services.delete_address(
        address=services.get_address(customer=request.auth.customer, address_id=address_id)
    )
    return Status(204, None)


def _preferences_out(customer: Customer) -> dict:
    prefs = CustomerPreferences.objects.filter(customer=customer).first()  # reading creates nothing
    return {
        "language": prefs.language if prefs else "",
        "favourite_categories": sorted(prefs.favourite_categories.values_list("pk", flat=True))
        if prefs
        else [],
        "marketing_consent": list(customer.consents.select_related("channel")),
    }


@router.get("/me/preferences", response={200: PreferencesOut, **ERRORS}, auth=[shopper()])
def my_preferences(request: HttpRequest):
    return _preferences_out(request.auth.customer)


@router.patch("/me/preferences", response={200: PreferencesOut, **ERRORS}, auth=[shopper()])
def update_my_preferences(request: HttpRequest, body: PreferencesIn):
    customer = request.auth.customer
    changes = body.dict(exclude_unset=True)
    services.update_preferences(
        customer=customer,
        language=changes.get("language"),
        favourite_category_ids=changes.get("favourite_categories"),
        consents=[
            services.ConsentChange(channel=c.channel, granted=c.granted) for c in body.marketing_consent
        ],
    )
    return _preferences_out(customer)


# --- duplicates and merges (staff) ----------------------------------------------------------------------


@router.get(
    "/duplicates", response={200: list[DuplicateOut], **ERRORS}, auth=[staff("customers.view_customer")]
)
def find_duplicates(request: HttpRequest, min_score: Fraction = 0.8, limit: Int32 = 100):
    if not 0 <= min_score <= 1:
        raise ValidationFailed("min_score must be between 0 and 1.", field="min_score")
    if not 1 <= limit <= 1000:
        raise ValidationFailed("limit must be between 1 and 1000.", field="limit")
    return [p.as_dict() for p in services.find_duplicates(min_score=min_score, limit=limit)]


@router.post("/duplicates/dismissals", response={201: DistinctPairOut, **ERRORS}, auth=MERGE)
def dismiss_duplicate(
    request: HttpRequest, body: DistinctPairIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Staff judged the pair to be two different people: it is not proposed again."""

    def build():
        pair = services.mark_distinct(
            customer_a=services.get_customer(body.customer_a),
            customer_b=services.get_customer(body.customer_b),
            actor=request.auth.user,
            note=body.note,
        )
        return DistinctPairOut.from_orm(pair)

    return idempotent(request, idempotency_key, 201, build)


@router.get("/merges", response={200: MergePage, **ERRORS}, auth=[staff("customers.view_mergerecord")])
def list_merges(
    request: HttpRequest, customer: Id | None = None, cursor: str | None = None, limit: Int32 = 50
):
    qs = MergeRecord.objects.all()
    if customer is not None:
        qs = qs.filter(survivor_id=customer) | qs.filter(merged_id=customer)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-id", allowed=("id",))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/merges", response={201: MergeOut, **ERRORS}, auth=MERGE)
def merge(request: HttpRequest, body: MergeIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    def build():
        survivor = services.get_customer(body.survivor)
        merged = services.get_customer(body.merged)
        record = services.merge_customers(
            survivor=survivor, merged=merged, actor=request.auth.user, reason=body.reason, score=body.score
        )
        return MergeOut.from_orm(record)

    return idempotent(request, idempotency_key, 201, build)


@router.post("/merges/{merge_id}/undo", response={200: MergeOut, **ERRORS}, auth=MERGE)
def undo_merge(request: HttpRequest, merge_id: Id):
    record = services.get_merge_record(merge_id)
    return services.undo_merge(record=record, actor=request.auth.user)


# --- customers (staff and channels) ---------------------------------------------------------------------


@router.get("", response={200: CustomerPage | ChannelCustomerPage, **ERRORS}, auth=READ)
def list_customers(
    request: HttpRequest,
    q: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    channel: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    include_merged: bool = False,
    ordering: str = "-created_at",
    cursor: str | None = None,
    limit: Int32 = Query(50),
):
    """Search customers. A channel key sees only customers who have an identity on its own channel."""
    is_channel = request.auth.kind == "channel"
    channel_obj = None
    if channel:
        from omnishop.channels.models import Channel

        channel_obj = Channel.objects.filter(code=channel).first()
        if channel_obj is None:
            raise services.ChannelNotFound(f"No channel '{channel}'.", field="channel")
    qs = services.search_customers(
        q=q,
        email=email,
        phone=phone,
        channel=channel_obj,
        visible_to_channel=request.auth.channel if is_channel else None,
        created_after=created_after,
        created_before=created_before,
        include_merged=include_merged and not is_channel,
    )
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=ORDERINGS)
    own: dict[int, list] = {c.pk: [] for c in page.items}
    if is_channel:  # one query for the page, not one per customer
        rows = ChannelIdentity.objects.filter(customer_id__in=own, channel=request.auth.channel)
        for identity in rows.order_by("-last_seen_at", "-pk"):
            own[identity.customer_id].append(identity)
    items = [_customer_view(request, c, own[c.pk] if is_channel else None) for c in page.items]
    schema = ChannelCustomerPage if is_channel else CustomerPage
    return _answer(200, schema, {"items": items, "next_cursor": page.next_cursor})


@router.post("", response={200: ResolveOut, 201: ResolveOut, **ERRORS}, auth=WRITE)
def resolve_customer(request: HttpRequest, body: ResolveIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Recognise a shopper from a channel (guest checkout, POS sale, marketplace order): the existing
    customer with that e-mail / phone / channel id, or a new one (201)."""
    from omnishop.channels.services import get_channel

    if request.auth.kind == "channel":
        if body.channel and body.channel != request.auth.channel.code:
            raise services.ChannelNotFound(
                "A channel key records customers on its own channel only.", field="channel"
            )
        channel = request.auth.channel
    else:
        if not body.channel:
            raise ValidationFailed("Staff must name the channel the customer came from.", field="channel")
        try:
            channel = get_channel(body.channel)
        except NotFound:
            raise services.ChannelNotFound(f"No channel '{body.channel}'.", field="channel") from None

    def work():
        result = services.resolve_customer(
            channel=channel,
            external_id=body.external_id,
            email=body.email,
            phone=body.phone,
            first_name=body.first_name,
            last_name=body.last_name,
        )
        data = {
            "customer": _customer_view(request, result.customer),
            "identity": result.identity,
            "created": result.created,
        }
        return (201 if result.created else 200), dumps(conform(ResolveOut, data))

    return run_idempotent(
        request,
        scope=request.auth.idempotency_scope,
        key=idempotency_key,
        operation=f"{request.method} {request.path}",
        work=work,
    )


@router.get("/{customer_id}", response={200: CustomerOut | ChannelCustomerOut, **ERRORS}, auth=READ)
def get_customer(request: HttpRequest, customer_id: Id):
    schema = ChannelCustomerOut if request.auth.kind == "channel" else CustomerOut
    return _answer(200, schema, _customer_view(request, _visible_customer(request, customer_id)))


@router.get("/{customer_id}/360", response={200: Customer360Out, **ERRORS}, auth=READ)
def customer_360(request: HttpRequest, customer_id: Id):
    """Profile, every channel identity, address book, preferences and orders across channels. A channel
    key gets the same shape limited to its own channel (no address book, no other channel's data)."""
    customer = _visible_customer(request, customer_id)
    channel = request.auth.channel if request.auth.kind == "channel" else None
    view = services.customer_360(customer=customer, channel=channel)
    prefs = view["preferences"]
    return _answer(
        200,
        Customer360Out,
        {
            "customer": _customer_view(request, customer),
            "identities": view["identities"],
            "addresses": view["addresses"],
            "preferences": {
                "language": prefs["language"],
                "favourite_categories": prefs["favourite_categories"],
                "marketing_consent": prefs["marketing_consent"],
            },
            "merged_from": view["merged_from"],
            "orders": view["orders"],
        },
    )
