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


def one_of(col: pl.Expr, values: Sequence[Any]) -> pl.Expr:
    """True where ``col`` is one of ``values``, null where it is null (as ``is_in`` says), by comparisons for a
    small set. For a check that reads other columns too: a check of one column alone is cheaper through
    ``is_in``, which the engine evaluates on the column's distinct values."""
    values = list(values)
    if 0 < len(values) <= SMALL_SET:
        return pl.any_horizontal([col == pl.lit(v) for v in values])
    return col.is_in(pl.Series(values).implode())
