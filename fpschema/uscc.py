"""GB 32100-2015 unified social credit codes (统一社会信用代码), as column expressions and plain functions.

Eighteen characters from a 31-symbol alphabet (no I, O, S, V, Z): registering authority, institution
type, six-digit division code, nine-character organisation code, and a check character computed
with weights ``3**i mod 31``. The layout is read from the contract (``uscc`` in defs.json).

>>> check("91110000600037341L")
>>> check("91110000600037341M")
'uscc.checksum'
"""

from __future__ import annotations

from functools import cache

import polars as pl

from . import contract

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


@cache
def _pattern() -> str:
    return contract.defs()["uscc"]["pattern"]


def check_char_expr(col: pl.Expr) -> pl.Expr:
    """Check character of the first 17 characters."""
    total = pl.sum_horizontal(
        col.str.slice(i, 1).replace_strict(_VALUE, default=None, return_dtype=pl.Int64) * w
        for i, w in enumerate(WEIGHTS)
    )
    index = (31 - total % 31) % 31
    return index.replace_strict(dict(enumerate(ALPHABET)), default=None, return_dtype=pl.Utf8)


def status_expr(col: pl.Expr) -> pl.Expr:
    """``uscc.format``, ``uscc.checksum`` or null."""
    s = col.cast(pl.Utf8)
    return (
        pl.when(s.is_null())
        .then(pl.lit(None, dtype=pl.Utf8))
        .when(~s.str.contains(_pattern()))
        .then(pl.lit("uscc.format"))
        .when(check_char_expr(s) != s.str.slice(17, 1))
        .then(pl.lit("uscc.checksum"))
    )


def check(value: str) -> str | None:
    """Rule code of the problem with ``value``, or None."""
    if not isinstance(value, str):
        return "uscc.format"
    return pl.select(status_expr(pl.lit(value, dtype=pl.Utf8))).item()


def is_valid(value: str) -> bool:
    return check(value) is None
