"""Back-office inventory endpoints: locations and channel set-up, stock and ledger, receipts and
adjustments, transfers, cycle counts and low-stock alerts."""

from __future__ import annotations

from django.db.models import F, Q
from django.http import HttpRequest

from omnishop.auth import staff
from omnishop.core.errors import NotFound
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Id, Int32

from .. import services
from ..models import (
    ChannelLocation,
    CycleCount,
    LowStockAlert,
    StockLevel,
    StockLocation,
    StockMovement,
    Transfer,
)
from ..schemas import (
    AdjustmentIn,
    AlertPage,
    ChannelLocationOut,
    ChannelLocationsIn,
    CountCompleteIn,
    CountIn,
    CountOut,
    LocationIn,
    LocationOut,
    LocationPage,
    MovementOut,
    MovementPage,
    PolicyIn,
    PolicyOut,
    ReceiptIn,
    StockPage,
    TransferIn,
    TransferOut,
    TransferPage,
)
from .common import READ, actor, router, visible_channel

MOVE = [staff("inventory.add_stockmovement")]


# --- locations and channels ---------------------------------------------------------------------------


@router.get("/locations", response={200: LocationPage, **ERRORS}, auth=READ)
def list_locations(
    request: HttpRequest,
    kind: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
    ordering: str = "code",
):
    """Staff see every location; a channel key sees the locations that serve its channel."""
    qs = StockLocation.objects.all()
    if request.auth.kind == "channel":
        qs = qs.filter(channel_links__channel=request.auth.channel)
    if kind:
        qs = qs.filter(kind=kind)
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=("code", "name", "created_at"))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/locations", response={201: LocationOut, **ERRORS}, auth=[staff("inventory.add_stocklocation")])
def create_location(request: HttpRequest, body: LocationIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    return idempotent(
        request, idempotency_key, 201, lambda: LocationOut.from_orm(services.create_location(**body.dict()))
    )


@router.get("/locations/{code}", response={200: LocationOut, **ERRORS}, auth=READ)
def get_location(request: HttpRequest, code: str):
    location = services.location_by_code(code, field="code", in_body=False)
    if (
        request.auth.kind == "channel"
        and not location.channel_links.filter(channel=request.auth.channel).exists()
    ):
        raise NotFound(f"No stock location '{code}'.", field="code")
    return location


def _links(channel) -> list[dict]:
    return [
        {"location": x.location.code, "priority": x.priority}
        for x in ChannelLocation.objects.filter(channel=channel)
        .select_related("location")
        .order_by("priority")
    ]


@router.get("/channels/{code}/locations", response={200: list[ChannelLocationOut], **ERRORS}, auth=READ)
def get_channel_locations(request: HttpRequest, code: str):
    return _links(visible_channel(request, code))


@router.put(
    "/channels/{code}/locations",
    response={200: list[ChannelLocationOut], **ERRORS},
    auth=[staff("inventory.change_channellocation")],
)
def put_channel_locations(request: HttpRequest, code: str, body: ChannelLocationsIn):
    """Replace the locations serving a channel; the first has the highest priority."""
    channel = visible_channel(request, code)
    services.set_channel_locations(channel=channel, location_codes=body.locations)
    return _links(channel)


@router.get("/channels/{code}/policy", response={200: PolicyOut, **ERRORS}, auth=READ)
def get_policy(request: HttpRequest, code: str):
    return services.get_policy(channel=visible_channel(request, code))


@router.put(
    "/channels/{code}/policy",
    response={200: PolicyOut, **ERRORS},
    auth=[staff("inventory.change_channelinventorypolicy")],
)
def put_policy(request: HttpRequest, code: str, body: PolicyIn):
    """Change reservation TTL, maximum hold, safety buffer, quota or allocation strategy (omitted = kept)."""
    channel = visible_channel(request, code)
    fields = body.dict(exclude_none=True)
    if fields.pop("clear_quota", False):
        fields["quota_percent"] = None
    return services.set_policy(channel=channel, **fields)


# --- stock and ledger -----------------------------------------------------------------------------------


@router.get("/stock", response={200: StockPage, **ERRORS}, auth=[staff("inventory.view_stocklevel")])
def list_stock(
    request: HttpRequest,
    sku: str | None = None,
    location: str | None = None,
    below_reorder_point: bool = False,
    cursor: str | None = None,
    limit: Int32 = 50,
    ordering: str = "id",
):
    qs = StockLevel.objects.select_related("variant", "location")
    if sku:
        qs = qs.filter(variant__sku=sku)
    if location:
        qs = qs.filter(location__code=location)
    if below_reorder_point:
        qs = qs.annotate(free_units=F("on_hand") - F("allocated") - F("reserved")).filter(
            reorder_point__isnull=False, free_units__lt=F("reorder_point")
        )
    page = paginate(
        qs, cursor=cursor, limit=limit, ordering=ordering, allowed=("id", "updated_at", "on_hand")
    )
    if request.auth.user.has_perm("inventory.view_cost"):  # costs are the buyers' data
        valuations = services.valuations_of((x.variant_id, x.location_id) for x in page.items)
        for level in page.items:
            level.valuation = valuations.get((level.variant_id, level.location_id))
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/movements", response={200: MovementPage, **ERRORS}, auth=[staff("inventory.view_stockmovement")]
)
def list_movements(
    request: HttpRequest,
    sku: str | None = None,
    location: str | None = None,
    kind: str | None = None,
    reference: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
    ordering: str = "-id",
):
    """The ledger, newest first by default."""
    qs = StockMovement.objects.select_related("variant", "location")
    for value, lookup in (
        (sku, "variant__sku"),
        (location, "location__code"),
        (kind, "kind"),
        (reference, "reference"),
    ):
        if value:
            qs = qs.filter(**{lookup: value})
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=("id", "created_at"))
    return {"items": page.items, "next_cursor": page.next_cursor}


