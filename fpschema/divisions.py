"""GB/T 2260 county-level division codes, with the years each was in use.

The history comes from python-stdnum's bundled ``cn/loc.dat``, read here with one regular expression (its
lines are ``NN province="…"`` and ``  NNNN county="…"``; ``stdnum.numdb`` parses the same file line by line in
Python, ten times slower, and gives the same codes: tested).
A code counts as valid when it was in use at any time: people keep the region code of the place
where they were first registered, so a code created after someone's birth year is still real.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import polars as pl

from . import contract

# Residence-permit prefixes for residents of Hong Kong, Macao and Taiwan (2018 rules); 830000 is not
# in loc.dat, the other two are.
PERMIT_PREFIXES = ("810000", "820000", "830000")

_SPAN = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


@dataclass(frozen=True)
class Period:
    name: str
    start: int | None  # first year in use, None when in use since before the record begins
    end: int | None  # last year in use, None when still in use


def _periods(text: str) -> tuple[Period, ...]:
    out = []
    for part in text.split(","):
        m = _SPAN.match(part.strip())
        if m:
            start, end, name = m.groups()
            out.append(Period(name, int(start) if start else None, int(end) if end else None))
        else:
            out.append(Period(part.strip(), None, None))
    return tuple(out)


_ENTRY = re.compile(r'^(?:(\d{2}) province|  (\d{4}) county)="([^"\n]*)"[ \t\r]*$', re.M)
_OTHER = re.compile(r'^(?!#|[ \t\r]*$|\d{2} province="|  \d{4} county=")', re.M)


def _loc_dat() -> str:
    """python-stdnum's ``cn/loc.dat``, found without importing the package (the import costs several times the
    read, at the start of every validation)."""
    spec = importlib.util.find_spec("stdnum")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "cn" / "loc.dat"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return (files("stdnum") / "cn" / "loc.dat").read_text(encoding="utf-8")  # e.g. installed as a zip


@cache
def _entries() -> tuple[tuple[str, str], ...]:
    """(six-digit code, names text) of every line of ``cn/loc.dat``, in file order."""
    text = _loc_dat()
    if (other := _OTHER.search(text)) is not None:  # a layout this reader does not know: say so, loudly
        raise ValueError(f"stdnum cn/loc.dat: unexpected line at offset {other.start()}")
    out, province = [], ""
    for m in _ENTRY.finditer(text):
        if m.group(1):
            province = m.group(1)
            out.append((province + "0000", m.group(3)))
        else:
            out.append((province + m.group(2), m.group(3)))
    return tuple(out)


@cache
def history() -> dict[str, tuple[Period, ...]]:
    """Six-digit code → the names it had and their years."""
    table: dict[str, tuple[Period, ...]] = {}
    for code, names in _entries():
        table[code] = _periods(names)
    for code in PERMIT_PREFIXES:
        table.setdefault(code, (Period("台湾居民居住证", 2018, None),))
    return table


@cache
def valid_codes() -> frozenset[str]:
    """Every six-digit code valid at some time."""
    return frozenset([code for code, _ in _entries()] + list(PERMIT_PREFIXES))


def is_valid(code: str) -> bool:
    """True when ``code`` (the first six digits of any division or ID number) was ever a GB/T 2260 code."""
    return code[:6] in valid_codes()


@cache
def known_codes() -> pl.Series:
    """:func:`valid_codes` as a sorted column, for membership tests in expressions."""
    return pl.Series("code", sorted(valid_codes()), dtype=pl.Utf8)


def unknown_expr(col: pl.Expr) -> pl.Expr:
    """True where a code starts with six digits that were never a GB/T 2260 code.

    The first six characters are read as a number (null unless they are ASCII digits, or a "+" and digits) and
    looked up among the codes as numbers: one integer lookup, several times cheaper than a regular
    expression and a text lookup. Six digits take at least six bytes, and a shorter text of digits is itself
    shorter than six bytes (the same rows as the regular expression: tested)."""
    number = col.str.slice(0, 6).cast(pl.UInt32, strict=False)
    unknown = (~number.is_in(code_numbers().implode())).fill_null(False)  # not digits: not this rule's business
    return pl.when(col.is_not_null()).then(
        unknown & (col.str.len_bytes() >= 6) & ~col.str.starts_with("+"))


def code_digits(spec: dict) -> int | None:
    """n for a division-code field whose contract pattern (``spec``, the field's schema) is n ASCII digits, at
    least six (a number each: see :func:`fpschema.check.digits_number`); else None."""
    digits = contract.digits_pattern(spec.get("pattern", "")) if spec.get("x-check") == "division" else None
    return digits if digits is not None and 6 <= digits <= 18 else None


def unknown_rows(name: str, digits: int) -> pl.Expr:
    """:func:`unknown_expr` of column ``name`` from its number (``{name}#number``, a ``digits_number``): the
    first six digits by integer division; the cells that are not such a code (few) by the text."""
    number = pl.col(f"{name}#number")
    known = (number // 10 ** (digits - 6)).cast(pl.UInt32).is_in(code_numbers().implode())
    return pl.when(number.is_not_null()).then(~known).otherwise(
        unknown_expr(pl.when(number.is_null()).then(pl.col(name))))


@cache
def code_numbers() -> pl.Series:
    """:func:`known_codes` as numbers (six-digit codes: one number each, and back)."""
    return known_codes().cast(pl.UInt32)


def status_expr(col: pl.Expr) -> pl.Expr:
    """``division.unknown`` where a code's first six digits were never a GB/T 2260 code, else null."""
    return pl.when(unknown_expr(col)).then(pl.lit("division.unknown"))


def check(code: str) -> str | None:
    """Rule code for one division code (``division.unknown``) or None.

    >>> check("110105001001"), check("999999")
    (None, 'division.unknown')
    """
    return pl.select(status_expr(pl.lit(code, dtype=pl.Utf8))).item()


def name(code: str, year: int | None = None) -> str | None:
    """The name of a code, in ``year`` when given, else its latest name."""
    periods = history().get(code[:6])
    if not periods:
        return None
    if year is not None:
        for p in periods:
            if (p.start is None or p.start <= year) and (p.end is None or year <= p.end):
                return p.name
        return None
    return periods[-1].name
