"""Receipts and enterprise sponsorship confirmation records, as PDF (WeasyPrint).

A receipt exists for every confirmed donation still standing:

- money (the pledge paid, allocated, delivered or acknowledged, with a confirmed `Payment`):
  numbered by that payment's `receipt_number` (gap-free per year, e.g. `GLG-2026-000042`);
- in kind (the goods received, or later): numbered from the pledge reference,
  `GLG-IK-<reference>` (e.g. `GLG-IK-GLGAB12CD34`), since receipt of goods has no payment. It
  states the items that arrived, as the ledger's in-kind entries count them: what the officer
  accepted at the hub, or, for goods the sponsor brought to the library, what the librarian
  received (fewer than pledged when some never came; none arrived, no receipt).

A refunded donation has no receipt any more. The sponsorship confirmation record ("Biên bản xác
nhận tài trợ", numbered `GLG-XN-<reference>`) is for organisation sponsors with a tax code: both
parties, what was given, the date and signature blocks; enterprises file it for tax.

The documents are written in the reader's language (the normal gettext path), issued by the
province's Department of Culture, Sports and Tourism (`settings.province_name`), and set in
DejaVu Sans so Vietnamese renders in full.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.auth.models import Role, SponsorType, User
from app.errors import NotFound
from app.geography.models import Commune, Library
from app.i18n import VN_TZ, _
from app.settings import Settings
from donations.ledger import goods_arrived
from donations.models import Pledge, PledgeKind, PledgeStatus
from donations.services import confirmed_payment
from needs.models import ItemKind, Need

P = PledgeStatus
MONEY_RECEIPT_STATUSES = frozenset({P.PAID, P.ALLOCATED, P.DELIVERED, P.ACKNOWLEDGED})
IN_KIND_RECEIPT_STATUSES = frozenset({P.RECEIVED, P.ALLOCATED, P.DELIVERED, P.ACKNOWLEDGED})
IN_KIND_PREFIX = "GLG-IK-"
CONFIRMATION_PREFIX = "GLG-XN-"


@dataclass(frozen=True)
class Donation:
    """What a receipt or a confirmation record says about one confirmed donation."""

    pledge: Pledge
    sponsor: User
    receipt_number: str
    confirmed_at: dt.datetime
    item_name: str | None
    commune_name: str | None
    library_name: str | None
    # What arrived, as the ledger counts it: the money paid; the items received (at the hub, or at
    # the library for goods the sponsor brings: fewer than pledged when some never came).
    quantity: int  # in kind: the items that arrived (0 for money)
    value: int  # the amount paid, or what the arrived items are worth

    @property
    def is_money(self) -> bool:
        return self.pledge.kind == PledgeKind.MONEY

    @property
    def confirmed_on(self) -> dt.date:
        """The day the donation was confirmed, in Vietnam."""
        return self.confirmed_at.astimezone(VN_TZ).date()

    @property
    def confirmation_number(self) -> str:
        return CONFIRMATION_PREFIX + self.pledge.reference


def issuer(settings: Settings) -> str:
    """The issuing body: the province's Department of Culture, Sports and Tourism."""
    return _("Department of Culture, Sports and Tourism of %(province)s province",
             province=settings.province_name)


def can_file_confirmation(sponsor: User) -> bool:
    return sponsor.sponsor_type == SponsorType.ORGANISATION and bool(sponsor.tax_code)


async def pledge_for_viewer(session: AsyncSession, reference: str, viewer: User) -> Pledge:
    """The pledge, if the viewer is its sponsor or an officer; otherwise it does not exist."""
    pledge = await session.scalar(
        select(Pledge).where(Pledge.reference == reference)
        .options(selectinload(Pledge.payments), selectinload(Pledge.sponsor))
    )
    if pledge is None or (viewer.role != Role.OFFICER and pledge.sponsor_id != viewer.id):
        raise NotFound(_("No such pledge."))
    return pledge


def receipt_number(pledge: Pledge) -> tuple[str, dt.datetime] | None:
    """The receipt's number and date, or None while (or once no longer) the donation stands."""
    if pledge.kind == PledgeKind.MONEY:
        payment = confirmed_payment(pledge)
        if pledge.status not in MONEY_RECEIPT_STATUSES or payment is None:
            return None
        assert payment.receipt_number and payment.confirmed_at
        return payment.receipt_number, payment.confirmed_at
    if pledge.status not in IN_KIND_RECEIPT_STATUSES or pledge.confirmed_at is None:
        return None
    return IN_KIND_PREFIX + pledge.reference, pledge.confirmed_at


async def donation(session: AsyncSession, pledge: Pledge) -> Donation:
    """The confirmed donation behind a pledge (its payments and sponsor loaded), or 404: also for
    goods none of which arrived."""
    numbered = receipt_number(pledge)
    if numbered is None:
        raise NotFound(_("This pledge has no receipt: the donation is not confirmed."))
    quantity, value = await received(session, pledge)
    if pledge.kind != PledgeKind.MONEY and quantity <= 0:
        raise NotFound(_("This pledge has no receipt: none of its items arrived."))
    kind = await session.get(ItemKind, pledge.item_kind_key) if pledge.item_kind_key else None
    commune = await session.get(Commune, pledge.commune_code) if pledge.commune_code else None
    need = await session.get(Need, pledge.need_id) if pledge.need_id else None
    library = await session.get(Library, need.library_id) if need else None
    return Donation(
        pledge=pledge, sponsor=pledge.sponsor, receipt_number=numbered[0], confirmed_at=numbered[1],
        item_name=kind.name if kind else None, commune_name=commune.name if commune else None,
        library_name=library.name if library else None, quantity=quantity, value=value,
    )


async def received(session: AsyncSession, pledge: Pledge) -> tuple[int, int]:
    """(items, VND) a confirmed donation stands for: money, no items and its amount; in kind, what
    the ledger's in-kind entries say arrived (``ledger.goods_arrived``; none, (0, 0))."""
    if pledge.kind == PledgeKind.MONEY:
        return 0, pledge.amount
    return (await goods_arrived(session, [pledge.id])).get(pledge.id, (0, 0))


async def confirmation(session: AsyncSession, pledge: Pledge) -> Donation:
    """As `donation`, for an organisation sponsor with a tax code only (404 otherwise)."""
    if not can_file_confirmation(pledge.sponsor):
        raise NotFound(_("Confirmation records are for organisations with a tax code."))
    return await donation(session, pledge)


def render_html(env: Environment, template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


@functools.lru_cache(maxsize=64)
def html_to_pdf(html: str) -> bytes:
    """WeasyPrint is synchronous and CPU-bound: call this from a worker thread. The same document
    asked for again (a certificate whose link is shared, a receipt downloaded twice) is not laid out
    again: the last 64 are kept by their HTML, so anything that changes what one says (a
    revocation's stamp, a corrected name) makes a new one."""
    from weasyprint import HTML

    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
