"""Pledges and payments: card payments through the real Stripe SDK and localstripe, webhooks,
cancel, expiry, refunds, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.asgi import create_app
from app.audit import AuditLog
from app.auth.models import Role, User
from app.errors import IllegalTransition
from app.geography.models import Library
from app.i18n import format_date
from app.outbox import OutboxMessage
from app.payments import vietqr
from app.payments.registry import PaymentState
from donations import services
from donations.models import LedgerEntry, LedgerKind, Payment, PaymentEvent, Pledge, PledgeStatus
from needs.models import Need, NeedStatus
from tests.conftest import settings_for
from tests.donations_support import card_token, event, signed, stripe_settings
from tests.support import MUONG_LA, flat, make_library, make_need, make_user, post_form, sign_in

P = PledgeStatus


@pytest.fixture
def app(clean_backend, localstripe_url):  # type: ignore[no-untyped-def]
    return create_app(settings_for(clean_backend.url, **stripe_settings(localstripe_url)))


@pytest.fixture
async def world(db):  # type: ignore[no-untyped-def]
    library = await make_library(db)
    need = await make_need(db, library, quantity=20, unit_value=50_000, pledged_quantity=10)
    sponsor = await make_user(db, Role.SPONSOR, email="tai.tro@example.vn")
    officer = await make_user(db, Role.OFFICER, email="canbo@sonla.gov.vn")
    await db.commit()
    return {"need": need.id, "sponsor": sponsor.email, "officer": officer.email, "sponsor_id": sponsor.id}


async def _need(db, need_id: int) -> Need:  # type: ignore[no-untyped-def]
    return await db.get(Need, need_id, populate_existing=True)


async def _pledge(db) -> Pledge:  # type: ignore[no-untyped-def]
    query = select(Pledge).order_by(Pledge.id.desc()).execution_options(populate_existing=True)
    return await db.scalar(query)


async def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    return await db.scalar(select(func.count()).select_from(model))


async def _pledge_money_to_need(client, world, quantity: int = 3) -> str:  # type: ignore[no-untyped-def]
    await sign_in(client, world["sponsor"])
    response = await post_form(
        client, "/give", {"kind": "money", "target": "need", "need_id": str(world["need"]), "quantity": str(quantity)}
    )
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


async def test_pledge_reserves_items_and_awaits_payment(client, db, world) -> None:
    reference = await _pledge_money_to_need(client, world)
    pledge = await _pledge(db)
    assert (pledge.reference, pledge.status, pledge.amount, pledge.quantity) == (
        reference,
        P.AWAITING_PAYMENT,
        150_000,
        3,
    )
    assert (await _need(db, world["need"])).pledged_quantity == 13
    actions = list(await db.scalars(select(AuditLog.action).where(AuditLog.entity_type == "pledge")))
    assert actions == ["pledge.create", "pledge.await"]
    assert await _count(db, OutboxMessage) == 1
    page = await client.get(f"/pledges/{reference}")
    assert "150.000" in page.text and "Chọn cách thanh toán" in page.text


async def test_bank_transfer_shows_the_vietqr_code_and_account_on_the_pledge_page(client, db, world) -> None:
    reference = await _pledge_money_to_need(client, world)
    assert (await post_form(client, f"/pledges/{reference}/pay/bank_transfer", {})).status_code == 303
    page = await client.get(f"/pledges/{reference}")
    assert page.status_code == 200, page.text
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert (payment.provider, payment.state) == ("bank_transfer", PaymentState.PENDING)
    text = flat(page.text)
    assert "<svg" in page.text and "0011004455667" in text and reference in text and "150.000" in text


async def test_bank_transfer_names_the_bank_and_says_what_happens_after_the_transfer(client, db, world) -> None:
    """On a phone the code cannot be scanned from its own screen: the sponsor types the transfer,
    and needs the bank's name, not only its BIN; then they wait for the statement, not pay twice."""
    reference = await _pledge_money_to_need(client, world)
    await client.get("/lang/en")
    await post_form(client, f"/pledges/{reference}/pay/bank_transfer", {})
    text = flat((await client.get(f"/pledges/{reference}")).text)
    assert re.search(r'id="bank">Vietcombank · BIN 970436<', text), text
    assert "Please do not transfer again or cancel the pledge meanwhile." in text


