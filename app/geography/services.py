"""Geography: seeding from `vietnam-provinces`, commune attributes, libraries, search."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from vietnam_provinces import Province as VNProvince
from vietnam_provinces import Ward as VNWard

from app import audit
from app.auth.models import User
from app.errors import NotFound, ValidationFailed
from app.geography.models import Commune, Library, Province
from app.geography.schemas import CommuneUpdate, LibraryCreate
from app.i18n import _
from app.text import fold, like_pattern


async def seed_geography(session: AsyncSession) -> int:
    """Insert all provinces and communes if the tables are empty; returns communes inserted."""
    if await session.scalar(select(func.count()).select_from(Province)):
        return 0
    await session.execute(
        insert(Province),
        [
            {
                "code": int(p.code),
                "name": p.name,
                "name_folded": fold(p.name),
                "division_type": p.division_type.value,
            }
            for p in VNProvince.iter_all()
        ],
    )
    rows = [
        {
            "code": int(w.code),
            "province_code": int(w.province_code),
            "name": w.name,
            "name_folded": fold(w.name),
            "division_type": w.division_type.value,
            "is_border": False,
            "is_remote": False,
            "priority_weight": 1.0,
        }
        for w in VNWard.iter_all()
    ]
    await session.execute(insert(Commune), rows)
    return len(rows)


async def search_communes(
    session: AsyncSession,
    *,
    province_code: int | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Commune], int]:
    query = select(Commune)
    if province_code is not None:
        query = query.where(Commune.province_code == province_code)
    if q and fold(q):
        query = query.where(Commune.name_folded.like(like_pattern(q), escape="\\"))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Commune.name_folded, Commune.code).limit(limit).offset(offset))
    return list(rows), total


async def update_commune(
    session: AsyncSession, actor: User, code: int, data: CommuneUpdate
) -> Commune:
    commune = await session.get(Commune, code)
    if commune is None:
        raise NotFound(_("No such commune."))
    fields = ("is_border", "is_remote", "population", "priority_weight")
    before = {f: getattr(commune, f) for f in fields}
    for f in fields:
        setattr(commune, f, getattr(data, f))
    after = {f: getattr(commune, f) for f in fields}
    audit.record(
        session,
        actor_id=actor.id,
        action="commune.update",
        entity_type="commune",
        entity_id=code,
        before=before,
        after=after,
    )
    return commune


async def create_library(session: AsyncSession, actor: User | None, data: LibraryCreate) -> Library:
    if await session.get(Commune, data.commune_code) is None:
        raise ValidationFailed({"commune_code": _("Choose an existing commune.")})
    library = Library(
        commune_code=data.commune_code,
        name=data.name,
        name_folded=fold(data.name),
        kind=data.kind,
        address=data.address,
    )
    session.add(library)
    await session.flush()
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="library.create",
        entity_type="library",
        entity_id=library.id,
        after={"name": data.name, "commune_code": data.commune_code, "kind": data.kind.value},
    )
    return library


class Place(NamedTuple):
    code: int
    name: str


# Province and commune names come from the pinned package and never change while the app runs,
# so the lists the filter forms offer are read once per process.
_provinces: list[Place] = []
_communes: dict[int, list[Place]] = {}


async def province_choices(session: AsyncSession) -> list[Place]:
    if not _provinces:
        rows = await session.execute(select(Province.code, Province.name).order_by(Province.name_folded))
        _provinces.extend(Place(*row) for row in rows)
    return _provinces


async def commune_choices(session: AsyncSession, province_code: int) -> list[Place]:
    if province_code not in _communes:
        rows = await session.execute(
            select(Commune.code, Commune.name)
            .where(Commune.province_code == province_code)
            .order_by(Commune.name_folded, Commune.code)
        )
        _communes[province_code] = [Place(*row) for row in rows]
    return _communes[province_code]
