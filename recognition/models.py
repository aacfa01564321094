"""Recognition: versioned rule sets per period, nominations, honor rolls and their entries.

A rule set is never edited: a change makes a new version of the period's rules, and a roll records
the version it was generated with. A published roll is never edited either: a correction is a new
version (with a change note) that supersedes it; an entry can only be revoked, with a reason.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.db import Base, enum_column, utcnow
from app.i18n import lazy
from app.text import fold


class CommendationForm(enum.StrEnum):
    """The forms of commendation, highest first (their `rank`)."""

    CHAIR_MERIT = "chair_merit"  # Bằng khen của Chủ tịch UBND tỉnh
    DIRECTOR_COMMENDATION = "director_commendation"  # Giấy khen của Giám đốc Sở VHTTDL
    THANK_YOU_LETTER = "thank_you_letter"  # Thư cảm ơn

    @property
    def label(self) -> str:
        return FORM_LABELS[self]

    @property
    def rank(self) -> int:
        return FORM_ORDER.index(self) + 1


FORM_ORDER = [CommendationForm.CHAIR_MERIT, CommendationForm.DIRECTOR_COMMENDATION,
              CommendationForm.THANK_YOU_LETTER]
# The forms the Department awards by its own decision (its director's); the Certificate of Merit is
# the People's Committee's, by the roll's decision.
DEPARTMENT_FORMS = frozenset({CommendationForm.DIRECTOR_COMMENDATION, CommendationForm.THANK_YOU_LETTER})
FORM_LABELS = {
    CommendationForm.CHAIR_MERIT: lazy("Certificate of Merit of the Chairman of the Provincial People's Committee"),
    CommendationForm.DIRECTOR_COMMENDATION: lazy(
        "Certificate of Commendation of the Director of the Department of Culture, Sports and Tourism"),
    CommendationForm.THANK_YOU_LETTER: lazy("Letter of thanks"),
}


class Category(enum.StrEnum):
    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {Category.COLLECTIVE: lazy("Collectives"), Category.INDIVIDUAL: lazy("Individuals")}


class PeriodKind(enum.StrEnum):
    YEAR = "year"
    CAMPAIGN = "campaign"


class RuleSet(Base):
    """One version of a period's rules: what counts, and the thresholds (VND) of each form."""

    __tablename__ = "recognition_rule_sets"
    __table_args__ = (
        UniqueConstraint("province_code", "period_key", "version", name="uq_recognition_rule_sets_period_version"),
        CheckConstraint("period_end >= period_start", name="period_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"), index=True)
    period_key: Mapped[str] = mapped_column(String(80))  # "2026" or a campaign's name
    period_kind: Mapped[PeriodKind] = mapped_column(enum_column(PeriodKind, 16))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    count_money: Mapped[bool] = mapped_column(Boolean, default=True)
    count_books: Mapped[bool] = mapped_column(Boolean, default=True)
    count_equipment: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"chair_merit": {"individual": 50000000, "collective": 200000000}, ...}
    thresholds: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def threshold(self, form: CommendationForm, category: Category) -> int:
        return int(self.thresholds[form.value][category.value])


class NomineeKind(enum.StrEnum):
    LIBRARIAN = "librarian"
    VOLUNTEER = "volunteer"
    SCHOOL = "school"
    COLLECTIVE = "collective"

    @property
    def label(self) -> str:
        return NOMINEE_KIND_LABELS[self]

    @property
    def category(self) -> Category:
        return Category.INDIVIDUAL if self in (NomineeKind.LIBRARIAN, NomineeKind.VOLUNTEER) else Category.COLLECTIVE


NOMINEE_KIND_LABELS = {
    NomineeKind.LIBRARIAN: lazy("Librarian"),
    NomineeKind.VOLUNTEER: lazy("Volunteer"),
    NomineeKind.SCHOOL: lazy("School"),
    NomineeKind.COLLECTIVE: lazy("Collective"),
}


