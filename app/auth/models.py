"""Accounts: province officers, commune librarians and sponsors."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, enum_column, utcnow
from app.geography.models import Library
from app.i18n import lazy


class Role(enum.StrEnum):
    OFFICER = "officer"
    LIBRARIAN = "librarian"
    SPONSOR = "sponsor"


ROLE_LABELS = {
    Role.OFFICER: lazy("Province officer"),
    Role.LIBRARIAN: lazy("Commune librarian"),
    Role.SPONSOR: lazy("Sponsor"),
}


class SponsorType(enum.StrEnum):
    INDIVIDUAL = "individual"
    ORGANISATION = "organisation"


class OrganisationKind(enum.StrEnum):
    ENTERPRISE = "enterprise"
    ASSOCIATION = "association"
    SCHOOL = "school"
    OTHER = "other"

    @property
    def label(self) -> str:
        return ORGANISATION_KIND_LABELS[self]


ORGANISATION_KIND_LABELS = {
    OrganisationKind.ENTERPRISE: lazy("Enterprise"),
    OrganisationKind.ASSOCIATION: lazy("Association"),
    OrganisationKind.SCHOOL: lazy("School"),
    OrganisationKind.OTHER: lazy("Other organisation"),
}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, 16), index=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    # A postal address (optional): shown beside the name on honor rolls, unless the gift is anonymous.
    address: Mapped[str] = mapped_column(String(300), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Sponsors
    sponsor_type: Mapped[SponsorType | None] = mapped_column(enum_column(SponsorType, 16))
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    organisation_kind: Mapped[OrganisationKind | None] = mapped_column(enum_column(OrganisationKind, 16))
    tax_code: Mapped[str | None] = mapped_column(String(14))
    # Librarians are bound to one library
    library_id: Mapped[int | None] = mapped_column(
        ForeignKey("libraries.id", ondelete="RESTRICT"), index=True
    )

    library: Mapped[Library | None] = relationship(lazy="raise")

    @property
    def display_name(self) -> str:
        return self.organisation_name or self.full_name
