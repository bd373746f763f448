"""A check: a catalogue rule as a column expression, reported on one column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

SMALL_SET = 4  # up to this many values, membership is tested by comparisons: a hash lookup per row costs more


@dataclass(frozen=True)
class Check:
    rule: str  # the catalogue code
    column: str  # the field its finding is reported on
    failed: pl.Expr  # boolean: true where the rule fails (null counts as passed)
    # it reads one column alone, cell by cell, with a pattern or a code list: worth evaluating on the column's
    # distinct values when it has few (the engine decides per block)
    per_value: bool = False
    # it fails where the column's length in characters is outside [low, high] (what the engine may test on bytes)
    chars: tuple[int, int] | None = None
    # the same flags from derived columns, cheaper on every row than ``failed`` (which the engine then uses only on
    # a column's distinct values: a check with ``rows`` is not evaluated per value)
    rows: pl.Expr | None = None
    # the text a finding reports instead of the cell as written (e.g. a retired code and its successor), evaluated
    # on the failing rows only
    value: pl.Expr | None = None


def digits_number(col: pl.Expr, digits: int) -> pl.Expr:
    """``col`` as a number where it is ``digits`` ASCII digits (the pattern ``^[0-9]{n}$``, n at most 18), else
    null. The integer parse takes a leading "+" (refused) and nothing else but digits; the length says how many."""
    return pl.when((col.str.len_bytes() == digits) & ~col.str.starts_with("+")).then(col.cast(pl.UInt64, strict=False))


def one_of(col: pl.Expr, values: Sequence[Any]) -> pl.Expr:
    """True where ``col`` is one of ``values``, null where it is null (as ``is_in`` says), by comparisons for a
    small set."""
    values = list(values)
    if 0 < len(values) <= SMALL_SET:
        return pl.any_horizontal([col == pl.lit(v) for v in values])
    return col.is_in(pl.Series(values).implode())
