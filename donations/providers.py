"""The payment providers: card (Stripe), bank transfer (VietQR) and offline (recorded by hand).

Providers talk to the outside world and report; donations.services writes every state change.
The app builds one registry per application (settings differ between apps, e.g. in tests).
"""

from __future__ import annotations

from typing import Any

import stripe

from app.i18n import lazy
from app.payments import vietqr
from app.payments.registry import (
    PaymentLike,
    PaymentProvider,
    PaymentState,
    ProviderRegistry,
    RefundResult,
    StartResult,
)
from app.payments.stripe_client import CURRENCY, stripe_client
from app.settings import Settings


class StripeProvider(PaymentProvider):
    """Card payments: a PaymentIntent made by the server; the page collects the card with
    Stripe.js and sends its token back; Stripe's webhooks confirm, fail or refund."""

    identifier = "stripe"
    display_name = lazy("Card (Visa, Mastercard, JCB)")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self.settings.stripe_secret_key and self.settings.stripe_publishable_key)

    async def start(self, payment: PaymentLike, **context: Any) -> StartResult:
        intent = await stripe_client(self.settings).v1.payment_intents.create_async(params={
            "amount": payment.amount, "currency": CURRENCY,
            "metadata": {"payment": str(payment.id), "pledge": payment.reference},
        })
        return StartResult(state=PaymentState.PENDING, external_id=intent.id)

    async def pay_with_token(self, payment: PaymentLike, external_id: str, token: str) -> tuple[str, str]:
        """Attach the card the page tokenised and confirm; returns the intent's status and, for a
        declined card, Stripe's decline code (``card_declined``, ``insufficient_funds`` ...)."""
        client = stripe_client(self.settings)
        try:
            card = (await client.v1.tokens.retrieve_async(token)).card
            if card is None:
                raise ValueError("token without a card")
            await client.v1.payment_intents.update_async(external_id, params={"payment_method": card.id})
            intent = (await client.v1.payment_intents.confirm_async(external_id)).to_dict()
        except stripe.StripeError:
            # Refused because the intent is paid already (the same form posted twice, the other post
            # paid it a moment ago): it is paid, not declined. Anything else is the refusal it says.
            current = await client.v1.payment_intents.retrieve_async(external_id)
            if current.status == "succeeded":
                return "succeeded", ""
            raise
        error = intent.get("last_payment_error") or {}
        return str(intent["status"]), str(error.get("decline_code") or error.get("code") or "")

    def render_pending(self, payment: PaymentLike) -> dict[str, Any]:
        return {"publishable_key": self.settings.stripe_publishable_key, "js_url": self.settings.stripe_js_url}

    async def refund(self, payment: PaymentLike, amount: int) -> RefundResult:
        external_id = getattr(payment, "external_id", None)
        refund = await stripe_client(self.settings).v1.refunds.create_async(
            params={"payment_intent": external_id, "amount": amount})
        return RefundResult(amount=amount, external_id=refund.id, completed=refund.status == "succeeded")


class BankTransferProvider(PaymentProvider):
    """A transfer to the province's account with the pledge's reference code in a VietQR code;
    pending until a bank statement line is matched to it."""

    identifier = "bank_transfer"
    display_name = lazy("Bank transfer (VietQR)")
    enabled = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start(self, payment: PaymentLike, **context: Any) -> StartResult:
        return StartResult(state=PaymentState.PENDING)

    def render_pending(self, payment: PaymentLike) -> dict[str, Any]:
        payload = vietqr.build(self.settings.bank_bin, self.settings.bank_account, payment.amount, payment.reference)
        return {"qr_svg": vietqr.svg(payload), "payload": payload, "bank_bin": self.settings.bank_bin,
                "bank_name": self.settings.bank_name,
                "account": self.settings.bank_account, "account_name": self.settings.bank_account_name}

    async def refund(self, payment: PaymentLike, amount: int) -> RefundResult:
        return RefundResult(amount=amount, completed=True)  # paid back by hand, recorded by the officer


class OfflineProvider(PaymentProvider):
    """Cash or a transfer an officer records by hand, with a receipt number."""

    identifier = "offline"
    display_name = lazy("Cash or transfer recorded by the province")
    enabled = False  # not offered to sponsors: officers record it

    async def start(self, payment: PaymentLike, **context: Any) -> StartResult:
        return StartResult(state=PaymentState.CREATED)

    def render_pending(self, payment: PaymentLike) -> dict[str, Any]:
        return {}

    async def refund(self, payment: PaymentLike, amount: int) -> RefundResult:
        return RefundResult(amount=amount, completed=True)


def build_registry(settings: Settings) -> ProviderRegistry:
    registry = ProviderRegistry()
    for provider in (StripeProvider(settings), BankTransferProvider(settings), OfflineProvider()):
        registry.register(provider)
    return registry
