"""Why a statement line waits for review: stored as a code with its parameters (language-neutral),
put into words in the reader's language where it is shown.

Lines imported before this stored the words themselves (in the importing officer's language);
`describe` shows those, and an officer's own dismissal note, as they are.
"""

from __future__ import annotations

import json

from app.i18n import _, format_vnd, lazy

REASONS = {
    "several_codes": lazy("Several reference codes in the description."),
    "no_code": lazy("No reference code found."),
    "unknown_code": lazy("Unknown reference code %(ref)s."),
    "not_awaiting": lazy("Pledge %(ref)s is not awaiting payment."),
    "short": lazy("Short payment: %(paid)s received, %(due)s pledged."),
    "over": lazy("Over payment: %(paid)s received, %(due)s pledged."),
}
_MONEY = frozenset({"paid", "due"})  # parameters in VND, formatted for the reader


def coded(reason: str, **params: str | int) -> str:
    """The note to store: the reason's code and its parameters."""
    assert reason in REASONS, reason
    return json.dumps({"reason": reason, **params}, ensure_ascii=False, sort_keys=True)


def describe(note: str) -> str:
    """A stored note in the reader's language; anything not a coded reason as it is."""
    if not note.startswith("{"):
        return note
    try:
        data = json.loads(note)
        reason = data.pop("reason")
        params = {k: format_vnd(v) if k in _MONEY else v for k, v in data.items()}
        return _(REASONS[reason], **params)
    except (ValueError, TypeError, KeyError, AttributeError):
        return note
