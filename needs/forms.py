"""The need form as a librarian fills it on a phone: titles are typed one per line."""

from __future__ import annotations

import re
import secrets
from typing import Any

from app.errors import ValidationFailed
from app.forms import form_data, validate
from app.i18n import _
from needs.models import Need
from needs.schemas import NeedIn

SEPARATOR = "|"
# The form's fields, each with a message placeholder `e-<field>` in the page.
FIELDS = ("item_kind", "quantity", "unit_value", "urgency", "deadline", "reason", "language", "titles_text")
_TITLE_ERROR = re.compile(r"^titles\.(\d+)\.")
_FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{16,32}$")


def new_form_key() -> str:
    """A one-time key for a new need's form: sent twice, the form makes one need."""
    return secrets.token_urlsafe(16)


def form_key(raw: Any) -> str | None:
    """The form's key as sent, if it looks like one we made."""
    return raw if isinstance(raw, str) and _FORM_KEY.match(raw) else None


def parse(raw: Any) -> tuple[dict[str, Any], NeedIn | None, dict[str, str]]:
    """Form fields → (values to show again, the validated need or None, errors by field)."""
    values = form_data(raw)
    data = {k: v for k, v in values.items() if k in NeedIn.model_fields and v is not None}
    data.pop("titles", None)
    titles_text = values.get("titles_text") or ""
    titles, line_numbers = [], []
    for number, line in enumerate(titles_text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(SEPARATOR)]
        titles.append({"title": parts[0], "author": parts[1] if len(parts) > 1 else "",
                       "isbn": parts[2] if len(parts) > 2 and parts[2] else None})
        line_numbers.append(number)
    data["titles"] = titles
    try:
        return values, validate(NeedIn, data), {}
    except ValidationFailed as exc:
        return values, None, fold_errors(exc.errors, line_numbers)


def fold_errors(errors: dict[str, str], line_numbers: list[int] | None = None) -> dict[str, str]:
    """'titles.1.isbn' → 'titles_text': 'Line 3: …' so the message stands beside the text area:
    every wrong line, each by its number in the text area (blank lines count)."""
    folded: dict[str, str] = {}
    lines: dict[int, str] = {}
    for field, message in errors.items():
        match = _TITLE_ERROR.match(field)
        if match:
            index = int(match[1])
            number = line_numbers[index] if line_numbers and index < len(line_numbers) else index + 1
            lines.setdefault(number, _("Line %(n)s: %(message)s", n=number, message=message))
        elif field == "titles":
            folded["titles_text"] = message
        else:
            folded[field] = message
    if lines and "titles_text" not in folded:
        folded["titles_text"] = " ".join(lines[n] for n in sorted(lines))
    return folded


def values_of(need: Need) -> dict[str, Any]:
    """A saved need as form values, for editing."""
    return {
        "item_kind": need.item_kind_key,
        "quantity": need.quantity,
        "unit_value": need.unit_value,
        "urgency": str(int(need.urgency)),
        "reason": need.reason,
        "deadline": need.deadline.isoformat() if need.deadline else "",
        "language": need.language.value if need.language else "",
        "titles_text": "\n".join(
            f" {SEPARATOR} ".join([t.title, t.author, t.isbn or ""]).rstrip(f" {SEPARATOR}")
            for t in need.titles
        ),
    }
