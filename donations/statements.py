"""Bank statement CSV uploads, read into typed credit lines for reconciliation (pure, no database).

The expected file (DESIGN convention 6):

* UTF-8 text, with or without a byte order mark (Excel's "CSV UTF-8" adds one). Nothing else:
  a file in another encoding is refused rather than guessed at.
* At most `max_bytes` (default `MAX_STATEMENT_BYTES`, 5 MiB); a larger upload is refused before
  it is decoded. `read_upload` reads an upload in chunks and stops one byte past the limit, so a
  50 MB upload never sits in memory whole.
* First line: the column names, in this order, either in English or in Vietnamese
  (case, spaces around names and Unicode normal form do not matter)::

      date,amount,description,reference
      Ngày,Số tiền,Nội dung,Mã tham chiếu

  Columns are separated by commas, or by semicolons throughout (what Excel writes with a
  Vietnamese locale). Fields with a separator or a line break inside are quoted, as CSV does.
* `date`: YYYY-MM-DD or DD/MM/YYYY (day first, as Vietnamese banks print it; one-digit day or
  month allowed).
* `amount`: whole đồng, as digits ("1500000") or with dots between thousands ("1.500.000"); an
  optional leading "+". Decimals ("1500000.00", "1,5") are refused: VND has no minor unit here
  (DESIGN convention 3). A negative amount is a debit (money leaving the account): debits are
  counted in `Statement.ignored_debits` and otherwise ignored, since only incoming money can pay
  a pledge. A zero amount is refused as malformed.
* `description`: the transfer's content as the bank shows it; the pledge's reference code is
  looked for in it (`REFERENCE_CODE_PATTERN`).
* `reference`: the bank's own transaction reference; may be empty.
* Blank lines are skipped. Any other line that cannot be read (including one with control
  characters such as NUL) stops the import with an error naming its line (the header is line 1):
  an import is all or nothing.

Deduplication: every line gets a `checksum`, the SHA-256 of its normalised content (date, amount,
description with whitespace collapsed, bank reference) and of its *occurrence index*, the count
of identical lines before it in the same file. Importing the same file again, or an overlapping
export, gives the same checksums for the same lines; two genuinely identical transfers on one day
(the same sponsor paying twice) stay two lines, with indexes 0 and 1. The line number is not part
of it: the same transfer moves to another line in a longer export.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from app.errors import DomainError
from app.i18n import _, format_number

# A pledge's reference code: "GLG" and 8 capital letters or digits, e.g. GLG7K2M9QXA. The
# donations code that issues codes reuses these, so the two never disagree.
REFERENCE_CODE_PREFIX = "GLG"
REFERENCE_CODE_LENGTH = 11
REFERENCE_CODE_PATTERN = r"GLG[A-Z0-9]{8}"
REFERENCE_CODE_RE = re.compile(REFERENCE_CODE_PATTERN)
# In a description: not glued to letters or digits before it (so "XGLG..." is not a code);
# anything may follow, since some banks strip the spaces after the content the payer typed.
_CODE_IN_TEXT = re.compile(rf"(?<![A-Z0-9])({REFERENCE_CODE_PATTERN})")

MAX_STATEMENT_BYTES = 5 * 1024 * 1024
HEADERS: dict[Literal["en", "vi"], tuple[str, ...]] = {
    "en": ("date", "amount", "description", "reference"),
    "vi": ("Ngày", "Số tiền", "Nội dung", "Mã tham chiếu"),
}
_DELIMITERS = (",", ";")
_AMOUNT = re.compile(r"\+?(\d{1,3}(?:\.\d{3})+|\d+)")
_DEBIT = re.compile(r"-(\d{1,3}(?:\.\d{3})+|\d+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_VN_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CHECKSUM_VERSION = "glg-statement-line-v1"
# Control characters but tab and line breaks (NUL would also be refused by PostgreSQL text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class StatementError(DomainError):
    """The upload cannot be imported; `message` is in the user's language, `line` if one."""

    status_code = 422

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class StatementLine:
    line_number: int  # in the file; the header is line 1
    date: dt.date
    amount: int  # VND, positive (credits only)
    description: str  # whitespace collapsed, Unicode NFC
    bank_reference: str
    reference_codes: tuple[str, ...]  # every distinct pledge code found in the description
    occurrence: int  # identical lines before this one in the file
    checksum: str  # hex SHA-256, the deduplication key

    @property
    def reference_code(self) -> str | None:
        """The pledge code, if the description holds exactly one (else a person decides)."""
        return self.reference_codes[0] if len(self.reference_codes) == 1 else None


@dataclass(frozen=True)
class Statement:
    layout: Literal["en", "vi"]  # which header the file used
    lines: list[StatementLine]
    ignored_debits: int


