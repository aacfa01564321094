"""Text helpers: search that ignores diacritics and case ("muong la" finds "Xã Mường La")."""

from __future__ import annotations

import unicodedata

_FOLD = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ → d), collapse white space."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(stripped.lower().split())


def like_pattern(query: str) -> str:
    """A LIKE pattern for a folded query, with LIKE's wildcards escaped (escape char '\\')."""
    escaped = fold(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