async def test_the_vietqr_code_can_be_saved_as_an_image_by_its_sponsor(client, db, world) -> None:
    reference = await _pledge_money_to_need(client, world)
    assert (await client.get(f"/pledges/{reference}/vietqr.png")).status_code == 404  # no transfer chosen yet
    await post_form(client, f"/pledges/{reference}/pay/bank_transfer", {})
    page = (await client.get(f"/pledges/{reference}")).text
    assert f'href="/pledges/{reference}/vietqr.png"' in page
    image = await client.get(f"/pledges/{reference}/vietqr.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"] == f'attachment; filename="VietQR-{reference}.png"'
    payload = vietqr.build("970436", "0011004455667", 150_000, reference)
    assert image.content == vietqr.png(payload) and image.content.startswith(b"\x89PNG")
    other = await make_user(db, Role.SPONSOR, email="khac@example.vn")
    await db.commit()
    await post_form(client, "/logout", {})
    await sign_in(client, other.email)
    assert (await client.get(f"/pledges/{reference}/vietqr.png")).status_code == 404


def test_another_bank_without_its_name_shows_no_name() -> None:
    assert settings_for("").bank_name == "Vietcombank"
    assert settings_for("", bank_bin="970415").bank_name == ""  # not the default bank's name
    assert settings_for("", bank_bin="970415", bank_name="VietinBank").bank_name == "VietinBank"


