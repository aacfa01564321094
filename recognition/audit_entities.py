"""How the audit pages name the recognition domain's entities (``app.audit.AuditEntity``): an
honor roll's history holds its own rows and those of its entries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditEntity, Ref, Subject, int_ids, itself
from app.i18n import _, lazy
from recognition.models import HonorRoll, Nomination, RollEntry, RuleSet

Named = dict[str, tuple[str, str | None]]


async def _rolls(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(HonorRoll.id, HonorRoll.period_key, HonorRoll.version)
                                 .where(HonorRoll.id.in_(int_ids(ids))))
    return {str(i): (_("Honor roll %(period)s, version %(version)s", period=period, version=version),
                     f"/officer/recognition/rolls/{i}") for i, period, version in rows}


async def _resolve_roll(session: AsyncSession, key: str) -> Subject | None:
    key = key.strip()
    named = await _rolls(session, [key])
    if key not in named:
        return None
    entries = await session.scalars(select(RollEntry.id).where(RollEntry.roll_id == int(key)))
    refs: list[Ref] = [("honor_roll", key)] + [("honor_roll_entry", str(i)) for i in entries]
    return Subject(*named[key], refs)


async def _entries(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(RollEntry.id, RollEntry.roll_id, RollEntry.name)
                                 .where(RollEntry.id.in_(int_ids(ids))))
    return {str(i): (_("Entry %(name)s of honor roll #%(roll)s", name=name or _("Anonymous"), roll=roll),
                     f"/officer/recognition/rolls/{roll}") for i, roll, name in rows}


async def _nominations(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(Nomination.id, Nomination.nominee_name)
                                 .where(Nomination.id.in_(int_ids(ids))))
    return {str(i): (_("Nomination of %(name)s", name=name), f"/officer/recognition/nominations/{i}")
            for i, name in rows}


async def _rule_sets(session: AsyncSession, ids: list[str]) -> Named:
    rows = await session.execute(select(RuleSet.id, RuleSet.period_key, RuleSet.version)
                                 .where(RuleSet.id.in_(int_ids(ids))))
    return {str(i): (_("Rules for %(period)s, version %(version)s", period=period, version=version),
                     "/officer/recognition") for i, period, version in rows}


ENTITIES = {
    "honor_roll": AuditEntity(lazy("Honor roll"), _rolls, _resolve_roll),
    "honor_roll_entry": AuditEntity(lazy("Honor roll entry"), _entries, itself("honor_roll_entry", _entries)),
    "recognition_nomination": AuditEntity(lazy("Nomination"), _nominations,
                                          itself("recognition_nomination", _nominations)),
    "recognition_rule_set": AuditEntity(lazy("Recognition rules"), _rule_sets,
                                        itself("recognition_rule_set", _rule_sets)),
}
