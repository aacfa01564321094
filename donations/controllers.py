"""Pledging and paying over HTTP: the sponsor's forms and pledge page, card payment, the
officer's refund, and Stripe's webhook endpoint."""

from __future__ import annotations

from typing import Any

import stripe
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select

from app.auth.guards import acting_user, officer_only, signed_in, sponsor_only
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.forms import form_data, validate
from app.geography.models import Commune, Library
from app.i18n import _, lazy
from app.payments import vietqr
from app.payments.registry import PaymentState, ProviderRegistry
from app.payments.stripe_client import StripeNotConfigured, verify_webhook
from app.web import DbSession, flash, render, see_other
from donations import allocation, services
from donations.models import Condition, Delivery, Payment, Pledge, PledgeKind, PledgeStatus
from donations.schemas import PledgeIn, RefundIn
from donations.webhooks import handle_stripe_event
from needs.controllers import item_kinds
from needs.models import ItemKind, Need, NeedStatus

# Stripe's decline codes, in the sponsor's language (Stripe's own messages are in English).
DECLINE_REASONS = {
    "card_declined": lazy("the issuing bank declined the card. Try another card or pay by bank transfer."),
    "insufficient_funds": lazy("not enough funds on the card."),
    "expired_card": lazy("the card has expired."),
    "incorrect_cvc": lazy("the security code (CVC) is wrong."),
    "processing_error": lazy("the card could not be processed. Try again in a moment."),
}
NO_REASON = lazy("the bank gave no reason. Try another card or pay by bank transfer.")


def _providers(state: State) -> ProviderRegistry:
    return state.payment_providers  # type: ignore[no-any-return]


def _pledge_data(values: dict[str, Any]) -> dict[str, Any]:
    """Form fields → PledgeIn input (multi-selects and the anonymous box)."""
    data = {k: v for k, v in values.items() if k in PledgeIn.model_fields and v not in (None, "")}
    data["anonymous"] = values.get("anonymous") == "on"
    for many in ("allowed_communes", "allowed_items"):
        if many in data and not isinstance(data[many], list):
            data[many] = [data[many]]
    return data


async def _form_context(
    db: DbSession, request: Request[Any, Any, Any], values: dict[str, Any], errors: dict[str, str], need: Need | None
) -> dict[str, Any]:
    settings = request.app.state.settings
    communes = list(
        await db.scalars(
            select(Commune).where(Commune.province_code == settings.province_code).order_by(Commune.name_folded)
        )
    )
    context: dict[str, Any] = {
        "values": values,
        "errors": errors,
        "need": need,
        "communes": communes,
        "kinds": await item_kinds(db),
        "deliveries": list(Delivery),
        "conditions": list(Condition),
        "min_money": services.MIN_MONEY_PLEDGE,
        "unit_value_floor": services.UNIT_VALUE_FLOOR_PERCENT,
        "unit_value_ceiling": services.UNIT_VALUE_CEILING_TIMES,
    }
    if need is not None:
        context["library"] = await db.get(Library, need.library_id)
        context["commune"] = await db.get(Commune, need.commune_code)
        context["item_kind"] = next(k for k in context["kinds"] if k.key == need.item_kind_key)
    return context


def _values(form: Any) -> dict[str, Any]:
    """A pledge form's fields (from a POST body or a query string), multi-selects as lists."""
    values = form_data(form)
    for many in ("allowed_communes", "allowed_items"):
        values[many] = form.getall(many) if many in form else None
    return values


async def _goods_context(db: DbSession, pledge: Pledge, need: Need | None, settings: Any) -> dict[str, Any]:
    """What the pledge page says about books or equipment: the item's name, and where the sponsor
    brings them (the province hub's address, or the receiving library's address and librarians)."""
    if pledge.kind == PledgeKind.MONEY:
        return {}
    kind = await db.get(ItemKind, pledge.item_kind_key) if pledge.item_kind_key else None
    context: dict[str, Any] = {"item_name": kind.name if kind else pledge.item_kind_key}
    if pledge.delivery == Delivery.TO_HUB:
        context["hub_address"] = settings.hub_address
    elif pledge.delivery == Delivery.TO_COMMUNE:
        where = Library.id == need.library_id if need else Library.commune_code == pledge.commune_code
        libraries = list(await db.scalars(select(Library).where(where).order_by(Library.name_folded)))
        librarians = list(await db.scalars(
            select(User).where(User.library_id.in_([lib.id for lib in libraries]), User.role == Role.LIBRARIAN,
                               User.is_active.is_(True)).order_by(User.id)))
        context["libraries"] = [(lib, [u for u in librarians if u.library_id == lib.id]) for lib in libraries]
    return context


