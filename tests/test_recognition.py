"""Recognition: rule sets, the roll computed in SQL (tiers, ranks, ties, anonymous sponsors), the
workflow (approval, publication, corrections, revocations) and bad input; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import AuditLog
from app.auth.models import Role, User
from app.errors import IllegalTransition, NotFound, ValidationFailed
from app.outbox import OutboxMessage
from donations.models import PledgeKind, PledgeStatus
from recognition import nominations, rules, services
from recognition.models import Category, CommendationForm, HonorRoll, Nomination, RollEntry, RollStatus, RuleSet
from recognition.schemas import ApproveIn, CorrectionIn, NominationIn, RevokeIn, RuleSetIn
from tests.recognition_support import (
    YEAR,
    at,
    in_kind,
    money,
    organisation,
    other_province_commune,
    person,
    rules_form,
)
from tests.support import SON_LA, flat, make_user, post_form, send_json, sign_in

F = CommendationForm
OFFICER = "canbo@example.vn"


async def count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def arrange_gifts(db: AsyncSession) -> dict[str, Any]:
    """Sponsors whose gifts fall in every tier, tie, hide or do not count."""
    s: dict[str, Any] = {}
    s["big"] = await organisation(db, "Công ty CP Giấy Sơn La")
    await money(db, s["big"], 250_000_000, at(3, 1))
    s["bank"] = await organisation(db, "Ngân hàng TMCP Tây Bắc")
    await money(db, s["bank"], 30_000_000, at(4, 1))
    await money(db, s["bank"], 30_000_000, at(5, 1), status=PledgeStatus.ACKNOWLEDGED)
    s["club"] = await organisation(db, "Hội Khuyến học")  # 4.9M: below the collective letter of thanks
    await money(db, s["club"], 4_900_000, at(3, 3))
    s["an"] = await person(db, "Nguyễn Văn An")  # exactly 50M: the individual merit
    await money(db, s["an"], 50_000_000, at(6, 1))
    s["mai"] = await person(db, "Lò Thị Mai")  # ties with Bảo, gave later
    await money(db, s["mai"], 12_000_000, at(2, 20))
    s["bao"] = await person(db, "Trần Quốc Bảo")
    await money(db, s["bao"], 12_000_000, at(1, 15), commune=None)  # to the pool: Sơn La's
    s["ha"] = await person(db, "Phạm Thu Hà")  # books acknowledged at their accepted value
    await in_kind(db, s["ha"], 3_000_000, at(7, 1))
    await in_kind(db, s["ha"], 9_000_000, at(7, 2), status=PledgeStatus.DELIVERED)  # not acknowledged yet
    s["thang"] = await person(db, "Cầm Văn Thắng")  # equipment acknowledged + money
    await in_kind(db, s["thang"], 800_000, at(8, 1), kind=PledgeKind.EQUIPMENT)
    await money(db, s["thang"], 300_000, at(8, 2))
    s["small"] = await person(db, "Vàng A Dình")  # 999,999: nothing
    await money(db, s["small"], 999_999, at(9, 1))
    s["hidden"] = await person(db, "Ẩn Danh Một")
    await money(db, s["hidden"], 2_000_000, at(9, 2), anonymous=True)
    s["hidden2"] = await person(db, "Ẩn Danh Hai")
    await money(db, s["hidden2"], 15_000_000, at(9, 3), anonymous=True)
    s["refunded"] = await person(db, "Hoàn Tiền")
    await money(db, s["refunded"], 100_000_000, at(2, 2), status=PledgeStatus.REFUNDED)
    await money(db, s["refunded"], 100_000_000, at(2, 2), status=PledgeStatus.AWAITING_PAYMENT)
    s["last_year"] = await person(db, "Năm Ngoái")
    await money(db, s["last_year"], 80_000_000, at(12, 31, year=YEAR - 1, hour=23))
    s["elsewhere"] = await person(db, "Tỉnh Khác")
    await money(db, s["elsewhere"], 80_000_000, at(3, 1), commune=await other_province_commune(db))
    return s


def default_rules() -> RuleSetIn:
    return RuleSetIn.model_validate(rules_form())


async def test_roll_tiers_ranks_ties_and_anonymous_sponsors(db: AsyncSession) -> None:
    s = await arrange_gifts(db)
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    await db.commit()

    entries = await services.entries(db, roll.id)
    listed = [(e.form, e.category, e.rank, e.name, e.value) for e in entries]
    assert listed == [
        (F.CHAIR_MERIT, Category.COLLECTIVE, 1, "Công ty CP Giấy Sơn La", 250_000_000),
        (F.CHAIR_MERIT, Category.INDIVIDUAL, 1, "Nguyễn Văn An", 50_000_000),
        (F.DIRECTOR_COMMENDATION, Category.COLLECTIVE, 1, "Ngân hàng TMCP Tây Bắc", 60_000_000),
        (F.DIRECTOR_COMMENDATION, Category.INDIVIDUAL, 1, None, 15_000_000),  # anonymous, not named
        (F.DIRECTOR_COMMENDATION, Category.INDIVIDUAL, 2, "Trần Quốc Bảo", 12_000_000),  # the earlier of a tie
        (F.DIRECTOR_COMMENDATION, Category.INDIVIDUAL, 3, "Lò Thị Mai", 12_000_000),
        (F.THANK_YOU_LETTER, Category.INDIVIDUAL, 1, "Phạm Thu Hà", 3_000_000),
        (F.THANK_YOU_LETTER, Category.INDIVIDUAL, 2, None, 2_000_000),
        (F.THANK_YOU_LETTER, Category.INDIVIDUAL, 3, "Cầm Văn Thắng", 1_100_000),
    ]
    bank = next(e for e in entries if e.sponsor_id == s["bank"].id)
    assert bank.gift_count == 2 and bank.first_at is not None
    assert all(e.code is None for e in entries)  # certificates come with publication

    assert roll.status == RollStatus.DRAFT and roll.version == 1
    counted = 250_000_000 + 60_000_000 + 4_900_000 + 50_000_000 + 24_000_000 + 3_000_000 + 1_100_000 \
        + 999_999 + 17_000_000
    assert roll.total_value == counted
    assert roll.contributor_count == 11  # everyone counted, in a form or not
    assert roll.anonymous_count == 2
    by_group = {(r["form"], r["category"]): r for r in roll.summary}
    assert by_group[("director_commendation", "individual")] == {
        "category": "individual", "form": "director_commendation", "count": 3, "named": 2, "anonymous": 1,
        "nominated": 0, "value": 39_000_000}
    assert by_group[("thank_you_letter", "individual")]["anonymous"] == 1


async def test_only_the_kinds_the_rules_count(db: AsyncSession) -> None:
    await arrange_gifts(db)
    await rules.save_rule_set(db, None, SON_LA, RuleSetIn.model_validate(
        rules_form(count_books=None, count_equipment=None)))
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    names = [e.name for e in await services.entries(db, roll.id)]
    assert "Phạm Thu Hà" not in names and "Cầm Văn Thắng" not in names  # 300,000 in money only


async def test_generating_again_replaces_the_draft(db: AsyncSession) -> None:
    s = await arrange_gifts(db)
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    await money(db, s["small"], 1, at(9, 5))  # 1,000,000 now: a letter of thanks
    again = await services.generate(db, None, SON_LA, str(YEAR))
    assert again.id == roll.id and again.version == 1
    names = [e.name for e in await services.entries(db, roll.id)]
    assert "Vàng A Dình" in names and len(names) == 10
    assert await count(db, HonorRoll) == 1


async def test_a_named_sponsors_address_is_carried_an_anonymous_ones_never(client: Any, db: AsyncSession) -> None:
    company_address = "Số 5 Chu Văn Thịnh, phường Tô Hiệu, tỉnh Sơn La"
    mai_address = "Số 12 Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"
    hidden_address = "Bản Nà Sản, xã Chiềng Mung, tỉnh Sơn La"
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    company = await organisation(db, "Ngân hàng TMCP Tây Bắc", address=company_address)
    await money(db, company, 60_000_000, at(4, 1))
    mai = await person(db, "Lò Thị Mai", address=mai_address)  # gives both named and anonymously
    await money(db, mai, 12_000_000, at(2, 20))
    await in_kind(db, mai, 3_000_000, at(7, 1), anonymous=True)
    hidden = await person(db, "Ẩn Danh", address=hidden_address)  # only anonymously
    await money(db, hidden, 15_000_000, at(9, 3), anonymous=True)
    bao = await person(db, "Trần Quốc Bảo")  # gave no address
    await money(db, bao, 2_000_000, at(1, 15))
    await db.commit()

    response = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    assert response.status_code == 303, response.text
    roll_id = int(response.headers["location"].rsplit("/", 1)[1])
    listed = [(e.sponsor_id, e.anonymous, e.name, e.address) for e in await services.entries(db, roll_id)]
    assert listed == [
        (company.id, False, "Ngân hàng TMCP Tây Bắc", company_address),
        (hidden.id, True, None, ""),
        (mai.id, False, "Lò Thị Mai", mai_address),
        (mai.id, True, None, ""),
        (bao.id, False, "Trần Quốc Bảo", ""),
    ]

    base = f"/officer/recognition/rolls/{roll_id}"
    for step, data in (("submit", {}), ("approve", APPROVAL), ("publish", {})):
        assert (await post_form(client, f"{base}/{step}", data)).status_code == 303, step
    export = await client.get(f"/honor-rolls/{roll_id}/export.csv")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(r[1], r[2]) for r in rows[1:-2]] == [  # then the anonymous count
        ("Ngân hàng TMCP Tây Bắc", company_address), ("Lò Thị Mai", mai_address), ("Trần Quốc Bảo", "")]
    public = await client.get(f"/honor-rolls/{roll_id}")
    for page in (export.content.decode("utf-8-sig"), public.text):
        assert "Bản Nà Sản" not in page and page.count(mai_address) == 1  # beside her name only
    assert "Bản Nà Sản" not in (await client.get(base)).text


# --- rules: bad input changes nothing -------------------------------------------------------------


async def officer_client(client: Any, db: AsyncSession) -> Any:
    await make_user(db, Role.OFFICER, email=OFFICER, full_name="Nguyễn Thị Thanh Hà")
    await db.commit()
    await sign_in(client, OFFICER)
    return client


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"thank_you_letter_individual": -1}, "thank_you_letter_individual", "không được là số âm"),
        ({"director_commendation_collective": 300_000_000}, "chair_merit_collective", "theo thứ tự"),
        ({"chair_merit_individual": 10_000_000}, "chair_merit_individual", "theo thứ tự"),
        ({"period_start": f"{YEAR}-12-31", "period_end": f"{YEAR}-01-01"}, "period_end", "kết thúc trước"),
        ({"count_money": None, "count_books": None, "count_equipment": None}, "count_money", "ít nhất"),
        ({"period_key": ""}, "period_key", "bắt buộc"),
        ({"period_key": "Năm nay"}, "period_key", "tên là năm của nó"),  # a calendar year is named by it
        ({"period_start": f"{YEAR}-03-01"}, "period_start", f"từ ngày 1 tháng 1 đến ngày 31 tháng 12 năm {YEAR}"),
        ({"period_key": str(YEAR + 1)}, "period_start", "từ ngày 1 tháng 1 đến ngày 31 tháng 12 năm"),
    ],
)
async def test_bad_rules_are_refused_with_a_message_and_nothing_changes(
    client: Any, db: AsyncSession, overrides: dict[str, Any], field: str, message: str
) -> None:
    await officer_client(client, db)
    response = await post_form(client, "/officer/recognition/rules", rules_form(**overrides))
    assert response.status_code == 422
    assert message in response.text
    assert f'id="e-{field}"' in response.text
    api = await send_json(client, "POST", "/api/v1/recognition/rule-sets", rules_form(**overrides))
    assert api.status_code == 422
    assert field in api.json()["errors"] and message in api.json()["errors"][field]
    assert await count(db, RuleSet) == 0
    assert await count(db, AuditLog) == 0


async def test_rules_are_versioned(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    changed = rules_form(thank_you_letter_individual=2_000_000)
    assert (await post_form(client, "/officer/recognition/rules", changed)).status_code == 303
    sets = list(await db.scalars(select(RuleSet).order_by(RuleSet.version)))
    assert [s.version for s in sets] == [1, 2]
    assert sets[0].thresholds["thank_you_letter"]["individual"] == 1_000_000  # the old version is kept
    assert sets[1].thresholds["thank_you_letter"]["individual"] == 2_000_000
    page = await client.get("/officer/recognition")
    assert page.status_code == 200 and "Bằng khen của Chủ tịch UBND tỉnh" in page.text


# --- the workflow ---------------------------------------------------------------------------------


async def generated(client: Any, db: AsyncSession) -> HonorRoll:
    await officer_client(client, db)
    await arrange_gifts(db)
    await db.commit()
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    assert response.status_code == 303, response.text
    roll_id = int(response.headers["location"].rsplit("/", 1)[1])
    return await db.get(HonorRoll, roll_id, populate_existing=True)  # type: ignore[return-value]


APPROVAL = {"decision_number": "123/QĐ-UBND", "decision_date": f"{YEAR}-07-15", "signer": "Nguyễn Đình Việt",
            # The Department's own decision, for its Certificates of Commendation and letters of thanks.
            "department_decision_number": "45/QĐ-SVHTTDL", "department_decision_date": f"{YEAR}-07-16",
            "department_signer": "Lò Văn Sơn"}


async def published(client: Any, db: AsyncSession) -> HonorRoll:
    roll = await generated(client, db)
    base = f"/officer/recognition/rolls/{roll.id}"
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    assert (await post_form(client, f"{base}/approve", APPROVAL)).status_code == 303
    assert (await post_form(client, f"{base}/publish", {})).status_code == 303
    return await db.get(HonorRoll, roll.id, populate_existing=True)  # type: ignore[return-value]


async def test_draft_submitted_approved_published(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    base = f"/officer/recognition/rolls/{roll.id}"
    page = await client.get(base)
    assert page.status_code == 200 and "Nguyễn Văn An" in page.text

    assert (await post_form(client, f"{base}/publish", {})).status_code == 409  # not approved yet
    assert (await post_form(client, f"{base}/approve", APPROVAL)).status_code == 409  # not submitted
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    twice = await post_form(client, f"{base}/submit", {})  # a second click says so plainly
    assert twice.status_code == 409 and "Danh sách này đã ở trạng thái đã trình phê duyệt." in twice.text

    refused = await post_form(client, f"{base}/approve", {**APPROVAL, "decision_number": ""})
    assert refused.status_code == 422 and "bắt buộc" in refused.text
    api = await send_json(client, "POST", f"/api/v1/recognition/rolls/{roll.id}/approve",
                          {"decision_date": f"{YEAR}-07-15", "signer": "X"})
    assert api.status_code == 422 and "decision_number" in api.json()["errors"]
    await db.refresh(roll)
    assert roll.status == RollStatus.SUBMITTED and roll.decision_number is None

    assert (await post_form(client, f"{base}/approve", APPROVAL)).status_code == 303
    assert (await post_form(client, f"{base}/publish", {})).status_code == 303
    await db.refresh(roll)
    assert roll.status == RollStatus.PUBLISHED and roll.decision_number == "123/QĐ-UBND"
    assert roll.snapshot is not None and roll.content_hash == services.content_hash(roll.snapshot)
    assert [e["name"] for e in roll.snapshot["entries"]][:2] == ["Công ty CP Giấy Sơn La", "Nguyễn Văn An"]
    actions = set(await db.scalars(select(AuditLog.action).where(AuditLog.entity_type == "honor_roll")))
    assert {"recognition.roll_generated", "recognition.roll_submitted", "recognition.roll_approved",
            "recognition.roll_published"} <= actions


async def test_a_published_version_cannot_be_edited(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    entry = (await services.entries(db, roll.id))[0]
    before = (roll.content_hash, entry.name, entry.form)
    base = f"/officer/recognition/rolls/{roll.id}"

    page = await post_form(client, f"{base}/entries/{entry.id}",
                           {"name": "Tên khác", "address": "", "form": "thank_you_letter"})
    assert page.status_code == 409 and "Không thể thay đổi danh sách đã công bố" in page.text
    api = await send_json(client, "PATCH", f"/api/v1/recognition/rolls/{roll.id}/entries/{entry.id}",
                          {"name": "Tên khác", "form": "thank_you_letter"})
    assert api.status_code == 409
    assert (await post_form(client, f"{base}/regenerate", {})).status_code == 409
    assert (await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})).status_code == 409
    assert (await post_form(client, f"{base}/approve", APPROVAL)).status_code == 409

    await db.refresh(roll)
    await db.refresh(entry)
    assert (roll.content_hash, entry.name, entry.form) == before
    assert roll.content_hash == services.content_hash(roll.snapshot)  # type: ignore[arg-type]


async def test_a_draft_entry_can_be_edited(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    entry = next(e for e in await services.entries(db, roll.id) if e.name == "Lò Thị Mai")
    response = await post_form(client, f"/officer/recognition/rolls/{roll.id}/entries/{entry.id}",
                               {"name": "Lò Thị Mai", "address": "Xã Mường La", "form": "thank_you_letter"})
    assert response.status_code == 303
    await db.refresh(entry)
    assert entry.address == "Xã Mường La" and entry.form == F.THANK_YOU_LETTER and entry.rank == 4
    blank = await post_form(client, f"/officer/recognition/rolls/{roll.id}/entries/{entry.id}",
                            {"name": "", "address": "", "form": "thank_you_letter"})
    assert blank.status_code == 422
    await db.refresh(entry)
    assert entry.name == "Lò Thị Mai"


async def test_a_correction_is_a_new_version_that_supersedes(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    base = f"/officer/recognition/rolls/{roll.id}"
    assert (await post_form(client, f"{base}/correct", {"change_note": ""})).status_code == 422
    assert await count(db, HonorRoll) == 1

    # The rules change (a new version), then the correction uses them.
    assert (await post_form(client, "/officer/recognition/rules",
                            rules_form(thank_you_letter_individual=2_500_000))).status_code == 303
    response = await post_form(client, f"{base}/correct", {"change_note": "Ngưỡng thư cảm ơn nâng lên 2,5 triệu"})
    assert response.status_code == 303
    new = await db.get(HonorRoll, int(response.headers["location"].rsplit("/", 1)[1]))
    assert new is not None and new.version == 2 and new.supersedes_id == roll.id and new.status == RollStatus.DRAFT
    assert new.change_note.startswith("Ngưỡng")
    names = [e.name for e in await services.entries(db, new.id)]
    assert "Cầm Văn Thắng" not in names and "Phạm Thu Hà" in names
    assert (await post_form(client, f"{base}/correct", {"change_note": "again"})).status_code == 409

    new_base = f"/officer/recognition/rolls/{new.id}"
    for step, data in (("submit", {}), ("approve", {**APPROVAL, "decision_number": "200/QĐ-UBND"}),
                       ("publish", {})):
        assert (await post_form(client, f"{new_base}/{step}", data)).status_code == 303
    await db.refresh(roll)
    await db.refresh(new)
    assert roll.superseded_by_id == new.id and new.is_current and not roll.is_current
    assert roll.status == RollStatus.PUBLISHED  # the old version stays, unchanged
    public = await client.get(f"/honor-rolls/{roll.id}")
    assert "Phiên bản đã đính chính thay thế" in public.text

    # A certificate of the old version says it was replaced: by the same person's certificate in the
    # correction, or, for someone the correction left out, that it is no longer valid.
    old_entries = {e.name: e for e in await services.entries(db, roll.id)}
    new_entries = {e.name: e for e in await services.entries(db, new.id)}
    kept = flat((await client.get(f"/verify/{old_entries['Phạm Thu Hà'].code}")).text)
    assert "Đã được thay thế" in kept and "Hợp lệ" not in kept and "Ngưỡng thư cảm ơn nâng lên" in kept
    assert f'/verify/{new_entries["Phạm Thu Hà"].code}' in kept and "không còn hiệu lực" not in kept
    dropped = flat((await client.get(f"/verify/{old_entries['Cầm Văn Thắng'].code}")).text)
    assert "Đã được thay thế" in dropped and "không còn hiệu lực" in dropped
    current = flat((await client.get(f"/verify/{new_entries['Phạm Thu Hà'].code}")).text)
    assert "Hợp lệ" in current and "Đã được thay thế" not in current
    ha = new_entries["Phạm Thu Hà"]
    assert [(e.code, r.id) for e, r in await services.certificates_of(db, ha.sponsor_id)] == [(ha.code, new.id)]  # type: ignore[arg-type]
    corrected = list(await db.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "recognition.commended", OutboxMessage.recipient_id == ha.sponsor_id)))
    assert len(corrected) == 2 and "đính chính" in corrected[1].subject and ha.code in corrected[1].body


async def test_nominations_join_the_roll_in_their_form(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    bad = await post_form(client, "/officer/recognition/nominations", {
        "period_key": str(YEAR), "nominee_name": "Lường Thị Hoa", "nominee_kind": "librarian",
        "form": "director_commendation", "work": "Tủ sách lưu động", "evidence": ""})
    assert bad.status_code == 422 and await count(db, Nomination) == 0
    assert 'id="e-evidence"' in bad.text
    unknown_form = await post_form(client, "/officer/recognition/nominations", {
        "period_key": str(YEAR), "nominee_name": "Lường Thị Hoa", "nominee_kind": "librarian",
        "form": "medal", "work": "Tủ sách lưu động", "evidence": "Báo cáo"})
    assert unknown_form.status_code == 422 and 'id="e-form"' in unknown_form.text
    assert await count(db, Nomination) == 0
    ok = await post_form(client, "/officer/recognition/nominations", {
        "period_key": str(YEAR), "nominee_name": "Lường Thị Hoa", "nominee_kind": "librarian",
        "address": "Thư viện xã Mường La", "form": "director_commendation",
        "work": "Vận hành thư viện lưu động tại 12 bản", "evidence": "Báo cáo của UBND xã, 2026"})
    assert ok.status_code == 303
    assert "Báo cáo của UBND xã, 2026" in (await client.get("/officer/recognition")).text  # the evidence shows
    await arrange_gifts(db)
    await db.commit()
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    roll_id = int(response.headers["location"].rsplit("/", 1)[1])
    group = [e for e in await services.entries(db, roll_id)
             if e.form == F.DIRECTOR_COMMENDATION and e.category == Category.INDIVIDUAL]
    assert [e.name for e in group] == [None, "Trần Quốc Bảo", "Lò Thị Mai", "Lường Thị Hoa"]
    assert group[-1].work == "Vận hành thư viện lưu động tại 12 bản" and group[-1].source.value == "nomination"


async def test_a_withdrawn_nomination_leaves_the_rolls_generated_after(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    await post_form(client, "/officer/recognition/nominations", {
        "period_key": str(YEAR), "nominee_name": "Lường Thị Hoa", "nominee_kind": "librarian",
        "form": "director_commendation", "work": "Tủ sách lưu động", "evidence": "Báo cáo của xã"})
    nomination = await db.scalar(select(Nomination))
    assert nomination is not None
    url = f"/officer/recognition/nominations/{nomination.id}/withdraw"
    blank = await post_form(client, url, {"reason": "  "})  # a reason is required
    assert blank.status_code == 422 and "Lường Thị Hoa" in blank.text
    await db.refresh(nomination)
    assert nomination.withdrawn_at is None
    assert (await post_form(client, url, {"reason": "Nhập trùng"})).status_code == 303
    await db.refresh(nomination)
    assert nomination.withdrawn_at is not None and nomination.withdrawal_reason == "Nhập trùng"
    assert (await post_form(client, url, {"reason": "again"})).status_code == 409  # once only
    assert (await post_form(client, "/officer/recognition/nominations/999999/withdraw",
                            {"reason": "x"})).status_code == 404
    page = await client.get("/officer/recognition")
    assert "Đã rút" in page.text and "Nhập trùng" in page.text
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    roll_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert all(e.nomination_id != nomination.id for e in await services.entries(db, roll_id))
    assert await db.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "recognition.nomination_withdrawn")) == 1


# --- correcting a nomination ----------------------------------------------------------------------

HOA = {"period_key": str(YEAR), "nominee_name": "Lường Thị Hoa", "nominee_kind": "librarian",
       "address": "Thư viện xã Mường La", "form": "director_commendation", "work": "Tủ sách lưu động",
       "evidence": "Báo cáo của UBND xã"}


def nomination_in(**overrides: Any) -> NominationIn:
    return NominationIn.model_validate({**HOA, **overrides})


async def updates(db: AsyncSession) -> list[AuditLog]:
    return list(await db.scalars(select(AuditLog).where(AuditLog.action == "recognition.nomination_updated")
                                 .order_by(AuditLog.id)))


async def nomination_entry(db: AsyncSession, roll: HonorRoll, nomination: Nomination) -> RollEntry:
    return next(e for e in await services.entries(db, roll.id) if e.nomination_id == nomination.id)


async def test_a_corrected_nomination_changes_later_drafts_not_what_was_generated(db: AsyncSession) -> None:
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    nomination = await nominations.nominate(db, None, SON_LA, nomination_in())
    draft = await services.generate(db, None, SON_LA, str(YEAR))
    await db.commit()

    fixed = nomination_in(nominee_name="Lường Thị Hoà", address="", form="chair_merit",
                          work="Vận hành thư viện lưu động tại 12 bản")
    await nominations.update_nomination(db, None, SON_LA, nomination.id, fixed)
    await db.commit()
    await db.refresh(nomination)
    assert (nomination.nominee_name, nomination.address, nomination.form, nomination.work) == (
        "Lường Thị Hoà", "", F.CHAIR_MERIT, "Vận hành thư viện lưu động tại 12 bản")
    assert nomination.evidence == "Báo cáo của UBND xã" and nomination.nominee_kind.value == "librarian"
    [row] = await updates(db)
    assert row.entity_id == str(nomination.id)
    assert row.before == {"nominee_name": "Lường Thị Hoa", "address": "Thư viện xã Mường La",
                          "form": "director_commendation", "work": "Tủ sách lưu động"}
    assert row.after == {"nominee_name": "Lường Thị Hoà", "address": "", "form": "chair_merit",
                         "work": "Vận hành thư viện lưu động tại 12 bản"}

    # The draft generated before keeps its copy until it is generated again.
    entry = await nomination_entry(db, draft, nomination)
    assert (entry.name, entry.address, entry.form, entry.work) == (
        "Lường Thị Hoa", "Thư viện xã Mường La", F.DIRECTOR_COMMENDATION, "Tủ sách lưu động")
    await services.generate(db, None, SON_LA, str(YEAR))
    entry = await nomination_entry(db, draft, nomination)
    assert (entry.name, entry.address, entry.form, entry.work) == (
        "Lường Thị Hoà", "", F.CHAIR_MERIT, "Vận hành thư viện lưu động tại 12 bản")


async def test_a_corrected_nomination_never_changes_a_published_roll(db: AsyncSession) -> None:
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    nomination = await nominations.nominate(db, None, SON_LA, nomination_in())
    roll = await services.generate(db, None, SON_LA, str(YEAR))
    services.submit(db, None, roll)
    await services.approve(db, None, roll, ApproveIn.model_validate(APPROVAL))
    await services.publish(db, None, roll)
    await db.commit()
    published_hash = roll.content_hash

    await nominations.update_nomination(db, None, SON_LA, nomination.id,
                                     nomination_in(nominee_name="Lường Thị Hoà", work="Đọc sách cùng em"))
    await db.commit()
    roll = await db.get(HonorRoll, roll.id, populate_existing=True)  # type: ignore[assignment]
    assert roll is not None and roll.status == RollStatus.PUBLISHED and roll.content_hash == published_hash
    assert roll.content_hash == services.content_hash(roll.snapshot)  # type: ignore[arg-type]
    assert [(e["name"], e["work"]) for e in roll.snapshot["entries"]] == [  # type: ignore[index]
        ("Lường Thị Hoa", "Tủ sách lưu động")]
    entry = await nomination_entry(db, roll, nomination)
    assert (entry.name, entry.work) == ("Lường Thị Hoa", "Tủ sách lưu động")
    # A correction is computed again: it has the new values.
    new = await services.correct(db, None, roll, CorrectionIn(change_note="Sửa tên người được đề cử"))
    entry = await nomination_entry(db, new, nomination)
    assert (entry.name, entry.work) == ("Lường Thị Hoà", "Đọc sách cùng em")


async def test_correcting_a_nomination_is_refused_when_withdrawn_unknown_or_another_provinces(
        db: AsyncSession) -> None:
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    nomination = await nominations.nominate(db, None, SON_LA, nomination_in())
    with pytest.raises(NotFound):
        await nominations.update_nomination(db, None, SON_LA + 1, nomination.id, nomination_in(nominee_name="X"))
    with pytest.raises(NotFound):
        await nominations.update_nomination(db, None, SON_LA, nomination.id + 1000, nomination_in(nominee_name="X"))
    with pytest.raises(ValidationFailed) as refused:
        await nominations.update_nomination(db, None, SON_LA, nomination.id, nomination_in(period_key="Hè 2026"))
    assert refused.value.errors == {"period_key": "Hãy đặt tiêu chí cho kỳ này trước."}
    await nominations.withdraw_nomination(db, None, SON_LA, nomination.id, RevokeIn(reason="Nhập trùng"))
    with pytest.raises(IllegalTransition) as withdrawn:
        await nominations.update_nomination(db, None, SON_LA, nomination.id, nomination_in(nominee_name="X"))
    assert "đã được rút" in withdrawn.value.message
    await db.refresh(nomination)
    assert nomination.nominee_name == "Lường Thị Hoa" and nomination.period_key == str(YEAR)
    assert await updates(db) == []


async def test_a_correction_that_changes_nothing_writes_nothing(db: AsyncSession) -> None:
    await rules.save_rule_set(db, None, SON_LA, default_rules())
    nomination = await nominations.nominate(db, None, SON_LA, nomination_in(address=None))
    assert nomination.address == ""
    # The same values, blank address as the form posts it (None) or as stored (""): no change.
    for same in (nomination_in(address=None), nomination_in(address="")):
        await nominations.update_nomination(db, None, SON_LA, nomination.id, same)
    assert await updates(db) == []
    await nominations.update_nomination(db, None, SON_LA, nomination.id, nomination_in(address=None, evidence="Ảnh"))
    [row] = await updates(db)
    assert row.before == {"evidence": "Báo cáo của UBND xã"} and row.after == {"evidence": "Ảnh"}


async def officer_with_nomination(client: Any, db: AsyncSession) -> Nomination:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    assert (await post_form(client, "/officer/recognition/nominations", HOA)).status_code == 303
    nomination = await db.scalar(select(Nomination))
    assert nomination is not None
    return nomination


async def test_an_officer_corrects_a_nomination_on_its_page(client: Any, db: AsyncSession) -> None:
    nomination = await officer_with_nomination(client, db)
    url = f"/officer/recognition/nominations/{nomination.id}"
    page = await client.get("/officer/recognition")
    assert f'href="{url}"' in page.text and "Sửa" in page.text
    form = await client.get(url)
    assert form.status_code == 200 and 'value="Lường Thị Hoa"' in form.text and "Tủ sách lưu động" in form.text

    response = await post_form(client, url, {**HOA, "nominee_name": "  Lường Thị Hoà ", "address": "",
                                             "form": "chair_merit"})
    assert response.status_code == 303 and response.headers["location"] == "/officer/recognition"
    await db.refresh(nomination)
    assert (nomination.nominee_name, nomination.address, nomination.form) == ("Lường Thị Hoà", "", F.CHAIR_MERIT)
    [row] = await updates(db)
    assert row.before == {"nominee_name": "Lường Thị Hoa", "address": "Thư viện xã Mường La",
                          "form": "director_commendation"}
    assert row.actor_id is not None
    after = await client.get("/officer/recognition")
    assert "Đã sửa đề nghị khen thưởng." in after.text and "Lường Thị Hoà" in after.text

    # Withdrawn: neither the page nor the form; unknown: 404.
    assert (await post_form(client, f"{url}/withdraw", {"reason": "Nhập trùng"})).status_code == 303
    assert (await client.get(url)).status_code == 409
    refused = await post_form(client, url, {**HOA, "nominee_name": "Khác"})
    assert refused.status_code == 409 and "không thể sửa" in refused.text
    assert f'href="{url}"' not in (await client.get("/officer/recognition")).text
    assert (await client.get("/officer/recognition/nominations/999999")).status_code == 404
    assert (await post_form(client, "/officer/recognition/nominations/999999", HOA)).status_code == 404
    await db.refresh(nomination)
    assert nomination.nominee_name == "Lường Thị Hoà" and len(await updates(db)) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"nominee_name": "   "}, "nominee_name", "Ô này là bắt buộc."),
        ({"form": "gold_medal"}, "form", "Hãy chọn một trong các lựa chọn."),
        ({"nominee_kind": "minister"}, "nominee_kind", "Hãy chọn một trong các lựa chọn."),
        ({"nominee_name": "A" * 201}, "nominee_name", "Không quá 200 ký tự."),
        ({"address": "B" * 301}, "address", "Không quá 300 ký tự."),
        ({"work": "C" * 2001}, "work", "Không quá 2000 ký tự."),
        ({"evidence": ""}, "evidence", "Ô này là bắt buộc."),
        ({"period_key": "Chiến dịch Hè 2026"}, "period_key", "Hãy đặt tiêu chí cho kỳ này trước."),
    ],
)
async def test_a_bad_correction_is_refused_beside_the_field_and_nothing_changes(
        client: Any, db: AsyncSession, overrides: dict[str, Any], field: str, message: str) -> None:
    nomination = await officer_with_nomination(client, db)
    response = await post_form(client, f"/officer/recognition/nominations/{nomination.id}",
                               {**HOA, "nominee_name": "Tên mới", **overrides})
    assert response.status_code == 422
    error_id = "e-nomination-period" if field == "period_key" else f"e-{field}"
    assert f'<small class="field-error" id="{error_id}">{message}</small>' in response.text
    assert "Vui lòng sửa các ô được đánh dấu bên dưới." in response.text
    await db.refresh(nomination)
    assert (nomination.nominee_name, nomination.period_key, nomination.form, nomination.address) == (
        "Lường Thị Hoa", str(YEAR), F.DIRECTOR_COMMENDATION, "Thư viện xã Mường La")
    assert await updates(db) == []


async def test_revocation_shows_publicly(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    entry = next(e for e in await services.entries(db, roll.id) if e.name == "Lò Thị Mai")
    url = f"/officer/recognition/rolls/{roll.id}/entries/{entry.id}/revoke"
    assert (await post_form(client, url, {"reason": ""})).status_code == 422
    await db.refresh(entry)
    assert entry.revoked_at is None
    assert (await post_form(client, url, {"reason": "Khoản tài trợ đã được hoàn lại"})).status_code == 303
    assert (await post_form(client, url, {"reason": "again"})).status_code == 409

    verify = await client.get(f"/verify/{entry.code}")
    assert verify.status_code == 200 and "Đã thu hồi" in verify.text and "Khoản tài trợ đã được hoàn lại" in verify.text
    assert "Hợp lệ" not in verify.text
    public = await client.get(f"/honor-rolls/{roll.id}")
    assert "<s>Lò Thị Mai</s>" in public.text and "Khoản tài trợ đã được hoàn lại" in public.text
    await db.refresh(roll)
    assert roll.content_hash == services.content_hash(roll.snapshot)  # type: ignore[arg-type]


async def test_named_sponsors_are_told_and_find_their_certificates(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    named = {e.sponsor_id: e for e in await services.entries(db, roll.id, named_only=True) if e.sponsor_id}
    anonymous = set(await db.scalars(select(RollEntry.sponsor_id).where(
        RollEntry.roll_id == roll.id, RollEntry.anonymous.is_(True))))
    told = {m.recipient_id: m for m in await db.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "recognition.commended"))}
    assert set(told) == set(named) and not set(told) & anonymous
    assert {e.name for e in named.values()} == {"Công ty CP Giấy Sơn La", "Ngân hàng TMCP Tây Bắc", "Nguyễn Văn An",
                                                "Lò Thị Mai", "Trần Quốc Bảo", "Phạm Thu Hà", "Cầm Văn Thắng"}
    mai = next(e for e in named.values() if e.name == "Lò Thị Mai")
    message = told[mai.sponsor_id]
    assert "Lò Thị Mai" not in message.subject and str(YEAR) in message.subject
    assert message.body.startswith("Giấy khen của Giám đốc Sở") and "45/QĐ-SVHTTDL" in message.body  # the Department's
    merit = told[next(e.sponsor_id for e in named.values() if e.name == "Nguyễn Văn An")]
    assert "123/QĐ-UBND" in merit.body and "45/QĐ-SVHTTDL" not in merit.body  # a Bằng khen: the roll's decision
    assert f"http://testserver.local/verify/{mai.code}" in message.body

    # Her page lists the certificate; another sponsor's page does not.
    email = await db.scalar(select(User.email).where(User.id == mai.sponsor_id))
    assert (await post_form(client, "/logout", {})).status_code in (200, 303)
    await sign_in(client, email)
    page = flat((await client.get("/account/pledges")).text)
    assert "Khen thưởng của bạn" in page and f"/certificates/{mai.code}.pdf" in page and "45/QĐ-SVHTTDL" in page
    assert all(f"/certificates/{e.code}.pdf" not in page for e in named.values() if e is not mai)
    assert (await post_form(client, "/logout", {})).status_code in (200, 303)

    # Revoked: she is told why, and her page shows it instead of the certificate.
    await sign_in(client, OFFICER)
    url = f"/officer/recognition/rolls/{roll.id}/entries/{mai.id}/revoke"
    assert (await post_form(client, url, {"reason": "Khoản tài trợ đã được hoàn lại"})).status_code == 303
    revoked = await db.scalar(select(OutboxMessage).where(OutboxMessage.topic == "recognition.revoked"))
    assert revoked is not None and revoked.recipient_id == mai.sponsor_id
    assert "Khoản tài trợ đã được hoàn lại" in revoked.body
    listed = await services.certificates_of(db, mai.sponsor_id)  # type: ignore[arg-type]
    assert [(e.id, e.revoked_reason) for e, _roll in listed] == [(mai.id, "Khoản tài trợ đã được hoàn lại")]
    assert (await post_form(client, "/logout", {})).status_code in (200, 303)
    await sign_in(client, email)
    page = flat((await client.get("/account/pledges")).text)
    assert "Đã thu hồi</strong>: Khoản tài trợ đã được hoàn lại" in page and f"/certificates/{mai.code}.pdf" not in page


# --- authorization --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.SPONSOR, Role.LIBRARIAN])
async def test_only_officers_manage_recognition(client: Any, db: AsyncSession, role: Role) -> None:
    roll = await generated(client, db)
    assert (await post_form(client, "/officer/recognition/nominations", HOA)).status_code == 303
    nomination = await db.scalar(select(Nomination))
    assert nomination is not None
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})
    extra = {"library_id": None} if role == Role.LIBRARIAN else {}
    await make_user(db, role, email="someone@example.vn", **extra)
    await db.commit()
    await sign_in(client, "someone@example.vn")
    for method, url, data in [
        ("GET", "/officer/recognition", None),
        ("GET", f"/officer/recognition/rolls/{roll.id}", None),
        ("POST", "/officer/recognition/rules", rules_form()),
        ("POST", "/officer/recognition/rolls", {"period_key": str(YEAR)}),
        ("POST", f"/officer/recognition/rolls/{roll.id}/submit", {}),
        ("GET", f"/officer/recognition/nominations/{nomination.id}", None),
        ("POST", f"/officer/recognition/nominations/{nomination.id}", {**HOA, "nominee_name": "Tên khác"}),
    ]:
        response = await (client.get(url) if method == "GET" else post_form(client, url, data))
        assert response.status_code == 403, url
    api = await send_json(client, "POST", "/api/v1/recognition/rule-sets", rules_form())
    assert api.status_code == 403
    # An unpublished roll is not public.
    assert (await client.get(f"/honor-rolls/{roll.id}")).status_code == 404
    assert (await client.get(f"/honor-rolls/{roll.id}/export.csv")).status_code == 404
    assert await count(db, RuleSet) == 1
    await db.refresh(roll)
    assert roll.status == RollStatus.DRAFT
    await db.refresh(nomination)
    assert nomination.nominee_name == "Lường Thị Hoa" and await updates(db) == []


async def test_visitors_are_sent_to_sign_in(client: Any, db: AsyncSession) -> None:
    response = await client.get("/officer/recognition")
    assert response.status_code == 303 and "/login" in response.headers["location"]


async def test_certificate_codes_come_with_publication(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    entries = await services.entries(db, roll.id)
    codes = [e.code for e in entries if not e.anonymous]
    assert all(c and len(c) == 20 and int(c, 16) >= 0 for c in codes) and len(set(codes)) == len(codes) == 7
    assert all(e.code is None for e in entries if e.anonymous)
    assert roll.snapshot and [e["code"] for e in roll.snapshot["entries"]] == codes

    await post_form(client, f"/officer/recognition/rolls/{roll.id}/correct", {"change_note": "Sửa tên"})
    draft = await db.scalar(select(HonorRoll).where(HonorRoll.supersedes_id == roll.id))
    assert draft is not None
    assert await count(db, RollEntry, RollEntry.roll_id == draft.id, RollEntry.code.is_not(None)) == 0
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})
    assert (await client.get(f"/honor-rolls/{draft.id}")).status_code == 404


async def test_the_departments_forms_need_the_departments_decision(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    base = f"/officer/recognition/rolls/{roll.id}"
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    main_only = {k: v for k, v in APPROVAL.items() if not k.startswith("department_")}
    refused = await post_form(client, f"{base}/approve", main_only)
    assert refused.status_code == 422
    for field in ("department_decision_number", "department_decision_date", "department_signer"):
        assert f'id="e-{field}">Cần quyết định của Sở' in refused.text
    early = await post_form(client, f"{base}/approve", {**APPROVAL, "department_decision_date": f"{YEAR - 1}-12-31"})
    assert early.status_code == 422 and 'id="e-department_decision_date"' in early.text
    await db.refresh(roll)
    assert roll.status == RollStatus.SUBMITTED and roll.department_decision_number is None
    assert (await post_form(client, f"{base}/approve", APPROVAL)).status_code == 303
    await db.refresh(roll)
    assert (roll.department_decision_number, roll.department_signer) == ("45/QĐ-SVHTTDL", "Lò Văn Sơn")
    assert (await post_form(client, f"{base}/return", {})).status_code == 303  # withdrawn with the decision
    await db.refresh(roll)
    assert roll.department_decision_number is None and roll.decision_number is None


async def test_a_roll_of_certificates_of_merit_only_needs_no_departments_decision(
    client: Any, db: AsyncSession
) -> None:
    await officer_client(client, db)
    big = await organisation(db, "Công ty CP Giấy Sơn La")
    await money(db, big, 250_000_000, at(3, 1))
    await db.commit()
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    base = response.headers["location"]
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    main_only = {k: v for k, v in APPROVAL.items() if not k.startswith("department_")}
    assert "f-department_decision_number" not in (await client.get(base)).text
    assert (await post_form(client, f"{base}/approve", main_only)).status_code == 303
    roll = await db.get(HonorRoll, int(base.rsplit("/", 1)[1]), populate_existing=True)
    assert roll is not None and roll.status == RollStatus.APPROVED and roll.department_decision_number is None
