"""Demo needs for Sơn La's demo libraries: a few hundred, in every state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.demo import DemoContext
from app.geography.models import Commune
from needs.models import BookLanguage, ItemCategory, ItemKind, Need, NeedStatus, NeedTitle, Urgency

S = NeedStatus
STATUS_WEIGHTS = [
    (S.OPEN, 50), (S.SUBMITTED, 12), (S.DRAFT, 8), (S.RETURNED, 5), (S.REJECTED, 4),
    (S.FULFILLED, 8), (S.CLOSED, 5), (S.EXPIRED, 5), (S.APPROVED, 3),
]
REASONS = [
    "Tủ sách hiện chỉ có sách cũ, các em học sinh đọc hết từ lâu.",
    "Phòng đọc mới mở ở trung tâm xã, chưa có đủ bàn ghế.",
    "Bà con cần sách hướng dẫn trồng cà phê, chăn nuôi và phòng bệnh cho gia súc.",
    "Cần sách song ngữ Thái - Việt cho lớp xóa mù chữ buổi tối.",
    "Điểm đọc ở bản xa, cần tủ sách lưu động để đưa sách đến các bản.",
    "",
]
TITLES = [
    ("Dế Mèn phiêu lưu ký", "Tô Hoài", "9786042084215"),
    ("Truyện cổ tích Việt Nam", "Nhiều tác giả", None),
    ("Kỹ thuật trồng cà phê chè", "Viện KHNN", None),
    ("Luật Đất đai 2024", "", None),
]


async def seed(session: AsyncSession, ctx: DemoContext) -> None:
    rng = ctx.rng
    kinds = list(await session.scalars(select(ItemKind).order_by(ItemKind.position)))
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    now = utcnow()
    for library in ctx.libraries:
        commune = await session.get(Commune, library.commune_code)
        assert commune is not None
        for _ in range(rng.randint(6, 11)):
            kind = rng.choice(kinds)
            is_book = kind.category == ItemCategory.BOOK
            quantity = rng.randrange(20, 400, 10) if is_book else rng.randint(1, 6)
            status = rng.choice(statuses)
            created = now - dt.timedelta(days=rng.randint(1, 200), minutes=rng.randint(0, 1440))
            need = Need(
                library_id=library.id, commune_code=commune.code, province_code=commune.province_code,
                item_kind_key=kind.key, quantity=quantity, unit_value=kind.default_unit_value,
                urgency=rng.choice(list(Urgency)), reason=rng.choice(REASONS), status=status,
                language=rng.choice(list(BookLanguage)) if is_book and rng.random() < 0.4 else None,
                deadline=(now + dt.timedelta(days=rng.randint(20, 300))).date() if rng.random() < 0.3 else None,
                created_at=created, updated_at=created,
                submitted_at=created if status != S.DRAFT else None,
                titles=[
                    NeedTitle(position=i, title=t, author=a, isbn=isbn)
                    for i, (t, a, isbn) in enumerate(rng.sample(TITLES, 2))
                ] if is_book and rng.random() < 0.2 else [],
            )
            if status in (S.APPROVED, S.OPEN, S.FULFILLED, S.CLOSED, S.EXPIRED):
                need.approved_at = created + dt.timedelta(days=1)
            if status == S.EXPIRED:
                need.deadline = (created + dt.timedelta(days=30)).date()
            if status == S.RETURNED:
                need.moderation_note = "Xin ghi rõ số lượng theo từng lớp."
            if status == S.REJECTED:
                need.moderation_note = "Trùng với nhu cầu đã đăng."
            if status == S.OPEN:
                need.pledged_quantity = rng.choice([0, 0, quantity // 4, quantity // 2])
            if status == S.FULFILLED:
                need.pledged_quantity = need.allocated_quantity = need.delivered_quantity = quantity
            session.add(need)
    await session.flush()