async def _already_paid(db: DbSession, reference: str) -> bool:
    """Whether the pledge's money is confirmed, as committed (read afresh)."""
    pledge = await db.scalar(select(Pledge).where(Pledge.reference == reference)
                             .execution_options(populate_existing=True))
    return pledge is not None and pledge.status not in (PledgeStatus.PLEDGED, PledgeStatus.AWAITING_PAYMENT) and (
        await db.scalar(select(Payment.id).where(Payment.pledge_id == pledge.id,
                                                 Payment.state == PaymentState.CONFIRMED)) is not None)


def _can_see(user: User, pledge: Pledge) -> bool:
    return user.role == Role.OFFICER or user.id == pledge.sponsor_id


class PledgeController(Controller):
    guards = [signed_in]

    @get("/give", name="pledge_new", guards=[sponsor_only])
    async def new(
        self, request: Request[Any, Any, Any], db_session: DbSession, need: FromQuery[int | None] = None,
        commune: FromQuery[int | None] = None,
    ) -> Template:
        """The pledge form: to a need (``?need=``), a commune (``?commune=``, from its page) or the pool."""
        target = await db_session.get(Need, need) if need else None
        if need and (target is None or target.status != NeedStatus.OPEN):
            raise NotFound(_("This need is not open for pledges."))
        values = {"kind": "money", "target": "need" if target else "pool", "need_id": need, "quantity": 1}
        if target is None and commune is not None:
            values.update(target="commune", commune_code=str(commune))
        return render(
            request, "donations/pledge_form.html", **await _form_context(db_session, request, values, {}, target)
        )

    @get("/give/preview", name="gift_preview", guards=[sponsor_only])
    async def preview(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        """Where would my gift go: the fair-share matching run on today's state plus this gift,
        before it is pledged. The whole form with the answer, or (htmx) just the answer."""
        values = _values(request.query_params)
        values.pop("_csrf_token", None)
        settings = request.app.state.settings
        context = await _form_context(db_session, request, values, {}, None)
        context["kind_names"] = {k.key: k.name for k in context["kinds"]}
        context["previewing"] = True
        try:
            if values.get("target") not in ("pool", "commune"):
                raise ValidationFailed({"target": _("The preview is for gifts to the pool or to a commune.")})
            # Where the sponsor brings items does not change where they go.
            data = validate(PledgeIn, {"delivery": "to_hub", **_pledge_data(values)})
            gift = await services.build_pledge(db_session, acting_user(request), data, settings)
            context["preview"] = await allocation.gift_preview(db_session, settings.province_code, gift)
            context["gift"] = gift
            context["gift_commune"] = next((c for c in context["communes"] if c.code == gift.commune_code), None)
        except ValidationFailed as exc:
            context["errors"] = exc.errors
            return render(request, "donations/pledge_form.html", fragment="donations/_gift_preview.html",
                          status_code=422, **context)
        return render(request, "donations/pledge_form.html", fragment="donations/_gift_preview.html", **context)

    @post("/give", name="pledge_create", guards=[sponsor_only])
    async def create(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        values = _values(await request.form())
        need = await db_session.get(Need, int(values["need_id"])) if (values.get("need_id") or "").isdigit() else None
        try:
            data = validate(PledgeIn, _pledge_data(values))
            pledge = await services.create_pledge(db_session, acting_user(request), data, request.app.state.settings)
        except ValidationFailed as exc:
            errors = exc.errors
            if "need_id" in errors and values.get("need_id") and need is None:
                errors = {**errors, "need_id": _("No such need.")}  # not "Enter a whole number" for a hidden field
            return render(
                request,
                "donations/pledge_form.html",
                status_code=422,
                **await _form_context(db_session, request, values, errors, need),
            )
        flash(request, _("Thank you! Your pledge %(ref)s is recorded.", ref=pledge.reference))
        return see_other(request, f"/pledges/{pledge.reference}")

    @get("/pledges/{reference:str}", name="pledge_page")
    async def page(self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]) -> Template:
        pledge = await services.get_pledge(db_session, reference)
        user = acting_user(request)
        if not _can_see(user, pledge):
            raise NotFound(_("No such pledge."))
        registry = _providers(request.app.state)
        pending = services.open_payment(pledge)
        pending_view = registry.get(pending.provider).render_pending(pending) if pending else None
        need = await db_session.get(Need, pledge.need_id) if pledge.need_id else None
        return render(
            request,
            "donations/pledge.html",
            pledge=pledge,
            pending=pending,
            pending_view=pending_view,
            providers=[p for p in registry.all() if getattr(p, "enabled", False)],
            need=need,
            commune=await db_session.get(Commune, pledge.commune_code) if pledge.commune_code else None,
            confirmed=services.confirmed_payment(pledge),
            # Past its time limit, not yet expired by the daily job: say so, not "pay by" a past day.
            overdue=pledge.expires_at is not None and pledge.expires_at < utcnow() and pledge.status in (
                PledgeStatus.AWAITING_PAYMENT, PledgeStatus.AWAITING_DELIVERY),
            is_officer=user.role == Role.OFFICER,
            **await _goods_context(db_session, pledge, need, request.app.state.settings),
        )

    @get("/pledges/{reference:str}/vietqr.png", name="pledge_vietqr_png")
    async def vietqr_png(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[bytes]:
        """The pending bank transfer's VietQR code as an image, for the sponsor to save on a phone
        and open in a banking app."""
        pledge = await services.get_pledge(db_session, reference)
        if acting_user(request).id != pledge.sponsor_id:
            raise NotFound(_("No such pledge."))
        pending = services.open_payment(pledge, "bank_transfer")
        if pending is None or pledge.status != PledgeStatus.AWAITING_PAYMENT:
            raise NotFound(_("This pledge is not waiting for a bank transfer."))
        payload = _providers(request.app.state).get("bank_transfer").render_pending(pending)["payload"]
        return Response(vietqr.png(payload), media_type="image/png", headers={
            "content-disposition": f'attachment; filename="VietQR-{pledge.reference}.png"',
            "cache-control": "private, no-store"})

    @post("/pledges/{reference:str}/pay/{provider:str}", name="pledge_pay")
    async def pay(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str], provider: FromPath[str]
    ) -> Response[Any]:
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        user = acting_user(request)
        if user.id != pledge.sponsor_id:
            raise NotFound(_("No such pledge."))
        chosen = _providers(request.app.state).get(provider)
        if not getattr(chosen, "enabled", False):
            raise NotFound(_("Unknown payment method."))
        for old in pledge.payments:  # one open attempt at a time: switching methods cancels the other
            if old.state in (PaymentState.CREATED, PaymentState.PENDING):
                services.set_payment_state(db_session, user.id, old, PaymentState.CANCELED, "another method chosen")
        await services.write_payment(db_session)
        payment = await services.new_payment(db_session, pledge, chosen.identifier)
        result = await chosen.start(payment)
        payment.external_id = result.external_id
        if result.state != payment.state:
            services.set_payment_state(db_session, user.id, payment, result.state)
        return see_other(request, f"/pledges/{reference}")

    @post("/pledges/{reference:str}/card", name="pledge_card")
    async def card(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[Any]:
        """The page tokenised the card with Stripe.js; attach it and confirm the intent. The form
        sent twice (a double tap on a slow link, two tabs): the answer that finds the payment
        already settled leads back to the pledge's page, which says where it stands."""
        pledge = await services.get_pledge(db_session, reference)
        if acting_user(request).id != pledge.sponsor_id:
            raise NotFound(_("No such pledge."))
        token = form_data(await request.form()).get("token") or ""
        payment = await db_session.scalar(
            select(Payment)
            .where(Payment.pledge_id == pledge.id, Payment.provider == "stripe", Payment.state == PaymentState.PENDING)
            .with_for_update()
        )
        if payment is None and await _already_paid(db_session, reference):
            return see_other(request, f"/pledges/{reference}")
        if payment is None or not token.startswith("tok_"):
            raise IllegalTransition(_("This pledge is not waiting for a card payment."))
        provider = _providers(request.app.state).get("stripe")
        try:
            status, reason = await provider.pay_with_token(payment, payment.external_id or "", token)  # type: ignore[attr-defined]
        except stripe.StripeError as exc:
            code = exc.error.decline_code if exc.error else None
            status, reason = "requires_payment_method", code or exc.code or ""
        try:
            if status == "requires_payment_method":  # declined: this attempt failed; the sponsor may start another
                await services.fail_payment(db_session, payment, f"declined: {reason}")
                flash(request, _("The card was refused: %(reason)s",
                                 reason=_(DECLINE_REASONS.get(reason, NO_REASON))))
                return see_other(request, f"/pledges/{reference}")
            if status == "succeeded":
                await services.confirm_payment(db_session, payment)
                flash(request, _("Payment received. Thank you!"))
            else:
                flash(request, _("The card payment is being processed."))
        except services.PaymentChanged:
            # Settled meanwhile by the same form's other post (or Stripe's webhook): nothing of
            # this answer is kept; the pledge's page tells what happened.
            await db_session.rollback()
            if not await _already_paid(db_session, reference):
                raise
        return see_other(request, f"/pledges/{reference}")

    @get("/pledges/{reference:str}/cancel", name="pledge_cancel_confirm")
    async def confirm_cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Template:
        """Are you sure? One tap on a phone must not cancel a pledge, least of all one whose bank
        transfer may already be on its way."""
        pledge = await services.get_pledge(db_session, reference)
        if acting_user(request).id != pledge.sponsor_id:
            raise NotFound(_("No such pledge."))
        if pledge.status not in (PledgeStatus.AWAITING_PAYMENT, PledgeStatus.AWAITING_DELIVERY):
            raise IllegalTransition(_("This pledge can no longer be canceled."))
        transfer = services.open_payment(pledge, "bank_transfer") is not None
        return render(request, "donations/pledge_cancel.html", pledge=pledge, transfer_pending=transfer)

    @post("/pledges/{reference:str}/cancel", name="pledge_cancel")
    async def cancel(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[Any]:
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        await services.cancel(db_session, acting_user(request), pledge)
        flash(request, _("Pledge canceled."))
        return see_other(request, f"/pledges/{reference}")

    @post("/pledges/{reference:str}/refund", name="pledge_refund", guards=[officer_only])
    async def refund(
        self, request: Request[Any, Any, Any], db_session: DbSession, reference: FromPath[str]
    ) -> Response[Any]:
        reason = validate(RefundIn, {"reason": form_data(await request.form()).get("reason")}).reason
        pledge = await services.get_pledge(db_session, reference, for_update=True)
        payment = services.confirmed_payment(pledge)
        if payment is None or pledge.status not in (PledgeStatus.PAID, PledgeStatus.ALLOCATED) or (
                await services.goods_on_their_way(db_session, pledge)):
            raise IllegalTransition(_("Only a paid pledge not yet delivered can be refunded."))
        await _providers(request.app.state).get(payment.provider).refund(payment, payment.amount)
        await services.record_refund(db_session, acting_user(request).id, payment, reason)
        flash(request, _("Refund recorded."))
        return see_other(request, f"/pledges/{reference}")


class StripeWebhook(Controller):
    path = "/api/v1/webhooks"

    @post("/stripe", name="stripe_webhook", status_code=200, exclude_from_csrf=True)
    async def stripe(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[dict[str, str]]:
        body = await request.body()
        try:
            event = verify_webhook(body, request.headers.get("stripe-signature"), request.app.state.settings)
        except (stripe.SignatureVerificationError, ValueError):
            return Response({"detail": _("The webhook signature is not valid.")}, status_code=400)
        except StripeNotConfigured:  # no secret to verify with: card payments are off here
            return Response({"detail": _("Card payments are not set up on this site.")}, status_code=503)
        outcome = await handle_stripe_event(db_session, event.to_dict())
        return Response({"outcome": outcome})
