"""A published roll outside the site: the public page and its search, the CSV and XLSX an office
attaches to a decision (parsed back), certificates (PDF text, QR code) and their verification."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from recognition import services
from recognition.models import RollEntry
from tests.support import flat, post_form
from tests.test_recognition import published


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
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    assert [(r[0], r[1], flat(r[3]), r[4]) for r in rows[1:]] == EXPECTED


async def test_xlsx_in_the_office_layout(client: Any, db: AsyncSession) -> None:
    roll = await published(client, db)
    response = await client.get(f"/honor-rolls/{roll.id}/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert "DANH SÁCH KHEN THƯỞNG 2026 TỈNH SƠN LA" in values[0][0]
    assert values[1][0].startswith("Kèm theo Quyết định số 123/QĐ-UBND ngày 15 tháng 7")
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
    assert "1 / 3" in flat((await client.get(f"/honor-rolls/{roll.id}", params={"page": "abc"})).text)
    officer_page = flat((await client.get(f"/officer/recognition/rolls/{roll.id}", params={"page": 2})).text)
    assert "2 / 3" in officer_page and f'href="/officer/recognition/rolls/{roll.id}?page=3"' in officer_page
    rows = list(csv.reader(io.StringIO((await client.get(f"/honor-rolls/{roll.id}/export.csv")).text)))
    assert len(rows) == 1 + len(EXPECTED)


async def test_certificate_pdf_with_vietnamese_text_and_qr_code(client: Any, db: AsyncSession) -> None:
    import zxingcpp
    from PIL import Image

    roll = await published(client, db)
    entry = next(e for e in await services.entries(db, roll.id) if e.name == "Ngân hàng TMCP Tây Bắc")
    response = await client.get(f"/certificates/{entry.code}.pdf", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "content-encoding" not in response.headers  # a PDF is compressed already
    text = pdf_text(response.content)
    assert "GIẤY KHEN CỦA GIÁM ĐỐC SỞ VHTTDL" in text.upper()
    assert "Ngân hàng TMCP Tây Bắc" in text
    assert "60.000.000 ₫" in text
    assert "Quyết định số 123/QĐ-UBND ngày 15 tháng 7, 2026" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Nguyễn Đình Việt" in text
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
