"""What a roll looks like outside the site: the list an office attaches to a decision (CSV, XLSX)
and the certificate of one entry (PDF, WeasyPrint, with a QR code of its verification address)."""

from __future__ import annotations

import csv
import io
from typing import Any

import segno

from app.i18n import _, format_date, format_vnd, ngettext
from recognition.models import EntrySource, HonorRoll, RollEntry


def contribution(entry: RollEntry) -> str:
    """What the entry is commended for, in words."""
    if entry.source == EntrySource.NOMINATION:
        return entry.work
    return ngettext("%(value)s, %(num)s contribution", "%(value)s, %(num)s contributions", entry.gift_count,
                    value=format_vnd(entry.value))


def headers() -> list[str]:
    return [_("No. in list"), _("Name of the individual or collective"), _("Address or organisation"),
            _("Contribution"), _("Form of commendation")]


def rows(entries: list[RollEntry]) -> list[list[Any]]:
    """The office layout: STT, name, address or organisation, contribution, form; named entries still
    standing, highest form first, then collectives before individuals, by rank."""
    standing = [e for e in entries if not e.anonymous and e.revoked_at is None]
    return [[i, e.name or "", e.address, contribution(e), _(e.form.label)] for i, e in enumerate(standing, start=1)]


def title(roll: HonorRoll, province_name: str) -> str:
    return _("Honor roll %(period)s of %(province)s province (version %(version)s)",
             period=roll.period_key, province=province_name, version=roll.version)


def decision_line(roll: HonorRoll) -> str:
    if not roll.decision_number:
        return _("Not yet approved")
    return _("Attached to decision No. %(number)s of %(date)s", number=roll.decision_number,
             date=format_date(roll.decision_date, "long"))


def roll_csv(entries: list[RollEntry]) -> bytes:
    """UTF-8 with a byte order mark (so Excel reads Vietnamese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers())
    writer.writerows(rows(entries))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def roll_xlsx(roll: HonorRoll, entries: list[RollEntry], province_name: str) -> bytes:
    """A title, the decision it is attached to, the table, and the count of anonymous sponsors."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    book = Workbook()
    sheet = book.active
    sheet.title = _("Honor roll")[:31]
    sheet.append([title(roll, province_name).upper()])
    sheet.append([decision_line(roll)])
    sheet.append([])
    sheet.append(headers())
    thin = Side(style="thin")
    for cell in sheet[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    for row in rows(entries):
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    sheet["A1"].font = Font(bold=True, size=13)
    anonymous = sum(1 for e in entries if e.anonymous)
    if anonymous:
        sheet.append([])
        sheet.append([ngettext("and %(num)s anonymous sponsor", "and %(num)s anonymous sponsors", anonymous)])
    for column, width in zip("ABCDE", (6, 40, 40, 45, 45), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def qr_data_uri(url: str) -> str:
    """The address as a QR code, a PNG data URI (a raster image any PDF reader and scanner take)."""
    return str(segno.make(url, error="m", micro=False).png_data_uri(scale=6, border=2))