class Nomination(Base):
    """An officer's proposal to commend someone for their work (not a donation), with evidence."""

    __tablename__ = "recognition_nominations"

    id: Mapped[int] = mapped_column(primary_key=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"))
    period_key: Mapped[str] = mapped_column(String(80))
    nominee_name: Mapped[str] = mapped_column(String(200))
    # The name folded (`app.text.fold`: no case, diacritics or extra spaces), kept with the name by
    # `nominee_name`'s validator: one open nomination per name, kind and period, held by a unique
    # index even against two identical submits at the same instant. NULL only for a duplicate that
    # was already open when the index came (migration e5f6a7b8c9d0), left as it was.
    name_key: Mapped[str | None] = mapped_column(String(200))
    nominee_kind: Mapped[NomineeKind] = mapped_column(enum_column(NomineeKind, 16))
    address: Mapped[str] = mapped_column(String(300), default="")  # address or organisation
    form: Mapped[CommendationForm] = mapped_column(enum_column(CommendationForm, 32))
    work: Mapped[str] = mapped_column(Text)  # e.g. "ran the mobile library in 12 villages"
    evidence: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Withdrawn (a mistake, or the nominee declined): left out of rolls generated from then on;
    # published rolls keep what they published (a correction leaves it out).
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (
        Index("ix_recognition_nominations_period", "province_code", "period_key"),
        Index("uq_recognition_nominations_open_name", "province_code", "period_key", "nominee_kind", "name_key",
              unique=True, postgresql_where=text("withdrawn_at IS NULL"), sqlite_where=text("withdrawn_at IS NULL")),
    )

    @validates("nominee_name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = fold(name)
        return name


class RollStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return ROLL_STATUS_LABELS[self]


ROLL_STATUS_LABELS = {
    RollStatus.DRAFT: lazy("Draft"),
    RollStatus.SUBMITTED: lazy("Submitted for approval"),
    RollStatus.APPROVED: lazy("Approved"),
    RollStatus.PUBLISHED: lazy("Published"),
}


class HonorRoll(Base):
    """One version of a period's honor roll."""

    __tablename__ = "honor_rolls"
    __table_args__ = (
        UniqueConstraint("province_code", "period_key", "version", name="uq_honor_rolls_period_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"), index=True)
    period_key: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer, default=1)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("recognition_rule_sets.id"), index=True)
    status: Mapped[RollStatus] = mapped_column(enum_column(RollStatus, 16), default=RollStatus.DRAFT, index=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("honor_rolls.id"))
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("honor_rolls.id"))
    change_note: Mapped[str] = mapped_column(Text, default="")
    # Totals over everything counted in the period (named and anonymous, in a form or not).
    total_value: Mapped[int] = mapped_column(BigInteger, default=0)
    contributor_count: Mapped[int] = mapped_column(Integer, default=0)
    anonymous_count: Mapped[int] = mapped_column(Integer, default=0)  # anonymous sponsors in a form
    # [{"category", "form", "named", "anonymous", "value"}] per category and form
    summary: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Who the period's decisions left out of this version, computed with it: [{"name", "form",
    # "category", "reason", "revoked", "version", "decision_id"}] (the version where they were revoked
    # or excluded).
    left_out: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decision_number: Mapped[str | None] = mapped_column(String(60))
    decision_date: Mapped[dt.date | None] = mapped_column(Date)
    signer: Mapped[str | None] = mapped_column(String(200))
    # The Department's decision for its forms (DEPARTMENT_FORMS), when the roll has any.
    department_decision_number: Mapped[str | None] = mapped_column(String(60))
    department_decision_date: Mapped[dt.date | None] = mapped_column(Date)
    department_signer: Mapped[str | None] = mapped_column(String(200))
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime | None]

    rule_set: Mapped[RuleSet] = relationship(lazy="raise")

    @property
    def is_current(self) -> bool:
        return self.status == RollStatus.PUBLISHED and self.superseded_by_id is None

    @property
    def decision(self) -> Decision:
        """The roll's decision (the People's Committee's)."""
        return Decision(self.decision_number, self.decision_date, self.signer)

    @property
    def department_decision(self) -> Decision:
        """The Department's decision for its forms (all None when the roll has none)."""
        return Decision(self.department_decision_number, self.department_decision_date, self.department_signer)

    def decision_for(self, form: CommendationForm) -> Decision:
        """The decision an entry of this form was awarded by: the Department's for its forms (where
        the roll has one: rolls approved before it was asked for have only the roll's), else the roll's."""
        return self.department_decision if form in DEPARTMENT_FORMS and self.has_department_decision else self.decision

    @property
    def has_department_decision(self) -> bool:
        return bool(self.department_decision_number)

    @property
    def has_department_forms(self) -> bool:
        """Whether any entry is in one of the Department's forms (its approval needs that decision)."""
        return any(CommendationForm(row["form"]) in DEPARTMENT_FORMS and row["count"] for row in self.summary)


