"""Donations over HTTP for sponsors and the public: receipts and confirmation records (PDF), the
sponsor's dashboard, the public transparency ledger (page, CSV) and its JSON export.
Thin: parse, call a query or a renderer, answer."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.guards import acting_user, signed_in, sponsor_only
from app.forms import validate
from app.i18n import VN_TZ, _, get_locale
from app.settings import Settings
from app.text import csv_text
from app.web import DbSession, last_page, page_number, render
from donations import dashboard, receipts
from donations.ledger import (
    MAX_PER_PAGE,
    POOL,
    LedgerFilters,
    LedgerPage,
    LedgerRow,
    ledger,
    ledger_communes,
    ledger_months,
)
from recognition import documents
from recognition import services as recognition

# --- receipts and confirmation records ------------------------------------------------------------


async def _pdf(request: Request[Any, Any, Any], state: State, template: str, d: receipts.Donation,
               filename: str) -> Response[bytes]:
    settings: Settings = state.settings
    html = receipts.render_html(
        request.app.template_engine.engine, template,  # type: ignore[union-attr]
        d=d, issuer=receipts.issuer(settings), province_name=settings.province_name,
        issued_on=dt.datetime.now(VN_TZ).date(),
    )
    pdf = await anyio.to_thread.run_sync(receipts.html_to_pdf, html)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}.pdf"'})


class PledgeDocuments(Controller):
    """A pledge's receipt and confirmation record: for its sponsor or an officer only."""

    path = "/pledges"
    guards = [signed_in]

    @get("/{reference:str}/receipt.pdf", name="pledge_receipt")
    async def receipt(self, request: Request[Any, Any, Any], db_session: DbSession, state: State,
                      reference: FromPath[str]) -> Response[bytes]:
        pledge = await receipts.pledge_for_viewer(db_session, reference, acting_user(request))
        d = await receipts.donation(db_session, pledge)
        return await _pdf(request, state, "donations/receipt.html", d, d.receipt_number)

    @get("/{reference:str}/confirmation.pdf", name="pledge_confirmation")
    async def confirmation(self, request: Request[Any, Any, Any], db_session: DbSession,
                           state: State, reference: FromPath[str]) -> Response[bytes]:
        pledge = await receipts.pledge_for_viewer(db_session, reference, acting_user(request))
        d = await receipts.confirmation(db_session, pledge)
        return await _pdf(request, state, "donations/confirmation.html", d, d.confirmation_number)


# --- the sponsor's dashboard ----------------------------------------------------------------------


class SponsorDashboard(Controller):
    path = "/account/pledges"
    guards = [sponsor_only]

    @get("/", name="sponsor_pledges")
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Template:
        sponsor = acting_user(request)
        providers = {p.identifier: p.display_name for p in request.app.state.payment_providers.all()}
        total = await dashboard.count_pledges(db_session, sponsor)
        pages = last_page(total, dashboard.PLEDGES_PER_PAGE)
        page = min(page_number(request), pages)  # past the last page: the last
        views = await dashboard.sponsor_pledges(db_session, sponsor, providers, page=page)
        return render(request, "donations/sponsor_pledges.html", views=views, total=total, page=page, pages=pages,
                      per_page=dashboard.PLEDGES_PER_PAGE,
                      certificates=await recognition.certificates_of(db_session, sponsor.id) if page == 1 else [],
                      contribution=documents.contribution)


# --- the public ledger ----------------------------------------------------------------------------


class LedgerQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    month: Annotated[str | None, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None
    commune: Annotated[str | None, StringConstraints(pattern=r"^(\d{1,9}|pool)$")] = None
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] = 50
    format: Literal["html", "csv"] = "html"

    def filters(self) -> LedgerFilters:
        commune: int | str | None = self.commune
        if self.commune and self.commune != POOL:
            commune = int(self.commune)
        return LedgerFilters(month=self.month, commune=commune, page=self.page,
                             per_page=self.per_page)

    def query_string(self) -> str:
        """The filters as a query string, without the page (for the pager and the CSV link)."""
        return urlencode({k: v for k, v in (("month", self.month), ("commune", self.commune)) if v})


