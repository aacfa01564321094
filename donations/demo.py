"""Demo donations: sponsors of every kind, pledges in every state, through the real services
(so the ledger, the needs' progress and the audit trail agree)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import OrganisationKind, Role, SponsorType, User
from app.auth.passwords import hash_password
from app.demo import DEMO_PASSWORD, DemoContext
from app.geography.models import Library
from app.settings import get_settings
from donations import deliveries, delivery_queries, services
from donations.models import Delivery, Pledge, PledgeKind, PledgeStatus, ShipmentSource, Target
from donations.schemas import PledgeIn
from needs.models import ItemCategory, ItemKind, Need, NeedStatus

SPONSORS = [  # name, kind, tax code, postal address (printed on the honor rolls)
    ("Công ty CP Giấy Sơn La", OrganisationKind.ENTERPRISE, "5500234567",
     "Km 5, Quốc lộ 6, phường Chiềng Sinh, tỉnh Sơn La"),
    ("Ngân hàng TMCP Tây Bắc - Chi nhánh Sơn La", OrganisationKind.ENTERPRISE, "5500345678",
     "Số 27 Chu Văn Thịnh, phường Tô Hiệu, tỉnh Sơn La"),
    ("Hội Khuyến học tỉnh Sơn La", OrganisationKind.ASSOCIATION, None, "Số 6 đường 3/2, phường Tô Hiệu, tỉnh Sơn La"),
    ("Trường THPT Chuyên Sơn La", OrganisationKind.SCHOOL, None, "Tổ 3, phường Chiềng Sinh, tỉnh Sơn La"),
    ("Đoàn Thanh niên xã Chiềng Cơi", OrganisationKind.OTHER, None, "Bản Hài, xã Chiềng Cơi, tỉnh Sơn La"),
]
PEOPLE = [  # name, postal address
    ("Nguyễn Văn An", "Số 12 Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"),
    ("Lò Thị Mai", "Bản Phiêng Ngùa, xã Mường La, tỉnh Sơn La"),
    ("Trần Quốc Bảo", "Tổ 5, phường Mộc Châu, tỉnh Sơn La"),
    ("Cầm Văn Thắng", "Bản Muông, xã Thuận Châu, tỉnh Sơn La"),
    ("Phạm Thu Hà", "Số 45 Trường Chinh, phường Chiềng An, tỉnh Sơn La"),
    ("Vàng A Dình", "Bản Tà Số, xã Vân Hồ, tỉnh Sơn La"),
]


async def seed(session: AsyncSession, ctx: DemoContext) -> None:
    rng, settings = ctx.rng, get_settings()
    sponsors: list[User] = [u for u in [ctx.sponsor] if u is not None]
    for i, (name, kind, tax, address) in enumerate(SPONSORS):
        sponsors.append(User(email=f"taitro{i}@demo.vn", full_name=f"Người đại diện {i + 1}", role=Role.SPONSOR,
                             password_hash=hash_password(DEMO_PASSWORD), sponsor_type=SponsorType.ORGANISATION,
                             organisation_name=name, organisation_kind=kind, tax_code=tax, address=address))
    for i, (name, address) in enumerate(PEOPLE):
        sponsors.append(User(email=f"canhan{i}@demo.vn", full_name=name, role=Role.SPONSOR,
                             password_hash=hash_password(DEMO_PASSWORD), sponsor_type=SponsorType.INDIVIDUAL,
                             address=address))
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
    if ctx.officer is not None:
        await seed_deliveries(session, ctx, receipt)


async def _librarian_of(session: AsyncSession, commune_code: int) -> User | None:
    return await session.scalar(select(User).join(Library, Library.id == User.library_id)
                                .where(Library.commune_code == commune_code).order_by(User.id))


async def seed_deliveries(session: AsyncSession, ctx: DemoContext, receipt: int) -> None:
    """Shipments in every state: the demo librarian's commune gets one dispatched (to confirm) and
    one planned (to dispatch); other communes' are delivered and acknowledged (one with a
    shortfall), dispatched, or planned; the rest of the allocations wait for a shipment."""
    assert ctx.officer is not None
    officer, settings = ctx.officer, get_settings()
    home = ctx.libraries[0] if ctx.libraries else None
    need = await session.scalar(select(Need).where(
        Need.library_id == home.id, Need.status == NeedStatus.OPEN,
        Need.quantity - Need.pledged_quantity >= 5).order_by(Need.id)) if home else None
    if need is not None and ctx.sponsor is not None:  # two paid gifts for the demo librarian's library
        for quantity in (3, 2):
            pledge = await services.create_pledge(session, ctx.sponsor, PledgeIn(
                kind=PledgeKind.MONEY, target=Target.NEED, need_id=need.id, quantity=quantity), settings)
            receipt += 1
            payment = await services.new_payment(session, pledge, "offline")
            await services.confirm_payment(session, payment, actor_id=officer.id,
                                           receipt_number=f"PT-DEMO-{receipt:04d}")
    brought = await session.scalar(  # a gift the sponsor brought to the commune itself
        select(Pledge).join(Need, Need.id == Pledge.need_id)
        .where(Pledge.status == PledgeStatus.AWAITING_DELIVERY, Pledge.kind != PledgeKind.MONEY,
               Need.library_id != (home.id if home else 0)).order_by(Pledge.id))
    librarian = await session.scalar(select(User).join(Need, Need.library_id == User.library_id)
                                     .where(Need.id == brought.need_id)) if brought else None
    if brought is not None and librarian is not None:
        await deliveries.receive_from_sponsor(session, librarian, settings, brought, brought.quantity,
                                              "Nhà tài trợ mang sách đến tận thư viện.")
    await session.flush()
    waiting = await delivery_queries.waiting_for_shipment(session, settings.province_code)
    shortfall = False  # one, for the officer's queue
    carriers = ["Viettel Post VTP2611{:04d}", "Bưu điện Sơn La EL2611{:04d}VN", "Xe của Sở, chuyến {:04d}"]
    for n, group in enumerate(sorted(waiting, key=lambda g: (home is None or g.commune_code != home.commune_code,
                                                             g.commune_code))):
        ids = [line.allocation.id for line in group.lines]
        carrier = ctx.rng.choice(carriers).format(n)
        if home is not None and group.commune_code == home.commune_code:
            first = await deliveries.create_shipment(session, officer, group.commune_code, ids[:1],
                                                     ShipmentSource.HUB, carrier)
            await deliveries.dispatch(session, officer, first)
            if ids[1:]:
                await deliveries.create_shipment(session, officer, group.commune_code, ids[1:], ShipmentSource.HUB)
            continue
        if n > 9:
            break  # the rest wait for the officer
        shipment = await deliveries.create_shipment(session, officer, group.commune_code, ids, ShipmentSource.HUB,
                                                    carrier)
        if n > 7:
            continue  # planned
        await deliveries.dispatch(session, officer, shipment)
        librarian = await _librarian_of(session, group.commune_code)
        if n > 5 or librarian is None:
            continue  # on its way
        for line in group.lines:
            short = not shortfall and line.allocation.quantity > 1
            shortfall = shortfall or short
            await deliveries.confirm_receipt(
                session, librarian, settings, shipment.id, line.allocation.id,
                line.allocation.quantity - 1 if short else line.allocation.quantity,
                "Thiếu 1 cuốn, thùng hàng bị ướt khi qua suối." if short else "Đã nhận đủ, cảm ơn nhà tài trợ.")
    await session.flush()