# The fields of the Department's decision, as HonorRoll and the approval form name them.
DEPARTMENT_DECISION_FIELDS = ("department_decision_number", "department_decision_date", "department_signer")


@dataclass(frozen=True)
class Decision:
    number: str | None
    date: dt.date | None
    signer: str | None

    def as_json(self) -> dict[str, str | None]:
        """As the snapshot and the audit rows keep it."""
        return {"number": self.number, "date": self.date.isoformat() if self.date else None, "signer": self.signer}


class EntrySource(enum.StrEnum):
    DONATIONS = "donations"
    NOMINATION = "nomination"


class RollEntry(Base):
    """One commended sponsor or nominee in a roll. Anonymous sponsors are kept (they are counted)
    but have no name and no certificate."""

    __tablename__ = "honor_roll_entries"
    __table_args__ = (
        Index("ix_honor_roll_entries_roll_position", "roll_id", "form_rank", "category", "rank"),
        # Codes are given when a roll is published: a draft's entries (all of them while it is
        # generated) have none, and are not in this index.
        Index("uq_honor_roll_entries_code", "code", unique=True, postgresql_where=text("code IS NOT NULL"),
              sqlite_where=text("code IS NOT NULL")),
        # A sponsor's certificates (their page lists them): only entries with a code, so generating a
        # draft does not maintain it.
        Index("ix_honor_roll_entries_sponsor_certificates", "sponsor_id", postgresql_where=text("code IS NOT NULL"),
              sqlite_where=text("code IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    roll_id: Mapped[int] = mapped_column(ForeignKey("honor_rolls.id", ondelete="CASCADE"))
    source: Mapped[EntrySource] = mapped_column(enum_column(EntrySource, 16))
    category: Mapped[Category] = mapped_column(enum_column(Category, 16))
    form: Mapped[CommendationForm] = mapped_column(enum_column(CommendationForm, 32))
    form_rank: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)  # within category and form: value desc, earliest first
    # The sponsor the entry was computed from. No foreign key: an entry is a snapshot (its name is
    # copied), and checking one per row would cost a third of a large roll's generation.
    sponsor_id: Mapped[int | None] = mapped_column(Integer)
    nomination_id: Mapped[int | None] = mapped_column(ForeignKey("recognition_nominations.id"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(200))
    name_folded: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    value: Mapped[int] = mapped_column(BigInteger, default=0)  # VND counted
    gift_count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[dt.datetime | None]
    work: Mapped[str] = mapped_column(Text, default="")  # nominations: what they did
    code: Mapped[str | None] = mapped_column(String(32))  # certificate verification, once published
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    roll: Mapped[HonorRoll] = relationship(lazy="raise")


class EntryDecision(Base):
    """What the office decided about one sponsor or nominee of a period's roll, which every version
    of the period generated afterwards honours (generating a draft again, a correction): an edit of
    the name, address or form (NULL: as generated), or leaving them out, with the reason (an
    officer's exclusion, or a revocation of their certificate)."""

    __tablename__ = "recognition_entry_decisions"
    __table_args__ = (
        UniqueConstraint("province_code", "period_key", "sponsor_id", name="uq_recognition_entry_decisions_sponsor"),
        UniqueConstraint("province_code", "period_key", "nomination_id",
                         name="uq_recognition_entry_decisions_nomination"),
        CheckConstraint("(sponsor_id IS NULL) <> (nomination_id IS NULL)", name="one_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"))
    period_key: Mapped[str] = mapped_column(String(80))
    sponsor_id: Mapped[int | None] = mapped_column(Integer)
    nomination_id: Mapped[int | None] = mapped_column(ForeignKey("recognition_nominations.id"))
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    form: Mapped[CommendationForm | None] = mapped_column(enum_column(CommendationForm, 32))
    excluded_reason: Mapped[str | None] = mapped_column(Text)  # not NULL: left out
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)  # left out because revoked
    roll_id: Mapped[int] = mapped_column(ForeignKey("honor_rolls.id"))  # the version it was decided in
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