async def test_card_payment_confirms_allocates_and_writes_ledger(client, db, world, localstripe_url) -> None:
    reference = await _pledge_money_to_need(client, world)
    assert (await post_form(client, f"/pledges/{reference}/pay/stripe", {})).status_code == 303
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.PENDING and payment.external_id.startswith("pi_")
    page = await client.get(f"/pledges/{reference}")
    assert "js.stripe.com/v3/" in page.text and 'id="card-element"' in page.text
    response = await post_form(client, f"/pledges/{reference}/card", {"token": card_token(localstripe_url)})
    assert response.status_code == 303
    pledge = await _pledge(db)
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.CONFIRMED and payment.receipt_number.startswith("GLG-")
    assert pledge.status == P.ALLOCATED
    need = await _need(db, world["need"])
    assert (need.pledged_quantity, need.allocated_quantity) == (13, 3)
    ledger = [(e.kind, e.amount) for e in await db.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert ledger == [(LedgerKind.PAYMENT, 150_000), (LedgerKind.ALLOCATION, 150_000)]
    page = await client.get(f"/pledges/{reference}")
    assert payment.receipt_number in page.text


async def test_declined_card_fails_the_attempt_and_another_card_can_pay(client, db, world, localstripe_url) -> None:
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    declined = card_token(localstripe_url, "4000000000000341")  # Stripe's "charge fails" test card
    response = await post_form(client, f"/pledges/{reference}/card", {"token": declined})
    assert response.status_code == 303  # back to the pledge, to try again
    page = await client.get(f"/pledges/{reference}")
    assert "Thẻ bị từ chối: ngân hàng phát hành đã từ chối thẻ." in page.text, page.text
    assert f'action="/pledges/{reference}/pay/stripe"' in page.text  # the ways to pay are offered again
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.FAILED
    assert (await _pledge(db)).status == P.AWAITING_PAYMENT
    assert await db.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    response = await post_form(client, f"/pledges/{reference}/card", {"token": card_token(localstripe_url)})
    assert response.status_code == 303
    states = list(await db.scalars(select(Payment.state).order_by(Payment.id)))
    assert states == [PaymentState.FAILED, PaymentState.CONFIRMED]
    assert (await _pledge(db)).status == P.ALLOCATED


async def test_card_form_sent_twice_at_once_pays_once_and_keeps_the_receipt(client, db, world, localstripe_url) -> None:
    """The card form posted twice at the same moment (a double tap on a slow link, two tabs): the
    card is charged once, the payment stays confirmed with its receipt, and neither answer says
    the card was refused."""
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    token = card_token(localstripe_url)
    first, second = await asyncio.gather(post_form(client, f"/pledges/{reference}/card", {"token": token}),
                                         post_form(client, f"/pledges/{reference}/card", {"token": token}))
    assert (first.status_code, second.status_code) == (303, 303), (first.text, second.text)
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.CONFIRMED and payment.receipt_number
    assert (await _pledge(db)).status == P.ALLOCATED
    ledger = [(e.kind, e.amount) for e in await db.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert ledger == [(LedgerKind.PAYMENT, 150_000), (LedgerKind.ALLOCATION, 150_000)]
    page = await client.get(f"/pledges/{reference}")
    assert payment.receipt_number in page.text
    assert "Thẻ bị từ chối" not in page.text  # the flash messages of both answers


async def test_stripe_refusing_a_second_confirmation_of_a_paid_intent_is_not_a_decline(
        client, db, world, localstripe_url) -> None:
    """The card form's second post reaches Stripe after the first paid the intent: Stripe refuses
    it, but the intent is paid, and that is what the provider reports (not a declined card, which
    would fail a payment whose money arrived)."""
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    token = card_token(localstripe_url)
    assert (await post_form(client, f"/pledges/{reference}/card", {"token": token})).status_code == 303
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.CONFIRMED
    provider = client.app.state.payment_providers.get("stripe")
    for again in (token, card_token(localstripe_url)):
        assert await provider.pay_with_token(payment, payment.external_id, again) == ("succeeded", "")


async def test_a_payment_settled_meanwhile_is_not_settled_again(client, db, world) -> None:
    """What a request read before another one settled the payment (on SQLite nothing locks the
    row: the card form's second post, a webhook) is not written over it: a late failure, a second
    confirmation or a second refund is refused, and the ledger counts the money once."""
    _ref, _intent = await _pending_intent(client, db, world)
    engine = db.bind
    async with AsyncSession(engine) as failing, AsyncSession(engine) as confirming:
        stale_pending = await failing.scalar(select(Payment))
        also_stale = await confirming.scalar(select(Payment))
        async with AsyncSession(engine) as webhook:
            await services.confirm_payment(webhook, await webhook.scalar(select(Payment)))
            await webhook.commit()
        with pytest.raises(IllegalTransition):
            await services.fail_payment(failing, stale_pending, "declined: ")
        with pytest.raises(IllegalTransition):
            await services.confirm_payment(confirming, also_stale)
    async with AsyncSession(engine) as late:
        stale_confirmed = await late.scalar(select(Payment))
        async with AsyncSession(engine) as officer:
            await services.record_refund(officer, None, await officer.scalar(select(Payment)), "refunded at Stripe")
            await officer.commit()
        with pytest.raises(IllegalTransition):
            await services.record_refund(late, None, stale_confirmed, "twice")
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.REFUNDED and payment.receipt_number
    kinds = [e.kind for e in await db.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert (kinds.count(LedgerKind.PAYMENT), kinds.count(LedgerKind.REFUND)) == (1, 1)


async def test_a_pledge_paid_meanwhile_is_not_canceled(client, db, world) -> None:
    """The sponsor cancels just as the statement with their transfer is imported: the cancel read
    the payment still pending, but the money arrived first. It is refused (409) and changes
    nothing: the pledge stays paid, its items stay taken."""
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/bank_transfer", {})
    sponsor = await db.get(User, world["sponsor_id"])
    engine = db.bind
    async with AsyncSession(engine) as canceling:
        stale = await services.get_pledge(canceling, reference)
        async with AsyncSession(engine) as statement:
            pledge = await services.get_pledge(statement, reference)
            await services.confirm_payment(statement, pledge.payments[0])
            await statement.commit()
        with pytest.raises(IllegalTransition):
            await services.cancel(canceling, await canceling.merge(sponsor), stale)
    assert (await _pledge(db)).status == P.ALLOCATED
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment.state == PaymentState.CONFIRMED
    assert (await _need(db, world["need"])).pledged_quantity == 13


async def _pending_intent(client, db, world) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    payment = await db.scalar(select(Payment).execution_options(populate_existing=True))
    return reference, payment.external_id


async def _webhook(client, body_and_header):  # type: ignore[no-untyped-def]
    body, header = body_and_header
    return await client.post(
        "/api/v1/webhooks/stripe",
        content=body,
        headers={"stripe-signature": header, "content-type": "application/json"},
    )


async def test_webhook_confirms_once_and_replays_are_noops(client, db, world) -> None:
    _ref, intent = await _pending_intent(client, db, world)
    message = signed(event("payment_intent.succeeded", intent, "evt_1"))
    first = await _webhook(client, message)
    assert first.status_code == 200 and first.json() == {"outcome": "confirmed"}
    replay = await _webhook(client, message)
    assert replay.json() == {"outcome": "duplicate"}
    again = await _webhook(client, signed(event("payment_intent.succeeded", intent, "evt_2")))
    assert again.json() == {"outcome": "already final"}
    late_failure = await _webhook(client, signed(event("payment_intent.payment_failed", intent, "evt_3")))
    assert late_failure.json() == {"outcome": "already final"}
    assert await _count(db, PaymentEvent) == 3
    assert [e.kind for e in await db.scalars(select(LedgerEntry))] == [LedgerKind.PAYMENT, LedgerKind.ALLOCATION]
    assert (await _pledge(db)).status == P.ALLOCATED


async def test_forged_or_stale_webhook_is_refused_and_writes_nothing(client, db, world) -> None:
    _ref, intent = await _pending_intent(client, db, world)
    forged = signed(event("payment_intent.succeeded", intent, "evt_forged"), secret="whsec_attacker")
    stale = signed(event("payment_intent.succeeded", intent, "evt_stale"), at=1_600_000_000)
    for message in (forged, stale, (b"not json", "t=1,v1=00")):
        response = await _webhook(client, message)
        assert response.status_code == 400
        assert response.json()["detail"] == "Chữ ký webhook không hợp lệ."
    assert await _count(db, PaymentEvent) == 0
    assert (await _pledge(db)).status == P.AWAITING_PAYMENT


async def test_webhook_where_card_payments_are_off_is_refused_quietly(clean_backend, db, caplog) -> None:
    """Without STRIPE_WEBHOOK_SECRET no event can be verified: anyone posting to the endpoint gets a
    503 (Stripe retries later), nothing is written, and no error with its traceback is logged for
    it (it was a 500, logged as an unexpected error, for every request from anyone)."""
    import logging

    from litestar.testing import AsyncTestClient

    body, signature = signed(event("payment_intent.succeeded", "pi_123", "evt_off"))
    async with AsyncTestClient(app=create_app(settings_for(clean_backend.url))) as client:
        with caplog.at_level(logging.ERROR):
            response = await client.post("/api/v1/webhooks/stripe", content=body,
                                         headers={"stripe-signature": signature, "content-type": "application/json"})
    assert response.status_code == 503 and response.json()["detail"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await _count(db, PaymentEvent) == 0


async def test_refund_event_before_success_event(client, db, world) -> None:
    _ref, intent = await _pending_intent(client, db, world)
    refunded = await _webhook(client, signed(event("charge.refunded", intent, "evt_r")))
    assert refunded.json() == {"outcome": "refunded"}
    late_success = await _webhook(client, signed(event("payment_intent.succeeded", intent, "evt_s")))
    assert late_success.json() == {"outcome": "already final"}
    assert (await _pledge(db)).status == P.REFUNDED
    total = await db.scalar(
        select(func.sum(LedgerEntry.amount)).where(LedgerEntry.kind.in_([LedgerKind.PAYMENT, LedgerKind.REFUND]))
    )
    assert total == 0
    need = await _need(db, world["need"])
    assert (need.pledged_quantity, need.allocated_quantity) == (10, 0)


async def test_failed_payment_webhook(client, db, world) -> None:
    _ref, intent = await _pending_intent(client, db, world)
    response = await _webhook(client, signed(event("payment_intent.payment_failed", intent, "evt_f")))
    assert response.json() == {"outcome": "failed"}
    assert (await db.scalar(select(Payment).execution_options(populate_existing=True))).state == PaymentState.FAILED
    assert (await _pledge(db)).status == P.AWAITING_PAYMENT  # the sponsor may try again


async def test_officer_refund_through_stripe(client, db, world, localstripe_url) -> None:
    reference = await _pledge_money_to_need(client, world)
    await post_form(client, f"/pledges/{reference}/pay/stripe", {})
    await post_form(client, f"/pledges/{reference}/card", {"token": card_token(localstripe_url)})
    await post_form(client, "/logout", {})
    await sign_in(client, world["officer"])
    assert (await post_form(client, f"/pledges/{reference}/refund", {"reason": ""})).status_code == 422
    response = await post_form(client, f"/pledges/{reference}/refund", {"reason": "Nhà tài trợ chuyển nhầm"})
    assert response.status_code == 303
    assert (await _pledge(db)).status == P.REFUNDED
    need = await _need(db, world["need"])
    assert (need.pledged_quantity, need.allocated_quantity) == (10, 0)
    amounts = [e.amount for e in await db.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert amounts == [150_000, 150_000, -150_000, -150_000]
    again = await post_form(client, f"/pledges/{reference}/refund", {"reason": "lần nữa"})
    assert again.status_code == 409


async def test_cancel_asks_first_and_warns_about_a_transfer_on_its_way(client, db, world) -> None:
    """One tap on a phone does not cancel: the pledge page leads to a question, which warns a
    sponsor who chose to pay by transfer that money already sent would have to be refunded."""
    reference = await _pledge_money_to_need(client, world)
    await client.get("/lang/en")
    page = (await client.get(f"/pledges/{reference}")).text
    assert f'action="/pledges/{reference}/cancel"' not in page and f'href="/pledges/{reference}/cancel"' in page
    question = await client.get(f"/pledges/{reference}/cancel")
    assert question.status_code == 200 and f'action="/pledges/{reference}/cancel"' in question.text
    assert "transfer-warning" not in question.text
    await post_form(client, f"/pledges/{reference}/pay/bank_transfer", {})
    question = (await client.get(f"/pledges/{reference}/cancel")).text
    assert "If you have already transferred the money, do not cancel" in question
    assert (await _pledge(db)).status == P.AWAITING_PAYMENT  # asking changes nothing
    assert (await post_form(client, f"/pledges/{reference}/cancel", {})).status_code == 303
    assert (await client.get(f"/pledges/{reference}/cancel")).status_code == 409  # canceled already
    other = await make_user(db, Role.SPONSOR, email="khac@example.vn")
    await db.commit()
    await post_form(client, "/logout", {})
    await sign_in(client, other.email)
    assert (await client.get(f"/pledges/{reference}/cancel")).status_code == 404


async def test_cancel_before_payment_gives_items_back(client, db, world) -> None:
    reference = await _pledge_money_to_need(client, world)
    assert (await post_form(client, f"/pledges/{reference}/cancel", {})).status_code == 303
    assert (await _pledge(db)).status == P.CANCELED
    assert (await _need(db, world["need"])).pledged_quantity == 10
    assert (await post_form(client, f"/pledges/{reference}/cancel", {})).status_code == 409


async def test_other_sponsor_cannot_see_or_cancel(client, db, world) -> None:
    reference = await _pledge_money_to_need(client, world)
    other = await make_user(db, Role.SPONSOR, email="khac@example.vn")
    await db.commit()
    await post_form(client, "/logout", {})
    await sign_in(client, other.email)
    assert (await client.get(f"/pledges/{reference}")).status_code == 404
    assert (await post_form(client, f"/pledges/{reference}/cancel", {})).status_code == 403
    assert (await _pledge(db)).status == P.AWAITING_PAYMENT


async def test_unpaid_pledges_expire(client, db, world) -> None:
    await _pledge_money_to_need(client, world)
    assert await services.expire_unpaid(db, dt.datetime.now(dt.UTC)) == 0
    assert await services.expire_unpaid(db, dt.datetime.now(dt.UTC) + dt.timedelta(days=8)) == 1
    await db.commit()
    assert (await _pledge(db)).status == P.EXPIRED
    assert (await _need(db, world["need"])).pledged_quantity == 10


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"kind": "money", "target": "pool", "amount": "0"}, "amount", "Phải lớn hơn 0"),
        ({"kind": "money", "target": "pool", "amount": "-5000"}, "amount", "Phải lớn hơn 0"),
        ({"kind": "money", "target": "pool", "amount": "2000000001"}, "amount", "Mỗi lần cam kết tối đa 2.000.000.000"),
        ({"kind": "money", "target": "pool"}, "amount", "Nhập số tiền"),
        ({"kind": "money", "target": "pool", "amount": "1"}, "amount", "tối thiểu 10.000 ₫"),
        ({"kind": "money", "target": "pool", "amount": "9999"}, "amount", "tối thiểu 10.000 ₫"),
        (
            {"kind": "books", "target": "pool", "item_kind": "book/children", "quantity": "5", "delivery": "to_hub",
             "unit_value": "200000000"},
            "unit_value",
            "Giá trị mỗi hiện vật phải từ 10.000 ₫ đến 105.000 ₫.",
        ),
        (
            {"kind": "books", "target": "pool", "item_kind": "book/children", "quantity": "5", "delivery": "to_hub",
             "unit_value": "105001"},
            "unit_value",
            "Giá trị mỗi hiện vật phải từ 10.000 ₫ đến 105.000 ₫.",
        ),
        (
            {"kind": "books", "target": "pool", "item_kind": "book/children", "quantity": "5", "delivery": "to_hub",
             "unit_value": "9999"},
            "unit_value",
            "Giá trị mỗi hiện vật phải từ 10.000 ₫ đến 105.000 ₫.",
        ),
        ({"kind": "money", "target": "need", "quantity": "11"}, "quantity", "Nhu cầu này chỉ còn thiếu 10"),
        ({"kind": "money", "target": "need", "quantity": "0"}, "quantity", "Phải lớn hơn 0"),
        (
            {"kind": "books", "target": "pool", "item_kind": "book/children", "quantity": "5"},
            "delivery",
            "Hãy chọn nơi bạn sẽ mang",
        ),
        (
            {
                "kind": "equipment",
                "target": "pool",
                "item_kind": "book/children",
                "quantity": "5",
                "delivery": "to_hub",
            },
            "item_kind",
            "Hãy chọn một loại trong danh mục.",
        ),
        (
            {"kind": "money", "target": "commune", "commune_code": "999999", "amount": "100000"},
            "commune_code",
            "Hãy chọn một xã có trong danh sách.",
        ),
    ],
)
async def test_bad_pledges_are_refused_and_write_nothing(client, db, world, form, field, message) -> None:
    await sign_in(client, world["sponsor"])
    if form["target"] == "need":
        form = {**form, "need_id": str(world["need"])}
    response = await post_form(client, "/give", form)
    assert response.status_code == 422
    beside = re.search(rf'id="e-{field}">([^<]*)<', response.text)  # the message beside its field
    assert beside and message in beside.group(1).replace("\xa0", " "), response.text[-2000:]
    assert await _count(db, Pledge) == 0
    assert (await _need(db, world["need"])).pledged_quantity == 10


async def test_a_commune_page_leads_to_a_gift_to_that_commune(client, db, world) -> None:
    await sign_in(client, world["sponsor"])
    page = await client.get(f"/communes/{MUONG_LA}")
    assert f'href="/give?commune={MUONG_LA}"' in page.text
    elsewhere = await client.get("/communes/4")  # Ba Đình, Hà Nội: not this province's
    assert elsewhere.status_code == 200 and 'href="/give?commune=' not in elsewhere.text
    form = (await client.get("/give", params={"commune": MUONG_LA})).text
    assert re.search(r'name="target" value="commune" checked', form)
    assert re.search(rf'<option value="{MUONG_LA}" selected>', form)
    response = await post_form(client, "/give", {"kind": "money", "target": "commune", "commune_code": str(MUONG_LA),
                                                 "amount": "200.000"})
    assert response.status_code == 303
    assert ((await _pledge(db)).commune_code, (await _pledge(db)).amount) == (MUONG_LA, 200_000)


async def test_a_refused_pool_pledge_says_each_problem_once(client, db, world) -> None:
    """Beside its field, not again in the "where would my gift go" area below the form."""
    await sign_in(client, world["sponsor"])
    response = await post_form(client, "/give", {"kind": "money", "target": "pool", "amount": "5000"})
    assert response.status_code == 422
    assert flat(response.text).count("tối thiểu 10.000 ₫") == 1, response.text[-3000:]
    preview = await client.get("/give/preview", params={"kind": "money", "target": "pool", "amount": "5000"},
                               headers={"HX-Request": "true"})
    assert preview.status_code == 422 and "tối thiểu 10.000 ₫" in flat(preview.text)  # the preview says why


async def test_declared_values_within_the_catalogue_bounds_and_the_minimum_are_accepted(client, db, world) -> None:
    """The bounds of book/children (35.000 ₫ in the catalogue) are 10.000 ₫ and 105.000 ₫, both
    included; the form says so, and gives the smallest money pledge."""
    await sign_in(client, world["sponsor"])
    form = (await client.get("/give")).text.replace("\xa0", " ")
    assert "Tối thiểu 10.000 ₫." in form and "từ 30% đến 3 lần giá trị đó" in form
    for value in ("10000", "105000"):
        response = await post_form(client, "/give", {"kind": "books", "target": "pool", "item_kind": "book/children",
                                                     "quantity": "2", "delivery": "to_hub", "unit_value": value})
        assert response.status_code == 303, response.text[-2000:]
    response = await post_form(client, "/give", {"kind": "money", "target": "pool", "amount": "10000"})
    assert response.status_code == 303
    values = sorted(p.value for p in await db.scalars(select(Pledge)))
    assert values == [10_000, 20_000, 210_000]


@pytest.mark.parametrize(
    "typed", ["1.000.000", "1,000,000 đ", "1 000 000 ₫", "1.000.000VND", "1000000", " 1\u00a0000\u00a0000 "])
async def test_amounts_are_read_as_people_write_them(client, db, world, typed) -> None:
    """Vietnamese write a million as 1.000.000: it is a million, not one đồng refused as too small."""
    await sign_in(client, world["sponsor"])
    response = await post_form(client, "/give", {"kind": "money", "target": "pool", "amount": typed})
    assert response.status_code == 303, response.text[-2000:]
    assert (await _pledge(db)).amount == 1_000_000
    declared = await post_form(client, "/give", {"kind": "books", "target": "pool", "item_kind": "book/children",
                                                 "quantity": "2", "delivery": "to_hub", "unit_value": "35.000 đ"})
    assert declared.status_code == 303, declared.text[-2000:]
    assert (await _pledge(db)).unit_value == 35_000


@pytest.mark.parametrize(("field", "typed"), [
    ("amount", "50000.5"), ("amount", "1,5"), ("amount", "1.000,000"), ("amount", "10000.000"), ("amount", "một triệu"),
    ("unit_value", "35.5"), ("unit_value", "35 000,50"),
])
async def test_amounts_that_are_not_whole_dong_are_refused_with_an_example(client, db, world, field, typed) -> None:
    await sign_in(client, world["sponsor"])
    await client.get("/lang/en")
    form = {"kind": "money", "target": "pool", "amount": typed} if field == "amount" else {
        "kind": "books", "target": "pool", "item_kind": "book/children", "quantity": "2", "delivery": "to_hub",
        "unit_value": typed}
    response = await post_form(client, "/give", form)
    assert response.status_code == 422
    beside = re.search(rf'id="e-{field}">([^<]*)<', response.text)
    assert beside and beside.group(1) == "Enter a whole number of đồng, such as 1.000.000.", response.text[-2000:]
    assert f'value="{typed.strip()}"' in response.text  # kept as typed, to correct
    assert await _count(db, Pledge) == 0


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"condition": "broken"}, "condition", "Hãy chọn một trong các lựa chọn."),
    ({"need_id": "abc"}, "target", "Không có nhu cầu này."),
])
async def test_bad_pledge_fields_get_a_message_beside_them(client, db, world, change, field, message) -> None:
    await sign_in(client, world["sponsor"])
    form = {"kind": "books", "target": "need", "need_id": str(world["need"]), "quantity": "2",
            "delivery": "to_commune", "condition": "new", **change}
    response = await post_form(client, "/give", form)
    assert response.status_code == 422
    assert f'id="e-{field}">{message}</small>' in response.text
    assert await _count(db, Pledge) == 0


