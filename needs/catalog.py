"""The default item catalogue: kinds and their default unit values in VND (officers may edit).

Values are typical 2025–2026 prices in Vietnam: a children's book about 35,000 ₫, a reference
book about 80,000 ₫, a desktop computer for a reading room about 12,000,000 ₫.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.i18n import get_locale
from needs.models import ItemCategory, ItemKind

BOOK, EQUIPMENT = ItemCategory.BOOK, ItemCategory.EQUIPMENT

DEFAULT_KINDS: list[tuple[str, ItemCategory, str, str, int]] = [
    ("book/children", BOOK, "Sách thiếu nhi", "Children's books", 35_000),
    ("book/textbook", BOOK, "Sách giáo khoa và tham khảo", "Textbooks and reference", 80_000),
    ("book/agriculture", BOOK, "Nông nghiệp và lâm nghiệp", "Agriculture and forestry", 60_000),
    ("book/law", BOOK, "Pháp luật", "Law", 55_000),
    ("book/health", BOOK, "Sức khỏe", "Health", 60_000),
    ("book/ethnic", BOOK, "Văn hóa dân tộc và song ngữ", "Ethnic culture and bilingual", 70_000),
    ("book/literature", BOOK, "Văn học", "Literature", 75_000),
    ("book/science", BOOK, "Khoa học và công nghệ", "Science and technology", 90_000),
    ("book/history", BOOK, "Lịch sử và địa lý", "History and geography", 80_000),
    ("book/life-skills", BOOK, "Kỹ năng sống", "Life skills", 50_000),
    ("equipment/bookshelf", EQUIPMENT, "Giá sách", "Bookshelf", 2_500_000),
    ("equipment/reading-table", EQUIPMENT, "Bàn đọc", "Reading table", 1_800_000),
    ("equipment/chair-set", EQUIPMENT, "Bộ ghế (10 chiếc)", "Chair set (10 chairs)", 3_000_000),
    ("equipment/computer", EQUIPMENT, "Máy tính", "Computer", 12_000_000),
    ("equipment/tablet", EQUIPMENT, "Máy tính bảng", "Tablet", 5_000_000),
    ("equipment/projector", EQUIPMENT, "Máy chiếu", "Projector", 9_000_000),
    ("equipment/mobile-cabinet", EQUIPMENT, "Tủ sách lưu động", "Mobile book cabinet", 4_500_000),
    ("equipment/reading-lamp", EQUIPMENT, "Đèn đọc sách", "Reading lamp", 350_000),
]


async def seed_item_kinds(session: AsyncSession) -> int:
    """Insert the default catalogue if it is empty; returns the kinds inserted."""
    if await session.scalar(select(func.count()).select_from(ItemKind)):
        return 0
    await session.execute(
        insert(ItemKind),
        [
            {"key": key, "category": cat, "name_vi": vi, "name_en": en, "default_unit_value": value,
             "position": i}
            for i, (key, cat, vi, en, value) in enumerate(DEFAULT_KINDS)
        ],
    )
    return len(DEFAULT_KINDS)


# --- the catalogue as the board's filter form shows it, read once per process ----------------


class KindChoice(NamedTuple):
    key: str
    category: ItemCategory
    name_vi: str
    name_en: str

    @property
    def name(self) -> str:
        return self.name_vi if get_locale() == "vi" else self.name_en


# Kept this long at most, so a change made by another process (another worker, a command) shows
# too; a change made through this process's sessions drops the list as soon as it is committed.
KIND_CHOICES_SECONDS = 60.0
_kind_choices: dict[str, tuple[float, list[KindChoice]]] = {}  # database URL -> (read at, kinds)
CHANGED = "item_kinds_changed"


def catalogue_changed(session: AsyncSession) -> None:
    """Mark the session: when it commits, every process-wide copy of the catalogue is dropped."""
    session.info[CHANGED] = True


@event.listens_for(Session, "after_commit")
def _drop_kind_choices(session: Session) -> None:
    if session.info.pop(CHANGED, False):
        _kind_choices.clear()


@event.listens_for(Session, "after_rollback")
def _forget_change(session: Session) -> None:
    session.info.pop(CHANGED, None)


async def kind_choices(session: AsyncSession) -> list[KindChoice]:
    """Every kind in catalogue order, as plain values (shared by requests, never by sessions)."""
    bind = str(session.bind.url) if session.bind is not None else ""
    cached = _kind_choices.get(bind)
    if cached is not None and time.monotonic() - cached[0] < KIND_CHOICES_SECONDS:
        return cached[1]
    rows = await session.execute(
        select(ItemKind.key, ItemKind.category, ItemKind.name_vi, ItemKind.name_en).order_by(
            ItemKind.position, ItemKind.key
        )
    )
    kinds = [KindChoice(*row) for row in rows]
    _kind_choices[bind] = (time.monotonic(), kinds)
    return kinds
