"""How the audit pages name the needs domain's entities (``app.audit.AuditEntity``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditEntity, int_ids, itself
from app.i18n import _, get_locale, lazy
from needs.models import ItemKind, Need


async def describe_needs(session: AsyncSession, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await session.execute(select(Need.id, Need.quantity, ItemKind.name_vi, ItemKind.name_en)
                                 .join(ItemKind, ItemKind.key == Need.item_kind_key)
                                 .where(Need.id.in_(int_ids(ids))))
    vietnamese = get_locale() == "vi"
    return {str(i): (_("Need #%(id)s · %(quantity)s × %(item)s", id=i, quantity=q, item=vi if vietnamese else en),
                     f"/needs/{i}") for i, q, vi, en in rows}


resolve_need = itself("need", describe_needs)


async def _item_kinds(session: AsyncSession, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    kinds = await session.scalars(select(ItemKind).where(ItemKind.key.in_(keys)))
    return {k.key: (k.name, "/officer/item-kinds") for k in kinds}


ENTITIES = {
    "need": AuditEntity(lazy("Need"), describe_needs, resolve_need),
    "item_kind": AuditEntity(lazy("Item catalogue"), _item_kinds, itself("item_kind", _item_kinds)),
}
