"""Demo recognition: this year's default rules for Sơn La, a few large gifts (paid through the real
services, so the ledger agrees), a nominated librarian, and the year's roll taken through the whole
workflow to published."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.demo import SON_LA, DemoContext
from app.i18n import VN_TZ
from app.settings import get_settings
from donations import services as donations
from donations.models import PledgeKind, Target
from donations.schemas import PledgeIn
from recognition import nominations, rules, services
from recognition.models import CommendationForm, NomineeKind
from recognition.schemas import DEFAULT_THRESHOLDS, ApproveIn, NominationIn, RuleSetIn

# (sponsor e-mail from the donations demo, amount in VND, anonymous)
LARGE_GIFTS = [
    ("taitro0@demo.vn", 180_000_000, False),  # Công ty CP Giấy Sơn La: with the pool gifts, a merit
    ("taitro0@demo.vn", 40_000_000, False),
    ("taitro1@demo.vn", 65_000_000, False),  # Ngân hàng TMCP Tây Bắc: the director's commendation
    ("taitro2@demo.vn", 7_500_000, False),  # Hội Khuyến học: a letter of thanks
    ("canhan0@demo.vn", 52_000_000, False),  # Nguyễn Văn An: the chairman's merit
    ("canhan1@demo.vn", 12_000_000, False),  # Lò Thị Mai
    ("canhan2@demo.vn", 12_000_000, False),  # Trần Quốc Bảo: ties with Lò Thị Mai
    ("canhan3@demo.vn", 3_000_000, True),  # stays anonymous, counted
    ("canhan4@demo.vn", 1_500_000, True),
]
DECISION_NUMBER = "125/QĐ-UBND"
DEPARTMENT_DECISION_NUMBER = "318/QĐ-SVHTTDL"


async def seed(session: AsyncSession, ctx: DemoContext) -> None:
    settings = get_settings()
    officer = ctx.officer
    officer_id = officer.id if officer else None
    communes = [lib.commune_code for lib in ctx.libraries] or [None]
    for i, (email, amount, anonymous) in enumerate(LARGE_GIFTS):
        sponsor = await session.scalar(select(User).where(User.email == email))
        if sponsor is None or sponsor.role != Role.SPONSOR:
            continue
        commune = communes[i % len(communes)]
        pledge = await donations.create_pledge(session, sponsor, PledgeIn(
            kind=PledgeKind.MONEY, target=Target.COMMUNE if commune else Target.POOL, commune_code=commune,
            amount=amount, anonymous=anonymous), settings)
        payment = await donations.new_payment(session, pledge, "offline")
        await donations.confirm_payment(session, payment, actor_id=officer_id,
                                        receipt_number=f"PT-DEMO-KT{i + 1:03d}")

    today = dt.datetime.now(VN_TZ).date()
    year = str(today.year)
    thresholds = {f"{form}_{category}": value for form, by_category in DEFAULT_THRESHOLDS.items()
                  for category, value in by_category.items()}
    await rules.save_rule_set(session, officer, SON_LA, RuleSetIn(
        period_key=year, period_start=dt.date(today.year, 1, 1), period_end=dt.date(today.year, 12, 31),
        count_money=True, count_books=True, count_equipment=True, note="Bộ tiêu chí mặc định", **thresholds))
    librarian_library = ctx.libraries[0].name if ctx.libraries else "Thư viện xã"
    await nominations.nominate(session, officer, SON_LA, NominationIn(
        period_key=year, nominee_name="Lường Thị Hoa", nominee_kind=NomineeKind.LIBRARIAN,
        address=librarian_library, form=CommendationForm.DIRECTOR_COMMENDATION,
        work="Vận hành tủ sách lưu động đến 12 bản vùng cao, tổ chức 30 buổi đọc sách cho thiếu nhi",
        evidence="Báo cáo của UBND xã và ảnh các buổi đọc sách"))
    await nominations.nominate(session, officer, SON_LA, NominationIn(
        period_key=year, nominee_name="Trường PTDTBT Tiểu học Chiềng Cơi", nominee_kind=NomineeKind.SCHOOL,
        address="Xã Chiềng Cơi", form=CommendationForm.THANK_YOU_LETTER,
        work="Phối hợp tổ chức Ngày sách và Văn hóa đọc Việt Nam tại xã", evidence="Kế hoạch và báo cáo kết quả"))

    roll = await services.generate(session, officer, SON_LA, year)
    services.submit(session, officer, roll)
    await services.approve(session, officer, roll, ApproveIn(
        decision_number=DECISION_NUMBER, decision_date=today, signer="Nguyễn Văn Minh",
        department_decision_number=DEPARTMENT_DECISION_NUMBER, department_decision_date=today,
        department_signer="Lò Thị Thu"))
    # The messages to commended sponsors link to the site as it is served (PUBLIC_URL, else HOST:PORT).
    site = settings.public_url or f"http://{settings.host}:{settings.port}"
    await services.publish(session, officer, roll, site=site)
    await session.flush()