async def test_pledge_page_says_what_where_and_by_when(client, db, world) -> None:
    library_id = (await _need(db, world["need"])).library_id
    library = await db.get(Library, library_id)
    library.address = "Bản Nà Mường, xã Mường La"
    await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library_id,
                    full_name="Lò Thị Hoa", phone="0912345678")
    await db.commit()
    await sign_in(client, world["sponsor"])
    response = await post_form(client, "/give", {"kind": "books", "target": "need", "need_id": str(world["need"]),
                                                 "quantity": "3", "delivery": "to_commune", "condition": "new"})
    to_library = flat((await client.get(response.headers["location"])).text)
    assert "3 × Sách thiếu nhi (50.000 ₫) = 150.000 ₫" in to_library
    assert "Nhà tài trợ mang hiện vật đến thư viện" in to_library
    assert "Thư viện Mường La</strong> · Bản Nà Mường, xã Mường La" in to_library
    assert "Lò Thị Hoa" in to_library and "0912345678" in to_library
    pledge = await _pledge(db)
    deadline = format_date(pledge.expires_at).replace("\xa0", " ")
    assert f"Hãy mang hiện vật đến trước {deadline}" in to_library

    response = await post_form(client, "/give", {"kind": "equipment", "target": "pool", "quantity": "2",
                                                 "item_kind": "equipment/bookshelf", "delivery": "to_hub"})
    to_hub = flat((await client.get(response.headers["location"])).text)
    assert "2 × Giá sách" in to_hub and "Nhà tài trợ mang hiện vật đến điểm tập kết của tỉnh" in to_hub
    assert settings_for("").hub_address in to_hub

    response = await post_form(client, "/give", {"kind": "books", "target": "pool", "quantity": "2",
                                                 "item_kind": "book/law", "delivery": "to_commune"})
    to_pool = flat((await client.get(response.headers["location"])).text)
    assert "2 × Pháp luật" in to_pool and "Tỉnh sẽ báo cho bạn nơi mang hiện vật đến." in to_pool

    money = await _pledge_money_to_need(client, world, 1)
    page = flat((await client.get(f"/pledges/{money}")).text)
    assert "Hãy thanh toán trước" in page and "Nơi mang hiện vật đến" not in page


