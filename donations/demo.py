"""Demo donations: sponsors of every kind, pledges in every state, through the real services
(so the ledger, the needs' progress and the audit trail agree)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import OrganisationKind, Role, SponsorType, User
from app.auth.passwords import hash_password
from app.demo import DEMO_PASSWORD, DemoContext
from app.settings import get_settings
from donations import services
from donations.models import Delivery, PledgeKind, Target
from donations.schemas import PledgeIn
from needs.models import ItemCategory, ItemKind, Need, NeedStatus

SPONSORS = [
    ("Công ty CP Giấy Sơn La", OrganisationKind.ENTERPRISE, "5500234567"),
    ("Ngân hàng TMCP Tây Bắc - Chi nhánh Sơn La", OrganisationKind.ENTERPRISE, "5500345678"),
    ("Hội Khuyến học tỉnh Sơn La", OrganisationKind.ASSOCIATION, None),
    ("Trường THPT Chuyên Sơn La", OrganisationKind.SCHOOL, None),
    ("Đoàn Thanh niên xã Chiềng Cơi", OrganisationKind.OTHER, None),
]
PEOPLE = ["Nguyễn Văn An", "Lò Thị Mai", "Trần Quốc Bảo", "Cầm Văn Thắng", "Phạm Thu Hà", "Vàng A Dình"]


async def seed(session: AsyncSession, ctx: DemoContext) -> None:
    rng, settings = ctx.rng, get_settings()
    sponsors: list[User] = [u for u in [ctx.sponsor] if u is not None]
    for i, (name, kind, tax) in enumerate(SPONSORS):
        sponsors.append(User(email=f"taitro{i}@demo.vn", full_name=f"Người đại diện {i + 1}", role=Role.SPONSOR,
                             password_hash=hash_password(DEMO_PASSWORD), sponsor_type=SponsorType.ORGANISATION,
                             organisation_name=name, organisation_kind=kind, tax_code=tax))
    for i, name in enumerate(PEOPLE):
        sponsors.append(User(email=f"canhan{i}@demo.vn", full_name=name, role=Role.SPONSOR,
                             password_hash=hash_password(DEMO_PASSWORD), sponsor_type=SponsorType.INDIVIDUAL))
    session.add_all(sponsors)
    await session.flush()
    officer_id = ctx.officer.id if ctx.officer else None
    needs = list(await session.scalars(select(Need).where(Need.status == NeedStatus.OPEN).order_by(Need.id)))
    kinds = {k.key: k for k in await session.scalars(select(ItemKind))}
    receipt = 0
    for need in rng.sample(needs, k=min(60, len(needs))):
        sponsor = rng.choice(sponsors)
        lacking = need.quantity - need.pledged_quantity
        if lacking <= 0:
            continue
        quantity = max(1, min(lacking, rng.randint(1, max(1, lacking // 2))))
        money = rng.random() < 0.6
        kind = PledgeKind.MONEY if money else (
            PledgeKind.BOOKS if kinds[need.item_kind_key].category == ItemCategory.BOOK else PledgeKind.EQUIPMENT)
        pledge = await services.create_pledge(session, sponsor, PledgeIn(
            kind=kind, target=Target.NEED, need_id=need.id, quantity=quantity, anonymous=rng.random() < 0.2,
            delivery=None if money else Delivery.TO_COMMUNE), settings)
        fate = rng.random()
        if fate < 0.7 and money:
            receipt += 1
            payment = await services.new_payment(session, pledge, "offline")
            await services.confirm_payment(session, payment, actor_id=officer_id,
                                           receipt_number=f"PT-DEMO-{receipt:04d}")
        elif fate < 0.7 and officer_id and ctx.officer:
            await services.receive_in_kind(session, ctx.officer, pledge)
    for _ in range(12):  # gifts to the province's pool, for the matching
        sponsor = rng.choice(sponsors)
        pledge = await services.create_pledge(session, sponsor, PledgeIn(
            kind=PledgeKind.MONEY, target=Target.POOL, amount=rng.choice([500_000, 1_000_000, 5_000_000, 20_000_000]),
            allowed_items=["book/children", "book/ethnic"] if rng.random() < 0.3 else None,
            anonymous=rng.random() < 0.2), settings)
        if rng.random() < 0.8:
            receipt += 1
            payment = await services.new_payment(session, pledge, "offline")
            await services.confirm_payment(session, payment, actor_id=officer_id,
                                           receipt_number=f"PT-DEMO-{receipt:04d}")
    await session.flush()
