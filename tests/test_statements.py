"""Bank statement CSV import: layouts, amounts, dates, reference codes, checksums, refusals."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator

import pytest
from litestar.datastructures import UploadFile

from app import i18n
from donations.statements import (
    MAX_STATEMENT_BYTES,
    REFERENCE_CODE_LENGTH,
    REFERENCE_CODE_PREFIX,
    REFERENCE_CODE_RE,
    StatementError,
    find_reference_codes,
    parse_statement,
    read_upload,
)

EN_HEADER = "date,amount,description,reference\n"
VI_HEADER = "Ngày,Số tiền,Nội dung,Mã tham chiếu\n"


@pytest.fixture(autouse=True)
def _locale() -> Iterator[None]:
    i18n.set_locale("en")
    yield
    i18n.set_locale("vi")


def csv_bytes(*rows: str, header: str = EN_HEADER, bom: bool = False) -> bytes:
    data = (header + "".join(row + "\n" for row in rows)).encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def test_english_layout() -> None:
    statement = parse_statement(csv_bytes(
        "2026-03-08,1500000,GLG7K2M9QXA ung ho thu vien Muong La,FT26067123",
        '08/03/2026,1.500.000,"NGUYEN VAN A chuyen tien, GLG4P8R2T6W",FT26067124',
        "9/3/2026,+250.000,Ủng hộ sách,",
    ))
    assert statement.layout == "en" and statement.ignored_debits == 0
    first, second, third = statement.lines
    assert (first.line_number, first.date, first.amount) == (2, dt.date(2026, 3, 8), 1_500_000)
    assert first.reference_code == "GLG7K2M9QXA" and first.bank_reference == "FT26067123"
    assert (second.date, second.amount, second.reference_code) == (
        dt.date(2026, 3, 8), 1_500_000, "GLG4P8R2T6W",
    )
    assert second.description == "NGUYEN VAN A chuyen tien, GLG4P8R2T6W"
    assert (third.line_number, third.date, third.amount) == (4, dt.date(2026, 3, 9), 250_000)
    assert third.reference_code is None and third.bank_reference == ""
    assert all(isinstance(line.amount, int) for line in statement.lines)


def test_vietnamese_layout_with_bom_semicolons_crlf_and_decomposed_accents() -> None:
    header = unicodedata.normalize("NFD", "Ngày;Số tiền;Nội dung;Mã tham chiếu") + "\r\n"
    data = csv_bytes(
        "08/03/2026;2.000.000;Ủng hộ GLG7K2M9QXA;FT1\r", header=header, bom=True
    )
    statement = parse_statement(data)
    assert statement.layout == "vi"
    [line] = statement.lines
    assert (line.amount, line.reference_code, line.bank_reference) == (
        2_000_000, "GLG7K2M9QXA", "FT1",
    )
    assert line.description == "Ủng hộ GLG7K2M9QXA"


def test_header_only_is_an_empty_statement_and_blank_lines_are_skipped() -> None:
    assert parse_statement(csv_bytes(header=VI_HEADER)).lines == []
    header = " DATE , Amount,Description,REFERENCE\n"
    statement = parse_statement(csv_bytes("", "2026-03-08,1000,x,", ",,,", header=header))
    assert [line.line_number for line in statement.lines] == [3]


def test_debits_are_counted_and_ignored() -> None:
    statement = parse_statement(csv_bytes(
        "2026-03-08,-50.000,Phi dich vu,FT1", "2026-03-08,-1200,Phi SMS,FT2",
        "2026-03-08,50000,GLG7K2M9QXA,FT3",
    ))
    assert statement.ignored_debits == 2
    assert [line.bank_reference for line in statement.lines] == ["FT3"]


def test_reference_codes() -> None:
    assert REFERENCE_CODE_RE.fullmatch("GLG7K2M9QXA")
    assert REFERENCE_CODE_PREFIX == "GLG" and REFERENCE_CODE_LENGTH == 11
    assert find_reference_codes("ung ho glg7k2m9qxa thu vien") == ("GLG7K2M9QXA",)
    assert find_reference_codes("MBVCB.123.GLG7K2M9QXA.CT tu 0011") == ("GLG7K2M9QXA",)
    assert find_reference_codes("GLG7K2M9QXAUNG HO") == ("GLG7K2M9QXA",)  # spaces stripped
    assert find_reference_codes("XGLG7K2M9QXA") == ()
    assert find_reference_codes("GLG7K2M9QX") == ()
    assert find_reference_codes("GLG7K2M9QXA GLG7K2M9QXA") == ("GLG7K2M9QXA",)
    two = find_reference_codes("GLG7K2M9QXA va GLG4P8R2T6W")
    assert two == ("GLG7K2M9QXA", "GLG4P8R2T6W")
    [line] = parse_statement(csv_bytes("2026-03-08,1000,GLG7K2M9QXA GLG4P8R2T6W,")).lines
    assert line.reference_codes == two and line.reference_code is None


def test_checksums_deduplicate_reimports_and_keep_identical_genuine_lines() -> None:
    rows = ["2026-03-08,500000,GLG7K2M9QXA,FT1", "2026-03-08,500000,GLG7K2M9QXA,FT1",
            "2026-03-09,750000,GLG4P8R2T6W,FT2"]
    once = parse_statement(csv_bytes(*rows)).lines
    again = parse_statement(csv_bytes(*rows)).lines
    assert [line.checksum for line in once] == [line.checksum for line in again]
    # Two identical transfers are two lines: occurrence 0 and 1, different checksums.
    assert [line.occurrence for line in once] == [0, 1, 0]
    assert len({line.checksum for line in once}) == 3
    # A longer export (another line first, Vietnamese header, other spacing and date format):
    # the same transfers keep their checksums although their line numbers moved.
    longer = parse_statement(csv_bytes(
        "07/03/2026;100000;khac;FT0",
        "08/03/2026;500.000;GLG7K2M9QXA  ;FT1",
        "08/03/2026;500000; GLG7K2M9QXA;FT1",
        "09/03/2026;750.000;GLG4P8R2T6W;FT2",
        header=VI_HEADER.replace(",", ";"),
    )).lines
    assert [line.checksum for line in longer[1:]] == [line.checksum for line in once]
    assert [line.line_number for line in longer[1:]] == [3, 4, 5]
    # Any change of content is another line.
    changed = parse_statement(csv_bytes("2026-03-08,500001,GLG7K2M9QXA,FT1")).lines[0]
    assert changed.checksum not in {line.checksum for line in once}
    assert all(len(line.checksum) == 64 for line in once)


@pytest.mark.parametrize(
    "amount", ["1500000.00", "1,5", "1.500,50", "1.5", "1500.000", "1 500 000", "", "abc",
               "0", "1.500.000 VND"],
)
def test_amounts_that_are_not_whole_vnd_are_refused(amount: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1000,ok,", f'2026-03-08,"{amount}",x,'))
    assert caught.value.line == 3
    assert caught.value.message.startswith("Line 3:") and "not whole đồng" in caught.value.message


@pytest.mark.parametrize("date", ["2026-02-30", "30/02/2026", "2026/03/08", "08-03-2026",
                                  "", "03/08/26", "2026-3-8"])
def test_bad_dates_are_refused_with_the_line(date: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes(f"{date},1000,x,"))
    assert caught.value.line == 2 and "Line 2:" in caught.value.message
    assert "not a date" in caught.value.message


def test_wrong_column_count_and_broken_quotes_name_the_line() -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1000,x,", "2026-03-08,1000,x"))
    assert caught.value.line == 3
    assert caught.value.message == "Line 3: expected 4 columns, found 3."
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1000,x,", '2026-03-08,1000,"a"b,'))
    assert caught.value.line == 3 and "cannot be read as CSV" in caught.value.message


@pytest.mark.parametrize("cell", ["a\x00b", "\x1b[31m", "x\x7f"])
def test_control_characters_are_refused_with_the_line(cell: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1000,ok,", f"2026-03-08,1000,{cell},"))
    assert caught.value.line == 3 and "control characters" in caught.value.message
    tab = parse_statement(csv_bytes("2026-03-08,1000,a\tb,")).lines[0]
    assert tab.description == "a b"


def test_a_quoted_line_break_keeps_line_numbers_right() -> None:
    statement = parse_statement(csv_bytes('2026-03-08,1000,"two\nlines",', "2026-03-08,1,x,"))
    assert [line.line_number for line in statement.lines] == [2, 4]
    assert statement.lines[0].description == "two lines"
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes('2026-03-08,1000,"two\nlines",', "2026-03-08,-x,x,"))
    assert caught.value.line == 4


@pytest.mark.parametrize(
    "header",
    ["date,amount,description\n", "amount,date,description,reference\n",
     "Ngay,So tien,Noi dung,Ma tham chieu\n", "2026-03-08,1000,x,\n",
     "date,amount,description,reference,balance\n", "\ndate,amount,description,reference\n"],
)
def test_wrong_header_is_refused(header: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1000,x,", header=header))
    assert caught.value.line == 1
    assert caught.value.message == (
        "The first line must name the columns: date,amount,description,reference "
        "(or Ngày,Số tiền,Nội dung,Mã tham chiếu)."
    )


@pytest.mark.parametrize("encoding", ["cp1258", "utf-16", "latin-1"])
def test_other_encodings_are_refused(encoding: str) -> None:
    # Windows-1258 as Vietnamese Windows writes it: precomposed Đ and ơ, a combining dot below.
    words = {"cp1258": "\u0110\u01a1n vi\u0323", "utf-16": "Ủng hộ", "latin-1": "Café"}
    text = f"date,amount,description,reference\n2026-03-08,1000,{words[encoding]},\n"
    with pytest.raises(StatementError, match="not UTF-8"):
        parse_statement(text.encode(encoding))


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b" \r\n\n  "])
def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(data)
    assert caught.value.message == "The file is empty."


def test_size_limit_is_a_parameter() -> None:
    data = csv_bytes("2026-03-08,1000,x,")
    assert parse_statement(data, max_bytes=len(data)).lines
    with pytest.raises(StatementError, match="too large"):
        parse_statement(data, max_bytes=len(data) - 1)


def test_a_50_mb_upload_is_refused_before_it_is_decoded() -> None:
    """Not UTF-8 either: the size is checked first, so that is the error given."""
    assert MAX_STATEMENT_BYTES == 5 * 1024 * 1024
    with pytest.raises(StatementError) as caught:
        parse_statement(b"\xff" * (50 * 1024 * 1024))
    assert caught.value.message == "The file is too large: the limit is 5 MB."


async def test_read_upload_stops_past_the_limit() -> None:
    upload = UploadFile(content_type="text/csv", filename="big.csv")
    chunk = b"2026-03-08,1000,x,\n" * 4096
    for _ in range(50 * 1024 * 1024 // len(chunk) + 1):
        await upload.write(chunk)
    await upload.seek(0)
    with pytest.raises(StatementError, match="too large"):
        await read_upload(upload)
    assert upload.file.tell() <= MAX_STATEMENT_BYTES + 64 * 1024  # it stopped reading early
    await upload.close()

    small = UploadFile(content_type="text/csv", filename="ok.csv", file_data=csv_bytes())
    assert parse_statement(await read_upload(small)).lines == []
    await small.close()


def test_messages_are_in_vietnamese_for_vietnamese_users() -> None:
    i18n.set_locale("vi")
    with pytest.raises(StatementError) as caught:
        parse_statement(csv_bytes("2026-03-08,1.500.000,x,", "2026-03-08,1,5,x,"))
    assert caught.value.message == "Dòng 3: cần 4 cột, nhưng có 5."
    with pytest.raises(StatementError) as caught:
        parse_statement(b"")
    assert caught.value.message == "Tệp trống."
    with pytest.raises(StatementError) as caught:
        parse_statement(b"x" * (3 * 1024 * 1024), max_bytes=int(2.5 * 1024 * 1024))
    assert caught.value.message == "Tệp quá lớn: giới hạn là 2,5 MB."
    assert caught.value.status_code == 422
