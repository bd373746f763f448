"""2023 外国人永久居留身份证 numbers (foreign permanent-residence ID card), as column expressions and verbs.

The card issued from 2023-12-01 by 国家移民管理局 carries an 18-character number built like a citizen's
(GB 11643): ``9`` (the mark of a foreigner: citizens' numbers start with a province code, 1-8), two digits of
the province where the application was accepted, three digits of nationality (the ISO 3166-1 / GB/T 2659
numeric code that replaced the three letters of the older 15-character card), the birth date YYYYMMDD, three
digits of sequence (the 17th digit odd for men, even for women) and the ISO 7064 MOD 11-2 check character of
GB 11643. Sources: 《新版外国人永久居留身份证机读信息规则（2023版）》 as quoted by card-reader vendors
[secondary]: first digit 9, 18 characters, MOD 11-2, letters → numeric nationality; the positions of province
and nationality as parsed by howardli/CredentialKit (Apache-2.0) [secondary]; the primary text was not read.

The rules are part of the ID number's status (:mod:`fpschema.gb11643` computes one status column for both
kinds of number); this module holds the parts that are the card's own and the stdnum-like verbs:

>>> compact(" 911398199012310021 "), is_valid("911398199012310021"), check("911398199012310022")
('911398199012310021', True, 'fpr.checksum')
"""

from __future__ import annotations

from datetime import date
from functools import cache

import polars as pl

from fpschema.reference import divisions

DOC_TYPE = "91"  # its code in the document-type table (project-defined: WS 364.3-2011 has none)
FIRST = "9"
LAYOUT = r"^9[0-9]{16}[0-9X]$"
# the statuses of a number whose own rules leave its birth date and sex usable (warnings)
WARNINGS = ("fpr.nationality",)


def shaped_expr(n: pl.Expr) -> pl.Expr:
    """Where a normalised number (``#n``, before a 15-digit upgrade) is read as this card's: 18 characters
    starting with 9. Its other characters are the layout's business (``id.format``)."""
    return (n.str.len_bytes() == 18) & n.str.starts_with(FIRST)


@cache
def provinces() -> pl.Series:
    """The two-digit province codes of the place that accepted the application: the mainland provinces of
    GB/T 2260 (11-65; 71 台湾, 81 香港, 82 澳门 and the permit prefix 83 are not places the card is applied for)."""
    codes = [f"{p}" for p in range(11, 70) if divisions.is_valid(f"{p}0000")]
    return pl.Series("province", codes, dtype=pl.Utf8)


@cache
def nationalities() -> pl.Series:
    """Three-digit nationality codes: ISO 3166-1 numeric (GB/T 2659 uses the same numbers), from ``iso3166``."""
    from iso3166 import countries_by_numeric

    return pl.Series("nationality", sorted(countries_by_numeric), dtype=pl.Utf8)


def province_failed(c: pl.Expr) -> pl.Expr:
    """Where characters 2-3 are not a mainland province code."""
    return ~c.str.slice(1, 2).is_in(provinces().implode())


def nationality_failed(c: pl.Expr) -> pl.Expr:
    """Where characters 4-6 are not an ISO 3166-1 numeric code."""
    return ~c.str.slice(3, 3).is_in(nationalities().implode())


# --- stdnum-like verbs on one value -------------------------------------------------------------------------


def compact(value: str) -> str:
    """The number as the rules read it: full-width to ASCII, spaces, apostrophes and hyphens dropped, upper case."""
    from fpschema.reference import gb11643

    return gb11643.normalize(value)


def check(value: str, reference_date: date | None = None) -> str | None:
    """The rule code of the first problem with ``value`` read as this card's number (``fpr.format`` when it is
    not 18 characters starting with 9), or None."""
    from fpschema.reference import gb11643

    if not isinstance(value, str) or not pl.select(shaped_expr(pl.lit(compact(value)))).item():
        return "fpr.format"
    return gb11643.check(value, reference_date)


def is_valid(value: str, reference_date: date | None = None) -> bool:
    """True when ``value`` is a good number of the card (a warning allowed)."""
    return check(value, reference_date) in (None, *WARNINGS)


def validate(value: str, reference_date: date | None = None) -> str:
    """The compact number, or ``ValueError`` naming the rule it breaks."""
    code = check(value, reference_date)
    if code not in (None, *WARNINGS):
        raise ValueError(code)
    return compact(value)
