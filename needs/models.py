"""The item catalogue and the needs that commune libraries post."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Computed, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, IntEnumType, enum_column, utcnow
from app.geography.models import Library
from app.i18n import get_locale, lazy


class ItemCategory(enum.StrEnum):
    BOOK = "book"
    EQUIPMENT = "equipment"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {ItemCategory.BOOK: lazy("Books"), ItemCategory.EQUIPMENT: lazy("Equipment")}


class ItemKind(Base):
    """A kind of item, keyed like `book/children` or `equipment/computer` (the matching contract's
    item keys). Names are data in both languages, since officers add kinds."""

    __tablename__ = "item_kinds"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[ItemCategory] = mapped_column(enum_column(ItemCategory, 16))
    name_vi: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    default_unit_value: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def name(self) -> str:
        return self.name_vi if get_locale() == "vi" else self.name_en


class Urgency(enum.IntEnum):
    """Stored as an integer so the board can sort by it."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return URGENCY_LABELS[self]


URGENCY_LABELS = {
    Urgency.LOW: lazy("Low"),
    Urgency.NORMAL: lazy("Normal"),
    Urgency.HIGH: lazy("High"),
    Urgency.CRITICAL: lazy("Critical"),
}


class BookLanguage(enum.StrEnum):
    VIETNAMESE = "vi"
    THAI = "thai"
    HMONG = "hmong"
    BILINGUAL = "bilingual"

    @property
    def label(self) -> str:
        return LANGUAGE_LABELS[self]


LANGUAGE_LABELS = {
    BookLanguage.VIETNAMESE: lazy("Vietnamese"),
    BookLanguage.THAI: lazy("Thai"),
    BookLanguage.HMONG: lazy("Hmong"),
    BookLanguage.BILINGUAL: lazy("Bilingual"),
}


class NeedStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    REJECTED = "rejected"
    APPROVED = "approved"
    OPEN = "open"
    FULFILLED = "fulfilled"
    CLOSED = "closed"
    EXPIRED = "expired"
    # Withdrawn by its library before the province approved it: never public.
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_public(self) -> bool:
        return self in PUBLIC_STATUSES


STATUS_LABELS = {
    NeedStatus.DRAFT: lazy("Draft"),
    NeedStatus.SUBMITTED: lazy("Awaiting review"),
    NeedStatus.RETURNED: lazy("Returned for changes"),
    NeedStatus.REJECTED: lazy("Rejected"),
    NeedStatus.APPROVED: lazy("Approved"),
    NeedStatus.OPEN: lazy("Open"),
    NeedStatus.FULFILLED: lazy("Fulfilled"),
    NeedStatus.CLOSED: lazy("Closed"),
    NeedStatus.EXPIRED: lazy("Expired"),
    NeedStatus.WITHDRAWN: lazy("Withdrawn"),
}
# What anyone may see: needs the province has approved.
PUBLIC_STATUSES = frozenset(
    {NeedStatus.APPROVED, NeedStatus.OPEN, NeedStatus.FULFILLED, NeedStatus.CLOSED, NeedStatus.EXPIRED}
)


class Need(Base):
    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_value > 0", name="unit_value_positive"),
        CheckConstraint(
            "pledged_quantity >= 0 AND allocated_quantity >= 0 AND delivered_quantity >= 0",
            name="progress_not_negative",
        ),
        # The board's paths: each filter with the status, and each sort after the status.
        Index("ix_needs_status_province_created", "status", "province_code", "created_at"),
        Index("ix_needs_status_urgency_created", "status", "urgency", "created_at"),
        Index("ix_needs_status_coverage", "status", "coverage_permille"),
        Index("ix_needs_library_status", "library_id", "status"),
        Index("ix_needs_commune_status", "commune_code", "status"),
        Index("ix_needs_item_status", "item_kind_key", "status"),
        # Urgency with an item or a category (a list of items): counted from the index alone.
        Index("ix_needs_status_urgency_item", "status", "urgency", "item_kind_key"),
        # The posting form's one-time key: a form sent twice (a double tap, a retry after a lost
        # answer) makes one need.
        Index("uq_needs_form_key", "form_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id"))
    # Copied from the library (which never moves), so the board filters without joins.
    commune_code: Mapped[int] = mapped_column(ForeignKey("communes.code"))
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"))
    item_kind_key: Mapped[str] = mapped_column(ForeignKey("item_kinds.key"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_value: Mapped[int] = mapped_column(Integer)
    urgency: Mapped[Urgency] = mapped_column(IntEnumType(Urgency), default=Urgency.NORMAL)
    language: Mapped[BookLanguage | None] = mapped_column(enum_column(BookLanguage, 16))
    reason: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[NeedStatus] = mapped_column(enum_column(NeedStatus, 16), default=NeedStatus.DRAFT)
    moderation_note: Mapped[str] = mapped_column(Text, default="")
    pledged_quantity: Mapped[int] = mapped_column(Integer, default=0)
    allocated_quantity: Mapped[int] = mapped_column(Integer, default=0)
    delivered_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # Pledged share in thousandths, kept by the database, so "least covered" sorts on an index.
    coverage_permille: Mapped[int] = mapped_column(
        Integer, Computed("pledged_quantity * 1000 / quantity", persisted=True)
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    approved_at: Mapped[dt.datetime | None]
    form_key: Mapped[str | None] = mapped_column(String(32))

    library: Mapped[Library] = relationship(lazy="raise")
    item_kind: Mapped[ItemKind] = relationship(lazy="raise")
    titles: Mapped[list[NeedTitle]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="NeedTitle.position"
    )

    @property
    def value(self) -> int:
        """The need's total value in VND."""
        return self.quantity * self.unit_value

    @property
    def remaining(self) -> int:
        """Items not yet pledged."""
        return max(0, self.quantity - self.pledged_quantity)

    def share(self, done: int) -> float:
        return min(1.0, done / self.quantity) if self.quantity else 0.0


class NeedTitle(Base):
    """A specific title a book need asks for."""

    __tablename__ = "need_titles"

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(200), default="")
    isbn: Mapped[str | None] = mapped_column(String(13))
