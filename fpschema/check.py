"""A check: a catalogue rule as a column expression, reported on one column."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Check:
    rule: str  # the catalogue code
    column: str  # the field its finding is reported on
    failed: pl.Expr  # boolean: true where the rule fails (null counts as passed)
