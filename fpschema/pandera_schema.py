"""The same rules as a pandera schema for polars, for teams that run pandera in their pipelines.

``pandera_schema(kind)`` returns a :class:`pandera.polars.DataFrameSchema` whose checks are the
engine's own column expressions (one pandera check per rule and column, named by rule code); it
validates the frame that :func:`prepare` builds from text columns. pandera reports failing rows by
position; :func:`fpschema.engine.evaluate` computes all rules in one pass and is what the file
validator uses, because one pandera pass per check costs more on large files.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from . import engine
from .check import Check


def prepare(text: pl.DataFrame, kind: str, reference_date: date) -> pl.DataFrame:
    """Typed and derived columns from a frame of text columns named by field."""
    return engine.prepare(text, kind, reference_date)


def _check(check: Check) -> pa.Check:
    passed = ~check.failed.fill_null(False)
    return pa.Check(lambda data, e=passed: data.lazyframe.select(e.alias("ok")),
                    name=check.rule, error=f"{check.rule}|{check.column}")


def pandera_schema(kind: str, reference_date: date | None = None) -> pa.DataFrameSchema:
    """A pandera DataFrameSchema with every rule of ``kind`` as a dataframe-level check."""
    todo = engine.all_checks(kind, reference_date or date.today())
    return pa.DataFrameSchema(checks=[_check(c) for c in todo], name=f"fpschema.{kind}")
