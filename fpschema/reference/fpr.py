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

import polars as pl

from fpschema.reference import gb11643
from fpschema.reference.fpr_columns import (
    DOC_TYPE,
    FIRST,
    LAYOUT,
    WARNINGS,
    nationalities,
    nationality_failed,
    province_failed,
    provinces,
    shaped_expr,
)

__all__ = ["DOC_TYPE", "FIRST", "LAYOUT", "WARNINGS", "check", "compact", "is_valid", "nationalities",
           "nationality_failed", "province_failed", "provinces", "shaped_expr", "validate"]

# --- stdnum-like verbs on one value -------------------------------------------------------------------------


def compact(value: str) -> str:
    """The number as the rules read it: full-width to ASCII, spaces, apostrophes and hyphens dropped, upper case."""
    return gb11643.normalize(value)


def check(value: str, reference_date: date | None = None) -> str | None:
    """The rule code of the first problem with ``value`` read as this card's number (``fpr.format`` when it is
    not 18 characters starting with 9), or None."""
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
