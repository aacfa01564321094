"""A pledge's province, stored once (its need's, else its commune's, else the pool's), the migration
that backfills it, and the roll computed from it: the same roll as the joins through needs and
communes gave, on a hand-made case; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.auth.models import Role, SponsorType, User
from app.cli import alembic_config, migrate, seed_reference
from app.geography.models import Commune
from app.settings import get_settings
from donations import services as donations
from donations.models import ROLL_MONEY_STATUSES, Pledge, PledgeKind, PledgeStatus, Target
from donations.schemas import PledgeIn
from needs.models import Need
from recognition import nominations, rules, services
from recognition.generation import period_bounds
from recognition.models import FORM_ORDER, Category
from tests.conftest import create_database, drop_database
from tests.recognition_support import YEAR, at, in_kind, money, organisation, other_province_commune, person
from tests.support import MUONG_LA, SON_LA, make_library, make_need, make_user
from tests.test_recognition import default_rules

BEFORE = "233c5cd83d08"  # the revision before pledges had a province


async def _province(db: AsyncSession, code: int) -> int:
    return int(await db.scalar(select(Commune.province_code).where(Commune.code == code)))  # type: ignore[arg-type]


async def test_build_pledge_stores_the_need_the_commune_or_the_pool_province(db: AsyncSession) -> None:
    sponsor = await make_user(db, Role.SPONSOR, email="tai.tro@example.vn")
    need = await make_need(db, await make_library(db))
    elsewhere = await other_province_commune(db)
    settings = get_settings().model_copy(update={"province_code": 1})  # a deployment serving Hà Nội

    to_need = await donations.build_pledge(db, sponsor, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=2), settings)
    to_commune = await donations.build_pledge(db, sponsor, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.COMMUNE, commune_code=elsewhere, amount=500_000), settings)
    to_pool = await donations.build_pledge(db, sponsor, PledgeIn(
        kind=PledgeKind.MONEY, target=Target.POOL, amount=500_000), settings)

    assert to_need.province_code == need.province_code == SON_LA
    assert to_commune.province_code == await _province(db, elsewhere) != SON_LA
    assert to_pool.province_code == 1


async def test_a_pledge_written_without_its_province_gets_it_once(db: AsyncSession) -> None:
    who = await person(db, "Nguyễn Văn An")
    need = await make_need(db, await make_library(db))
    elsewhere = await other_province_commune(db)
    to_need = Pledge(reference="GLGTNEED0001", sponsor_id=who.id, kind=PledgeKind.MONEY, target=Target.NEED,
                     need_id=need.id, commune_code=need.commune_code, amount=1, status=PledgeStatus.PAID)
    db.add(to_need)
    to_commune = await money(db, who, 1, at(1, 1), commune=elsewhere)
    to_pool = await money(db, who, 1, at(1, 1), commune=None)
    await db.flush()
    assert (to_need.province_code, to_commune.province_code, to_pool.province_code) == (
        SON_LA, await _province(db, elsewhere), get_settings().province_code)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = create_database(request.param, tmp_path)
    yield url
    drop_database(url)


async def _arrange(url: str) -> dict[str, int]:
    """Pledges to a need (whose province is, here, not its commune's: the need's wins), to a commune
    of another province and to the pool."""
    engine = create_async_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        await seed_reference(db)
        who = await person(db, "Nguyễn Văn An")
        need = await make_need(db, await make_library(db))
        need.province_code = 1
        elsewhere = await other_province_commune(db)
        ids = {
            "need": (await _write(db, Pledge(reference="GLGTNEED0001", sponsor_id=who.id, kind=PledgeKind.MONEY,
                                             target=Target.NEED, need_id=need.id, commune_code=MUONG_LA, amount=1,
                                             status=PledgeStatus.PAID))).id,
            "commune": (await money(db, who, 1, at(1, 1), commune=elsewhere)).id,
            "pool": (await money(db, who, 1, at(1, 1), commune=None)).id,
            "elsewhere": await _province(db, elsewhere),
        }
        await db.commit()
    await engine.dispose()
    return ids


async def _write(db: AsyncSession, pledge: Pledge) -> Pledge:
    db.add(pledge)
    await db.flush()
    return pledge


async def _provinces(url: str) -> dict[int, int]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = dict((await conn.execute(select(Pledge.id, Pledge.province_code))).tuples().all())
    await engine.dispose()
    return rows


def test_the_migration_backfills_existing_pledges(empty_database: str) -> None:
    migrate(empty_database)
    ids = asyncio.run(_arrange(empty_database))
    command.downgrade(alembic_config(empty_database), BEFORE)  # the column goes
    migrate(empty_database)  # and comes back, computed from the needs and communes
    assert asyncio.run(_provinces(empty_database)) == {
        ids["need"]: 1, ids["commune"]: ids["elsewhere"], ids["pool"]: get_settings().province_code}


# --- the roll: the same as the joins gave ---------------------------------------------------------


async def reference_roll(db: AsyncSession, pool_province: int) -> list[tuple[Any, ...]]:
    """The roll as the former query computed it, in Python: each pledge's province through its
    need and its commune (else the pool's), the period's counted contributions per sponsor and
    anonymity, tiered and ranked."""
    rule_set = await rules.latest_rule_set(db, SON_LA, str(YEAR))
    assert rule_set is not None
    lower, upper = period_bounds(rule_set.period_start, rule_set.period_end)
    needs = dict((await db.execute(select(Need.id, Need.province_code))).tuples().all())
    communes = dict((await db.execute(select(Commune.code, Commune.province_code))).tuples().all())
    users = {u.id: u for u in await db.scalars(select(User))}
    groups: dict[tuple[int, bool], list[Any]] = {}
    for p in await db.scalars(select(Pledge)):
        province = needs.get(p.need_id) or communes.get(p.commune_code) or pool_province
        if p.kind == PledgeKind.MONEY:
            counted = rule_set.count_money and p.status in ROLL_MONEY_STATUSES and p.confirmed_at is not None
            value, when = p.amount, p.confirmed_at
        else:
            on = rule_set.count_books if p.kind == PledgeKind.BOOKS else rule_set.count_equipment
            counted = on and p.status == PledgeStatus.ACKNOWLEDGED and p.acknowledged_at is not None
            value, when = p.accepted_value, p.acknowledged_at
        if counted and province == SON_LA and lower <= when < upper:
            group = groups.setdefault((p.sponsor_id, p.anonymous), [0, 0, when])
            group[0], group[1], group[2] = group[0] + value, group[1] + 1, min(group[2], when)
    rows = []
    for (sponsor_id, anonymous), (total, gifts, first_at) in groups.items():
        user = users[sponsor_id]
        category = Category.COLLECTIVE if user.sponsor_type == SponsorType.ORGANISATION.value else Category.INDIVIDUAL
        form = next((f for f in FORM_ORDER if total >= rule_set.threshold(f, category)), None)
        if form is not None:
            rows.append((form.rank, category.value, -total, first_at, sponsor_id, anonymous,
                         None if anonymous else user.display_name, gifts))
    rows.sort()
    ranked, rank, previous = [], 0, None
    for form_rank, category, minus_total, first_at, sponsor_id, anonymous, name, gifts in rows:
        rank = rank + 1 if (form_rank, category) == previous else 1
        previous = (form_rank, category)
        ranked.append((form_rank, category, rank, sponsor_id, anonymous, name, -minus_total, gifts, first_at))
    return ranked


async def test_the_roll_is_the_one_the_joins_gave(db: AsyncSession) -> None:
    sponsors = [await person(db, f"Người {i}") for i in range(6)] + [await organisation(db, f"Công ty {i}")
                                                                       for i in range(3)]
    need = await make_need(db, await make_library(db))
    elsewhere = await other_province_commune(db)
    day = dt.timedelta(days=1)
    for i, who in enumerate(sponsors):
        for j in range(4):
            when = at(1 + (i + j) % 12, 1 + j)
            await money(db, who, (i + 1) * 3_000_000 * (j + 1), when, anonymous=(i + j) % 5 == 0,
                        commune=(None, MUONG_LA, elsewhere)[j % 3])
            await in_kind(db, who, 2_000_000 * (i + 1), when + day,
                          kind=(PledgeKind.BOOKS, PledgeKind.EQUIPMENT)[j % 2])
        await in_kind(db, who, 5_000_000, at(6, 1), status=PledgeStatus.DELIVERED)  # not yet acknowledged
        await money(db, who, 7_000_000, at(6, 2), status=PledgeStatus.REFUNDED)
        await money(db, who, 9_000_000, at(12, 31, year=YEAR - 1, hour=23))  # last year, in Vietnam
        db.add(Pledge(reference=f"GLGTNEED{i:04d}", sponsor_id=who.id, kind=PledgeKind.MONEY, target=Target.NEED,
                      need_id=need.id, commune_code=need.commune_code, amount=4_000_000 * (i + 1),
                      status=PledgeStatus.ALLOCATED, created_at=at(5, 5), confirmed_at=at(5, 5 + i)))
    await db.flush()
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    await db.commit()

    entries = await services.entries(db, roll.id)
    got = [(e.form_rank, e.category.value, e.rank, e.sponsor_id, e.anonymous, e.name, e.value, e.gift_count,
            e.first_at) for e in entries]
    expected = await reference_roll(db, SON_LA)
    assert got == expected
    assert len({e[4] for e in got}) == 2 and len({(e[0], e[1]) for e in got}) >= 3  # a case with some variety
    # The summary, as `services.summary` reads it back from the entries.
    assert roll.summary == await services.summary(db, roll.id)
    assert roll.anonymous_count == sum(1 for e in got if e[4])


async def test_the_summary_counts_nominations_as_reading_the_entries_back(db: AsyncSession) -> None:
    from recognition.schemas import NominationIn

    await money(db, await person(db, "Nguyễn Văn An"), 60_000_000, at(3, 1))
    await money(db, await person(db, "Ẩn Danh"), 20_000_000, at(3, 2), anonymous=True)
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    for name, kind, form in (("Lò Văn Thư", "librarian", "chair_merit"), ("Trường Mường La", "school",
                                                                            "thank_you_letter")):
        await nominations.nominate(db, None, SON_LA, NominationIn.model_validate({
            "period_key": str(YEAR), "nominee_name": name, "nominee_kind": kind, "form": form,
            "work": "Thư viện lưu động", "evidence": "Biên bản"}))
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    await db.flush()
    assert roll.summary == await services.summary(db, roll.id)
    assert [(r["form"], r["category"], r["count"], r["nominated"]) for r in roll.summary] == [
        ("chair_merit", "individual", 2, 1), ("director_commendation", "individual", 1, 0),
        ("thank_you_letter", "collective", 1, 1)]