async def test_a_pledge_past_its_time_limit_does_not_say_pay_by_a_past_day(client, db, world) -> None:
    """Between its time limit and the daily job that expires it, the page said "Pay by" a day gone
    by, offering the transfer as if nothing had happened."""
    reference = await _pledge_money_to_need(client, world)
    await client.get("/lang/en")
    pledge = await _pledge(db)
    pledge.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    await db.commit()
    text = flat((await client.get(f"/pledges/{reference}")).text)
    assert "has passed: this pledge is about to be canceled" in text and "Pay by" not in text
    pledge.expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    await db.commit()
    text = flat((await client.get(f"/pledges/{reference}")).text)
    assert "Pay by" in text and "has passed" not in text


async def test_pledge_on_a_closed_need_is_refused(client, db, world) -> None:
    need = await _need(db, world["need"])
    need.status = NeedStatus.CLOSED
    await db.commit()
    await sign_in(client, world["sponsor"])
    response = await post_form(
        client, "/give", {"kind": "money", "target": "need", "need_id": str(world["need"]), "quantity": "1"}
    )
    assert response.status_code == 422 and "Nhu cầu này không còn nhận cam kết." in response.text
    assert await _count(db, Pledge) == 0
    assert (await client.get(f"/give?need={world['need']}")).status_code == 404


