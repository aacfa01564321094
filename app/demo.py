"""Demo data for trying every role at once: Sơn La's communes, ~40 libraries, demo accounts.

Never loaded in production. Deterministic (seeded random) so screenshots and tests agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import OrganisationKind, Role, SponsorType, User
from app.auth.passwords import hash_password
from app.geography.models import Commune, Library, LibraryKind
from app.text import fold

SON_LA = 14
DEMO_PASSWORD = "thuvien-2026"
OFFICER_EMAIL = "canbo@demo.sonla.vn"
LIBRARIAN_EMAIL = "thuthu@demo.sonla.vn"
SPONSOR_EMAIL = "nhataitro@demo.vn"

FAMILY = ["Lò", "Cầm", "Quàng", "Lường", "Giàng", "Sùng", "Vàng", "Hà", "Nguyễn", "Trần", "Đinh", "Mùa"]
MIDDLE = ["Văn", "Thị", "A", "Thị Thu", "Văn Minh", "Thị Lan"]
GIVEN = ["Hương", "Tuấn", "Pả", "Sinh", "Dung", "Chứ", "Mai", "Thào", "Hoa", "Dũng", "Ly", "Khánh"]
KIND_PREFIX = {
    LibraryKind.COMMUNE_PUBLIC_LIBRARY: "Thư viện",
    LibraryKind.COMMUNITY_LEARNING_CENTRE: "Trung tâm học tập cộng đồng",
    LibraryKind.POST_OFFICE_CULTURAL_POINT: "Điểm Bưu điện - Văn hóa",
    LibraryKind.LAW_BOOKCASE: "Tủ sách pháp luật",
}


@dataclass
class DemoContext:
    """What earlier seeders made, for later ones (needs, donations, recognition) to build on."""

    rng: random.Random
    officer: User | None = None
    sponsor: User | None = None
    libraries: list[Library] = field(default_factory=list)
    accounts: list[tuple[str, str, str]] = field(default_factory=list)  # role, e-mail, password


def _short(name: str) -> str:
    for prefix in ("Xã ", "Phường ", "Đặc khu "):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _user(email: str, name: str, role: Role, **extra: object) -> User:
    return User(email=email, full_name=name, role=role, password_hash=hash_password(DEMO_PASSWORD), **extra)


async def already_seeded(session: AsyncSession) -> bool:
    return await session.scalar(select(User.id).where(User.email == OFFICER_EMAIL)) is not None


async def seed(session: AsyncSession, ctx: DemoContext) -> None:
    rng = ctx.rng
    communes = list(
        await session.scalars(
            select(Commune).where(Commune.province_code == SON_LA).order_by(Commune.code)
        )
    )
    for commune in communes:
        commune.is_border = rng.random() < 0.2
        commune.is_remote = commune.is_border or rng.random() < 0.35
        commune.population = rng.randrange(4_000, 25_000, 100)
        commune.priority_weight = 1.0 + 0.5 * commune.is_border + 0.3 * commune.is_remote

    kinds = list(LibraryKind)
    chosen = rng.sample(communes, k=min(34, len(communes)))
    for i, commune in enumerate(chosen):
        for kind in [kinds[0]] + ([rng.choice(kinds[1:])] if i % 6 == 0 else []):
            name = f"{KIND_PREFIX[kind]} {_short(commune.name)}"
            library = Library(
                commune_code=commune.code, name=name, name_folded=fold(name), kind=kind,
                address=f"Trung tâm {commune.name}, tỉnh Sơn La",
            )
            session.add(library)
            ctx.libraries.append(library)
    await session.flush()

    ctx.officer = _user(OFFICER_EMAIL, "Nguyễn Thị Thanh Hà", Role.OFFICER)
    ctx.sponsor = _user(
        SPONSOR_EMAIL, "Trần Minh Đức", Role.SPONSOR, sponsor_type=SponsorType.ORGANISATION,
        organisation_name="Công ty CP Sách Tây Bắc", organisation_kind=OrganisationKind.ENTERPRISE,
        tax_code="5500123456", address="Số 18 Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La",
    )
    session.add_all([ctx.officer, ctx.sponsor])
    for i, library in enumerate(ctx.libraries):
        email = LIBRARIAN_EMAIL if i == 0 else f"thuthu{i:02d}@demo.sonla.vn"
        name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
        session.add(_user(email, name, Role.LIBRARIAN, library_id=library.id))
    await session.flush()
    ctx.accounts += [
        ("officer", OFFICER_EMAIL, DEMO_PASSWORD),
        ("librarian", LIBRARIAN_EMAIL, DEMO_PASSWORD),
        ("sponsor", SPONSOR_EMAIL, DEMO_PASSWORD),
    ]
