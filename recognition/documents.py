"""What a roll looks like outside the site: the list an office attaches to a decision (CSV, XLSX)
and the certificate of one entry (PDF, WeasyPrint, with a QR code of its verification address).

Names, addresses and nominations' work are typed by sponsors and officers: in the lists, a cell that
a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage return) stays text
(OWASP "CSV injection"): the CSV prefixes it with a single quote, the XLSX stores it as a string."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import segno

from app.i18n import _, format_document_date, format_vnd, ngettext
from app.text import csv_text, is_formula_like
from recognition.models import CommendationForm, EntrySource, HonorRoll, RollEntry


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


def anonymous_line(entries: list[RollEntry]) -> str | None:
    """The count of anonymous sponsors under the table ("and 2 ...", or "2 ..." when no one is named)."""
    anonymous = sum(1 for e in entries if e.anonymous)
    if not anonymous:
        return None
    if any(not e.anonymous and e.revoked_at is None for e in entries):
        return ngettext("and %(num)s anonymous sponsor", "and %(num)s anonymous sponsors", anonymous)
    return ngettext("%(num)s anonymous sponsor", "%(num)s anonymous sponsors", anonymous)


def title(roll: HonorRoll, province_name: str) -> str:
    return _("Honor roll %(period)s of %(province)s province (version %(version)s)",
             period=roll.period_key, province=province_name, version=roll.version)


def decision_line(roll: HonorRoll) -> str:
    if not roll.decision_number:
        return _("Not yet approved")
    line = _("Attached to decision No. %(number)s of %(date)s", number=roll.decision_number,
             date=format_document_date(roll.decision_date))
    if roll.has_department_decision:
        line += "; " + _("the Department's forms: decision No. %(number)s of %(date)s",
                         number=roll.department_decision_number,
                         date=format_document_date(roll.department_decision_date))
    return line


def roll_csv(entries: list[RollEntry]) -> bytes:
    """UTF-8 with a byte order mark (so Excel reads Vietnamese); the anonymous count under the table."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers())
    writer.writerows([[csv_text(v) for v in row] for row in rows(entries)])
    if (line := anonymous_line(entries)) is not None:
        writer.writerows([[], [line]])
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
            if is_formula_like(cell.value):
                cell.data_type = "s"  # openpyxl made it a formula: keep the text
                cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell
    sheet["A1"].font = Font(bold=True, size=13)
    if (line := anonymous_line(entries)) is not None:
        sheet.append([])
        sheet.append([line])
    for column, width in zip("ABCDE", (6, 40, 40, 45, 45), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class CertificateWording:
    """What a certificate says around the name, by its form: who issues and signs it, and why."""

    issuer: str  # the body at the top, beside the national motto
    title: str  # BẰNG KHEN, GIẤY KHEN, THƯ CẢM ƠN
    giver: str  # who gives it, above the name
    verb: str  # "tặng", "trân trọng cảm ơn"
    reason: str  # before the contribution
    signing_for: str  # "TM. Ủy ban nhân dân" when the person signs for a collective body, else ""
    signing_title: str  # "Chủ tịch", "Giám đốc"


def certificate_wording(form: CommendationForm, province_name: str, department: str) -> CertificateWording:
    """A Bằng khen is the provincial People's Committee's, signed by its chair; a Giấy khen and a Thư
    cảm ơn are the department's (`department`, as receipts name it), signed by its director; a thank-you
    letter thanks for a contribution rather than commending an outstanding achievement."""
    if form == CommendationForm.CHAIR_MERIT:
        committee = _("People's Committee of %(province)s province", province=province_name)
        return CertificateWording(
            issuer=committee, title=_("Certificate of Merit"), giver=_("Chairman of the %(body)s", body=committee),
            verb=_("Awarded to"), reason=_(
                "for outstanding contribution to the grassroots libraries of %(province)s province:",
                province=province_name),
            signing_for=_("On behalf of the People's Committee"), signing_title=_("Chairman"))
    if form == CommendationForm.DIRECTOR_COMMENDATION:
        return CertificateWording(
            issuer=department, title=_("Certificate of Commendation"),
            giver=_("Director of the %(body)s", body=department), verb=_("Awarded to"), reason=_(
                "for outstanding contribution to the grassroots libraries of %(province)s province:",
                province=province_name),
            signing_for="", signing_title=_("Director"))
    return CertificateWording(
        issuer=department, title=_("Letter of thanks"), giver=department, verb=_("sincerely thanks"),
        reason=_("for contributing to the grassroots libraries of %(province)s province:", province=province_name),
        signing_for="", signing_title=_("Director"))


def qr_data_uri(url: str) -> str:
    """The address as a QR code, a PNG data URI (a raster image any PDF reader and scanner take)."""
    return str(segno.make(url, error="m", micro=False).png_data_uri(scale=6, border=2))
