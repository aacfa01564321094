"""Recognition workflow: the office's decisions (edits, exclusions, revocations) carried by generating
again and by corrections; an approved roll back to draft and the decision date checked; double submits
answered with 409; duplicate nominations refused. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from app.audit import AuditLog
from app.i18n import VN_TZ
from recognition import nominations, rules, services
from recognition.models import CommendationForm, EntryDecision, HonorRoll, Nomination, RollEntry, RollStatus
from recognition.schemas import NominationIn
from tests.recognition_support import YEAR, at, money, person, rules_form
from tests.support import SON_LA, flat, post_form, send_json
from tests.test_recognition import APPROVAL, count, default_rules, generated, officer_client, published

F = CommendationForm
ROLLS = "/officer/recognition/rolls"


async def names(db: AsyncSession, roll_id: int) -> list[str | None]:
    return [e.name for e in await services.entries(db, roll_id)]


async def entry_named(db: AsyncSession, roll_id: int, name: str) -> RollEntry:
    return next(e for e in await services.entries(db, roll_id) if e.name == name)


async def publish_through(client: Any, roll_id: int, number: str = "200/QĐ-UBND") -> None:
    for step, data in (("submit", {}), ("approve", {**APPROVAL, "decision_number": number}), ("publish", {})):
        response = await post_form(client, f"{ROLLS}/{roll_id}/{step}", data)
        assert response.status_code == 303, (step, response.text)


async def correction(client: Any, roll_id: int, note: str = "Sửa ngày quyết định") -> int:
    response = await post_form(client, f"{ROLLS}/{roll_id}/correct", {"change_note": note})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


# --- revocations, edits and exclusions across versions --------------------------------------------


async def test_a_correction_leaves_out_who_was_revoked_and_says_why(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    big = await entry_named(db, roll.id, "Công ty CP Giấy Sơn La")
    revoke = f"{ROLLS}/{roll.id}/entries/{big.id}/revoke"
    assert (await post_form(client, revoke, {"reason": "Khai man giá trị"})).status_code == 303

    v2 = await correction(client, roll.id)
    assert "Công ty CP Giấy Sơn La" not in await names(db, v2)
    assert "Nguyễn Văn An" in await names(db, v2)
    page = flat((await client.get(f"{ROLLS}/{v2}")).text)
    assert 'id="left-out"' in page and "Công ty CP Giấy Sơn La" in page
    assert "Đã thu hồi ở phiên bản 1: Khai man giá trị" in page
    new = await db.get(HonorRoll, v2, populate_existing=True)
    assert new is not None and new.summary[0]["form"] == "chair_merit" and new.summary[0]["count"] == 1
    assert new.total_value == roll.total_value  # still counted in the period, only not commended

    # Published, then corrected again: still left out (the revocation is the period's, not one version's).
    await publish_through(client, v2)
    assert "Hợp lệ" not in (await client.get(f"/verify/{big.code}")).text
    v3 = await correction(client, v2, "Đính chính lần hai")
    assert "Công ty CP Giấy Sơn La" not in await names(db, v3)
    assert "Đã thu hồi ở phiên bản 1: Khai man giá trị" in flat((await client.get(f"{ROLLS}/{v3}")).text)


async def test_a_revocation_after_a_correction_started_stops_its_publication(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    v2 = await correction(client, roll.id)
    mai = await entry_named(db, roll.id, "Lò Thị Mai")
    assert (await post_form(client, f"{ROLLS}/{roll.id}/entries/{mai.id}/revoke",
                            {"reason": "Khoản tài trợ đã được hoàn lại"})).status_code == 303
    for step, data in (("submit", {}), ("approve", APPROVAL)):
        assert (await post_form(client, f"{ROLLS}/{v2}/{step}", data)).status_code == 303
    refused = await post_form(client, f"{ROLLS}/{v2}/publish", {})
    assert refused.status_code == 409 and "Lò Thị Mai" in refused.text
    assert (await db.get(HonorRoll, v2, populate_existing=True)).status == RollStatus.APPROVED  # type: ignore[union-attr]

    assert (await post_form(client, f"{ROLLS}/{v2}/return", {})).status_code == 303
    assert (await post_form(client, f"{ROLLS}/{v2}/regenerate", {})).status_code == 303
    assert "Lò Thị Mai" not in await names(db, v2)
    await publish_through(client, v2)


async def test_edits_are_carried_by_generating_again_and_by_corrections(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    mai = await entry_named(db, roll.id, "Lò Thị Mai")
    an = await entry_named(db, roll.id, "Nguyễn Văn An")
    edit = f"{ROLLS}/{roll.id}/entries"
    assert (await post_form(client, f"{edit}/{mai.id}", {"name": "Lò Thị Mai (Mường La)", "address": "Bản Nà Lốc",
                                                         "form": "thank_you_letter"})).status_code == 303
    assert (await post_form(client, f"{edit}/{an.id}", {"name": "Nguyễn Văn An", "address": "Phường Tô Hiệu",
                                                        "form": "chair_merit"})).status_code == 303
    decision = await db.scalar(select(EntryDecision).where(EntryDecision.sponsor_id == an.sponsor_id))
    assert decision is not None and (decision.name, decision.address, decision.form) == (None, "Phường Tô Hiệu", None)

    def shown(rows: list[RollEntry]) -> dict[str | None, tuple[str, F, int]]:
        return {e.name: (e.address, e.form, e.rank) for e in rows if e.sponsor_id in (mai.sponsor_id, an.sponsor_id)}

    # Generating again keeps them (the moved entry ranked by value in its new form).
    assert (await post_form(client, f"{ROLLS}/{roll.id}/regenerate", {})).status_code == 303
    expected = {"Lò Thị Mai (Mường La)": ("Bản Nà Lốc", F.THANK_YOU_LETTER, 1),
                "Nguyễn Văn An": ("Phường Tô Hiệu", F.CHAIR_MERIT, 1)}
    assert shown(await services.entries(db, roll.id)) == expected
    await db.refresh(roll)
    by_group = {(r["form"], r["category"]): r["count"] for r in roll.summary}
    assert by_group[("director_commendation", "individual")] == 2 and by_group[("thank_you_letter", "individual")] == 4

    # Published, then corrected: the correction carries them too; the sponsor's newer address does not
    # replace the one the office decided, while what was not edited follows the data.
    await publish_through(client, roll.id, "123/QĐ-UBND")
    v2 = await correction(client, roll.id)
    assert shown(await services.entries(db, v2)) == expected


async def test_an_officer_leaves_an_entry_out_of_a_draft(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    bao = await entry_named(db, roll.id, "Trần Quốc Bảo")
    url = f"{ROLLS}/{roll.id}/entries/{bao.id}/exclude"
    blank = await post_form(client, url, {"reason": " "})
    assert blank.status_code == 422 and f'id="e-{bao.id}-exclude_reason"' in blank.text
    assert "Trần Quốc Bảo" in await names(db, roll.id)

    assert (await post_form(client, url, {"reason": "Không đủ điều kiện: cán bộ của Sở"})).status_code == 303
    rows = await services.entries(db, roll.id)
    assert "Trần Quốc Bảo" not in [e.name for e in rows]
    mai = next(e for e in rows if e.name == "Lò Thị Mai")
    assert mai.rank == 2  # moved up: no gap where Bảo was (the anonymous sponsor is first)
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "recognition.entry_excluded"))
    assert audit is not None and audit.summary == "Không đủ điều kiện: cán bộ của Sở"
    page = flat((await client.get(f"{ROLLS}/{roll.id}")).text)
    assert "Văn phòng tỉnh đã loại ở phiên bản 1: Không đủ điều kiện: cán bộ của Sở" in page

    # Anonymous entries and entries of a roll that is not a draft cannot be left out.
    hidden = next(e for e in rows if e.anonymous)
    assert (await post_form(client, f"{ROLLS}/{roll.id}/entries/{hidden.id}/exclude",
                            {"reason": "x"})).status_code == 409

    # It stays out when the draft is generated again and in a correction.
    assert (await post_form(client, f"{ROLLS}/{roll.id}/regenerate", {})).status_code == 303
    assert "Trần Quốc Bảo" not in await names(db, roll.id)
    await db.refresh(roll)
    assert [o["name"] for o in roll.left_out] == ["Trần Quốc Bảo"]
    await publish_through(client, roll.id, "123/QĐ-UBND")
    mai = await entry_named(db, roll.id, "Lò Thị Mai")
    assert (await post_form(client, f"{ROLLS}/{roll.id}/entries/{mai.id}/exclude",
                            {"reason": "x"})).status_code == 409  # published: revoke instead
    v2 = await correction(client, roll.id)
    assert "Trần Quốc Bảo" not in await names(db, v2)

    # Included again (the office changed its mind): audited, back in the draft at once.
    new = await db.get(HonorRoll, v2, populate_existing=True)
    assert new is not None and [o["name"] for o in new.left_out] == ["Trần Quốc Bảo"]
    decision_id = new.left_out[0]["decision_id"]
    assert (await post_form(client, f"{ROLLS}/{roll.id}/left-out/{decision_id}/include", {})).status_code == 409
    assert (await post_form(client, f"{ROLLS}/{v2}/left-out/{decision_id + 99}/include", {})).status_code == 404
    assert (await post_form(client, f"{ROLLS}/{v2}/left-out/{decision_id}/include", {})).status_code == 303
    assert "Trần Quốc Bảo" in await names(db, v2)
    await db.refresh(new)
    assert new.left_out == []
    assert await db.scalar(select(AuditLog).where(AuditLog.action == "recognition.entry_included_again"))


async def test_a_nominations_edit_and_exclusion_are_carried(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    for name in ("Lường Thị Hoa", "Quàng Văn Bun"):
        assert (await post_form(client, "/officer/recognition/nominations", {
            "period_key": str(YEAR), "nominee_name": name, "nominee_kind": "librarian",
            "form": "director_commendation", "work": "Tủ sách lưu động", "evidence": "Báo cáo"})).status_code == 303
    roll_id = int((await post_form(client, ROLLS, {"period_key": str(YEAR)})).headers["location"].rsplit("/", 1)[1])
    hoa, bun = await entry_named(db, roll_id, "Lường Thị Hoa"), await entry_named(db, roll_id, "Quàng Văn Bun")
    assert (await post_form(client, f"{ROLLS}/{roll_id}/entries/{hoa.id}", {
        "name": "Lường Thị Hoa", "address": "", "form": "chair_merit"})).status_code == 303
    assert (await post_form(client, f"{ROLLS}/{roll_id}/entries/{bun.id}/exclude",
                            {"reason": "Đã được khen năm trước"})).status_code == 303
    assert (await post_form(client, f"{ROLLS}/{roll_id}/regenerate", {})).status_code == 303
    rows = await services.entries(db, roll_id)
    assert [(e.name, e.form) for e in rows] == [("Lường Thị Hoa", F.CHAIR_MERIT)]

    # Correcting the nomination itself replaces the edit made in the roll.
    nomination = await db.scalar(select(Nomination).where(Nomination.nominee_name == "Lường Thị Hoa"))
    assert nomination is not None
    await nominations.update_nomination(db, None, SON_LA, nomination.id, NominationIn.model_validate({
        **nominations.form_values(nomination), "form": "thank_you_letter"}))
    await db.commit()
    assert (await post_form(client, f"{ROLLS}/{roll_id}/regenerate", {})).status_code == 303
    assert [(e.name, e.form) for e in await services.entries(db, roll_id)] == [("Lường Thị Hoa", F.THANK_YOU_LETTER)]


# --- approval: back to draft, the decision date -----------------------------------------------------


async def test_an_approved_roll_returns_to_draft(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    base = f"{ROLLS}/{roll.id}"
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    assert (await post_form(client, f"{base}/approve", {**APPROVAL, "decision_number": "7/QĐ-UBND"})).status_code \
        == 303
    assert "Trả về nháp" in (await client.get(base)).text
    assert (await post_form(client, f"{base}/return", {})).status_code == 303
    await db.refresh(roll)
    assert roll.status == RollStatus.DRAFT and roll.decision_number is None and roll.decision_date is None
    audit = await db.scalar(select(AuditLog).where(AuditLog.action == "recognition.roll_returned"))
    assert audit is not None and audit.before == {"status": "approved"}
    assert audit.after["withdrawn_decision"]["number"] == "7/QĐ-UBND"  # type: ignore[index]
    assert (await post_form(client, f"{base}/publish", {})).status_code == 409
    await publish_through(client, roll.id, "8/QĐ-UBND")
    await db.refresh(roll)
    assert roll.decision_number == "8/QĐ-UBND"
    assert (await post_form(client, f"{base}/return", {})).status_code == 409  # published is final


async def test_a_decision_date_before_the_period_or_in_the_future_is_refused(client: Any, db: AsyncSession) -> None:
    roll = await generated(client, db)
    base = f"{ROLLS}/{roll.id}"
    assert (await post_form(client, f"{base}/submit", {})).status_code == 303
    tomorrow = (dt.datetime.now(VN_TZ).date() + dt.timedelta(days=1)).isoformat()
    for date, message in (("1900-01-01", "trước khi kỳ bắt đầu"), (f"{YEAR - 1}-12-31", "trước khi kỳ bắt đầu"),
                          (tomorrow, "trong tương lai")):
        page = await post_form(client, f"{base}/approve", {**APPROVAL, "decision_date": date})
        assert page.status_code == 422 and message in flat(page.text)
        assert 'id="e-decision_date"' in page.text
        api = await send_json(client, "POST", f"/api/v1/recognition/rolls/{roll.id}/approve",
                              {**APPROVAL, "decision_date": date})
        assert api.status_code == 422 and message in api.json()["errors"]["decision_date"]
    await db.refresh(roll)
    assert roll.status == RollStatus.SUBMITTED and roll.decision_date is None
    first_day = await send_json(client, "POST", f"/api/v1/recognition/rolls/{roll.id}/approve",
                                {**APPROVAL, "decision_date": f"{YEAR}-01-01"})
    assert first_day.status_code == 200 and first_day.json()["status"] == "approved"


# --- double submits -------------------------------------------------------------------------------


@contextlib.contextmanager
def meanwhile(db: AsyncSession, statement: str, other: Callable[[AsyncSession], Awaitable[object]]) -> Iterator[None]:
    """Just before the next statement starting with `statement` runs (on any connection), `other`
    runs and commits on a connection of its own (in the app's event loop): the concurrent request
    that got there first."""
    done: list[bool] = []
    url = db.get_bind().url.render_as_string(hide_password=False)

    async def first() -> None:
        engine = create_async_engine(url)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            await other(session)
            await session.commit()
        await engine.dispose()

    def race(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not done and sql.lstrip().startswith(statement):
            done.append(True)
            await_only(first())

    event.listen(Engine, "before_cursor_execute", race)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", race)
    assert done, f"no {statement}"


async def test_rules_saved_twice_at_once(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)

    async def first(session: AsyncSession) -> None:
        await rules.save_rule_set(session, None, SON_LA, default_rules())

    with meanwhile(db, "INSERT INTO recognition_rule_sets", first):
        response = await post_form(client, "/officer/recognition/rules", rules_form())
    assert response.status_code == 409 and "cùng lúc" in response.text
    assert [s.version for s in await rules.rule_sets(db, SON_LA)] == [1]


async def test_a_new_periods_roll_generated_twice_at_once(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    await money(db, await person(db, "Nguyễn Văn An"), 50_000_000, at(6, 1))
    await db.commit()
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303

    async def first(session: AsyncSession) -> None:
        await services.generate(session, None, SON_LA, str(YEAR))

    with meanwhile(db, "INSERT INTO honor_rolls", first):
        response = await post_form(client, ROLLS, {"period_key": str(YEAR)})
    assert response.status_code == 409 and "cùng lúc" in response.text
    assert await count(db, HonorRoll) == 1
    again = await post_form(client, ROLLS, {"period_key": str(YEAR)})  # later: the same draft, generated again
    assert again.status_code == 303 and await count(db, HonorRoll) == 1


async def test_a_roll_corrected_twice_at_once(client: Any, db: AsyncSession) -> None:
    """PostgreSQL serialises corrections on the roll's row lock (the second sees the first's); SQLite
    has no row lock, so the second reaches the insert: its version is taken, which answers 409 too.
    Here the version is taken by a row the in-progress check does not see, on both databases."""
    roll = await published(client, db)
    db.add(HonorRoll(province_code=SON_LA, period_key=roll.period_key, version=roll.version + 1,
                     rule_set_id=roll.rule_set_id, status=RollStatus.DRAFT))
    await db.commit()
    response = await post_form(client, f"{ROLLS}/{roll.id}/correct", {"change_note": "Sửa ngày quyết định"})
    assert response.status_code == 409 and "bản đính chính chưa hoàn tất" in response.text
    assert await count(db, HonorRoll) == 2


# --- nominations ----------------------------------------------------------------------------------


NOMINATION = {"period_key": str(YEAR), "nominee_name": "Lò Văn Tình", "nominee_kind": "volunteer",
              "form": "director_commendation", "work": "Đọc sách cho thiếu nhi", "evidence": "Báo cáo"}


async def test_a_duplicate_open_nomination_is_refused(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    url = "/officer/recognition/nominations"
    assert (await post_form(client, url, NOMINATION)).status_code == 303
    for name in ("Lò Văn Tình", "lo van  tinh", "LÒ VĂN TÌNH"):
        again = await post_form(client, url, {**NOMINATION, "nominee_name": name})
        assert again.status_code == 422 and 'id="e-nominee_name"' in again.text
        assert "đã được đề nghị trong kỳ này" in flat(again.text)
    assert await count(db, Nomination) == 1
    # Another kind of nominee is another nomination.
    assert (await post_form(client, url, {**NOMINATION, "nominee_kind": "librarian"})).status_code == 303

    # Correcting another nomination into the same one is refused too; once withdrawn, it is free.
    assert (await post_form(client, url, {**NOMINATION, "nominee_name": "Lò Văn Tiến"})).status_code == 303
    other = await db.scalar(select(Nomination).where(Nomination.nominee_name == "Lò Văn Tiến"))
    assert other is not None
    clash = await post_form(client, f"{url}/{other.id}", {**NOMINATION, "nominee_name": "lo van tinh"})
    assert clash.status_code == 422 and 'id="e-nominee_name"' in clash.text
    first = await db.scalar(select(Nomination).where(Nomination.nominee_name == "Lò Văn Tình",
                                                     Nomination.nominee_kind == "volunteer"))
    assert first is not None
    assert (await post_form(client, f"{url}/{first.id}/withdraw", {"reason": "Trùng"})).status_code == 303
    assert (await post_form(client, f"{url}/{other.id}", {**NOMINATION, "nominee_name": "Lò Văn Tình"})).status_code \
        == 303



async def test_the_same_nomination_submitted_twice_at_once(client: Any, db: AsyncSession) -> None:
    """Both requests pass the service's check; the unique index on the folded name refuses the
    second, beside the name as a duplicate is."""
    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303

    async def first(session: AsyncSession) -> None:
        await nominations.nominate(session, None, SON_LA, NominationIn(**{**NOMINATION, "nominee_name": "LÒ VĂN TÌNH"}))

    with meanwhile(db, "INSERT INTO recognition_nominations", first):
        response = await post_form(client, "/officer/recognition/nominations", NOMINATION)
    assert response.status_code == 422 and 'id="e-nominee_name"' in response.text
    assert "đã được đề nghị trong kỳ này" in flat(response.text)
    assert [n.nominee_name for n in await nominations.in_province(db, SON_LA)] == ["LÒ VĂN TÌNH"]