"""Field cleaners: the small, pure functions a profile chains per field to turn what channels export into
what Omnishop stores. Each takes a value (text, or a typed cell from XLSX/Parquet) and options from the
profile, returns the cleaned value, or raises `CleanError(code, message)` which quarantines the row.

Empty values ("" or None) stop the chain as None before any cleaner runs; `required` is checked by the
profile, not here. Cleaners are pure, so a field's whole chain is memoised per distinct input: an export
repeats the same dates, countries and codes thousands of times.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.text import slugify


class CleanError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


CLEANERS: dict[str, Callable[..., Any]] = {}


def cleaner(name: str):
    def register(fn):
        CLEANERS[name] = fn
        return fn

    return register


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_WS = re.compile(r"\s+")


@cleaner("text")
def text(value: Any, *, collapse: bool = True, max_length: int | None = None) -> str:
    """Unicode NFKC (full-width → half-width, compatibility forms folded), trimmed, blanks collapsed."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    out = unicodedata.normalize("NFKC", str(value)).strip()
    if collapse:
        out = _WS.sub(" ", out)
    if max_length is not None and len(out) > max_length:
        raise CleanError("too_long", f"At most {max_length} characters (got {len(out)}).")
    return out


@cleaner("upper")
def upper(value: Any) -> str:
    return str(value).upper()


@cleaner("lower")
def lower(value: Any) -> str:
    return str(value).lower()


