"""Text helpers: search that ignores diacritics and case ("muong la" finds "Xã Mường La"); file
names in a Content-Disposition header; text a spreadsheet must not read as a formula."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

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



def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header for any file name (RFC 6266): an ASCII fallback without
    diacritics or unsafe characters ("Chiến dịch Hè 2026" → "chien-dich-he-2026") for old clients,
    and the name itself, percent-encoded UTF-8, in `filename*` (RFC 5987)."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = re.sub(r"[^a-z0-9._-]+", "-", fold(stem)).strip("-.") or "download"
    fallback = f"{ascii_stem}.{fold(extension)}" if extension else ascii_stem
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


# What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): names, addresses and
# notes typed by sponsors and officers must stay text in the lists offices open in Excel.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_text(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would read as a formula gets a leading single quote (shown
    as text); anything else, numbers included, is left as it is."""
    return "'" + value if is_formula_like(value) else value
