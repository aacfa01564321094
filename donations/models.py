"""Pledges, payments, the public ledger, bank statement lines and the settlements of held money,
webhook events, the outbox."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, enum_column, utcnow
from app.i18n import lazy
from app.payments.registry import PaymentState
from needs.models import Need


class PledgeKind(enum.StrEnum):
    MONEY = "money"
    BOOKS = "books"
    EQUIPMENT = "equipment"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {PledgeKind.MONEY: lazy("Money"), PledgeKind.BOOKS: lazy("Books"),
               PledgeKind.EQUIPMENT: lazy("Equipment")}


class Target(enum.StrEnum):
    NEED = "need"
    COMMUNE = "commune"
    POOL = "pool"


class Delivery(enum.StrEnum):
    TO_COMMUNE = "to_commune"
    TO_HUB = "to_hub"


class Condition(enum.StrEnum):
    NEW = "new"
    USED_GOOD = "used_good"


class PledgeStatus(enum.StrEnum):
    PLEDGED = "pledged"
    AWAITING_PAYMENT = "awaiting_payment"
    AWAITING_DELIVERY = "awaiting_delivery"
    PAID = "paid"
    RECEIVED = "received"
    ALLOCATED = "allocated"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        return PLEDGE_STATUS_LABELS[self]


PLEDGE_STATUS_LABELS = {
    PledgeStatus.PLEDGED: lazy("Pledged"),
    PledgeStatus.AWAITING_PAYMENT: lazy("Awaiting payment"),
    PledgeStatus.AWAITING_DELIVERY: lazy("Awaiting delivery"),
    PledgeStatus.PAID: lazy("Paid"),
    PledgeStatus.RECEIVED: lazy("Received"),
    PledgeStatus.ALLOCATED: lazy("Allocated"),
    PledgeStatus.DELIVERED: lazy("Delivered"),
    PledgeStatus.ACKNOWLEDGED: lazy("Acknowledged by the library"),
    PledgeStatus.CANCELED: lazy("Canceled"),
    PledgeStatus.EXPIRED: lazy("Expired"),
    PledgeStatus.REFUNDED: lazy("Refunded"),
}


# What the honor roll counts (recognition.generation), as SQL the partial indexes below share with
# its query, so that the planner matches them: money once confirmed, in kind once acknowledged.
ROLL_MONEY_STATUSES = (PledgeStatus.PAID, PledgeStatus.ALLOCATED, PledgeStatus.DELIVERED, PledgeStatus.ACKNOWLEDGED)
ROLL_MONEY_COUNTED = f"kind = 'money' AND status IN ({', '.join(repr(s.value) for s in ROLL_MONEY_STATUSES)})"
ROLL_IN_KIND_COUNTED = "status = 'acknowledged' AND kind <> 'money'"


class Pledge(Base):
    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("amount >= 0 AND quantity >= 0 AND unit_value >= 0", name="not_negative"),
        Index("ix_pledges_status_created", "status", "created_at"),
        # The honor roll reads only its province's counted contributions of the period, from these
        # two indexes alone (index-only scans): money when confirmed, in kind when acknowledged.
        Index("ix_pledges_roll_money", "province_code", "confirmed_at",
              postgresql_include=["sponsor_id", "anonymous", "amount"],
              postgresql_where=text(ROLL_MONEY_COUNTED), sqlite_where=text(ROLL_MONEY_COUNTED)),
        Index("ix_pledges_roll_in_kind", "province_code", "acknowledged_at",
              postgresql_include=["sponsor_id", "anonymous", "kind", "accepted_value"],
              postgresql_where=text(ROLL_IN_KIND_COUNTED), sqlite_where=text(ROLL_IN_KIND_COUNTED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    sponsor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[PledgeKind] = mapped_column(enum_column(PledgeKind, 16))
    target: Mapped[Target] = mapped_column(enum_column(Target, 16))
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"), index=True)
    commune_code: Mapped[int | None] = mapped_column(ForeignKey("communes.code"), index=True)
    # The province the gift goes to, set once when the pledge is built: its need's, else its
    # commune's, else (a gift to the pool) the province this deployment serves. The honor roll
    # selects on it without joining needs and communes.
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"))
    # Pool restrictions: None = anywhere / any item kind.
    allowed_communes: Mapped[list[int] | None] = mapped_column(JSON)
    allowed_items: Mapped[list[str] | None] = mapped_column(JSON)
    # Money: amount in VND. In kind: item kind, quantity, unit value (declared or catalogue).
    amount: Mapped[int] = mapped_column(Integer, default=0)
    item_kind_key: Mapped[str | None] = mapped_column(ForeignKey("item_kinds.key"))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    unit_value: Mapped[int] = mapped_column(Integer, default=0)
    condition: Mapped[Condition | None] = mapped_column(enum_column(Condition, 16))
    titles: Mapped[str] = mapped_column(Text, default="")
    delivery: Mapped[Delivery | None] = mapped_column(enum_column(Delivery, 16))
    anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[PledgeStatus] = mapped_column(enum_column(PledgeStatus, 24), default=PledgeStatus.PLEDGED)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    confirmed_at: Mapped[dt.datetime | None]  # paid (money) or received (in kind)
    # In kind: what the receiving library acknowledged, at the pledge's unit value (partial receipts
    # count what arrived). Recognition counts in-kind gifts at this value once acknowledged.
    # (Money: the items it bought that arrived, at the price they were bought for; donations.deliveries.)
    accepted_value: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    acknowledged_at: Mapped[dt.datetime | None]

    sponsor: Mapped[User] = relationship(lazy="raise")
    need: Mapped[Need | None] = relationship(lazy="raise")
    payments: Mapped[list[Payment]] = relationship(lazy="raise", back_populates="pledge", order_by="Payment.id")

    @property
    def value(self) -> int:
        """The pledge's worth in VND: the amount, or items × unit value."""
        return self.amount if self.kind == PledgeKind.MONEY else self.quantity * self.unit_value