class _TextExtractor(HTMLParser):
    _BLOCKS = {"p", "br", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


@cleaner("strip_html")
def strip_html(value: Any) -> str:
    """Plain text from HTML: tags dropped (script/style with their content), entities decoded, paragraphs
    kept as single line breaks."""
    raw = str(value)
    if "<" not in raw and "&" not in raw:
        return raw.strip()
    parser = _TextExtractor()
    parser.feed(raw)
    parser.close()
    lines = [_WS.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    return "\n".join(line for line in lines if line)


@cleaner("email")
def email(value: Any) -> str:
    from email_validator import EmailNotValidError, validate_email

    candidate = str(value).strip().lower()
    try:
        return validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise CleanError("invalid_email", f"'{candidate}' is not a valid e-mail address: {exc}.") from None


@cleaner("phone")
def phone(value: Any, *, region: str | None = None) -> str:
    """E.164 (+441234567890) using the profile's/channel's default region for national numbers."""
    import phonenumbers
    from django.conf import settings

    raw = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        raw = str(int(value))
    region = (region or settings.OMNISHOP_DEFAULT_PHONE_REGION or "GB").upper()
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise CleanError("invalid_phone", f"'{raw}' is not a phone number: {exc}.") from None
    if not phonenumbers.is_valid_number(number):
        raise CleanError("invalid_phone", f"'{raw}' is not a valid phone number for region {region}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Names exporters use that ISO does not: the UCI "EIRE", "RSA", and common short forms.
COUNTRY_ALIASES = {
    "EIRE": "IE",
    "RSA": "ZA",
    "USA": "US",
    "U.S.A.": "US",
    "UNITED STATES OF AMERICA": "US",
    "UK": "GB",
    "U.K.": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
    "CZECH REPUBLIC": "CZ",
    "HOLLAND": "NL",
    "KOREA": "KR",
    "SOUTH KOREA": "KR",
    "RUSSIA": "RU",
    "BRASIL": "BR",
    "DEUTSCHLAND": "DE",
    "ESPAÑA": "ES",
    "中国": "CN",
}


@lru_cache(maxsize=4096)
def _country_code(key: str) -> str | None:
    import pycountry

    upper_key = key.upper()
    if upper_key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[upper_key]
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        pass
    if len(key) > 3:
        try:
            matches = pycountry.countries.search_fuzzy(key)
        except LookupError:
            return None
        if len(matches) == 1:
            return matches[0].alpha_2
    return None


@cleaner("country")
def country(value: Any, *, blank: list[str] | tuple = (), aliases: dict | None = None) -> str | None:
    """ISO 3166-1 alpha-2 from a name, alpha-2/3 code or known alias. Values listed in `blank` (such as
    "Unspecified") mean "no country" rather than an error."""
    raw = text(value)
    if raw.upper() in {b.upper() for b in blank}:
        return None
    if aliases and raw.upper() in {k.upper(): v for k, v in aliases.items()}:
        return {k.upper(): v for k, v in aliases.items()}[raw.upper()]
    code = _country_code(raw)
    if code is None:
        raise CleanError("invalid_country", f"'{raw}' is not a country name or ISO code.")
    return code


CURRENCY_SYMBOLS = {
    "£": "GBP",
    "€": "EUR",
    "$": "USD",
    "US$": "USD",
    "R$": "BRL",
    "¥": "JPY",
    "元": "CNY",
    "₹": "INR",
}


@cleaner("currency")
def currency(value: Any) -> str:
    from omnishop.core.money import InvalidCurrency, validate_currency

    raw = text(value)
    raw = CURRENCY_SYMBOLS.get(raw, raw)
    try:
        return validate_currency(raw)
    except InvalidCurrency:
        raise CleanError("invalid_currency", f"'{raw}' is not an ISO-4217 currency.") from None


_EXCEL_EPOCH = datetime(1899, 12, 30)


def _zone(tz: str | None):
    if not tz:
        return UTC
    try:
        return ZoneInfo(tz)
    except ZoneInfoNotFoundError:
        raise CleanError("invalid_timezone", f"Unknown time zone '{tz}'.") from None


@cleaner("datetime")
def to_datetime(
    value: Any, *, formats: list[str] | tuple = (), tz: str | None = None, dayfirst: bool = False
) -> datetime:
    """Aware UTC from ISO-8601, the profile's `formats`, compact YYYYMMDD, Excel dates (typed cells or
    serial numbers) or, last, dateutil's parser. Naive values are read in the profile's `tz`."""
    zone = _zone(tz)
    parsed: datetime | None = None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = float(value)
        if 20000 < number < 80000:  # an Excel serial date
            parsed = _EXCEL_EPOCH + timedelta(days=number)
        elif number > 10**9:  # Unix seconds
            return datetime.fromtimestamp(number, tz=UTC)
        else:
            raw = str(int(number)) if number.is_integer() else str(value)
            return to_datetime(raw, formats=formats, tz=tz, dayfirst=dayfirst)
    else:
        raw = text(value)
        for fmt in formats:
            try:
                parsed = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if parsed is None and re.fullmatch(r"\d{8}", raw):
            try:
                parsed = datetime.strptime(raw, "%Y%m%d")
            except ValueError:
                raise CleanError("invalid_date", f"'{raw}' is not a date (YYYYMMDD).") from None
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
        if parsed is None:
            from dateutil import parser as dateutil_parser

            try:
                parsed = dateutil_parser.parse(raw, dayfirst=dayfirst)
            except (ValueError, OverflowError):
                raise CleanError("invalid_date", f"'{raw}' is not a date or time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    if not 1900 <= parsed.year <= 2200:
        raise CleanError("date_out_of_range", f"{parsed.date()} is outside 1900-2200.")
    return parsed.astimezone(UTC)


@cleaner("date")
def to_date(value: Any, **options) -> date:
    return to_datetime(value, **options).date()


_NUMBER_JUNK = re.compile(r"[^\d,.\-+eE]")


@cleaner("decimal")
def to_decimal(value: Any, *, decimal_separator: str = "auto", min: Any = None, max: Any = None) -> Decimal:
    """Decimal from "1,234.56", "1.234,56", "12,5", "£3.50", typed numbers; never through float text
    artefacts."""
    if isinstance(value, bool):
        raise CleanError("invalid_number", "A boolean is not a number.")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        raw = unicodedata.normalize("NFKC", str(value)).strip()
        negative = raw.startswith("(") and raw.endswith(")")
        cleaned = _NUMBER_JUNK.sub("", raw.replace("\u2212", "-"))
        if not cleaned or not any(ch.isdigit() for ch in cleaned):
            raise CleanError("invalid_number", f"'{raw}' is not a number.")
        cleaned = _normalise_separators(cleaned, decimal_separator)
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            raise CleanError("invalid_number", f"'{raw}' is not a number.") from None
        if negative:
            number = -number
    if not number.is_finite():
        raise CleanError("invalid_number", f"'{value}' is not a finite number.")
    if min is not None and number < Decimal(str(min)):
        raise CleanError("out_of_range", f"{number} is below the minimum {min}.")
    if max is not None and number > Decimal(str(max)):
        raise CleanError("out_of_range", f"{number} is above the maximum {max}.")
    return number


def _normalise_separators(raw: str, decimal_separator: str) -> str:
    if decimal_separator == ",":
        return raw.replace(".", "").replace(",", ".")
    if decimal_separator == ".":
        return raw.replace(",", "")
    has_comma, has_point = "," in raw, "." in raw
    if has_comma and has_point:
        if raw.rfind(",") > raw.rfind("."):
            return raw.replace(".", "").replace(",", ".")  # 1.234,56
        return raw.replace(",", "")  # 1,234.56
    if has_comma:
        head, _, tail = raw.rpartition(",")
        if raw.count(",") > 1 or (len(tail) == 3 and head.lstrip("-+") not in ("", "0")):
            return raw.replace(",", "")  # 1,234 or 1,234,567: thousands
        return raw.replace(",", ".")  # 12,5: a decimal comma
    if raw.count(".") > 1:
        return raw.replace(".", "")  # 1.234.567: thousands
    return raw


@cleaner("integer")
def to_integer(value: Any, *, min: Any = None, max: Any = None) -> int:
    number = to_decimal(value, min=min, max=max)
    if number != number.to_integral_value():
        raise CleanError("not_an_integer", f"{number} is not a whole number.")
    return int(number)


@cleaner("identifier")
def identifier(value: Any, *, pad: int | None = None, strip_zeros: bool = False, upper: bool = False) -> str:
    """An id as text: `17850.0` and the XLSX number 17850 both become "17850"; optional left-padding with
    zeros (ZIP prefixes that lost their leading zero) or stripping them."""
    if isinstance(value, float) and value.is_integer():
        out = str(int(value))
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        out = str(int(value)) if value == int(value) else str(value)
    else:
        out = text(value, collapse=False)
        if re.fullmatch(r"-?\d+\.0+", out):
            out = out.split(".", 1)[0]
    if strip_zeros:
        out = out.lstrip("0") or "0"
    if pad and out.isdigit():
        out = out.zfill(pad)
    return out.upper() if upper else out


_TRUE = {
    "1",
    "true",
    "t",
    "yes",
    "y",
    "on",
    "x",
    "published",
    "active",
    "enabled",
    "instock",
    "in stock",
    "是",
    "wahr",
    "oui",
    "sim",
    "sí",
    "si",
}
_FALSE = {
    "0",
    "false",
    "f",
    "no",
    "n",
    "off",
    "draft",
    "hidden",
    "inactive",
    "disabled",
    "outofstock",
    "out of stock",
    "否",
    "falsch",
    "non",
    "não",
    "nao",
}


@cleaner("boolean")
def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    raw = text(value).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise CleanError("invalid_boolean", f"'{raw}' is not a yes/no value.")


@cleaner("slug")
def slug(value: Any) -> str:
    return slugify(text(value))


@cleaner("split")
def split(value: Any, *, sep: str = ",", level_sep: str | None = None) -> list:
    """A multi-value cell: 'a, b, c' → ['a', 'b', 'c']; with `level_sep` each item becomes a path list."""
    separator = "\n" if sep == "\\n" else sep
    items = [text(part) for part in str(value).split(separator)]
    items = [item for item in items if item]
    if level_sep:
        return [[text(level) for level in item.split(level_sep) if text(level)] for item in items]
    return items


@cleaner("items")
def items(value: Any, *, paths: bool = False) -> list:
    """A repeated XML element (a list of texts, or one text when it occurs once) → its non-empty texts in
    order; with `paths = true` each becomes a one-level category path (['Tshirts'] → [['Tshirts']])."""
    values = value if isinstance(value, list) else [value]
    out = [text(item) for item in values if item is not None and not isinstance(item, dict)]
    out = list(dict.fromkeys(item for item in out if item))
    return [[item] for item in out] if paths else out


@cleaner("key_values")
def key_values(value: Any, *, sep: str = ",", kv_sep: str = "=") -> dict:
    """'size=XS,color=Black' → {'size': 'XS', 'color': 'Black'} (Magento additional_attributes)."""
    out: dict[str, str] = {}
    for part in str(value).split(sep):
        if not part.strip():
            continue
        key, found, val = part.partition(kv_sep)
        if not found:
            # A separator inside a value ("a=b,c"): glue it back to the previous value.
            if out:
                last = next(reversed(out))
                out[last] = f"{out[last]}{sep}{part}"
                continue
            raise CleanError("invalid_key_values", f"'{part}' is not key{kv_sep}value.")
        out[text(key)] = text(val)
    return out


@cleaner("records")
def records(value: Any, *, sep: str = "|", field_sep: str = ",", kv_sep: str = "=") -> list[dict]:
    """'sku=A,size=S|sku=B,size=M' → [{'sku': 'A', 'size': 'S'}, ...] (Magento configurable_variations)."""
    return [key_values(part, sep=field_sep, kv_sep=kv_sep) for part in str(value).split(sep) if part.strip()]


@cleaner("map")
def map_values(value: Any, *, values: dict, strict: bool = False) -> Any:
    key = str(value)
    lowered = {str(k).lower(): v for k, v in values.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    if strict:
        raise CleanError("unexpected_value", f"'{key}' is not one of {', '.join(map(str, values))}.")
    return value


@cleaner("choices")
def choices(value: Any, *, values: list) -> Any:
    if value not in values:
        raise CleanError("unexpected_value", f"'{value}' is not one of {', '.join(map(str, values))}.")
    return value


@cleaner("regex")
def regex(value: Any, *, pattern: str, message: str | None = None) -> str:
    if not re.fullmatch(pattern, str(value)):
        raise CleanError("invalid_format", message or f"'{value}' does not match {pattern}.")
    return str(value)


@cleaner("template")
def template(value: Any, *, format: str) -> str:
    """Put the value into a fixed text, e.g. a source's namespace on its ids: "CJ-{}" makes 25671 "CJ-25671"
    (a grocery panel's product id must not match another channel's SKU 25671)."""
    return format.replace("{}", str(value))


def gtin_is_valid(code: str) -> bool:
    if not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return False
    digits = [int(d) for d in code]
    check = digits.pop()
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10 == check


@cleaner("gtin")
def gtin(value: Any) -> str:
    code = identifier(value)
    if not gtin_is_valid(code):
        raise CleanError("invalid_gtin", f"'{code}' is not a GTIN-8/12/13/14 with a valid check digit.")
    return code


@cleaner("grams")
def grams(value: Any, *, unit: str = "g") -> int:
    """A weight in grams from a number in `unit` (g, kg, lb, oz)."""
    factor = {
        "g": Decimal(1),
        "kg": Decimal(1000),
        "lb": Decimal("453.59237"),
        "lbs": Decimal("453.59237"),
        "oz": Decimal("28.349523125"),
    }.get(unit.lower())
    if factor is None:
        raise CleanError("invalid_unit", f"Unknown weight unit '{unit}'.")
    number = to_decimal(value, min=0)
    return int((number * factor).to_integral_value())


_CITY_PARTICLES = {"de", "da", "do", "das", "dos", "e", "del", "la", "le", "of", "upon", "on"}


@cleaner("city")
def city(value: Any, *, fold_accents: bool = False) -> str:
    """A free-text city made comparable: state suffixes ("sao paulo - sp", "pinhais/pr", "sao paulo /
    sao paulo"), stray backslash repeats and double blanks removed, words capitalised; a value without
    letters (a phone number typed into the city field) is rejected."""
    raw = text(value)
    raw = raw.split("\\")[0].strip()
    parts = [p.strip() for p in re.split(r"\s*[/,]\s*|\s+-\s+", raw) if p.strip()]
    if len(parts) > 1 and (len(parts[-1]) == 2 or parts[-1].lower() == parts[0].lower()):
        parts = parts[:-1]
    raw = " ".join(parts) if len(parts) > 1 and len(parts[0]) <= 2 else (parts[0] if parts else "")
    if not re.search(r"[^\W\d_]", raw):
        raise CleanError("invalid_city", f"'{value}' is not a city name.")
    if fold_accents:
        raw = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    words = raw.lower().split()
    return " ".join(w if (i and w in _CITY_PARTICLES) else w.capitalize() for i, w in enumerate(words))


MEMO_SIZE = 65536


class Failure:
    """A remembered CleanError: the memo keeps failures too, so a bad value repeated thousands of times
    is cleaned (and rejected) once."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _run(steps: list[tuple[Callable, dict]], value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    for fn, options in steps:
        value = fn(value, **options)
        if value is None or value == "":
            return None
    return value


def _clean_or_fail(steps: list[tuple[Callable, dict]], value: Any) -> Any:
    """The value through a chain's steps (None for empty), or a `Failure`; no memo."""
    try:
        return _run(steps, value)
    except CleanError as exc:
        return Failure(exc.code, exc.message)


class TextMemo(dict):
    """Text value -> cleaned value or `Failure` for one chain's steps; a miss cleans the value and remembers
    it. `memo[text]` is a C-level dict lookup for the repeats; the memo is emptied when it reaches MEMO_SIZE
    distinct values, so a column of unique values cannot grow it without bound."""

    __slots__ = ("steps",)

    def __init__(self, steps: list[tuple[Callable, dict]]) -> None:
        super().__init__()
        self.steps = steps

    def __missing__(self, value: str) -> Any:
        cleaned = _clean_or_fail(self.steps, value)
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[value] = cleaned
        return cleaned


class Chain:
    """A profile field's compiled cleaner list. Calling it cleans one value (raising CleanError);
    `outcome` returns a `Failure` instead of raising. Text values go through `memo` (exports repeat the
    same dates, countries and codes thousands of times); typed cells (XLSX/Parquet numbers, datetimes)
    through an LRU cache keyed by type and value, so 1, 1.0 and True stay distinct.

    Neither cache refers back to the chain (they hold its steps): a chain → cache → chain cycle kept every
    job's profile, memos and target alive until the garbage collector's next full pass, and the next import
    in the process ran ~10 % slower on memory it could not reuse."""

    __slots__ = ("_typed", "memo", "steps")

    def __init__(self, steps: list[tuple[Callable, dict]]) -> None:
        self.steps = steps
        self.memo = TextMemo(steps)
        self._typed = lru_cache(maxsize=MEMO_SIZE, typed=True)(partial(_clean_or_fail, steps))

    def outcome(self, value: Any) -> Any:
        """The cleaned value (None for empty), or a `Failure`."""
        if type(value) is str:
            return self.memo[value]
        try:
            return self._typed(value)
        except TypeError:  # unhashable input (a JSON list/object): no cache
            return _clean_or_fail(self.steps, value)

    def __call__(self, value: Any) -> Any:
        cleaned = self.outcome(value)
        if type(cleaned) is Failure:
            raise CleanError(cleaned.code, cleaned.message)
        return cleaned


def build_chain(steps: list) -> Chain:
    """Compile a profile's cleaner list (names or {name=..., option=...} tables) into one memoised
    callable."""
    compiled: list[tuple[Callable, dict]] = []
    for step in steps:
        if isinstance(step, str):
            name, options = step, {}
        else:
            options = dict(step)
            name = options.pop("name")
        if name not in CLEANERS:
            raise KeyError(name)
        compiled.append((CLEANERS[name], options))
    return Chain(compiled)