def _variant_and_location(sku: str, code: str):
    return services.variants_by_sku([sku])[sku], services.location_by_code(code)


@router.post("/receipts", response={201: MovementOut, **ERRORS}, auth=MOVE)
def create_receipt(request: HttpRequest, body: ReceiptIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Goods in without a purchase order (opening stock, found stock)."""

    def build():
        variant, location = _variant_and_location(body.sku, body.location)
        movement = services.receive_stock(
            variant=variant,
            location=location,
            quantity=body.quantity,
            reference_type="receipt",
            reference=body.reference,
            actor=actor(request),
        )
        return MovementOut.from_orm(movement)

    return idempotent(request, idempotency_key, 201, build)


@router.post("/adjustments", response={201: MovementOut, **ERRORS}, auth=MOVE)
def create_adjustment(
    request: HttpRequest, body: AdjustmentIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Correct on_hand with a reason code (damaged, lost, found, …); only free units can be removed."""

    def build():
        variant, location = _variant_and_location(body.sku, body.location)
        movement = services.adjust_stock(
            variant=variant,
            location=location,
            delta=body.delta,
            reason_code=body.reason_code,
            note=body.note,
            actor=actor(request),
        )
        return MovementOut.from_orm(movement)

    return idempotent(request, idempotency_key, 201, build)


# --- transfers ----------------------------------------------------------------------------------------


def transfer_out(t: Transfer) -> dict:
    return {
        "id": t.pk,
        "source": t.source.code,
        "destination": t.destination.code,
        "status": t.status,
        "note": t.note,
        "created_at": t.created_at,
        "dispatched_at": t.dispatched_at,
        "received_at": t.received_at,
        "lines": [{"sku": x.variant.sku, "quantity": x.quantity} for x in t.lines.select_related("variant")],
    }


def _transfer(pk: int) -> Transfer:
    transfer = Transfer.objects.select_related("source", "destination").filter(pk=pk).first()
    if transfer is None:
        raise NotFound(f"No transfer {pk}.", field="id")
    return transfer


@router.get("/transfers", response={200: TransferPage, **ERRORS}, auth=[staff("inventory.view_transfer")])
def list_transfers(
    request: HttpRequest,
    status: str | None = None,
    location: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
):
    qs = Transfer.objects.select_related("source", "destination")
    if status:
        qs = qs.filter(status=status)
    if location:
        qs = qs.filter(Q(source__code=location) | Q(destination__code=location))
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-id", allowed=("id",))
    return {"items": [transfer_out(t) for t in page.items], "next_cursor": page.next_cursor}


@router.post("/transfers", response={201: TransferOut, **ERRORS}, auth=[staff("inventory.add_transfer")])
def create_transfer(request: HttpRequest, body: TransferIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    def build():
        transfer = services.request_transfer(
            source=services.location_by_code(body.source, field="source"),
            destination=services.location_by_code(body.destination, field="destination"),
            lines=[services.SkuQuantity(x.sku, x.quantity) for x in body.lines],
            note=body.note,
            actor=actor(request),
        )
        return transfer_out(transfer)

    return idempotent(request, idempotency_key, 201, build, schema=TransferOut)


@router.get(
    "/transfers/{int:transfer_id}",
    response={200: TransferOut, **ERRORS},
    auth=[staff("inventory.view_transfer")],
)
def get_transfer(request: HttpRequest, transfer_id: Id):
    return transfer_out(_transfer(transfer_id))


@router.post(
    "/transfers/{int:transfer_id}/{action}",
    response={200: TransferOut, **ERRORS},
    auth=[staff("inventory.change_transfer")],
)
def act_on_transfer(request: HttpRequest, transfer_id: Id, action: str):
    """`dispatch` (transfer-out movements), `receive` (transfer-in movements) or `cancel` (before dispatch)."""
    transfer = _transfer(transfer_id)
    if action == "dispatch":
        transfer = services.dispatch_transfer(transfer=transfer, actor=actor(request))
    elif action == "receive":
        transfer = services.receive_transfer(transfer=transfer, actor=actor(request))
    elif action == "cancel":
        transfer = services.cancel_transfer(transfer=transfer)
    else:
        raise NotFound(f"No transfer action '{action}' (dispatch, receive, cancel).", field="action")
    return transfer_out(_transfer(transfer.pk))


# --- cycle counts ---------------------------------------------------------------------------------------


def count_out(c: CycleCount) -> dict:
    return {
        "id": c.pk,
        "location": c.location.code,
        "status": c.status,
        "created_at": c.created_at,
        "completed_at": c.completed_at,
        "lines": [
            {"sku": x.variant.sku, "expected": x.expected, "counted": x.counted}
            for x in c.lines.select_related("variant")
        ],
    }


def _count(pk: int) -> CycleCount:
    count = CycleCount.objects.select_related("location").filter(pk=pk).first()
    if count is None:
        raise NotFound(f"No count {pk}.", field="id")
    return count


@router.post("/counts", response={201: CountOut, **ERRORS}, auth=MOVE)
def start_count(request: HttpRequest, body: CountIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Open a count sheet for a location (one open count per location)."""
    return idempotent(
        request,
        idempotency_key,
        201,
        lambda: count_out(
            services.start_count(location=services.location_by_code(body.location), actor=actor(request))
        ),
        schema=CountOut,
    )


@router.get(
    "/counts/{int:count_id}", response={200: CountOut, **ERRORS}, auth=[staff("inventory.view_stockmovement")]
)
def get_count(request: HttpRequest, count_id: Id):
    return count_out(_count(count_id))


@router.post("/counts/{int:count_id}/complete", response={200: CountOut, **ERRORS}, auth=MOVE)
def complete_count(request: HttpRequest, count_id: Id, body: CountCompleteIn):
    """Book the counted quantities: cycle-count movements for every difference."""
    count = services.complete_count(
        count=_count(count_id),
        lines=[services.SkuQuantity(x.sku, x.counted) for x in body.lines],
        actor=actor(request),
    )
    return count_out(_count(count.pk))


@router.post("/counts/{int:count_id}/cancel", response={200: CountOut, **ERRORS}, auth=MOVE)
def cancel_count(request: HttpRequest, count_id: Id):
    return count_out(services.cancel_count(count=_count(count_id)))


# --- alerts -------------------------------------------------------------------------------------------


@router.get("/alerts", response={200: AlertPage, **ERRORS}, auth=[staff("inventory.view_lowstockalert")])
def list_alerts(
    request: HttpRequest,
    open_only: bool = True,
    location: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
):
    """Low-stock alerts: free stock fell under the reorder point."""
    qs = LowStockAlert.objects.select_related("variant", "location")
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    if location:
        qs = qs.filter(location__code=location)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="-id", allowed=("id",))
    return {
        "items": [
            {
                "id": a.pk,
                "sku": a.variant.sku,
                "location": a.location.code,
                "free": a.free,
                "reorder_point": a.reorder_point,
                "created_at": a.created_at,
                "resolved_at": a.resolved_at,
            }
            for a in page.items
        ],
        "next_cursor": page.next_cursor,
    }
