"""GB 11643-1999 citizen ID numbers (公民身份号码), as column expressions and as plain functions.

Structure of an 18-character number: six digits of GB/T 2260 division code (where the person was
first registered), eight digits of birth date YYYYMMDD, three digits of sequence (the last one odd for
men, even for women) and a check character (ISO 7064 MOD 11-2, ``X`` for ten). First-generation
15-digit numbers have a YYMMDD date and no check character; they upgrade by inserting ``19`` and
appending the check character. An 18-character number starting with 9 is a 2023 foreign permanent-residence
ID card's (:mod:`fpschema.fpr`): the same layout and check, its own rules (``fpr.*``) in the same status.

Every rule is written once, as a polars expression over a whole column; the plain functions
evaluate that same expression on one value:

>>> check("11010519491231002X", reference_date=date(2024, 1, 1)) is None
True
>>> check("110105194912310021", reference_date=date(2024, 1, 1))
'id.checksum'
>>> upgrade("110105491231002")
'11010519491231002X'
"""

from __future__ import annotations

from datetime import date
from functools import cache

import polars as pl

from fpschema import contract
from fpschema.contract.check import one_of
from fpschema.reference import divisions
from fpschema.reference import fpr_columns as fpr

SCIENTIFIC = r"^[0-9](\.[0-9]+)?E\+?[0-9]+$"
LEGACY_15 = r"^[0-9]{15}$"
# Characters dropped by normalisation: white space (NBSP and U+3000 included, after NFKC), the
# apostrophe Excel users type to force text, and hyphens.
_DROP = r"[\s'\-]"


@cache
def _pattern() -> str:
    """The 18/15-digit layout, read from the contract (``resident_id_pattern`` in defs.json)."""
    return contract.defs()["resident_id_pattern"]["pattern"]


CLEAN = r"^[0-9]{17}[0-9X]$"
LAYOUT_CODES = ("id.excel_scientific", "id.format")  # the statuses of a number not in the layout


def layout_failed(name: str, pattern: str) -> pl.Expr | None:
    """Where ID column ``name``'s normalised value does not match ``pattern``, read from its status (one
    column, no second regular expression) when ``pattern`` is the layout the status tests; else None. The
    status's first test, spreadsheet damage, never matches the layout; its second is the layout."""
    return one_of(pl.col(f"{name}#status"), LAYOUT_CODES) if pattern == _pattern() else None


def normalize_expr(col: pl.Expr) -> pl.Expr:
    """NFKC (full-width digits and letters to ASCII), drop spaces, apostrophes and hyphens, upper-case.

    Values already in the clean 18-character form pass through; only the others (null elsewhere, so
    nearly free) go through the string functions.
    """
    text = col.cast(pl.Utf8)
    clean = text.str.contains(CLEAN)
    odd = pl.when(~clean).then(text)
    return pl.when(clean).then(text).otherwise(
        odd.str.normalize("NFKC").str.replace_all(_DROP, "").str.to_uppercase())


def check_value_expr(body: pl.Expr) -> pl.Expr:
    """Check value (0-10) of 17 digits: ``(1 - 2 * int(body, 13)) mod 11``.

    ``-2 ≡ 9 (mod 11)``, so the value is computed as ``(1 + 9 * (n mod 11)) mod 11`` to stay in 64 bits.
    """
    return (1 + 9 * (body.str.to_integer(base=13, strict=False) % 11)) % 11


def check_char_expr(body: pl.Expr) -> pl.Expr:
    """Check character of 17 digits (:func:`check_value_expr`), ten written ``X``."""
    v = check_value_expr(body)
    return pl.when(v == 10).then(pl.lit("X")).otherwise(v.cast(pl.Utf8))


def _upgrade(n: pl.Expr) -> pl.Expr:
    legacy = pl.when(n.str.contains(LEGACY_15)).then(n)  # null for all others: the work below is nearly free
    body = legacy.str.slice(0, 6) + pl.lit("19") + legacy.str.slice(6, 9)
    return pl.coalesce(body + check_char_expr(body), n)


def _birth(c: pl.Expr) -> pl.Expr:
    birth = c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False, cache=False)
    return pl.when(c.str.contains(r"^[0-9]{14}")).then(birth)


def _sex(c: pl.Expr) -> pl.Expr:
    d = c.str.slice(16, 1).cast(pl.Int8, strict=False)
    return pl.when(d % 2 == 1).then(pl.lit("1")).when(d % 2 == 0).then(pl.lit("2"))


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


