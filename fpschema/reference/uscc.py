"""GB 32100-2015 unified social credit codes (统一社会信用代码), as column expressions and plain functions.

Eighteen characters from a 31-symbol alphabet (no I, O, S, V, Z): registration authority (position 1),
institution type (2), the registering authority's GB/T 2260 division code (3-8), the GB 11714 organisation code
(9-17, its own check character at 17) and a check character (18) computed with weights ``3**i mod 31``
(GB/T 17710). The layout is read from the contract (``uscc`` in defs.json), the authority and type pairs too
(``uscc_registration``).

A wrong layout or final check character is an error; the structure inside a code whose check character holds
(the organisation code's check, the authority and type pair, the division) gives warnings: codes issued in
pilot regions before the standard break them and are lawful all the same. Spaces, hyphens, full-width and
lower-case characters are normalised with a warning (``uscc.normalized``).

>>> check("91110000600037341L"), check("91110000600037341M"), warnings("91110000600037341L")
(None, 'uscc.checksum', [])
>>> warnings("918801064006901351")
['uscc.division']
"""

from __future__ import annotations

from functools import cache

import polars as pl

from fpschema import contract
from fpschema.contract.check import Check
from fpschema.reference import divisions

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# GB 11714-1997 organisation code: eight characters, digits 0-9 and letters A-Z valued 10-35, weights below;
# check = 11 - (sum mod 11), 10 written X and 11 written 0
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
CENTRAL = "100000"  # registrations at the national level carry 100000, not a GB/T 2260 code [secondary]
CLEAN = r"^[0-9A-Z]{18}$"
_DROP = r"[\s'\-]"
WARNING_CODES = ("uscc.org_checksum", "uscc.registration", "uscc.division")


@cache
def _pattern() -> str:
    return contract.defs()["uscc"]["pattern"]


@cache
def registrations() -> tuple[str, ...]:
    """The authority and type pairs of positions 1-2 (the contract's ``uscc_registration`` table)."""
    return contract.code_group("uscc_registration")


def normalize_expr(col: pl.Expr) -> pl.Expr:
    """NFKC (full-width to ASCII), spaces, apostrophes and hyphens dropped, upper case; clean values untouched."""
    text = col.cast(pl.Utf8)
    odd = pl.when(~text.str.contains(CLEAN)).then(text)
    return pl.coalesce(odd.str.normalize("NFKC").str.replace_all(_DROP, "").str.to_uppercase(), text)


def check_char_expr(col: pl.Expr) -> pl.Expr:
    """Check character of the first 17 characters."""
    total = pl.sum_horizontal(
        col.str.slice(i, 1).replace_strict(_VALUE, default=None, return_dtype=pl.Int64) * w
        for i, w in enumerate(WEIGHTS)
    )
    index = (31 - total % 31) % 31
    return index.replace_strict(dict(enumerate(ALPHABET)), default=None, return_dtype=pl.Utf8)


def org_check_char_expr(col: pl.Expr) -> pl.Expr:
    """GB 11714 check character of the organisation code at positions 9-16 (the 17th character's due value)."""
    total = pl.sum_horizontal(
        col.str.slice(8 + i, 1).replace_strict(_ORG_VALUE, default=None, return_dtype=pl.Int64) * w
        for i, w in enumerate(ORG_WEIGHTS)
    )
    value = 11 - total % 11
    return pl.when(value == 10).then(pl.lit("X")).when(value == 11).then(pl.lit("0")).otherwise(value.cast(pl.Utf8))


def _status(n: pl.Expr) -> pl.Expr:
    return (
        pl.when(n.is_null())
        .then(pl.lit(None, dtype=pl.Utf8))
        .when(~n.str.contains(_pattern()))
        .then(pl.lit("uscc.format"))
        .when(check_char_expr(n) != n.str.slice(17, 1))
        .then(pl.lit("uscc.checksum"))
    )


def status_expr(col: pl.Expr) -> pl.Expr:
    """``uscc.format``, ``uscc.checksum`` or null, of the normalised code."""
    return _status(normalize_expr(col))


def warning_exprs(n: pl.Expr) -> dict[str, pl.Expr]:
    """Rule code → where a normalised code (layout and check character right) breaks that structure rule."""
    division = n.str.slice(2, 6)
    return {
        "uscc.org_checksum": org_check_char_expr(n) != n.str.slice(16, 1),
        "uscc.registration": ~n.str.slice(0, 2).is_in(pl.Series(registrations()).implode()),
        "uscc.division": (division != CENTRAL) & divisions.unknown_expr(division),
    }


def stages(name: str) -> tuple[dict[str, pl.Expr], ...]:
    """Derived columns for credit-code column ``name``: ``#n`` (normalised), ``#status``, ``#normalized``."""
    raw, n = pl.col(name), pl.col(f"{name}#n")
    return (
        {f"{name}#n": normalize_expr(raw)},
        {f"{name}#status": _status(n), f"{name}#normalized": raw.is_not_null() & (n != raw.cast(pl.Utf8))},
    )


def checks(name: str) -> list[Check]:
    """The checks of credit-code column ``name`` (read the columns of :func:`stages`; ``uscc.format`` is the
    contract's pattern)."""
    n, status = pl.col(f"{name}#n"), pl.col(f"{name}#status")
    sound = n.is_not_null() & status.is_null()
    return [Check("uscc.normalized", name, pl.col(f"{name}#normalized")),
            Check("uscc.checksum", name, status == "uscc.checksum"),
            *(Check(code, name, sound & failed) for code, failed in warning_exprs(n).items())]


# --- the same rules for one value -------------------------------------------------------------------------


def _one(value: str) -> pl.DataFrame:
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.Utf8})
    for stage in stages("v"):
        frame = frame.with_columns(**stage)
    return frame


def compact(value: str) -> str:
    """The code as the rules read it (full-width to ASCII, spaces and hyphens dropped, upper case)."""
    return _one(value)["v#n"].item()


def check(value: str) -> str | None:
    """Rule code of the error in ``value`` (``uscc.format`` or ``uscc.checksum``), or None."""
    if not isinstance(value, str):
        return "uscc.format"
    return _one(value)["v#status"].item()


def warnings(value: str) -> list[str]:
    """Rule codes of the structure warnings of a code whose layout and check character are right."""
    frame = _one(value)
    failed = frame.select((pl.col("v#status").is_null() & e).alias(c) for c, e in warning_exprs(pl.col("v#n")).items())
    return [code for code, hit in failed.row(0, named=True).items() if hit]


def is_valid(value: str) -> bool:
    """True when ``value`` has no error (warnings allowed)."""
    return check(value) is None


def validate(value: str) -> str:
    """The compact code, or ``ValueError`` naming the rule it breaks."""
    code = check(value)
    if code is not None:
        raise ValueError(code)
    return compact(value)
