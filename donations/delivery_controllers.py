"""Deliveries over HTTP: the officer's shipments and shortfall queue, the librarian's incoming
deliveries and receipt forms, receipt photos. Thin: parse, call :mod:`donations.deliveries`, render."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import File, Template
from sqlalchemy import select

from app.auth.guards import acting_user, librarian_only, officer_only, signed_in
from app.auth.models import Role, User
from app.errors import NotFound, ValidationFailed
from app.forms import form_data
from app.geography.models import Commune, Library
from app.i18n import _
from app.web import DbSession, flash, render, see_other
from donations import deliveries, delivery_queries, receipt_photos, services, shortfalls
from donations.models import Pledge, PledgeStatus, ShipmentReceipt, ShipmentSource, ShipmentStatus
from needs.models import ItemKind, Need


def whole_number(value: Any) -> int | None:
    """A form field as a whole number; None when empty, missing or not a whole number."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


async def _upload(form: Any, name: str, limit: int) -> bytes | None:
    """An uploaded file's bytes (at most one more than the limit, so "too large" is still seen),
    or None when no file was chosen."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = await upload.read(limit + 1)
    return content or None


async def _receipt_input(request: Request[Any, Any, Any]) -> tuple[dict[str, Any], int | None, bytes | None]:
    form = await request.form()
    values = form_data(form)
    values.pop("photo", None)
    photo = await _upload(form, "photo", request.app.state.settings.receipt_photo_max_bytes)
    return values, whole_number(values.get("quantity")), photo


class OfficerDeliveries(Controller):
    path = "/officer/deliveries"
    guards = [officer_only]

    @get("/", name="officer_deliveries")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession,
                    status: FromQuery[str | None] = None) -> Template:
        chosen = ShipmentStatus(status) if status in {s.value for s in ShipmentStatus} else None
        province = request.app.state.settings.province_code
        return render(
            request, "donations/officer_deliveries.html", fragment="donations/_shipment_list.html",
            waiting=await delivery_queries.waiting_for_shipment(db_session, province),
            shipments=await delivery_queries.shipments(db_session, province, chosen),
            shortfalls=len(await delivery_queries.open_shortfalls(db_session, province)),
            status=chosen, statuses=list(ShipmentStatus), sources=list(ShipmentSource),
        )

    @post("/", name="officer_shipment_create")
    async def create(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        form = await request.form()
        values = form_data(form)
        chosen = form.getall("allocation") if "allocation" in form else []
        ids = [i for i in (whole_number(v) for v in chosen) if i is not None]
        commune = whole_number(values.get("commune_code"))
        source = values.get("source") or ShipmentSource.HUB.value
        if commune is None or source not in {s.value for s in ShipmentSource}:
            raise ValidationFailed({"commune_code": _("Choose the allocations of one commune.")})
        shipment = await deliveries.create_shipment(
            db_session, acting_user(request), commune, ids, ShipmentSource(source),
            values.get("carrier") or "", values.get("note") or "")
        flash(request, _("Shipment %(code)s planned.", code=shipment.code))
        return see_other(request, f"/officer/deliveries/{shipment.id}")

    @get("/{shipment_id:int}", name="officer_shipment")
    async def detail(self, request: Request[Any, Any, Any], db_session: DbSession,
                     shipment_id: FromPath[int]) -> Template:
        shipment = await deliveries.get_shipment(db_session, shipment_id)
        view = await delivery_queries.shipment_view(db_session, shipment)
        return render(request, "donations/shipment.html", view=view)

    @post("/{shipment_id:int}/dispatch", name="officer_shipment_dispatch")
    async def dispatch(self, request: Request[Any, Any, Any], db_session: DbSession,
                       shipment_id: FromPath[int]) -> Response[Any]:
        values = form_data(await request.form())
        shipment = await deliveries.get_shipment(db_session, shipment_id, for_update=True)
        await deliveries.dispatch(db_session, acting_user(request), shipment, values.get("carrier"))
        flash(request, _("Shipment %(code)s dispatched.", code=shipment.code))
        return see_other(request, f"/officer/deliveries/{shipment.id}")

    @post("/{shipment_id:int}/cancel", name="officer_shipment_cancel")
    async def cancel(self, request: Request[Any, Any, Any], db_session: DbSession,
                     shipment_id: FromPath[int]) -> Response[Any]:
        shipment = await deliveries.get_shipment(db_session, shipment_id, for_update=True)
        await deliveries.cancel_shipment(db_session, acting_user(request), shipment)
        flash(request, _("Shipment %(code)s canceled: its allocations wait for another shipment.", code=shipment.code))
        return see_other(request, "/officer/deliveries")

    @post("/{shipment_id:int}/deliver", name="officer_shipment_deliver")
    async def deliver(self, request: Request[Any, Any, Any], db_session: DbSession,
                      shipment_id: FromPath[int]) -> Response[Any]:
        shipment = await deliveries.get_shipment(db_session, shipment_id, for_update=True)
        await deliveries.mark_delivered(db_session, acting_user(request), shipment)
        flash(request, _("Shipment %(code)s delivered.", code=shipment.code))
        return see_other(request, f"/officer/deliveries/{shipment.id}")

    async def _shortfalls(self, request: Request[Any, Any, Any], db_session: DbSession, *, status_code: int = 200,
                          errors: dict[str, str] | None = None, receipt_id: int | None = None,
                          action: str | None = None, values: dict[str, Any] | None = None) -> Template:
        province = request.app.state.settings.province_code
        return render(request, "donations/shortfalls.html", status_code=status_code,
                      rows=await delivery_queries.open_shortfalls(db_session, province),
                      resolved=await delivery_queries.shortfalls(db_session, province, resolved=True, limit=20),
                      errors=errors or {}, error_receipt=receipt_id, error_action=action, values=values or {})

    @get("/shortfalls", name="officer_shortfalls")
    async def shortfalls(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._shortfalls(request, db_session)

    async def _resolve(self, request: Request[Any, Any, Any], db_session: DbSession, receipt_id: int,
                       action: str) -> Response[Any]:
        values = form_data(await request.form())
        raw = str(values.get("quantity") or "").strip()  # empty: every missing item; not a number: refused
        quantity = None if not raw else (whole_number(raw) or 0)
        province = request.app.state.settings.province_code
        user = acting_user(request)
        try:
            if action == "resend":
                allocation = await shortfalls.resend(db_session, user, receipt_id, province, values.get("note"),
                                                     quantity)
                flash(request, _("The missing items will be sent again: shipment GH-%(id)05d is planned.",
                                 id=allocation.shipment_id))
            elif action == "release":
                receipt = await shortfalls.release(db_session, user, receipt_id, province, values.get("note"),
                                                   quantity)
                flash(request, _("The missing items were given back to the need; the sponsor is told.")
                      if receipt.unresolved == 0 else _("Released. Some missing items are still to be resolved."))
            else:
                await shortfalls.mark_handled(db_session, user, receipt_id, province, values.get("note"))
                flash(request, _("Shortfall marked as handled."))
        except ValidationFailed as exc:  # checked before anything was written
            return await self._shortfalls(request, db_session, status_code=422, errors=exc.errors,
                                          receipt_id=receipt_id, action=action, values=values)
        return see_other(request, "/officer/deliveries/shortfalls")

    @post("/shortfalls/{receipt_id:int}", name="officer_shortfall_handle")
    async def handle(self, request: Request[Any, Any, Any], db_session: DbSession,
                     receipt_id: FromPath[int]) -> Response[Any]:
        """The missing items were replaced outside the platform (see :mod:`donations.shortfalls`)."""
        return await self._resolve(request, db_session, receipt_id, "handle")

    @post("/shortfalls/{receipt_id:int}/resend", name="officer_shortfall_resend")
    async def resend(self, request: Request[Any, Any, Any], db_session: DbSession,
                     receipt_id: FromPath[int]) -> Response[Any]:
        return await self._resolve(request, db_session, receipt_id, "resend")

    @post("/shortfalls/{receipt_id:int}/release", name="officer_shortfall_release")
    async def release(self, request: Request[Any, Any, Any], db_session: DbSession,
                      receipt_id: FromPath[int]) -> Response[Any]:
        return await self._resolve(request, db_session, receipt_id, "release")


class LibraryDeliveries(Controller):
    """The librarian's incoming deliveries: one receipt form per line."""

    path = "/library/deliveries"
    guards = [librarian_only]

    async def _page(self, request: Request[Any, Any, Any], db_session: DbSession, *, status_code: int = 200,
                    errors: dict[str, str] | None = None, line: int | None = None,
                    values: dict[str, Any] | None = None) -> Template:
        user = acting_user(request)
        library = await db_session.get(Library, user.library_id) if user.library_id else None
        commune = await db_session.get(Commune, library.commune_code) if library else None
        return render(request, "donations/library_deliveries.html", status_code=status_code,
                      views=await delivery_queries.incoming(db_session, user), commune=commune,
                      errors=errors or {}, error_line=line, values=values or {},
                      max_mb=request.app.state.settings.receipt_photo_max_bytes // (1024 * 1024))

    @get("/", name="library_deliveries")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._page(request, db_session)

    @post("/{shipment_id:int}/lines/{allocation_id:int}", name="library_delivery_receipt")
    async def confirm(self, request: Request[Any, Any, Any], db_session: DbSession, shipment_id: FromPath[int],
                      allocation_id: FromPath[int]) -> Response[Any]:
        values, quantity, photo = await _receipt_input(request)
        try:
            receipt = await deliveries.confirm_receipt(
                db_session, acting_user(request), request.app.state.settings, shipment_id, allocation_id,
                quantity, values.get("note"), photo)
        except ValidationFailed as exc:  # checked before anything was written
            return await self._page(request, db_session, status_code=422, errors=exc.errors, line=allocation_id,
                                    values=values)
        _flash_receipt(request, receipt)
        return see_other(request, "/library/deliveries")


def _flash_receipt(request: Request[Any, Any, Any], receipt: ShipmentReceipt) -> None:
    if receipt.shortfall:
        flash(request, _("Receipt confirmed. The province is told that %(n)s items are missing.", n=receipt.shortfall))
    else:
        flash(request, _("Receipt confirmed. Thank you!"))


class LibrarySponsorGoods(Controller):
    """Goods a sponsor brings straight to the commune: the librarian confirms what arrived."""

    path = "/library/pledges"
    guards = [librarian_only]

    async def _page(self, request: Request[Any, Any, Any], db_session: DbSession, *, status_code: int = 200,
                    errors: dict[str, str] | None = None, reference: str | None = None,
                    values: dict[str, Any] | None = None) -> Template:
        user = acting_user(request)
        # What is coming and from whom, so that the librarian knows the box when it arrives.
        rows = (await db_session.execute(
            select(Pledge, Need, ItemKind, User).join(Need, Pledge.need_id == Need.id)
            .join(ItemKind, ItemKind.key == Need.item_kind_key).join(User, User.id == Pledge.sponsor_id)
            .where(Need.library_id == user.library_id, Pledge.status == PledgeStatus.AWAITING_DELIVERY)
            .order_by(Pledge.created_at))).all()
        return render(request, "donations/library_pledges.html", status_code=status_code, rows=rows,
                      errors=errors or {}, error_reference=reference, values=values or {},
                      max_mb=request.app.state.settings.receipt_photo_max_bytes // (1024 * 1024))

    @get("/", name="library_pledges")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        return await self._page(request, db_session)

    @post("/{reference:str}/receive", name="library_pledge_receive")
    async def receive(self, request: Request[Any, Any, Any], db_session: DbSession,
                      reference: FromPath[str]) -> Response[Any]:
        values, quantity, photo = await _receipt_input(request)
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        try:
            receipt = await deliveries.receive_from_sponsor(
                db_session, acting_user(request), request.app.state.settings, pledge, quantity,
                values.get("note"), photo)
        except ValidationFailed as exc:  # checked before anything was written
            return await self._page(request, db_session, status_code=422, errors=exc.errors, reference=reference,
                                    values=values)
        _flash_receipt(request, receipt)
        return see_other(request, "/library/pledges")


class ReceiptPhotos(Controller):
    path = "/deliveries/receipts"
    guards = [signed_in]

    @get("/{receipt_id:int}/photo", name="receipt_photo")
    async def photo(self, request: Request[Any, Any, Any], db_session: DbSession, receipt_id: FromPath[int]) -> File:
        """For officers, the commune's librarians and the pledge's sponsor."""
        receipt = await db_session.get(ShipmentReceipt, receipt_id)
        user = acting_user(request)
        if receipt is None or receipt.photo_path is None:
            raise NotFound(_("No such photo."))
        allowed = user.role == Role.OFFICER
        if user.role == Role.LIBRARIAN and user.library_id:
            library = await db_session.get(Library, user.library_id)
            allowed = library is not None and library.commune_code == receipt.commune_code
        if user.role == Role.SPONSOR:
            pledge = await db_session.get(Pledge, receipt.pledge_id)
            allowed = pledge is not None and pledge.sponsor_id == user.id
        if not allowed:
            raise NotFound(_("No such photo."))
        path, media_type = receipt_photos.photo_file(request.app.state.settings.upload_dir, receipt.photo_path)
        return File(path=path, media_type=media_type, content_disposition_type="inline",
                    headers={"Cache-Control": "private, max-age=86400"})


ROUTE_HANDLERS = [OfficerDeliveries, LibraryDeliveries, LibrarySponsorGoods, ReceiptPhotos]