_TESTED = ("id.excel_scientific", "id.format", "id.excel_truncated", "id.checksum", "id.birth_date",
           "id.birth_future", "id.age_range", "id.region", "id.legacy_15", "fpr.province", "fpr.nationality")
# a foreign permanent-residence number (fpr.shaped_expr) breaks the same tests under the card's own codes
FPR_OF = {"id.checksum": "fpr.checksum", "id.birth_date": "fpr.birth_date", "id.birth_future": "fpr.birth_future",
          "id.age_range": "fpr.age_range"}
STATUS_CODES = _TESTED + tuple(FPR_OF.values())
# statuses (warnings) of a number whose birth date and sex are still read from it
USABLE = ("id.legacy_15", *fpr.WARNINGS)
# the status column's type: its codes as an enumeration, so a test for one code compares small integers
STATUS = pl.Enum(STATUS_CODES)


def _status(raw: pl.Expr, n: pl.Expr, c: pl.Expr, reference_date: date) -> pl.Expr:
    ref = _ymd(reference_date)
    digits = c.str.slice(6, 8)
    birth = digits.cast(pl.Int32, strict=False)  # YYYYMMDD as a number: ages by subtraction
    real = digits.str.to_date("%Y%m%d", strict=False, cache=False).is_not_null()
    checksum_ok = check_char_expr(c.str.slice(0, 17)) == c.str.slice(17, 1)
    tests = [
        n.str.contains(SCIENTIFIC),
        ~n.str.contains(_pattern()),
        ~checksum_ok & c.str.ends_with("000"),
        ~checksum_ok,
        ~real,
        birth > ref,
        ref - birth >= 121_0000,  # (ref - birth) // 10000 is the age in whole years
        ~c.str.slice(0, 6).is_in(divisions.known_codes().implode()),
        n.str.contains(LEGACY_15),
    ]
    # a foreign permanent-residence number: its province and nationality instead of the region, and a flag bit
    # that names its failures with the card's codes (FPR_OF)
    foreign = fpr.shaped_expr(n)
    tests += [foreign & fpr.province_failed(c), foreign & fpr.nationality_failed(c), foreign]
    tests[_REGION] = tests[_REGION] & ~foreign
    # the first test that holds: tests packed as bits, then the lowest set bit's rule code by lookup
    # (a handful of integer operations instead of a ten-branch when/then over every row)
    bits = pl.sum_horizontal(t.fill_null(False).cast(pl.UInt16) * (1 << i) for i, t in enumerate(tests))
    return pl.when(raw.is_not_null()).then(bits.replace_strict(_FIRST_FAILED, default=None, return_dtype=STATUS))


_REGION = _TESTED.index("id.region")
_FOREIGN = 1 << len(_TESTED)  # the flag bit


def _first_failed(bits: int) -> str:
    """The rule code of the lowest set test bit; the card's own code when the flag bit is set."""
    tested = bits & (_FOREIGN - 1)
    code = _TESTED[(tested & -tested).bit_length() - 1]
    return FPR_OF.get(code, code) if bits & _FOREIGN else code


_FIRST_FAILED = {v: _first_failed(v) for v in range(1, _FOREIGN << 1) if v & (_FOREIGN - 1)}


CYCLE = 146_097  # days in 400 Gregorian years, after which the calendar repeats
_CYCLE_START = date(2000, 1, 1)


@cache
def _ymd_table() -> pl.Series:
    """YYYYMMDD of each day of one 400-year cycle, from 2000-01-01."""
    return _ymd_of(pl.date_range(_CYCLE_START, date(2399, 12, 31), eager=True)).rename("ymd")


def _ymd_of(days: pl.Series) -> pl.Series:
    """Dates as numbers YYYYMMDD."""
    return (days.dt.year().cast(pl.Int64) * 10000 + days.dt.month().cast(pl.Int64) * 100
            + days.dt.day().cast(pl.Int64))


def ymd_expr(d: pl.Expr) -> pl.Expr:
    """A date as the number YYYYMMDD: looked up in one 400-year cycle, plus 400 years (4,000,000) per cycle
    away from it, so any date is exact (equal to year * 10000 + month * 100 + day; tested)."""
    offset = d.cast(pl.Int32).cast(pl.Int64) - (_CYCLE_START - date(1970, 1, 1)).days
    cycles = offset // CYCLE
    return pl.lit(_ymd_table()).gather(offset - cycles * CYCLE) + cycles * 4_000_000


