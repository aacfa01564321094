"""Input and output shapes for needs: shared by the HTML forms and the JSON API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from stdnum import isbn as stdnum_isbn

from app.forms import FieldError
from app.geography.models import LibraryKind
from app.i18n import _
from needs.models import BookLanguage, ItemCategory, NeedStatus, Urgency

MAX_QUANTITY = 100_000
MIN_UNIT_VALUE = 1_000
MAX_UNIT_VALUE = 200_000_000
MAX_TITLES = 50


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NeedTitleIn(_In):
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    author: Annotated[str, StringConstraints(max_length=200)] = ""
    isbn: str | None = None

    @field_validator("isbn")
    @classmethod
    def _isbn13(cls, value: str | None) -> str | None:
        if not value:
            return None
        compact = stdnum_isbn.compact(value)
        if len(compact) != 13 or not stdnum_isbn.is_valid(compact):
            raise FieldError("isbn", _("This is not a valid ISBN-13 (13 digits with a correct check digit)."))
        return compact


class NeedIn(_In):
    """A need as a librarian writes it. `library_id` is only for officers writing on a library's behalf."""

    item_kind: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY)]
    unit_value: Annotated[int | None, Field(ge=MIN_UNIT_VALUE, le=MAX_UNIT_VALUE)] = None
    urgency: Urgency = Urgency.NORMAL
    reason: Annotated[str, StringConstraints(max_length=2000)] = ""
    deadline: dt.date | None = None
    language: BookLanguage | None = None
    titles: Annotated[list[NeedTitleIn], Field(max_length=MAX_TITLES)] = []
    library_id: int | None = None

    @field_validator("urgency", mode="before")
    @classmethod
    def _urgency_by_name(cls, value: object) -> object:
        if isinstance(value, str) and not value.isdigit():
            try:
                return Urgency[value.upper()]
            except KeyError:
                return value
        return int(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _deadline_in_future(self) -> Self:
        if self.deadline and self.deadline <= dt.date.today():
            raise FieldError("deadline", _("The deadline must be a future date."))
        if self.deadline and self.deadline > dt.date.today() + dt.timedelta(days=3 * 365):
            raise FieldError("deadline", _("The deadline must be within three years."))
        return self


class ItemKindIn(_In):
    key: Annotated[str, StringConstraints(pattern=r"^(book|equipment)/[a-z0-9-]{2,50}$")]
    category: ItemCategory
    name_vi: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    name_en: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    default_unit_value: Annotated[int, Field(ge=MIN_UNIT_VALUE, le=MAX_UNIT_VALUE)]


class ReturnIn(_In):
    note: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class RejectIn(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class BulkApproveIn(_In):
    ids: Annotated[list[int], Field(min_length=1, max_length=500)]


Sort = Literal["urgency", "newest", "least_covered"]


class BoardFilters(BaseModel):
    """The public board's filters; they live in the URL."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    province_code: int | None = None
    commune_code: int | None = None
    library_kind: LibraryKind | None = None
    category: ItemCategory | None = None
    item: Annotated[str | None, StringConstraints(max_length=64)] = None
    urgency: Urgency | None = None
    status: NeedStatus | None = NeedStatus.OPEN
    q: Annotated[str | None, StringConstraints(max_length=100)] = None
    sort: Sort = "urgency"
    page: Annotated[int, Field(ge=1, le=10_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 20


class NeedTitleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    title: str
    author: str
    isbn: str | None


class NeedOut(BaseModel):
    id: int
    library_id: int
    library_name: str
    commune_code: int
    commune_name: str
    province_code: int
    item_kind: str
    item_name: str
    quantity: int
    unit_value: int
    value: int
    urgency: str
    language: str | None
    reason: str
    deadline: dt.date | None
    status: NeedStatus
    moderation_note: str
    pledged_quantity: int
    allocated_quantity: int
    delivered_quantity: int
    created_at: dt.datetime
    titles: list[NeedTitleOut] = []


class NeedPage(BaseModel):
    items: list[NeedOut]
    total: int
