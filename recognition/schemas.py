"""Input for rule sets, nominations, approvals, corrections, entry edits and revocations."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.forms import FieldError
from app.i18n import _
from recognition.models import FORM_ORDER, Category, CommendationForm, NomineeKind, PeriodKind

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Money = Annotated[int, Field(ge=0, le=10**12)]

DEFAULT_THRESHOLDS: dict[str, dict[str, int]] = {
    CommendationForm.CHAIR_MERIT.value: {"individual": 50_000_000, "collective": 200_000_000},
    CommendationForm.DIRECTOR_COMMENDATION.value: {"individual": 10_000_000, "collective": 50_000_000},
    CommendationForm.THANK_YOU_LETTER.value: {"individual": 1_000_000, "collective": 5_000_000},
}


def threshold_field(form: CommendationForm, category: Category) -> str:
    """The form field of one threshold, e.g. `chair_merit_individual`."""
    return f"{form.value}_{category.value}"


class RuleSetIn(BaseModel):
    """A rule set version. Thresholds are flat fields (`chair_merit_individual`, ...) so that the
    HTML form and the JSON API share one shape."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    period_key: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    period_kind: PeriodKind = PeriodKind.YEAR
    period_start: dt.date
    period_end: dt.date
    count_money: bool = False
    count_books: bool = False
    count_equipment: bool = False
    chair_merit_individual: Money
    chair_merit_collective: Money
    director_commendation_individual: Money
    director_commendation_collective: Money
    thank_you_letter_individual: Money
    thank_you_letter_collective: Money
    note: Annotated[str | None, StringConstraints(max_length=2000)] = None

    @model_validator(mode="before")
    @classmethod
    def _negative_is_its_own_message(cls, data: object) -> object:
        if isinstance(data, dict):
            for form in FORM_ORDER:
                for category in Category:
                    key = threshold_field(form, category)
                    value = data.get(key)
                    try:
                        negative = value is not None and int(value) < 0
                    except (TypeError, ValueError):
                        negative = False
                    if negative:
                        raise FieldError(key, _("A threshold cannot be negative."))
        return data

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.period_end < self.period_start:
            raise FieldError("period_end", _("The period cannot end before it starts."))
        if self.period_kind == PeriodKind.YEAR:
            if not (len(self.period_key) == 4 and self.period_key.isascii() and self.period_key.isdigit()):
                raise FieldError("period_key", _("A calendar year is named by its year, e.g. 2026."))
            year = int(self.period_key)
            if (self.period_start, self.period_end) != (dt.date(year, 1, 1), dt.date(year, 12, 31)):
                raise FieldError("period_start", _("A calendar year runs from 1 January to 31 December %(year)s.",
                                                   year=year))
        if not (self.count_money or self.count_books or self.count_equipment):
            raise FieldError("count_money", _("Choose at least one kind of contribution that counts."))
        for category in Category:
            values = [getattr(self, threshold_field(form, category)) for form in FORM_ORDER]
            for i in range(len(values) - 1):
                if values[i] <= values[i + 1]:
                    raise FieldError(threshold_field(FORM_ORDER[i], category), _(
                        "Thresholds must be in order: a higher form needs more than the one below it."))
            if values[-1] <= 0:
                raise FieldError(threshold_field(FORM_ORDER[-1], category), _("A threshold must be above zero."))
        return self

    def thresholds(self) -> dict[str, dict[str, int]]:
        return {form.value: {category.value: getattr(self, threshold_field(form, category))
                             for category in Category} for form in FORM_ORDER}


class NominationIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    period_key: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    nominee_name: Text200
    nominee_kind: NomineeKind
    address: Annotated[str | None, StringConstraints(max_length=300)] = None
    form: CommendationForm
    work: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    evidence: Annotated[str, StringConstraints(min_length=1, max_length=5000)]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    period_key: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    decision_number: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    decision_date: dt.date
    signer: Text200
    # The Department's decision for the forms it awards: required when the roll has any of them.
    department_decision_number: Annotated[str | None, StringConstraints(max_length=60)] = None
    department_decision_date: dt.date | None = None
    department_signer: Annotated[str | None, StringConstraints(max_length=200)] = None


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    change_note: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class EntryEditIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: Text200
    address: Annotated[str | None, StringConstraints(max_length=300)] = None
    form: CommendationForm


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
