"""A published roll outside the site: the public page and its search, the CSV and XLSX an office
attaches to a decision (parsed back), certificates (PDF text, QR code) and their verification."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from app import i18n
from app.i18n import VN_TZ
from app.text import FORMULA_STARTS
from recognition import documents, services
from recognition.models import CommendationForm, HonorRoll, RollEntry
from tests.recognition_support import YEAR, at, money, organisation, person, rules_form
from tests.support import flat, post_form
from tests.test_recognition import APPROVAL, arrange_gifts, officer_client, published


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    return flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages))


EXPECTED = [  # STT, name, contribution, form: named entries standing, highest form first
    ("1", "Công ty CP Giấy Sơn La", "250.000.000 ₫, 1 lần đóng góp", "Bằng khen của Chủ tịch UBND tỉnh"),
    ("2", "Nguyễn Văn An", "50.000.000 ₫, 1 lần đóng góp", "Bằng khen của Chủ tịch UBND tỉnh"),
    ("3", "Ngân hàng TMCP Tây Bắc", "60.000.000 ₫, 2 lần đóng góp", "Giấy khen của Giám đốc Sở VHTTDL"),
    ("4", "Trần Quốc Bảo", "12.000.000 ₫, 1 lần đóng góp", "Giấy khen của Giám đốc Sở VHTTDL"),
    ("5", "Lò Thị Mai", "12.000.000 ₫, 1 lần đóng góp", "Giấy khen của Giám đốc Sở VHTTDL"),
    ("6", "Phạm Thu Hà", "3.000.000 ₫, 1 lần đóng góp", "Thư cảm ơn"),
    ("7", "Cầm Văn Thắng", "1.100.000 ₫, 2 lần đóng góp", "Thư cảm ơn"),
]
HEADERS = ["STT", "Họ và tên cá nhân, tên tập thể", "Địa chỉ hoặc đơn vị", "Thành tích đóng góp",
           "Hình thức khen thưởng"]


async def test_csv_in_the_office_layout(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    response = await client.get(f"/honor-rolls/{roll.id}/export.csv")
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    assert [(r[0], r[1], flat(r[3]), r[4]) for r in rows[1:-2]] == EXPECTED
    assert rows[-2:] == [[], ["và 2 nhà tài trợ ẩn danh"]]  # as the XLSX has it


async def test_xlsx_in_the_office_layout(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    response = await client.get(f"/honor-rolls/{roll.id}/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert "DANH SÁCH VINH DANH 2026 TỈNH SƠN LA" in values[0][0]
    assert values[1][0] == ("Kèm theo Quyết định số 123/QĐ-UBND ngày 15 tháng 7 năm 2026; các hình thức của Sở: "
                            "Quyết định số 45/QĐ-SVHTTDL ngày 16 tháng 7 năm 2026")
    assert list(values[3]) == HEADERS
    table = [(str(r[0]), r[1], flat(r[3]), r[4]) for r in values[4:4 + len(EXPECTED)]]
    assert table == EXPECTED
    assert values[-1][0] == "và 2 nhà tài trợ ẩn danh"


async def test_public_page_search_and_anonymous_count(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    await client.post("/logout", headers={"x-csrftoken": client.cookies["csrftoken"]})
    index = await client.get("/honor-rolls")
    assert index.status_code == 200 and f'href="/honor-rolls/{roll.id}"' in index.text
    page = await client.get(f"/honor-rolls/{roll.id}")
    text = flat(page.text)
    assert "Bằng khen của Chủ tịch UBND tỉnh" in text and "Công ty CP Giấy Sơn La" in text
    assert text.count("và 1 nhà tài trợ ẩn danh") == 2  # one in each individual group they reached
    assert "Ẩn Danh" not in text
    assert "123/QĐ-UBND" in text and roll.content_hash in text  # type: ignore[operator]
    assert "<dd>số 123/QĐ-UBND ngày 15 tháng 7 năm 2026, do Nguyễn Đình Việt ký</dd>" in text  # "Quyết định: số"
    assert ">Nguyễn Văn An</a> <small>·" in text  # a space before the dot after a linked name
    assert "Quyết định số 123/QĐ-UBND ngày 15 tháng 7 năm 2026" in flat(index.text)
    entries = await services.entries(db, roll.id)
    mai = next(e for e in entries if e.name == "Lò Thị Mai")
    assert f'href="/certificates/{mai.code}.pdf"' in page.text

    found = await client.get("/honor-rolls", params={"q": "lo thi mai"})  # without diacritics
    assert f"/certificates/{mai.code}.pdf" in found.text
    assert "Công ty CP Giấy Sơn La" not in found.text
    fragment = await client.get("/honor-rolls", params={"q": "lo thi mai"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and f"/certificates/{mai.code}.pdf" in fragment.text
    assert "Không có tên nào" in (await client.get("/honor-rolls", params={"q": "an danh"})).text
    api = (await client.get("/api/v1/honor-rolls")).json()
    assert api[0]["decision_number"] == "123/QĐ-UBND" and api[0]["content_hash"] == roll.content_hash


async def test_long_rolls_go_page_by_page_with_every_entry_and_anonymous_count_once(
    client: Any, db: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recognition import controllers

    roll = await published(client, db)
    monkeypatch.setattr(controllers, "PAGE_SIZE", 3)  # 9 entries: 3 pages
    pages = [flat((await client.get(f"/honor-rolls/{roll.id}", params={"page": n})).text) for n in (1, 2, 3)]
    assert "1 / 3" in pages[0] and f'href="/honor-rolls/{roll.id}?page=2"' in pages[0]
    assert pages[0].count("9 mục, mỗi trang 3 mục") == 1 and pages[0].count("1 / 3") == 2  # pager above and below
    assert f'href="/honor-rolls/{roll.id}?page=2"' in pages[2] and "?page=4" not in pages[2]
    everything = " ".join(pages)
    for _stt, name, _contribution, _form in EXPECTED:
        assert everything.count(f">{name}</a>") == 1, name  # each named entry on exactly one page
    # Each anonymous count once, on the page where its group ends (the summary has two groups).
    assert everything.count("và 1 nhà tài trợ ẩn danh") == 2
    # A page past the last is the last; anything but a page number is the first.
    assert "3 / 3" in flat((await client.get(f"/honor-rolls/{roll.id}", params={"page": 99})).text)
    for not_a_page in ("abc", "²", "٣"):  # "²" and "٣" are digits to str.isdigit, not to int
        response = await client.get(f"/honor-rolls/{roll.id}", params={"page": not_a_page})
        assert response.status_code == 200 and "1 / 3" in flat(response.text), not_a_page
    officer_page = flat((await client.get(f"/officer/recognition/rolls/{roll.id}", params={"page": 2})).text)
    assert "2 / 3" in officer_page and f'href="/officer/recognition/rolls/{roll.id}?page=3"' in officer_page
    rows = list(csv.reader(io.StringIO((await client.get(f"/honor-rolls/{roll.id}/export.csv")).text)))
    assert len(rows) == 1 + len(EXPECTED) + 2  # the anonymous count under the table


async def test_certificate_pdf_with_vietnamese_text_and_qr_code(client: Any, db: AsyncSession) -> None:
    import zxingcpp
    from PIL import Image

    roll = await published(client, db)
    entry = next(e for e in await services.entries(db, roll.id) if e.name == "Ngân hàng TMCP Tây Bắc")
    response = await client.get(f"/certificates/{entry.code}.pdf", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "content-encoding" not in response.headers  # a PDF is compressed already
    text = pdf_text(response.content)
    assert "SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH TỈNH SƠN LA" in text  # the issuer of a Giấy khen
    assert "GIẤY KHEN" in text and "GIÁM ĐỐC SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH TỈNH SƠN LA TẶNG" in text
    assert "VHTTDL" not in text.replace("QĐ-SVHTTDL", "")  # no abbreviation on a certificate (its number aside)
    assert "Ngân hàng TMCP Tây Bắc" in text
    assert "đã có thành tích xuất sắc" in text and "60.000.000 ₫" in text
    # A Giấy khen is the Department's: its own decision, signed by its director.
    assert "Quyết định số 45/QĐ-SVHTTDL ngày 16 tháng 7 năm 2026" in text and "123/QĐ-UBND" not in text
    assert "Sơn La, ngày 16 tháng 7 năm 2026 GIÁM ĐỐC Lò Văn Sơn" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "THU HỒI" not in text and "THAY THẾ" not in text
    verify_url = f"http://testserver.local/verify/{entry.code}"
    assert verify_url in text

    # The QR code in the certificate decodes to the same address.
    page = PdfReader(io.BytesIO(response.content)).pages[0]
    decoded = [r.text for image in page.images
               for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)).convert("L"))]
    assert decoded == [verify_url]


async def test_anyone_can_check_the_published_snapshot_against_its_hash(client: Any, db: AsyncSession) -> None:
    import hashlib
    import json

    roll = await published(client, db)
    page = (await client.get(f"/honor-rolls/{roll.id}")).text
    assert roll.content_hash and roll.content_hash in page and f"/honor-rolls/{roll.id}/snapshot.json" in page
    response = await client.get(f"/honor-rolls/{roll.id}/snapshot.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert hashlib.sha256(response.content).hexdigest() == roll.content_hash
    snapshot = json.loads(response.content)
    assert [e["name"] for e in snapshot["entries"]] == [name for _stt, name, _c, _f in EXPECTED]
    assert snapshot["decision"]["number"] == "123/QĐ-UBND"
    # A draft (here a correction in progress) has no snapshot, even for an officer; nor has a roll that does not exist.
    draft = await post_form(client, f"/officer/recognition/rolls/{roll.id}/correct", {"change_note": "Sửa tên"})
    draft_id = int(draft.headers["location"].rsplit("/", 1)[1])
    assert (await client.get(f"/honor-rolls/{draft_id}/snapshot.json")).status_code == 404
    assert (await client.get("/honor-rolls/999999/snapshot.json")).status_code == 404


async def test_verify_valid_revoked_and_unknown(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    entry: RollEntry = next(e for e in await services.entries(db, roll.id) if e.name == "Nguyễn Văn An")
    valid = await client.get(f"/verify/{entry.code}")
    assert valid.status_code == 200
    text = flat(valid.text)
    assert "Hợp lệ" in text and "Nguyễn Văn An" in text and "Bằng khen của Chủ tịch UBND tỉnh" in text
    assert "123/QĐ-UBND" in text
    assert (await client.get("/verify/00000000000000000000")).status_code == 404
    assert (await client.get("/certificates/00000000000000000000.pdf")).status_code == 404


# --- documents that read like official ones -------------------------------------------------------


def test_dates_in_the_administrative_style() -> None:
    """Nghị định 30/2020: "ngày 05 tháng 01 năm 2027" (a day below 10 and January, February with a
    zero); English "5 January 2027"; a moment is the day it was in Vietnam."""
    assert i18n.format_document_date(dt.date(2026, 11, 25)) == "ngày 25 tháng 11 năm 2026"
    assert i18n.format_document_date(dt.date(2027, 1, 5)) == "ngày 05 tháng 01 năm 2027"
    assert i18n.format_document_date(dt.date(2027, 3, 9)) == "ngày 09 tháng 3 năm 2027"
    late_evening_utc = dt.datetime(2026, 11, 25, 18, 30, tzinfo=dt.UTC)  # 01:30 on the 26th in Vietnam
    assert i18n.format_document_date(late_evening_utc) == "ngày 26 tháng 11 năm 2026"
    assert i18n.format_document_date(None) == ""
    i18n.set_locale("en")
    try:
        assert i18n.format_document_date(dt.date(2026, 11, 25)) == "25 November 2026"
    finally:
        i18n.set_locale("vi")


def test_the_issuing_body_follows_the_form_and_the_configured_province() -> None:
    merit = documents.certificate_wording(CommendationForm.CHAIR_MERIT, "Lai Châu", "Sở VHTTDL Lai Châu")
    assert (merit.issuer, merit.giver) == ("Ủy ban nhân dân tỉnh Lai Châu", "Chủ tịch Ủy ban nhân dân tỉnh Lai Châu")
    assert (merit.signing_for, merit.signing_title) == ("TM. Ủy ban nhân dân", "Chủ tịch")
    thanks = documents.certificate_wording(CommendationForm.THANK_YOU_LETTER, "Lai Châu", "Sở VHTTDL Lai Châu")
    assert (thanks.issuer, thanks.title, thanks.signing_title) == ("Sở VHTTDL Lai Châu", "Thư cảm ơn", "Giám đốc")
    assert "thành tích xuất sắc" not in thanks.reason and "Lai Châu" in thanks.reason


async def certificate_text(client: Any, code: str) -> str:
    response = await client.get(f"/certificates/{code}.pdf")
    assert response.status_code == 200, response.text
    return pdf_text(response.content)


async def test_a_certificate_of_merit_is_the_committees_and_a_letter_of_thanks_thanks(
    client: Any, db: AsyncSession
) -> None:
    roll = await published(client, db)
    entries = {e.name: e for e in await services.entries(db, roll.id)}
    merit = await certificate_text(client, entries["Công ty CP Giấy Sơn La"].code)  # type: ignore[arg-type]
    assert merit.startswith("ỦY BAN NHÂN DÂN TỈNH SƠN LA CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    assert "BẰNG KHEN" in merit and "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH SƠN LA TẶNG Công ty CP Giấy Sơn La" in merit
    assert "Sơn La, ngày 15 tháng 7 năm 2026 TM. ỦY BAN NHÂN DÂN CHỦ TỊCH Nguyễn Đình Việt" in merit
    assert "SỞ VĂN HÓA" not in merit and "UBND" not in merit.replace("/QĐ-UBND", "")
    thanks = await certificate_text(client, entries["Phạm Thu Hà"].code)  # type: ignore[arg-type]
    assert thanks.startswith("SỞ VĂN HÓA, THỂ THAO VÀ DU LỊCH TỈNH SƠN LA")
    assert "THƯ CẢM ƠN" in thanks and "TRÂN TRỌNG CẢM ƠN Phạm Thu Hà" in thanks
    assert "đã đóng góp xây dựng thư viện cơ sở tỉnh Sơn La: 3.000.000 ₫" in thanks
    assert "thành tích xuất sắc" not in thanks
    client.cookies.set("lang", "en")
    english = await certificate_text(client, entries["Phạm Thu Hà"].code)  # type: ignore[arg-type]
    assert "Sơn La, 16 July 2026" in english and "Decision No. 45/QĐ-SVHTTDL of 16 July 2026" in english


async def test_revoked_and_replaced_certificates_are_stamped_so(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    entries = {e.name: e for e in await services.entries(db, roll.id)}
    an, mai = entries["Nguyễn Văn An"], entries["Lò Thị Mai"]
    assert an.code and mai.code
    revoked = await post_form(client, f"/officer/recognition/rolls/{roll.id}/entries/{an.id}/revoke",
                              {"reason": "Khai man giá trị"})
    assert revoked.status_code == 303
    today = i18n.format_document_date(dt.datetime.now(VN_TZ).date())
    text = await certificate_text(client, an.code)
    assert "ĐÃ THU HỒI" in text and f"Thu hồi {today}. Lý do: Khai man giá trị" in text
    assert "Nguyễn Văn An" in text  # still the certificate it was, stamped
    # The verification page gives the day only, in the same style (not "13:43:52 +0700 26 tháng 11, 2026").
    verify = flat((await client.get(f"/verify/{an.code}")).text)
    assert f"Khai man giá trị ({today})" in verify and "+0700" not in verify
    assert "Xác minh giấy chứng nhận" in verify and "giấy khen" not in verify.lower()

    correction = await post_form(client, f"/officer/recognition/rolls/{roll.id}/correct", {"change_note": "Sửa tên"})
    new_id = int(correction.headers["location"].rsplit("/", 1)[1])
    for step, data in (("submit", {}), ("approve", APPROVAL), ("publish", {})):
        assert (await post_form(client, f"/officer/recognition/rolls/{new_id}/{step}", data)).status_code == 303
    replaced = await certificate_text(client, mai.code)
    assert "ĐÃ ĐƯỢC THAY THẾ" in replaced
    assert f"Đã được thay thế bằng phiên bản 2 của danh sách vinh danh: xem http://testserver.local/verify/{mai.code}" \
        in replaced
    current = next(e for e in await services.entries(db, new_id) if e.name == "Lò Thị Mai")
    assert "THAY THẾ" not in await certificate_text(client, current.code)  # type: ignore[arg-type]
    # A code as people copy it: upper case, .PDF.
    assert (await client.get(f"/certificates/{current.code.upper()}.PDF")).status_code == 200  # type: ignore[union-attr]
    assert (await client.get(f"/verify/{current.code.upper()}")).status_code == 200  # type: ignore[union-attr]


def _multiply(a: list[float], b: list[float]) -> list[float]:
    return [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
            a[2] * b[1] + a[3] * b[3], a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5]]


def image_boxes(page: Any) -> list[tuple[float, float, float, float]]:
    """Where the page draws its images (x0, y0, x1, y1 in points), from its content stream."""
    ctm, stack, boxes = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [], []
    for operands, operator in page.get_contents().operations:
        if operator == b"q":
            stack.append(ctm)
        elif operator == b"Q":
            ctm = stack.pop()
        elif operator == b"cm":
            ctm = _multiply([float(x) for x in operands], ctm)
        elif operator == b"Do":
            xs = [ctm[4], ctm[0] + ctm[4], ctm[2] + ctm[4], ctm[0] + ctm[2] + ctm[4]]
            ys = [ctm[5], ctm[1] + ctm[5], ctm[3] + ctm[5], ctm[1] + ctm[3] + ctm[5]]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
    return boxes


def text_lines(page: Any) -> list[tuple[float, float, str]]:
    """Each piece of text the page draws, with the point it starts at (x, baseline y)."""
    lines: list[tuple[float, float, str]] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: Any, _size: Any) -> None:
        if text.strip():
            lines.append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5], text))

    page.extract_text(visitor_text=visit)
    return lines


async def test_the_longest_work_stays_on_one_page_above_the_qr_code(client: Any, db: AsyncSession) -> None:
    """The longest name, address and work the nomination form takes: all of it printed, on one page,
    nothing over the QR code (which still decodes)."""
    import zxingcpp
    from PIL import Image

    await officer_client(client, db)
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    work = ("Vận hành thư viện lưu động tại 12 bản, tổ chức ngày hội đọc sách cho học sinh. " * 30)[:1999] + "Z"
    nominated = await post_form(client, "/officer/recognition/nominations", {
        "period_key": str(YEAR), "nominee_name": ("Hà Văn Dài " * 20)[:200].strip(), "nominee_kind": "volunteer",
        "address": ("Bản Nà Sản, xã Mường La, " * 12)[:300].strip(), "form": "chair_merit", "work": work,
        "evidence": "Báo cáo của UBND xã"})
    assert nominated.status_code == 303, nominated.text
    generated = await post_form(client, "/officer/recognition/rolls", {"period_key": str(YEAR)})
    roll_id = int(generated.headers["location"].rsplit("/", 1)[1])
    for step, data in (("submit", {}), ("approve", APPROVAL), ("publish", {})):
        assert (await post_form(client, f"/officer/recognition/rolls/{roll_id}/{step}", data)).status_code == 303
    entry = (await services.entries(db, roll_id))[0]
    response = await client.get(f"/certificates/{entry.code}.pdf")
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    [(qr_x0, qr_y0, qr_x1, qr_y1)] = image_boxes(page)
    lines = text_lines(page)
    body = [(x, y) for x, y, text in lines if text.strip() and text.strip() in flat(work)]
    assert len(body) > 5 and flat(work)[-40:] in flat(pdf_text(response.content))  # all of it, to the end
    assert min(y for _x, y in body) > qr_y1 + 2  # every line of the work above the QR code's top
    decision = next(y for _x, y, text in lines if "Quyết định số" in text)
    assert decision > qr_y1
    for x, y, text in lines:  # nothing starts inside the QR code
        assert not (qr_x0 - 1 <= x <= qr_x1 and qr_y0 <= y <= qr_y1), text
    decoded = [r.text for image in page.images
               for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)).convert("L"))]
    assert decoded == [f"http://testserver.local/verify/{entry.code}"]


# --- the lists -----------------------------------------------------------------------------------


async def draft_of(client: Any, period: str) -> HonorRoll:
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": period})
    assert response.status_code == 303, response.text
    return HonorRoll(id=int(response.headers["location"].rsplit("/", 1)[1]))


async def test_exports_of_a_campaign_named_in_vietnamese(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    await arrange_gifts(db)
    await db.commit()
    period = "Chiến dịch Hè 2026"
    saved = await post_form(client, "/officer/recognition/rules", rules_form(period_key=period, period_kind="campaign"))
    assert saved.status_code == 303
    roll = await draft_of(client, period)
    for extension in ("csv", "xlsx"):
        response = await client.get(f"/honor-rolls/{roll.id}/export.{extension}")
        assert response.status_code == 200
        disposition = response.headers["content-disposition"]
        assert disposition.startswith(f'attachment; filename="honor-roll-chien-dich-he-2026-v1.{extension}"; ')
        assert disposition.isascii()
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        assert unquote(encoded) == f"honor-roll-{period}-v1.{extension}"
    rows = list(csv.reader(io.StringIO((await client.get(f"/honor-rolls/{roll.id}/export.csv")).text)))
    assert rows[1][1] == "Công ty CP Giấy Sơn La"


async def test_sponsor_text_never_becomes_a_spreadsheet_formula(client: Any, db: AsyncSession) -> None:
    """OWASP CSV injection: = + - @ (and a tab or carriage return) at the start of a cell."""
    await officer_client(client, db)
    link = '=HYPERLINK("http://evil.example/","Xem chi tiết")'
    evil = await organisation(db, "@SUM(1+1)*cmd|' /C calc'!A0", address=link)
    await money(db, evil, 300_000_000, at(3, 1))
    minus = await person(db, "-2+3", address="+84 912 345 678")
    await money(db, minus, 60_000_000, at(3, 2))
    tab = await person(db, "Lò Văn Tab", address="\t=1+1")
    await money(db, tab, 55_000_000, at(3, 3))
    await db.commit()
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    roll = await draft_of(client, str(YEAR))

    rows = list(csv.reader(io.StringIO((await client.get(f"/honor-rolls/{roll.id}/export.csv")).content
                                       .decode("utf-8-sig"))))
    cells = {cell for row in rows for cell in row}
    assert {"'@SUM(1+1)*cmd|' /C calc'!A0", "'" + link, "'-2+3", "'+84 912 345 678", "'\t=1+1"} <= cells
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)

    sheet = load_workbook(io.BytesIO((await client.get(f"/honor-rolls/{roll.id}/export.xlsx")).content)).active
    typed = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value is not None}
    assert all(cell.data_type != "f" for cell in typed.values())  # no formula anywhere
    for text in ("@SUM(1+1)*cmd|' /C calc'!A0", link, "-2+3", "+84 912 345 678", "\t=1+1"):
        assert typed[text].data_type == "s" and typed[text].quotePrefix, text  # the text itself, kept text


async def test_a_group_of_anonymous_sponsors_only_reads_without_and(client: Any, db: AsyncSession) -> None:
    """A group that names no one says "2 anonymous sponsors", not "and 2 ..."; the others keep "and"."""
    await officer_client(client, db)
    await arrange_gifts(db)
    for name in ("Công ty Ẩn Một", "Công ty Ẩn Hai"):  # 6M each: the collectives' letter of thanks, no one named
        await money(db, await organisation(db, name), 6_000_000, at(4, 4), anonymous=True)
    await db.commit()
    assert (await post_form(client, "/officer/recognition/rules", rules_form())).status_code == 303
    roll = await draft_of(client, str(YEAR))
    text = flat((await client.get(f"/honor-rolls/{roll.id}")).text)
    assert "<h3>Tập thể</h3> <ol> </ol> <p class=\"anonymous\">2 nhà tài trợ ẩn danh</p>" in text
    assert text.count("và 1 nhà tài trợ ẩn danh") == 2 and "và 2 nhà tài trợ ẩn danh" not in text


async def test_the_threshold_form_asks_individuals_first_and_limits_read_as_numbers(
    client: Any, db: AsyncSession
) -> None:
    await officer_client(client, db)
    page = (await client.get("/officer/recognition")).text
    form = page[page.index('id="rules-form"'):]
    assert form.index('name="chair_merit_individual"') < form.index('name="chair_merit_collective"')
    refused = await post_form(client, "/officer/recognition/rules", rules_form(chair_merit_collective=10**13))
    assert refused.status_code == 422 and "Không được lớn hơn 1.000.000.000.000." in refused.text


async def test_certificates_link_to_the_configured_public_address(clean_backend: Any, db: AsyncSession) -> None:
    """Behind a proxy the request's Host is not the site's address: PUBLIC_URL is, on the QR code,
    the printed address and the message telling the sponsor."""
    from litestar.testing import AsyncTestClient
    from pydantic import ValidationError
    from sqlalchemy import select

    from app.asgi import create_app
    from app.outbox import OutboxMessage
    from tests.conftest import settings_for

    with pytest.raises(ValidationError):
        settings_for(clean_backend.url, public_url="thuvien.sonla.gov.vn")  # no scheme: refused at start
    app = create_app(settings_for(clean_backend.url, public_url="https://thuvien.sonla.gov.vn/"))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.follow_redirects = False
        roll = await published(client, db)
        entry = next(e for e in await services.entries(db, roll.id) if e.name == "Nguyễn Văn An")
        response = await client.get(f"/certificates/{entry.code}.pdf", headers={"Host": "evil.example"})
    text = pdf_text(response.content)
    assert f"https://thuvien.sonla.gov.vn/verify/{entry.code}" in text and "evil.example" not in text
    message = await db.scalar(select(OutboxMessage).where(OutboxMessage.recipient_id == entry.sponsor_id))
    assert message is not None and f"https://thuvien.sonla.gov.vn/verify/{entry.code}" in message.body


async def test_a_roll_with_no_one_commended_says_so(client: Any, db: AsyncSession) -> None:
    await officer_client(client, db)
    rules = rules_form(period_key="Tháng đọc sách 1/2026", period_kind="campaign", period_start=f"{YEAR}-01-01",
                       period_end=f"{YEAR}-01-31")
    assert (await post_form(client, "/officer/recognition/rules", rules)).status_code == 303
    response = await post_form(client, "/officer/recognition/rolls", {"period_key": "Tháng đọc sách 1/2026"})
    base = response.headers["location"]
    assert "Không ai đạt một hình thức khen thưởng trong kỳ này." in flat((await client.get(base)).text)
    for step, data in (("submit", {}), ("approve", {**APPROVAL, "decision_date": f"{YEAR}-02-02"}), ("publish", {})):
        assert (await post_form(client, f"{base}/{step}", data)).status_code == 303, step
    public = flat((await client.get(base.replace("/officer/recognition/rolls/", "/honor-rolls/"))).text)
    assert "Không ai đạt một hình thức khen thưởng trong kỳ này." in public


def test_a_document_asked_for_again_is_not_laid_out_again() -> None:
    """`html_to_pdf` keeps its last documents by their HTML: the same HTML gives the same PDF at once,
    and any change to what the document says gives a new one."""
    from donations.receipts import html_to_pdf

    page = "<html><body><p>Giấy chứng nhận {}</p></body></html>"
    first = html_to_pdf(page.format("số 1"))
    assert html_to_pdf(page.format("số 1")) is first  # kept, not laid out again
    other = html_to_pdf(page.format("số 1 — ĐÃ THU HỒI"))
    assert other is not first and other != first
