"""Input for pledges, offline payments and statement review."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from app.forms import FieldError, whole_vnd
from app.i18n import _
from donations.models import Condition, Delivery, PledgeKind, Target


class PledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: PledgeKind
    target: Target
    need_id: int | None = None
    commune_code: int | None = None
    allowed_communes: Annotated[list[int] | None, Field(max_length=200)] = None
    allowed_items: Annotated[list[str] | None, Field(max_length=50)] = None
    # Money typed as people write it ("1.000.000", "1,000,000 đ"): app.forms.whole_vnd.
    amount: Annotated[int | None, BeforeValidator(whole_vnd), Field(gt=0)] = None  # to a commune or the pool
    quantity: Annotated[int | None, Field(gt=0, le=100_000)] = None  # items (or items funded)
    item_kind: Annotated[str | None, StringConstraints(max_length=64)] = None
    unit_value: Annotated[int | None, BeforeValidator(whole_vnd), Field(ge=1_000, le=200_000_000)] = None  # declared
    condition: Condition | None = None
    titles: Annotated[str, StringConstraints(max_length=5000)] = ""
    delivery: Delivery | None = None
    anonymous: bool = False

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.target == Target.NEED and self.need_id is None:
            raise FieldError("need_id", _("Choose the need you give to."))
        if self.target == Target.COMMUNE and self.commune_code is None:
            raise FieldError("commune_code", _("Choose the commune you give to."))
        if self.kind == PledgeKind.MONEY:
            if self.target != Target.NEED and self.amount is None:
                raise FieldError("amount", _("Enter the amount in đồng."))
        else:
            if self.target != Target.NEED and not self.item_kind:
                raise FieldError("item_kind", _("Choose the kind of item."))
            if self.delivery is None:
                raise FieldError("delivery", _("Choose where you will bring the items."))
        if (self.kind != PledgeKind.MONEY or self.target == Target.NEED) and self.quantity is None:
            raise FieldError("quantity", _("Enter how many items."))
        return self


class OfflinePaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    receipt_number: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class MatchIn(BaseModel):
    """An officer matches a statement line in review to a pledge by its reference code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reference: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class DismissIn(BaseModel):
    """An officer's note on a statement line dismissed or held (money awaiting a refund)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: Annotated[str, StringConstraints(min_length=1, max_length=500)]