def province_of(connection: Any, need_id: int | None, commune_code: int | None) -> int:
    """A gift's province: its need's, else its commune's, else the pool's (this deployment's)."""
    from app.geography.models import Commune
    from app.settings import get_settings

    if need_id is not None:
        code = connection.scalar(select(Need.province_code).where(Need.id == need_id))
        if code is not None:
            return int(code)
    if commune_code is not None:
        code = connection.scalar(select(Commune.province_code).where(Commune.code == commune_code))
        if code is not None:
            return int(code)
    return get_settings().province_code


@event.listens_for(Pledge, "before_insert")
def _fill_province(_mapper: Any, connection: Any, pledge: Pledge) -> None:
    """A pledge written without its province (``build_pledge`` sets it) gets it here, once."""
    if pledge.province_code is None:
        pledge.province_code = province_of(connection, pledge.need_id, pledge.commune_code)


class Payment(Base):
    """One attempt to pay a money pledge, through one provider (DESIGN convention 4)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Integer)
    state: Mapped[PaymentState] = mapped_column(enum_column(PaymentState, 16), default=PaymentState.CREATED)
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)
    receipt_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[dt.datetime | None]

    # Every UPDATE of a payment is conditional on the state this request read (``WHERE state =
    # <read>``): a payment another request settled meanwhile (the card form sent twice, a webhook,
    # a statement) is never written over, even where nothing locks the row (SQLite ignores
    # ``FOR UPDATE``). A clash raises StaleDataError at the flush; services.write_payment turns it
    # into a 409 with a message.
    __mapper_args__ = {"version_id_col": state, "version_id_generator": False}

    # Read from the identity map where the pledge is loaded (its page loads it with its payments);
    # never a hidden query.
    pledge: Mapped[Pledge] = relationship(lazy="raise_on_sql", back_populates="payments")

    @property
    def reference(self) -> str:
        return self.pledge.reference


class LedgerKind(enum.StrEnum):
    PAYMENT = "payment"  # money confirmed
    IN_KIND = "in_kind"  # items received
    ALLOCATION = "allocation"  # value assigned to a need
    REFUND = "refund"  # money given back


class LedgerEntry(Base):
    """Every movement of money or goods, in VND. Payments and receipts in kind add to what the
    province holds; allocations move it to needs; refunds take it away."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[LedgerKind] = mapped_column(enum_column(LedgerKind, 16))
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    amount: Mapped[int] = mapped_column(Integer)  # VND, negative for refunds
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("needs.id"), index=True)
    commune_code: Mapped[int | None] = mapped_column(ForeignKey("communes.code"), index=True)


