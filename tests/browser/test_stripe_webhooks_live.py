"""Stripe's webhooks end to end: localstripe signs and sends them over HTTP to the real server.

The other webhook tests sign events themselves; here nothing does but localstripe. A sponsor
pledges money to the pool and starts a card payment on the live server; the card is then charged
at "Stripe" directly, as Stripe.js and a 3-D Secure page would, and the only way the server can
learn of it is localstripe's `payment_intent.succeeded` webhook to `/api/v1/webhooks/stripe`.
"""

from __future__ import annotations

import re
import time

import httpx
import stripe

from tests.donations_support import WEBHOOK_SECRET


def _signed_in_sponsor(base: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=30)  # one test: closed with the process
    http.get("/login")
    response = http.post("/login", data={"email": "nhataitro@demo.vn", "password": "thuvien-2026",
                                         "_csrf_token": http.cookies["csrftoken"]})
    assert response.status_code == 303, response.text
    return http


def test_localstripe_webhook_confirms_the_payment(live_server: str, localstripe_url: str) -> None:
    hook = re.sub(r"\W", "-", live_server)
    response = httpx.post(f"{localstripe_url}/_config/webhooks/{hook}", json={
        "url": f"{live_server}/api/v1/webhooks/stripe", "secret": WEBHOOK_SECRET,
        "events": ["payment_intent.succeeded", "payment_intent.payment_failed"]})
    assert response.status_code == 200, response.text

    http = _signed_in_sponsor(live_server)
    token = http.cookies["csrftoken"]
    response = http.post("/give", data={"kind": "money", "target": "pool", "amount": "730000",
                                        "_csrf_token": token})
    assert response.status_code == 303, response.text
    reference = response.headers["location"].rsplit("/", 1)[1]
    assert http.post(f"/pledges/{reference}/pay/stripe", data={"_csrf_token": token}).status_code == 303

    assert "GLG-" not in http.get(f"/pledges/{reference}").text  # no receipt before the money arrives
    client = stripe.StripeClient("sk_test_glg", base_addresses={"api": localstripe_url}, max_network_retries=0)
    intent = next(pi for pi in client.v1.payment_intents.list().auto_paging_iter()
                  if pi.metadata.to_dict().get("pledge") == reference)
    client.v1.payment_intents.update(intent.id, params={"payment_method": "pm_card_visa"})
    assert client.v1.payment_intents.confirm(intent.id).status == "succeeded"

    deadline = time.monotonic() + 20  # localstripe delivers one second after the event
    while time.monotonic() < deadline:
        page = http.get(f"/pledges/{reference}").text
        if "GLG-" in page:  # the receipt number, given when the payment is confirmed
            break
        time.sleep(0.5)
    assert "Đã thanh toán" in page and "GLG-" in page, page
