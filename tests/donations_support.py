"""Shared by the donations tests: an app wired to localstripe, signed webhook requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

WEBHOOK_SECRET = "whsec_test_glg"


def stripe_settings(localstripe_url: str) -> dict[str, Any]:
    return {
        "stripe_secret_key": "sk_test_glg", "stripe_publishable_key": "pk_test_glg",
        "stripe_webhook_secret": WEBHOOK_SECRET, "stripe_api_base": localstripe_url,
        "stripe_max_network_retries": 0, "stripe_js_url": f"{localstripe_url}/js.stripe.com/v3/",
    }


def card_token(localstripe_url: str, number: str = "4242424242424242") -> str:
    """What Stripe.js does in the page: tokenise a card at Stripe (here localstripe)."""
    response = httpx.post(f"{localstripe_url}/v1/tokens", data={
        "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2031", "card[cvc]": "123",
        "key": "pk_test_glg"})
    response.raise_for_status()
    return response.json()["id"]


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET, at: int | None = None) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, made by Stripe's documented scheme."""
    body = json.dumps(event).encode()
    timestamp = at or int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={mac}"


def event(kind: str, intent_id: str, event_id: str) -> dict[str, Any]:
    obj = {"id": intent_id, "object": "payment_intent"} if kind.startswith("payment_intent") else {
        "id": "ch_" + intent_id[3:], "object": "charge", "payment_intent": intent_id}
    return {"id": event_id, "object": "event", "type": kind, "api_version": "2017-08-15",
            "created": int(time.time()), "data": {"object": obj}}
