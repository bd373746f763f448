"""The same rules as a pandera schema for polars, for teams that run pandera in their pipelines.

``pandera_schema(kind)`` returns a :class:`pandera.polars.DataFrameSchema` whose checks are the
engine's own column expressions (one pandera check per rule and column, named by rule code); it
validates the frame that :func:`prepare` builds from text columns. pandera reports failing rows by
position; :func:`fpschema.engine.evaluate` computes all rules in one pass and is what the file
validator uses, because one pandera pass per check costs more on large files.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandera.polars as pa
import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.check import Check
from fpschema.engine import coverage
from fpschema.engine import validation as engine


def plan(kind: str, columns: Iterable[str] | None = None, layout: str | None = None) -> coverage.Plan:
    """How a frame carrying ``columns`` (field names; default every field) is judged: its layout, the fields
    derived from its cells, the rules that apply (:mod:`fpschema.coverage`)."""
    return coverage.full(kind) if columns is None and layout is None else coverage.plan(
        kind, columns if columns is not None else contract.field_map(kind), layout)


def prepare(text: pl.DataFrame, kind: str, reference_date: date, layout: str | None = None) -> pl.DataFrame:
    """Typed and derived columns from a frame of text columns named by field (judged by what it carries)."""
    columns = [c for c in text.columns if c in contract.field_map(kind)]
    return engine.prepare(text, kind, reference_date, plan=plan(kind, columns, layout))


def _check(check: Check) -> pa.Check:
    passed = ~check.failed.fill_null(False)
    return pa.Check(lambda data, e=passed: data.lazyframe.select(e.alias("ok")),
                    name=check.rule, error=f"{check.rule}|{check.column}")


def reported(todo: list[Check]) -> list[Check]:
    """The checks as the engine reports them: where a more specific rule fails on the same cell (its catalogue
    entry ``supersedes`` this one's code), this one's finding is replaced (:func:`engine.finish_findings`)."""
    out = []
    for c in todo:
        by = [d.failed.fill_null(False) for d in todo
              if d.column == c.column and c.rule in RULES[d.rule].supersedes]
        out.append(c if not by else Check(c.rule, c.column, c.failed.fill_null(False) & ~pl.any_horizontal(by)))
    return out


def pandera_schema(kind: str, reference_date: date | None = None, *, columns: Iterable[str] | None = None,
                   layout: str | None = None) -> pa.DataFrameSchema:
    """A pandera DataFrameSchema with every rule of ``kind`` that reads columns (all but the aggregations of the
    report kinds: roll-ups, year-on-year change) as a dataframe-level check, failing on the rows where the engine
    reports that rule. ``columns`` (the fields the data carries) and ``layout`` judge it as a file with those
    columns is judged: rules whose inputs are absent are left out (default: every field present)."""
    todo = engine.all_checks(kind, reference_date or date.today(), plan=plan(kind, columns, layout))
    return pa.DataFrameSchema(checks=[_check(c) for c in reported(todo)], name=f"fpschema.{kind}")