def find_reference_codes(description: str) -> tuple[str, ...]:
    """Distinct pledge codes in a description, in order; matched in upper case."""
    found = _CODE_IN_TEXT.findall(unicodedata.normalize("NFC", description).upper())
    return tuple(dict.fromkeys(found))


class AsyncReadable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


async def read_upload(
    upload: AsyncReadable, max_bytes: int = MAX_STATEMENT_BYTES, chunk_size: int = 64 * 1024
) -> bytes:
    """Read an upload (e.g. Litestar's UploadFile), refusing it once it passes `max_bytes`."""
    buffer = bytearray()
    while chunk := await upload.read(chunk_size):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(buffer)


def _too_large(max_bytes: int) -> StatementError:
    megabytes = format_number(round(max_bytes / (1024 * 1024), 1))
    return StatementError(_("The file is too large: the limit is %(size)s MB.", size=megabytes))


def parse_statement(data: bytes, *, max_bytes: int = MAX_STATEMENT_BYTES) -> Statement:
    """The credit lines of a statement CSV; raises StatementError saying what is wrong."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementError(
            _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")
        ) from None
    if not text.strip():
        raise StatementError(_("The file is empty."))

    layout, rows = _open(text)
    lines: list[StatementLine] = []
    seen: Counter[tuple[str, int, str, str]] = Counter()
    debits = 0
    for line_number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 4:
            raise StatementError(
                _("Line %(line)s: expected %(expected)s columns, found %(found)s.",
                  line=line_number, expected=4, found=len(row)),
                line_number,
            )
        if any(_CONTROL.search(cell) for cell in row):
            raise StatementError(
                _("Line %(line)s contains control characters: is this a text CSV file?",
                  line=line_number),
                line_number,
            )
        raw_date, raw_amount, raw_description, raw_reference = (cell.strip() for cell in row)
        date = _parse_date(raw_date, line_number)
        amount = _parse_amount(raw_amount, line_number)
        if amount is None:
            debits += 1
            continue
        description = " ".join(unicodedata.normalize("NFC", raw_description).split())
        bank_reference = unicodedata.normalize("NFC", raw_reference)
        key = (date.isoformat(), amount, description, bank_reference)
        occurrence = seen[key]
        seen[key] += 1
        lines.append(
            StatementLine(
                line_number=line_number,
                date=date,
                amount=amount,
                description=description,
                bank_reference=bank_reference,
                reference_codes=find_reference_codes(description),
                occurrence=occurrence,
                checksum=line_checksum(*key, occurrence),
            )
        )
    return Statement(layout=layout, lines=lines, ignored_debits=debits)


def line_checksum(
    date: str, amount: int, description: str, bank_reference: str, occurrence: int
) -> str:
    content = [_CHECKSUM_VERSION, date, amount, description, bank_reference, occurrence]
    encoded = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def _normal_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


_LAYOUTS = {tuple(_normal_name(n) for n in names): layout for layout, names in HEADERS.items()}


def _open(text: str) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """Find the header's layout and separator; the data rows with their first line's number."""
    first_line = text.splitlines()[0]
    for delimiter in _DELIMITERS:
        header = next(csv.reader([first_line], delimiter=delimiter), [])
        layout = _LAYOUTS.get(tuple(_normal_name(name) for name in header))
        if layout is not None:
            return layout, _rows(text, delimiter)
    raise StatementError(
        _("The first line must name the columns: %(english)s (or %(vietnamese)s).",
          english=",".join(HEADERS["en"]), vietnamese=",".join(HEADERS["vi"])),
        1,
    )


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    next(reader)  # the header, already checked
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise StatementError(
                _("Line %(line)s cannot be read as CSV (check its quotes).", line=start), start
            ) from None
        yield start, row
        start = reader.line_num + 1


def _parse_date(value: str, line: int) -> dt.date:
    iso, vn = _ISO_DATE.fullmatch(value), _VN_DATE.fullmatch(value)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if vn:
            return dt.date(int(vn[3]), int(vn[2]), int(vn[1]))
    except ValueError:
        pass  # 31/02/2026 and the like: reported below
    raise StatementError(
        _("Line %(line)s: “%(value)s” is not a date (write YYYY-MM-DD or DD/MM/YYYY).",
          line=line, value=value),
        line,
    )


def _parse_amount(value: str, line: int) -> int | None:
    """Whole VND for a credit, None for a debit."""
    if _DEBIT.fullmatch(value):
        return None
    match = _AMOUNT.fullmatch(value)
    amount = int(match[1].replace(".", "")) if match else 0
    if amount <= 0:
        raise StatementError(
            _("Line %(line)s: “%(value)s” is not whole đồng (write 1500000 or 1.500.000).",
              line=line, value=value),
            line,
        )
    return amount
