"""Provinces and communes after the 2025 merger, and the grassroots libraries in them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, enum_column, utcnow
from app.i18n import lazy


class Province(Base):
    __tablename__ = "provinces"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    name_folded: Mapped[str] = mapped_column(String(100))
    division_type: Mapped[str] = mapped_column(String(32))


class Commune(Base):
    """A commune-level unit (xã, phường, đặc khu). Attributes below the name are the province's."""

    __tablename__ = "communes"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_folded: Mapped[str] = mapped_column(String(100), index=True)
    division_type: Mapped[str] = mapped_column(String(32))
    is_border: Mapped[bool] = mapped_column(Boolean, default=False)
    is_remote: Mapped[bool] = mapped_column(Boolean, default=False)
    population: Mapped[int | None] = mapped_column(Integer)
    priority_weight: Mapped[float] = mapped_column(Float, default=1.0)

    province: Mapped[Province] = relationship(lazy="raise")

    @property
    def matching_id(self) -> str:
        """The commune id used by the matching contract, e.g. "14-3646"."""
        return f"{self.province_code}-{self.code}"


class LibraryKind(enum.StrEnum):
    """The kinds of grassroots library named by the province plan."""

    COMMUNE_PUBLIC_LIBRARY = "commune_public_library"
    COMMUNITY_LEARNING_CENTRE = "community_learning_centre"
    POST_OFFICE_CULTURAL_POINT = "post_office_cultural_point"
    LAW_BOOKCASE = "law_bookcase"

    @property
    def label(self) -> str:
        return LIBRARY_KIND_LABELS[self]


LIBRARY_KIND_LABELS = {
    LibraryKind.COMMUNE_PUBLIC_LIBRARY: lazy("Commune public library"),
    LibraryKind.COMMUNITY_LEARNING_CENTRE: lazy("Community learning centre"),
    LibraryKind.POST_OFFICE_CULTURAL_POINT: lazy("Post office cultural point"),
    LibraryKind.LAW_BOOKCASE: lazy("Law bookcase"),
}


class Library(Base):
    __tablename__ = "libraries"

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_code: Mapped[int] = mapped_column(ForeignKey("communes.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_folded: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[LibraryKind] = mapped_column(enum_column(LibraryKind, 40))
    address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    commune: Mapped[Commune] = relationship(lazy="raise")
