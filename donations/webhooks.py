"""Stripe's webhooks (DESIGN convention 5): verified, stored once by event id, applied to a
locked payment row, skipping what is already final, tolerant of events out of order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.payments.registry import PaymentState
from donations import services
from donations.models import Payment, PaymentEvent

OPEN = (PaymentState.CREATED, PaymentState.PENDING)


async def handle_stripe_event(session: AsyncSession, event: dict[str, Any]) -> str:
    """Apply one verified event; returns what happened (for the log and the tests)."""
    try:
        async with session.begin_nested():
            session.add(PaymentEvent(provider="stripe", event_id=event["id"], type=event["type"], payload=event))
    except IntegrityError:
        return "duplicate"
    obj = event["data"]["object"]
    intent_id = obj.get("payment_intent") if event["type"].startswith("charge.") else obj.get("id")
    payment = await session.scalar(
        select(Payment).where(Payment.provider == "stripe", Payment.external_id == intent_id).with_for_update()
    )
    if payment is None:
        return "unknown payment"
    kind = event["type"]
    if kind == "payment_intent.succeeded":
        if payment.state not in OPEN:
            return "already final"
        await services.confirm_payment(session, payment)
        return "confirmed"
    if kind == "payment_intent.payment_failed":
        if payment.state not in OPEN:
            return "already final"  # a failure reported after a success changes nothing
        await services.fail_payment(session, payment, summary="card declined")
        return "failed"
    if kind == "charge.refunded":
        if payment.state in OPEN:  # the refund overtook the success: the money came, then went
            await services.confirm_payment(session, payment)
        if payment.state != PaymentState.CONFIRMED:
            return "already final"
        await services.record_refund(session, None, payment, reason="refunded at Stripe")
        return "refunded"
    return "ignored"
