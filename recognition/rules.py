"""Recognition rule sets: per province and period, versioned (a change is a new version, never an
edit), saying what counts and the thresholds of each form. Services never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.models import User
from app.db import insert_once
from app.errors import ValidationFailed
from app.i18n import _
from recognition.models import RuleSet
from recognition.schemas import RuleSetIn


async def latest_rule_set(session: AsyncSession, province_code: int, period_key: str) -> RuleSet | None:
    return await session.scalar(
        select(RuleSet).where(RuleSet.province_code == province_code, RuleSet.period_key == period_key)
        .order_by(RuleSet.version.desc()).limit(1))


async def rule_sets(session: AsyncSession, province_code: int) -> list[RuleSet]:
    return list(await session.scalars(
        select(RuleSet).where(RuleSet.province_code == province_code)
        .order_by(RuleSet.period_start.desc(), RuleSet.period_key, RuleSet.version.desc())))


async def save_rule_set(session: AsyncSession, actor: User | None, province_code: int, data: RuleSetIn) -> RuleSet:
    """A new version of the period's rules (version 1 for a new period). Never edits an old one."""
    latest = await latest_rule_set(session, province_code, data.period_key)
    rule_set = RuleSet(
        province_code=province_code, period_key=data.period_key, period_kind=data.period_kind,
        period_start=data.period_start, period_end=data.period_end, version=(latest.version + 1) if latest else 1,
        count_money=data.count_money, count_books=data.count_books, count_equipment=data.count_equipment,
        thresholds=data.thresholds(), note=data.note or "", created_by_id=actor.id if actor else None,
    )
    await insert_once(session, rule_set, _(
        "Someone else saved rules for this period at the same moment: reload the page to see the newest version, "
        "then save again if needed."))
    audit.record(session, actor_id=rule_set.created_by_id, action="recognition.rules_saved",
                 entity_type="recognition_rule_set", entity_id=rule_set.id,
                 summary=f"{data.period_key} v{rule_set.version}",
                 after={"thresholds": rule_set.thresholds, "start": data.period_start.isoformat(),
                        "end": data.period_end.isoformat()})
    return rule_set


async def require_rules(session: AsyncSession, province_code: int, period_key: str) -> RuleSet:
    """The period's newest rules; a field error on `period_key` if the period has none yet."""
    rule_set = await latest_rule_set(session, province_code, period_key)
    if rule_set is None:
        raise ValidationFailed({"period_key": _("Define the rules of this period first.")})
    return rule_set
