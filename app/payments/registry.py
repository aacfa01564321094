"""Payment providers behind a registry, and the payment state machine (DESIGN convention 4).

A provider (card via Stripe, bank transfer via VietQR, ...) is a `PaymentProvider` registered
once under its `identifier`; `Payment.provider` stores that identifier. Providers talk to the
outside world and *report* what happened (`StartResult`, `RefundResult`); they never write
state. The donations services own the `Payment` rows: they call `check_transition(old, new)`,
write the new state and an audit row, in the request's transaction (conventions 1 and 2).

This module knows no database model: a provider sees a payment through the `PaymentLike`
protocol, which the future `Payment` model satisfies by having those attributes.

States and their moves (`ALLOWED_TRANSITIONS`):

    created ──► pending ──► confirmed ──► refunded
       │           │
       ├─► confirmed (confirmed at once: an officer records money already received)
       └─► failed / canceled ◄─┘

`failed`, `canceled` and `refunded` are final: trying again means a new payment. `refunded`
means refunded in full; a partial refund is recorded beside the payment and leaves it
`confirmed`. Staying in the same state is not a transition (webhook handlers skip duplicates
before asking).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from app.errors import IllegalTransition, NotFound
from app.i18n import _, lazy


class PaymentState(enum.StrEnum):
    CREATED = "created"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        """The state's name in the user's language."""
        return _(STATE_LABELS[self])


STATE_LABELS: Mapping[PaymentState, str] = MappingProxyType({
    PaymentState.CREATED: lazy("Payment created"),
    PaymentState.PENDING: lazy("Awaiting payment"),
    PaymentState.CONFIRMED: lazy("Paid"),
    PaymentState.FAILED: lazy("Payment failed"),
    PaymentState.CANCELED: lazy("Payment canceled"),
    PaymentState.REFUNDED: lazy("Refunded"),
})

_S = PaymentState
ALLOWED_TRANSITIONS: Mapping[PaymentState, frozenset[PaymentState]] = MappingProxyType({
    _S.CREATED: frozenset({_S.PENDING, _S.CONFIRMED, _S.FAILED, _S.CANCELED}),
    _S.PENDING: frozenset({_S.CONFIRMED, _S.FAILED, _S.CANCELED}),
    _S.CONFIRMED: frozenset({_S.REFUNDED}),
    _S.FAILED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REFUNDED: frozenset(),
})
FINAL_STATES = frozenset(state for state, moves in ALLOWED_TRANSITIONS.items() if not moves)


def check_transition(old: PaymentState, new: PaymentState) -> None:
    """Return if a payment may go from `old` to `new`; raise IllegalTransition (409) if not."""
    old, new = PaymentState(old), PaymentState(new)
    if new not in ALLOWED_TRANSITIONS[old]:
        raise IllegalTransition(
            _(
                "This payment cannot change from “%(old)s” to “%(new)s”.",
                old=old.label,
                new=new.label,
            )
        )


class PaymentLike(Protocol):
    """What a provider may read from a payment (the donations `Payment` model has these)."""

    id: Any
    provider: str
    amount: int  # VND
    state: PaymentState
    reference: str  # the pledge's reference code, e.g. GLG7K2M9QXA


@dataclass(frozen=True)
class StartResult:
    """What starting a payment gave: the state to move to, the provider's id, where to go next."""

    state: PaymentState
    external_id: str | None = None
    redirect_url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    amount: int  # VND
    external_id: str | None = None
    completed: bool = True


class PaymentProvider(ABC):
    """One way to pay. Subclasses set `identifier` and `display_name` (an English msgid)."""

    identifier: str
    display_name: str

    @abstractmethod
    async def start(self, payment: PaymentLike, **context: Any) -> StartResult:
        """Begin paying (create the PaymentIntent, prepare the QR...); nothing is written."""

    @abstractmethod
    def render_pending(self, payment: PaymentLike) -> dict[str, Any]:
        """The context for the template that shows a pending payment (QR, card form...)."""

    @abstractmethod
    async def refund(self, payment: PaymentLike, amount: int) -> RefundResult:
        """Give `amount` VND of a confirmed payment back."""

    @property
    def name(self) -> str:
        """`display_name` in the user's language."""
        return _(self.display_name)


class ProviderRegistry:
    """Providers by identifier, in the order they were registered."""

    def __init__(self) -> None:
        self._providers: dict[str, PaymentProvider] = {}

    def register(self, provider: PaymentProvider) -> PaymentProvider:
        identifier = getattr(provider, "identifier", "")
        if not identifier or not isinstance(identifier, str):
            raise ValueError(f"{type(provider).__name__} has no identifier")
        if not getattr(provider, "display_name", ""):
            raise ValueError(f"provider {identifier!r} has no display_name")
        if identifier in self._providers:
            raise ValueError(f"a payment provider {identifier!r} is already registered")
        self._providers[identifier] = provider
        return provider

    def unregister(self, identifier: str) -> None:
        del self._providers[identifier]

    def get(self, identifier: str) -> PaymentProvider:
        try:
            return self._providers[identifier]
        except KeyError:
            raise NotFound(_("Unknown payment method.")) from None

    def all(self) -> list[PaymentProvider]:
        return list(self._providers.values())

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._providers


registry = ProviderRegistry()


def register(provider: PaymentProvider) -> PaymentProvider:
    return registry.register(provider)


def get(identifier: str) -> PaymentProvider:
    return registry.get(identifier)


def all() -> list[PaymentProvider]:  # shadows the builtin here only: DESIGN's name for it
    return registry.all()