def _query(request: Request[Any, Any, Any]) -> LedgerQuery:
    return validate(LedgerQuery, {k: v for k, v in request.query_params.items() if v != ""})


def item_name(row: LedgerRow) -> str | None:
    return row.item_name_vi if get_locale() == "vi" else row.item_name_en


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(VN_TZ).date()


def row_out(row: LedgerRow) -> dict[str, Any]:
    """One ledger row for export: the same fields, in the same order, in JSON and CSV."""
    return {
        "reference": row.reference,
        "date": local_date(row.confirmed_at).isoformat(),
        "sponsor": row.sponsor,
        "anonymous": row.anonymous,
        "kind": row.kind.value,
        "item": item_name(row),
        "quantity": row.quantity if not row.is_money else None,
        "unit_value": row.unit_value if not row.is_money else None,
        "value": row.value,
        "commune_code": row.commune_code,
        "commune": row.commune_name,
        "library": row.library_name,
        "status": row.status.value,
        "acknowledged_value": row.acknowledged_value,
        "allocated_value": row.allocated if row.is_money else None,
    }


def totals_out(page: LedgerPage) -> dict[str, Any]:
    return {
        "value": page.grand_total,
        "money": {"confirmed": page.money.confirmed, "allocated": page.money.allocated,
                  "waiting": page.money.waiting, "allocated_not_arrived": page.money.lost},
        "goods": page.money.goods,
        "by_month": [{"month": t.key, "count": t.count, "value": t.value} for t in page.by_month],
        "by_commune": [{"commune_code": int(t.key) if t.key else None, "commune": t.label,
                        "count": t.count, "value": t.value} for t in page.by_commune],
    }


def csv_headers() -> list[str]:
    return [_("Reference"), _("Date"), _("Sponsor"), _("Anonymous"), _("Kind of gift"), _("Item"),
            _("Quantity"), _("Unit value (VND)"), _("Value (VND)"), _("Commune code"), _("Commune"),
            _("Library"), _("Status"), _("Value acknowledged by the library (VND)"),
            _("Money allocated so far (VND)")]


def ledger_csv(rows: list[LedgerRow]) -> bytes:
    """UTF-8 with a byte order mark (so Excel reads Vietnamese), amounts as whole numbers; a
    sponsor's name (typed by anyone who registers) that a spreadsheet would read as a formula
    stays text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_headers())
    for row in rows:
        data = row_out(row)
        data["sponsor"] = row.sponsor or _("Anonymous")
        data["anonymous"] = int(row.anonymous)
        writer.writerow(["" if v is None else csv_text(v) for v in data.values()])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


class PublicLedger(Controller):
    @get("/ledger", name="ledger", cache=True)
    async def index(self, request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
        query = _query(request)
        if query.format == "csv":
            page = await ledger(db_session, query.filters(), paginate=False)
            return Response(ledger_csv(page.rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})
        page = await ledger(db_session, query.filters())
        return render(
            request, "donations/ledger.html", fragment="donations/_ledger_results.html",
            page=page, query=query, query_string=query.query_string(),
            pages=last_page(page.total, query.per_page),
            months=await ledger_months(db_session), communes=await ledger_communes(db_session),
            item_name=item_name, local_date=local_date, pool=POOL,
        )


class LedgerApi(Controller):
    path = "/api/v1"
    tags = ["donations"]

    @get("/ledger", name="api_ledger", cache=True)
    async def ledger(
        self, request: Request[Any, Any, Any], db_session: DbSession
    ) -> dict[str, Any]:
        """The public ledger's rows (paginated: `page`, `per_page` up to 500) and its totals."""
        query = _query(request)
        page = await ledger(db_session, query.filters())
        return {"items": [row_out(r) for r in page.rows], "total": page.total,
                "page": query.page, "per_page": query.per_page, "totals": totals_out(page)}


ROUTE_HANDLERS = [PledgeDocuments, SponsorDashboard, PublicLedger, LedgerApi]