def age_expr(birth: pl.Expr, on: pl.Expr) -> pl.Expr:
    """Whole years between two date expressions (YYYYMMDD numbers subtracted, divided by 10000)."""
    return ((ymd_expr(on) - ymd_expr(birth)) // 10000).cast(pl.Int32)


def canonical_expr(col: pl.Expr) -> pl.Expr:
    """The normalised number, with a 15-digit legacy number upgraded to 18 characters."""
    return _upgrade(normalize_expr(col))


def birth_date_expr(col: pl.Expr) -> pl.Expr:
    """Birth date carried by the number (null when it is not a real date)."""
    return _birth(canonical_expr(col))


def sex_expr(col: pl.Expr) -> pl.Expr:
    """Sex code (GB/T 2261.1) from the 17th digit: odd ``1`` (male), even ``2`` (female)."""
    return _sex(canonical_expr(col))


def status_expr(col: pl.Expr, reference_date: date) -> pl.Expr:
    """The first rule an ID number breaks, as a rule code (null when it is good).

    Order: spreadsheet damage, layout, check digit, birth date, age, region; a good 15-digit number
    gives the warning ``id.legacy_15``. An 18-character number starting with 9 is a foreign permanent-residence
    number (:mod:`fpschema.fpr`): the same tests under ``fpr.*`` codes, its province and nationality in place
    of the region. One self-contained expression; :func:`stages` computes the
    same with shared intermediate columns, which plans much faster.
    """
    n = normalize_expr(col)
    return _status(col, n, _upgrade(n), reference_date)


def normalized_expr(col: pl.Expr) -> pl.Expr:
    """True where normalisation changed the value (full-width, lower-case x, stray spaces)."""
    return col.is_not_null() & (normalize_expr(col) != col.cast(pl.Utf8))


@cache  # built once per column and date: the blocks of a large file reuse the expressions
def stages(name: str, reference_date: date) -> tuple[dict[str, pl.Expr], ...]:
    """Derived columns for ID column ``name``, in dependency order (apply with ``with_columns``).

    Adds ``{name}#status`` (rule code), ``{name}#sex``, ``{name}#birth`` and ``{name}#normalized``.
    """
    raw, n, c = pl.col(name), pl.col(f"{name}#n"), pl.col(f"{name}#c")
    return (
        {f"{name}#n": normalize_expr(raw)},
        {f"{name}#c": _upgrade(n)},
        {
            f"{name}#status": _status(raw, n, c, reference_date),
            f"{name}#sex": _sex(c),
            f"{name}#birth": _birth(c),
            f"{name}#normalized": raw.is_not_null() & (n != raw.cast(pl.Utf8)),
        },
    )


@cache
def _dates_by_ymd(first: int, last: int) -> pl.Series:
    """Every date of the years ``first`` to ``last`` at position YYYYMMDD - ``first``0101 (null between, as
    at 20240230)."""
    days = pl.date_range(date(first, 1, 1), date(last, 12, 31), eager=True)
    base = first * 10000 + 101
    return pl.repeat(None, last * 10000 + 1231 - base + 1, dtype=pl.Date, eager=True).rename("date").scatter(
        _ymd_of(days) - base, days)


def _date_of_ymd(ymd: pl.Expr, reference_date: date) -> pl.Expr:
    """The date a number YYYYMMDD names, looked up (no text parsed), for the years an ID number's birth date
    may have on ``reference_date`` (ages 0 to 120); null for other numbers."""
    first = max(1, reference_date.year - 121)
    table = _dates_by_ymd(first, reference_date.year)
    at = ymd - (first * 10000 + 101)
    return pl.lit(table).gather(pl.when((at >= 0) & (at < len(table))).then(at))


@cache
def _clean_good(name: str, reference_date: date) -> tuple[dict[str, pl.Expr], ...]:
    """Stages (apply in order) giving ``#good`` — the number is in the clean 18-character form (``CLEAN``) and
    breaks no rule — and the derived columns of :func:`stages` as they are for such numbers (status null,
    nothing normalised or upgraded). The first 17 characters read as one integer give the region, the birth
    date as YYYYMMDD and the sex by arithmetic; no regular expression. Other rows get wrong values here:
    :func:`derive` routes them to :func:`stages`."""
    raw = pl.col(name)
    body = raw.str.slice(0, 17)
    number, last, birth = pl.col("#number"), pl.col("#last"), pl.col(f"{name}#birth")
    ymd = ((number // 1000) % 100_000_000).cast(pl.Int32)
    # 17 digits read as a number of 17 digits: no sign (the region's first digit is never 0)
    clean = ((raw.str.len_bytes() == 18) & (number >= 10**16) & (last.is_not_null() | raw.str.ends_with("X")))
    # the birth date's tests of the status (not after the reference date, an age under 121), on the date itself
    # (dates are ordered as their YYYYMMDD numbers): no second YYYYMMDD computation
    good = (clean & (pl.col("#expected") == last.fill_null(10)) & birth.is_not_null()
            & (birth <= pl.lit(reference_date)) & _after_oldest(birth, reference_date)
            & (number // 100_000_000_000).cast(pl.UInt32, strict=False).is_in(divisions.code_numbers().implode()))
    return (
        {"#number": body.cast(pl.Int64, strict=False), "#last": raw.str.slice(17, 1).cast(pl.Int8, strict=False),
         "#expected": check_value_expr(body)},  # X = 10
        {f"{name}#birth": _date_of_ymd(ymd, reference_date)},
        {"#good": good.fill_null(False), f"{name}#n": raw.cast(pl.Utf8), f"{name}#c": raw.cast(pl.Utf8),
         f"{name}#status": pl.lit(None, dtype=STATUS),
         f"{name}#sex": pl.when(number % 2 == 1).then(pl.lit("1")).when(number.is_not_null()).then(pl.lit("2")),
         f"{name}#normalized": pl.lit(False)},
    )


def _after_oldest(birth: pl.Expr, reference_date: date) -> pl.Expr:
    """Where a real date ``birth`` gives an age under 121 on ``reference_date``: ``ref - ymd < 121_0000`` of the
    status, i.e. a YYYYMMDD above that of the date 121 years before (29 February: the day before, if that year
    has none)."""
    year = reference_date.year - 121
    if year < 1:
        return pl.lit(True)
    try:
        oldest = date(year, reference_date.month, reference_date.day)
    except ValueError:
        oldest = date(year, reference_date.month, reference_date.day - 1)
    return birth > pl.lit(oldest)


def derive(frame: pl.DataFrame, name: str, reference_date: date) -> pl.DataFrame:
    """``frame`` with the columns of :func:`stages` for ID column ``name``, computed faster: good numbers in
    the clean form (nearly all, in real files) take :func:`_clean_good`'s few integer operations; the others
    the full :func:`stages` expressions, on those rows only, put back in place. The result equals applying
    :func:`stages` (tested)."""
    out = frame
    for stage in _clean_good(name, reference_date):
        out = out.with_columns(**stage)
    odd = out.get_column("#good").not_() & out.get_column(name).is_not_null()
    out = out.drop("#number", "#last", "#expected", "#good")
    if not odd.any():
        return out
    where = odd.arg_true()
    sub = frame.select(pl.col(name).gather(where))
    for stage in stages(name, reference_date):
        sub = sub.with_columns(**stage)
    derived = [c for c in sub.columns if c != name]
    return out.with_columns(out.get_column(c).cast(sub.schema[c]).clone().scatter(where, sub.get_column(c))
                            for c in derived)


def region_retired_expr(name: str) -> pl.Expr:
    """``id.region_retired`` of ID column ``name``: its address code abolished long before the birth year
    (:func:`divisions.id_retired_expr`), from the derived columns both routes give (``#c``, ``#birth``)."""
    return divisions.id_retired_expr(pl.col(f"{name}#c").str.slice(0, 6), pl.col(f"{name}#birth").dt.year())


# --- the same rules for one value ---------------------------------------------------------------------


def _one(column: str, value: object, reference_date: date | None = None):
    """Evaluate the staged columns on one value and return the derived column ``column``."""
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.Utf8})
    for stage in stages("v", reference_date or date.today()):
        frame = frame.with_columns(**stage)
    return frame[f"v#{column}"].item()


def normalize(value: str) -> str:
    """The value as the rules see it (full-width to ASCII, spaces dropped, upper case)."""
    return _one("n", value)


def calc_check_digit(number: str) -> str:
    """Check character for the first 17 digits of ``number``."""
    return pl.select(check_char_expr(pl.lit(number[:17], dtype=pl.Utf8))).item()


def check(value: str, reference_date: date | None = None) -> str | None:
    """Rule code of the first problem with ``value`` (``id.legacy_15`` for a good legacy number), or None."""
    if not isinstance(value, str):
        return "id.format"
    return _one("status", value, reference_date)


def is_valid(value: str, reference_date: date | None = None) -> bool:
    """True when ``value`` is a good 18-digit number or an upgradable 15-digit one."""
    return check(value, reference_date) in (None, "id.legacy_15")


def upgrade(value: str) -> str:
    """The 18-character form of a number (15-digit numbers upgraded, others normalised)."""
    return _one("c", value)


def birth_date(value: str) -> date | None:
    return _one("birth", value)


def sex(value: str) -> str | None:
    return _one("sex", value)
