"""Gettext for Vietnamese (default) and English; locale-aware VND, number and date formatting.

Messages are written in English in the code and templates (msgids) and translated in the Babel
catalogs under app/translations. `make messages` extracts and updates them; `make install`
compiles them to .mo. If a .mo file is missing or older than its .po (a fresh checkout before
`make install`), the catalog is compiled in memory from the .po so the site is never untranslated.
"""

from __future__ import annotations

import datetime as dt
import io
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_COOKIE = "lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_current: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


def set_locale(locale: str) -> None:
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current.get()


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    folder = TRANSLATIONS_DIR / locale / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fh:
            return Translations(fh)
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(msgid: str, /, **variables: Any) -> str:
    text = translations(get_locale()).gettext(msgid)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


def lazy(message: str) -> str:
    """Mark a message for extraction where it is defined; translate it where it is shown."""
    return message


@lru_cache(maxsize=len(LOCALES))
def _integer_formats(locale: str) -> tuple[str, str]:
    """The locale's digit-group symbol and its VND pattern with `{}` for the digits, from Babel,
    so formatting whole numbers (the hot path of every list) needs no Babel call."""
    group = numbers.get_group_symbol(locale)
    sample = numbers.format_currency(1234567, "VND", locale=locale)
    digits = f"{1234567:,}".replace(",", group)
    return group, sample.replace(digits, "{}")


def _group(value: int, group: str) -> str:
    return f"{value:,}".replace(",", group)


def format_vnd(amount: int | None) -> str:
    if amount is None:
        return ""
    group, pattern = _integer_formats(get_locale())
    sign = "-" if amount < 0 else ""
    return sign + pattern.format(_group(abs(amount), group))


def format_number(value: int | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return _group(value, _integer_formats(get_locale())[0])
    return numbers.format_decimal(value, locale=get_locale())


def format_percent(value: float | None) -> str:
    if value is None:
        return ""
    return numbers.format_percent(value, locale=get_locale())


# Vietnamese lists and forms write a day as 26/11/2026 (Babel's medium, "26 thg 11, 2026", reads oddly).
DAY_PATTERNS = {("vi", "medium"): "dd/MM/y", ("vi", "short"): "dd/MM/y"}


def local_day(value: dt.date | dt.datetime) -> dt.date:
    """A day as it is; a moment as the day it was in Vietnam."""
    if isinstance(value, dt.datetime):
        return value.astimezone(VN_TZ).date() if value.tzinfo else value.date()
    return value


def format_date(value: dt.date | dt.datetime | None, fmt: str = "medium") -> str:
    """A day (a moment: the day it was in Vietnam). Documents use `format_document_date`."""
    if value is None:
        return ""
    value = local_day(value)
    locale = get_locale()
    return _format_day(value, DAY_PATTERNS.get((locale, fmt), fmt), locale)


def format_datetime(value: dt.datetime | None) -> str:
    """A moment as it was in Vietnam, to the minute (the audit trail): 26/11/2026 16:05."""
    if value is None:
        return ""
    local = value.astimezone(VN_TZ) if value.tzinfo else value.replace(tzinfo=dt.UTC).astimezone(VN_TZ)
    return f"{format_date(local.date())} {local:%H:%M}"


def format_document_date(value: dt.date | dt.datetime | None) -> str:
    """A day as official documents write it: in Vietnamese the administrative style (Nghị định
    30/2020: "ngày 05 tháng 01 năm 2027", a day below 10 and the months 1 and 2 with a leading
    zero), so "Sơn La, %(date)s" and "Quyết định số 12/QĐ-UBND %(date)s" read right; in English
    "5 January 2027". A moment is the day it was in Vietnam."""
    if value is None:
        return ""
    value = local_day(value)
    if get_locale() == "vi":
        month = f"{value.month:02d}" if value.month < 3 else str(value.month)
        return f"ngày {value.day:02d} tháng {month} năm {value.year}"
    return _format_day(value, "d MMMM y", get_locale())


@lru_cache(maxsize=4096)
def _format_day(value: dt.date, fmt: str, locale: str) -> str:
    """Days repeat on every list (deadlines), and Babel takes ~20 µs to format one."""
    return dates.format_date(value, fmt, locale=locale)


VN_TZ = dates.get_timezone("Asia/Ho_Chi_Minh")


def pick_locale(cookie: str | None) -> str:
    """The remembered choice wins; otherwise Vietnamese (the site is Vietnamese first)."""
    if cookie in LOCALES:
        return cookie
    return DEFAULT_LOCALE
