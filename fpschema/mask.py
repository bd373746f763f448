"""Masking of ID numbers for display (PIPL): keep the region and the last four characters.

>>> mask_id("11010519491231002X")
'110105********002X'
>>> mask_id("12345")
'*****'
"""

from __future__ import annotations

import polars as pl


def mask_id(value: object) -> object:
    """Hide the birth date and sequence of an ID number; short or odd values are hidden whole."""
    if not isinstance(value, str):
        return value
    n = len(value)
    if n >= 15:
        return value[:6] + "*" * (n - 10) + value[-4:]
    return "*" * n


def mask_expr(value: pl.Expr) -> pl.Expr:
    """Column form of :func:`mask_id`: keep the first 6 and last 4 of 15+ characters."""
    n = value.str.len_chars().cast(pl.Int64)
    # both branches are evaluated on every row: keep every count >= 0
    middle = (n - 10).clip(lower_bound=0)
    return (
        pl.when(n >= 15)
        .then(value.str.slice(0, 6) + _stars(middle) + value.str.slice(-4))
        .otherwise(_stars(n))
        .alias("value")
    )


def _stars(count: pl.Expr) -> pl.Expr:
    """``count`` asterisks (an empty text padded: no list built per row)."""
    return pl.lit("", dtype=pl.Utf8).str.pad_end(count, "*")
