"""Validating input with Pydantic, with messages in the user's language.

HTML forms and the JSON API share the same schemas. `validate(Model, data)` returns the model,
or raises `ValidationFailed` with one translated message per field. Custom rules raise
`FieldError(field, message)` with an already translated message.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, ValidationInfo

from app.errors import ValidationFailed
from app.i18n import _, format_number

M = TypeVar("M", bound=BaseModel)


class FieldError(ValueError):
    """A rule broken by one field, raised from a model validator; shown beside that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _bound(value: Any) -> Any:
    """A limit as the user's locale writes numbers (1.000.000.000.000, not 1000000000000)."""
    return format_number(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if isinstance(ctx.get("error"), FieldError):
        return ctx["error"].message
    blank = error.get("input") is None or error.get("input") == ""
    if kind == "missing" or (blank and kind.endswith("_type")) or (
        kind == "string_too_short" and ctx.get("min_length") == 1
    ):
        return _("This field is required.")
    if kind == "string_too_short":
        return _("Must be at least %(n)s characters.", n=ctx.get("min_length"))
    if kind == "string_too_long":
        return _("Must be at most %(n)s characters.", n=ctx.get("max_length"))
    if kind == "too_long":  # a list: title lines, ids
        return _("At most %(n)s entries.", n=ctx.get("max_length"))
    if kind == "too_short":
        return _("At least %(n)s entries are needed.", n=ctx.get("min_length"))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("Enter a whole number.")
    if kind in ("float_parsing", "float_type", "finite_number"):
        return _("Enter a number.")
    if kind == "greater_than":
        return _("Must be more than %(n)s.", n=_bound(ctx.get("gt")))
    if kind == "greater_than_equal":
        return _("Must be at least %(n)s.", n=_bound(ctx.get("ge")))
    if kind in ("less_than", "less_than_equal"):
        return _("Must be at most %(n)s.", n=_bound(ctx.get("lt", ctx.get("le"))))
    if kind in ("enum", "literal_error"):
        return _("Choose one of the options.")
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return _("Enter a valid e-mail address.")
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return _("Enter a valid date.")
    return _("This value is not valid.")


# An amount of đồng as people write it: digits, or groups of three after one to three digits, all
# separated alike by dots (Vietnamese), commas or spaces; then perhaps "đ", "₫" or "VND".
_VND_UNIT = re.compile(r"\s*(₫|đ|đồng|d|dong|vnđ|vnd)\.?$", re.IGNORECASE)
_VND_GROUPED = re.compile(r"-?[0-9]{1,3}([., ])[0-9]{3}(?:\1[0-9]{3})*")
_VND_DIGITS = re.compile(r"-?[0-9]+")


def whole_vnd(value: Any, info: ValidationInfo) -> Any:
    """A pydantic before-validator for whole đồng typed in a form: "1.000.000", "1,000,000 đ",
    "1 000 000 ₫" and "1000000" all mean one million. Decimals ("50000.5", "1,5") and other text
    get a message beside the field that shows how to write it; numbers (JSON) pass as they are."""
    if not isinstance(value, str):
        return value
    text = _VND_UNIT.sub("", re.sub(r"\s", " ", value).strip())
    if _VND_DIGITS.fullmatch(text):
        return text
    if _VND_GROUPED.fullmatch(text):
        return re.sub(r"[., ]", "", text)
    raise FieldError(info.field_name or "", _("Enter a whole number of đồng, such as 1.000.000."))


def errors_of(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError) and (not loc or loc[-1] != cause.field):
            loc.append(cause.field)  # raised by a model validator: name the field it concerns
        field = ".".join(loc) or "__all__"
        errors.setdefault(field, _message(error))  # type: ignore[arg-type]
    return errors


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors_of(exc)) from exc


def form_data(raw: Any) -> dict[str, Any]:
    """Form fields as a plain dict; blank strings become None so optional fields stay unset."""
    data: dict[str, Any] = {}
    for key, value in dict(raw).items():
        if key == "_csrf_token":
            continue
        if isinstance(value, str):
            value = value.strip()
            data[key] = value if value != "" else None
        else:
            data[key] = value
    return data
