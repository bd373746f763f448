"""The 2023 外国人永久居留身份证 number's own parts as column expressions (:mod:`fpschema.reference.fpr` describes
the card): its layout, province and nationality. :mod:`fpschema.reference.gb11643` reads them into the one status
column of ID numbers; :mod:`fpschema.reference.fpr` re-exports them beside its verbs.
"""

from __future__ import annotations

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