async def test_only_sponsors_pledge(client, db, world) -> None:
    await sign_in(client, world["officer"])
    assert (await client.get("/give")).status_code == 403
    assert (await post_form(client, "/give", {"kind": "money", "target": "pool", "amount": "1"})).status_code == 403
    await post_form(client, "/logout", {})
    assert (await client.get("/give")).status_code == 303  # anonymous: sign in first


async def test_librarian_confirms_goods_brought_to_the_commune(client, db, world) -> None:
    library_id = (await _need(db, world["need"])).library_id
    librarian = await make_user(db, Role.LIBRARIAN, email="thuthu@muongla.vn", library_id=library_id)
    other = await make_library(db, name="Thư viện khác", commune_code=3670)
    stranger = await make_user(db, Role.LIBRARIAN, email="khac@thuvien.vn", library_id=other.id)
    await db.commit()
    await sign_in(client, world["sponsor"])
    response = await post_form(
        client,
        "/give",
        {
            "kind": "books",
            "target": "need",
            "need_id": str(world["need"]),
            "quantity": "4",
            "delivery": "to_commune",
            "condition": "new",
        },
    )
    reference = response.headers["location"].rsplit("/", 1)[1]
    await post_form(client, "/logout", {})
    await sign_in(client, stranger.email)
    assert reference not in (await client.get("/library/pledges")).text
    assert (await post_form(client, f"/library/pledges/{reference}/receive", {})).status_code == 403
    await post_form(client, "/logout", {})
    await sign_in(client, librarian.email)
    assert reference in (await client.get("/library/pledges")).text
    assert (await post_form(client, f"/library/pledges/{reference}/receive", {"quantity": "4"})).status_code == 303
    pledge = await _pledge(db)
    # Received at the commune: allocated, delivered (a shipment directly from the sponsor) and
    # acknowledged by the librarian in one step (donations.deliveries).
    assert pledge.status == P.ACKNOWLEDGED and pledge.accepted_value == 200_000
    need = await _need(db, world["need"])
    assert (need.pledged_quantity, need.allocated_quantity, need.delivered_quantity) == (14, 4, 4)
    kinds = [(e.kind, e.amount) for e in await db.scalars(select(LedgerEntry).order_by(LedgerEntry.id))]
    assert kinds == [(LedgerKind.IN_KIND, 200_000), (LedgerKind.ALLOCATION, 200_000)]
