"""The payment state machine and the provider registry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from app import i18n
from app.errors import IllegalTransition, NotFound
from app.payments import registry as payments
from app.payments.registry import (
    ALLOWED_TRANSITIONS,
    FINAL_STATES,
    PaymentProvider,
    PaymentState,
    ProviderRegistry,
    RefundResult,
    StartResult,
    check_transition,
)

S = PaymentState
ALLOWED_PAIRS = [(old, new) for old, moves in ALLOWED_TRANSITIONS.items() for new in moves]
ILLEGAL_PAIRS = [
    (old, new)
    for old, new in itertools.product(PaymentState, repeat=2)
    if new not in ALLOWED_TRANSITIONS[old]
]


def test_every_state_has_an_entry() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(PaymentState)
    assert FINAL_STATES == {S.FAILED, S.CANCELED, S.REFUNDED}
    assert [s.value for s in PaymentState] == [
        "created", "pending", "confirmed", "failed", "canceled", "refunded",
    ]


def test_the_table_is_the_documented_one() -> None:
    assert set(ALLOWED_PAIRS) == {
        (S.CREATED, S.PENDING), (S.CREATED, S.CONFIRMED), (S.CREATED, S.FAILED),
        (S.CREATED, S.CANCELED), (S.PENDING, S.CONFIRMED), (S.PENDING, S.FAILED),
        (S.PENDING, S.CANCELED), (S.CONFIRMED, S.REFUNDED),
    }


@pytest.mark.parametrize(("old", "new"), ALLOWED_PAIRS)
def test_allowed_transitions_pass(old: PaymentState, new: PaymentState) -> None:
    check_transition(old, new)
    check_transition(old.value, new.value)  # type: ignore[arg-type]  # values from the database


@pytest.mark.parametrize(("old", "new"), ILLEGAL_PAIRS)
def test_illegal_transitions_raise_409(old: PaymentState, new: PaymentState) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(old, new)
    assert caught.value.status_code == 409
    assert old.label in caught.value.message and new.label in caught.value.message


def test_the_message_is_in_the_users_language() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.REFUNDED, S.CONFIRMED)
    assert caught.value.message == (
        "Không thể đổi trạng thái thanh toán từ “Đã hoàn tiền” sang “Đã thanh toán”."
    )
    i18n.set_locale("en")
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.REFUNDED, S.CONFIRMED)
    assert caught.value.message == "This payment cannot change from “Refunded” to “Paid”."


def test_unknown_state_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        check_transition("created", "paid")  # type: ignore[arg-type]


@dataclass
class Payment:
    """Stands in for the donations model: has the attributes of PaymentLike."""

    id: int
    provider: str
    amount: int
    state: PaymentState
    reference: str


class CashAtTheLibrary(PaymentProvider):
    """A real, complete provider: money handed over at the library, confirmed by an officer."""

    identifier = "cash"
    display_name = "Cash at the library"

    async def start(self, payment: payments.PaymentLike, **context: Any) -> StartResult:
        return StartResult(state=PaymentState.PENDING, details={"where": context.get("where")})

    def render_pending(self, payment: payments.PaymentLike) -> dict[str, Any]:
        return {"amount": payment.amount, "reference": payment.reference}

    async def refund(self, payment: payments.PaymentLike, amount: int) -> RefundResult:
        if amount > payment.amount:
            raise ValueError("more than was paid")
        return RefundResult(amount=amount)


async def test_a_registry_holds_providers_by_identifier() -> None:
    reg = ProviderRegistry()
    cash = reg.register(CashAtTheLibrary())
    assert reg.get("cash") is cash and "cash" in reg and reg.all() == [cash]
    assert cash.name == "Cash at the library"  # no translation: the msgid itself
    payment = Payment(1, "cash", 500_000, PaymentState.CREATED, "GLG7K2M9QXA")
    started = await reg.get(payment.provider).start(payment, where="Mường La")
    check_transition(payment.state, started.state)
    assert started.details == {"where": "Mường La"}
    assert cash.render_pending(payment) == {"amount": 500_000, "reference": "GLG7K2M9QXA"}
    assert (await cash.refund(payment, 200_000)).amount == 200_000


def test_registering_twice_or_without_identifier_is_refused() -> None:
    reg = ProviderRegistry()
    reg.register(CashAtTheLibrary())
    with pytest.raises(ValueError, match="already registered"):
        reg.register(CashAtTheLibrary())

    class Nameless(CashAtTheLibrary):
        identifier = ""

    with pytest.raises(ValueError, match="no identifier"):
        reg.register(Nameless())


def test_unknown_identifier_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        ProviderRegistry().get("paypal")
    assert caught.value.status_code == 404
    assert caught.value.message == "Phương thức thanh toán không tồn tại."


def test_a_provider_must_implement_every_method() -> None:
    class Incomplete(PaymentProvider):
        identifier = "half"
        display_name = "Half"

        async def start(self, payment: payments.PaymentLike, **context: Any) -> StartResult:
            return StartResult(state=PaymentState.PENDING)

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_the_module_level_registry() -> None:
    """register/get/all work on the app's registry (left as it was found)."""
    before = payments.all()

    class Unique(CashAtTheLibrary):
        identifier = "test-unique-provider"

    provider = payments.register(Unique())
    try:
        assert payments.get("test-unique-provider") is provider
        assert payments.all() == [*before, provider]
    finally:
        payments.registry.unregister("test-unique-provider")
    assert payments.all() == before