class PaymentEvent(Base):
    """A provider's webhook event, stored once by its id: a repeat is a no-op."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StatementLineStatus(enum.StrEnum):
    MATCHED = "matched"
    REVIEW = "review"  # short or over payment, or no pledge found: waits for an officer
    DISMISSED = "dismissed"
    HELD = "held"  # money received, not for a pledge awaiting it: waits for a refund or a reassignment


class StatementLine(Base):
    __tablename__ = "statement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    booked_on: Mapped[dt.date]
    amount: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    # The bank's own transaction reference (the statement's fourth column), to find the line in the
    # bank's statement again; '' when the bank gave none (and for lines imported before it was kept).
    bank_reference: Mapped[str] = mapped_column(Text, default="", server_default="")
    reference: Mapped[str | None] = mapped_column(String(16), index=True)
    status: Mapped[StatementLineStatus] = mapped_column(enum_column(StatementLineStatus, 16))
    note: Mapped[str] = mapped_column(Text, default="")
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SettlementKind(enum.StrEnum):
    REFUND = "refund"  # paid back to the sender
    REASSIGN = "reassign"  # with the sender's agreement, the payment of a pledge that awaited it

    @property
    def label(self) -> str:
        return SETTLEMENT_KIND_LABELS[self]


SETTLEMENT_KIND_LABELS = {SettlementKind.REFUND: lazy("Refunded"), SettlementKind.REASSIGN: lazy("Reassigned")}


class HeldMoneySettlement(Base):
    """Part or all of a statement line's held money settled (donations.held_money): what is still
    held is what was held less these amounts. A line's settlements are numbered 1, 2, ... and the
    number is unique per line, so one form submitted twice cannot settle the same money twice."""

    __tablename__ = "held_money_settlements"
    __table_args__ = (
        UniqueConstraint("line_id", "number"),
        CheckConstraint("amount > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("statement_lines.id"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[SettlementKind] = mapped_column(enum_column(SettlementKind, 16))
    amount: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)  # the refund's day (the bank's), or the reassignment's
    note: Mapped[str] = mapped_column(Text)
    # A reassignment: the pledge the money paid, and its payment (whose receipt and ledger entry count it).
    pledge_id: Mapped[int | None] = mapped_column(ForeignKey("pledges.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    line: Mapped[StatementLine] = relationship(lazy="raise")
    pledge: Mapped[Pledge | None] = relationship(lazy="raise")
    actor: Mapped[User | None] = relationship(lazy="raise")


class ReceiptCounter(Base):
    """Gap-free receipt numbers per year (locked row per year)."""

    __tablename__ = "receipt_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class AllocationStatus(enum.StrEnum):
    PLANNED = "planned"  # written by a matching run; goods or money not yet on their way
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    CANCELED = "canceled"  # the pledge was refunded before its goods left

    @property
    def label(self) -> str:
        return ALLOCATION_STATUS_LABELS[self]


ALLOCATION_STATUS_LABELS = {
    AllocationStatus.PLANNED: lazy("Being prepared"),
    AllocationStatus.DISPATCHED: lazy("On its way"),
    AllocationStatus.DELIVERED: lazy("Delivered"),
    AllocationStatus.CANCELED: lazy("Canceled"),
}


class Allocation(Base):
    """Supply (a pledge) assigned to one need: a line of a committed matching run, or (policy
    ``direct``) a gift to one need once it is paid or received. Every delivery goes through one.
    Money buys whole items, so ``quantity`` is always the items covered and ``value`` their worth;
    ``amount`` is the VND drawn from a money pledge (0 for items in kind)."""

    __tablename__ = "allocations"
    __table_args__ = (CheckConstraint("quantity > 0 AND amount >= 0 AND value > 0", name="positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    policy: Mapped[str] = mapped_column(String(16))
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    commune_code: Mapped[int] = mapped_column(ForeignKey("communes.code"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[int] = mapped_column(Integer)
    status: Mapped[AllocationStatus] = mapped_column(enum_column(AllocationStatus, 16),
                                                     default=AllocationStatus.PLANNED)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), index=True)
    # A re-send: the shortfall (a receipt with fewer items than were sent) whose missing items this
    # allocation carries again. It draws nothing more from the pledge (``amount`` 0) and takes no
    # more of the need: the missing items still count there as pledged and allocated.
    resends_receipt_id: Mapped[int | None] = mapped_column(
        ForeignKey("shipment_receipts.id", ondelete="SET NULL", use_alter=True), index=True)


class ShipmentSource(enum.StrEnum):
    HUB = "hub"  # from the province's hub (items received there, or bought with money)
    SPONSOR = "sponsor"  # the sponsor brings or sends the items to the commune

    @property
    def label(self) -> str:
        return SHIPMENT_SOURCE_LABELS[self]


SHIPMENT_SOURCE_LABELS = {ShipmentSource.HUB: lazy("From the province hub"),
                          ShipmentSource.SPONSOR: lazy("Directly from the sponsor")}


class ShipmentStatus(enum.StrEnum):
    PLANNED = "planned"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    CANCELED = "canceled"  # planned by mistake: its allocations wait for another shipment

    @property
    def label(self) -> str:
        return SHIPMENT_STATUS_LABELS[self]


SHIPMENT_STATUS_LABELS = {ShipmentStatus.PLANNED: lazy("Planned"), ShipmentStatus.DISPATCHED: lazy("Dispatched"),
                          ShipmentStatus.DELIVERED: lazy("Delivered"), ShipmentStatus.CANCELED: lazy("Canceled")}


class Shipment(Base):
    """Allocations to one commune travelling together: planned → dispatched → delivered."""

    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_commune_status", "commune_code", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_code: Mapped[int] = mapped_column(ForeignKey("communes.code"))
    source: Mapped[ShipmentSource] = mapped_column(enum_column(ShipmentSource, 16))
    status: Mapped[ShipmentStatus] = mapped_column(enum_column(ShipmentStatus, 16), default=ShipmentStatus.PLANNED)
    carrier: Mapped[str] = mapped_column(String(200), default="")  # carrier and tracking number, free text
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dispatched_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]

    allocations: Mapped[list[Allocation]] = relationship(lazy="raise", order_by="Allocation.id")

    @property
    def code(self) -> str:
        return f"GH-{self.id:05d}"


class ShipmentReceipt(Base):
    """The librarian's confirmation of one allocation: what arrived (partial allowed), a note, an
    optional photo. Less than was sent is a shortfall, listed for the officers until resolved: its
    missing items are re-sent, released (given back to the need), or were replaced outside the
    platform; ``shortfall_handled_at`` is set once all of them are accounted for."""

    __tablename__ = "shipment_receipts"
    __table_args__ = (
        CheckConstraint("quantity_received >= 0 AND quantity_received <= quantity_sent", name="received_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), unique=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"), index=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id"), index=True)
    commune_code: Mapped[int] = mapped_column(ForeignKey("communes.code"), index=True)
    quantity_sent: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer)
    accepted_value: Mapped[int] = mapped_column(Integer, default=0)  # VND the received items are worth
    note: Mapped[str] = mapped_column(Text, default="")
    photo_path: Mapped[str | None] = mapped_column(String(200))  # relative to the upload directory
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shortfall_handled_at: Mapped[dt.datetime | None]
    shortfall_handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    shortfall_handling_note: Mapped[str] = mapped_column(Text, default="")
    # How the missing items were resolved (donations.deliveries): carried again by a new allocation,
    # given back to the need (lost for good), or replaced outside the platform.
    shortfall_resent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shortfall_released: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shortfall_replaced: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def shortfall(self) -> int:
        return self.quantity_sent - self.quantity_received

    @property
    def unresolved(self) -> int:
        """Missing items nobody has decided about yet (0 once the shortfall is handled)."""
        if self.shortfall_handled_at is not None:
            return 0
        return self.shortfall - self.shortfall_resent - self.shortfall_released - self.shortfall_replaced
