"""Payments: the provider registry, VietQR payloads, the Stripe client."""
