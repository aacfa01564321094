"""A configured Stripe client, and webhook verification, from the app's settings.

`stripe_client(settings)` gives a `stripe.StripeClient` with the secret key, the API base
(`STRIPE_API_BASE`, unset = Stripe's real API; the tests point it at a localstripe server on
loopback) and `STRIPE_MAX_NETWORK_RETRIES`. It uses httpx (already installed with Litestar) for
both the blocking calls and the `*_async` ones, which the app's async handlers should use.

Amounts are integer VND: "vnd" is a zero-decimal currency for Stripe, so `amount=500000` is
500.000 ₫, with no multiplication by 100 (DESIGN convention 3).
"""

from __future__ import annotations

import stripe

from app.settings import Settings

CURRENCY = "vnd"
TIMEOUT_SECONDS = 30.0


class StripeNotConfigured(RuntimeError):
    """Card payments were asked for but the Stripe settings are missing."""


def stripe_client(settings: Settings) -> stripe.StripeClient:
    if not settings.stripe_secret_key:
        raise StripeNotConfigured("STRIPE_SECRET_KEY is not set: card payments are off")
    api_base = settings.stripe_api_base.rstrip("/") if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": api_base} if api_base else {},
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True),
    )


def verify_webhook(
    payload: bytes, signature_header: str | None, settings: Settings
) -> stripe.Event:
    """The event a webhook request carries, once its `Stripe-Signature` is verified.

    Raises `stripe.SignatureVerificationError` for a missing, forged or stale (over 5 minutes)
    signature, and ValueError for a body that is not JSON. Pass the raw request body: a body
    parsed and re-serialised no longer matches its signature.
    """
    if not settings.stripe_webhook_secret:
        raise StripeNotConfigured("STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified")
    return stripe.Webhook.construct_event(  # type: ignore[no-any-return]
        payload, signature_header, settings.stripe_webhook_secret
    )
