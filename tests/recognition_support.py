"""Factories for the recognition tests: sponsors and pledge rows in any state (written directly, as
the deliveries that set `accepted_value` and `acknowledged_at` are another domain's), rule sets."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import OrganisationKind, Role, SponsorType, User
from app.geography.models import Commune
from app.i18n import VN_TZ
from donations.models import Pledge, PledgeKind, PledgeStatus, Target
from tests.support import MUONG_LA, SON_LA, make_user

YEAR = 2026


def at(month: int, day: int, year: int = YEAR, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=VN_TZ).astimezone(dt.UTC)


async def person(db: AsyncSession, name: str, address: str = "") -> User:
    email = f"p{secrets.token_hex(4)}@example.vn"
    return await make_user(db, Role.SPONSOR, email=email, full_name=name, sponsor_type=SponsorType.INDIVIDUAL,
                           address=address)


async def organisation(db: AsyncSession, name: str, kind: OrganisationKind = OrganisationKind.ENTERPRISE,
                       address: str = "") -> User:
    email = f"o{secrets.token_hex(4)}@example.vn"
    return await make_user(db, Role.SPONSOR, email=email, full_name="Người đại diện",
                           sponsor_type=SponsorType.ORGANISATION, organisation_name=name, organisation_kind=kind,
                           tax_code="5500123456", address=address)


async def money(db: AsyncSession, who: User, amount: int, when: dt.datetime, *,
                status: PledgeStatus = PledgeStatus.PAID, anonymous: bool = False,
                commune: int | None = MUONG_LA) -> Pledge:
    pledge = Pledge(reference="GLG" + secrets.token_hex(4).upper(), sponsor_id=who.id, kind=PledgeKind.MONEY,
                    target=Target.COMMUNE if commune else Target.POOL, commune_code=commune, amount=amount,
                    anonymous=anonymous, status=status, created_at=when, confirmed_at=when)
    db.add(pledge)
    await db.flush()
    return pledge


async def in_kind(db: AsyncSession, who: User, accepted_value: int, when: dt.datetime, *,
                  kind: PledgeKind = PledgeKind.BOOKS, status: PledgeStatus = PledgeStatus.ACKNOWLEDGED,
                  anonymous: bool = False, commune: int = MUONG_LA) -> Pledge:
    pledge = Pledge(reference="GLG" + secrets.token_hex(4).upper(), sponsor_id=who.id, kind=kind,
                    target=Target.COMMUNE, commune_code=commune, item_kind_key="book/children" if kind ==
                    PledgeKind.BOOKS else "equipment/bookshelf", quantity=10, unit_value=accepted_value // 10,
                    anonymous=anonymous, status=status, created_at=when, confirmed_at=when,
                    accepted_value=accepted_value,
                    acknowledged_at=when if status == PledgeStatus.ACKNOWLEDGED else None)
    db.add(pledge)
    await db.flush()
    return pledge


async def other_province_commune(db: AsyncSession) -> int:
    return int(await db.scalar(select(Commune.code).where(Commune.province_code != SON_LA).limit(1)))  # type: ignore[arg-type]


def rules_form(**overrides: Any) -> dict[str, Any]:
    """The default rule set of the issue, for the year, as the officer's form posts it."""
    data: dict[str, Any] = {
        "period_key": str(YEAR), "period_kind": "year", "period_start": f"{YEAR}-01-01",
        "period_end": f"{YEAR}-12-31", "count_money": "true", "count_books": "true", "count_equipment": "true",
        "chair_merit_individual": 50_000_000, "chair_merit_collective": 200_000_000,
        "director_commendation_individual": 10_000_000, "director_commendation_collective": 50_000_000,
        "thank_you_letter_individual": 1_000_000, "thank_you_letter_collective": 5_000_000,
        "note": "",  # a blank optional field, as a browser posts it
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
