"""Cross-row rules, as window expressions over the typed frame (no row order is used, so the same
definitions run on any engine with window functions and across partitions).

Each rule reads two derived columns: a hash of the service's identity and a hash of the person. They are
computed row by row (:func:`key_stage`), so a file validated in batches keeps only them, the sex, the birth
date and the row number of each row (:func:`key_frame`) and runs the same checks over all rows at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .check import Check
from .contract import fields
from .mask import mask_expr

# The identity of one service: the same client, procedure, date and station twice is a duplicate.
SERVICE_KEY = ("client_id#c", "procedure", "service_date", "station_code")
DUP, PERSON = "service#dup_key", "service#person"


def key_stage(kind: str) -> dict[str, pl.Expr]:
    """Row-level hashes the cross-row rules compare (null where the key is incomplete or the ID is bad)."""
    if kind != "service_record":
        return {}
    keys = [pl.col(k) for k in SERVICE_KEY]
    complete = pl.all_horizontal(k.is_not_null() for k in keys)
    person = pl.col("client_id#c")
    known = person.is_not_null() & pl.col("client_id#status").is_null()
    # signed 64-bit (the same bits): some consumers, pandera's failure report among them, choke on UInt64
    return {DUP: pl.when(complete).then(pl.struct(keys).hash().reinterpret(signed=True)),
            PERSON: pl.when(known).then(person.hash().reinterpret(signed=True))}


@dataclass(frozen=True)
class CrossRow:
    """One cross-row rule, read by both engines (polars windows here, Spark aggregations in
    :mod:`fpschema.spark`): the rows whose non-null hash ``key`` occurs more than once (``compare`` None), or
    whose ``key`` has two different non-null values of the typed column ``compare``."""

    rule: str
    column: str  # the field a finding is reported on
    key: str
    compare: str | None = None

    def check(self) -> Check:
        key = pl.col(self.key)
        if self.compare is None:
            return Check(self.rule, self.column, key.is_not_null() & key.is_duplicated())
        value = pl.col(self.compare)
        return Check(self.rule, self.column, key.is_not_null() & (value.min().over(key) != value.max().over(key)))


_CROSS_ROW: dict[str, tuple[CrossRow, ...]] = {
    "service_record": (
        CrossRow("dataset.duplicate_record", "client_id", DUP),
        CrossRow("dataset.id_conflict", "sex", PERSON, "sex"),  # one person, two sexes
        CrossRow("dataset.id_conflict", "birth_date", PERSON, "birth_date"),  # one person, two birth dates
    ),
}


def cross_row(kind: str) -> tuple[CrossRow, ...]:
    """The kind's cross-row rules."""
    return _CROSS_ROW.get(kind, ())


def dataset_checks(kind: str) -> list[Check]:
    """The kind's cross-row rules as window expressions over the typed frame."""
    return [c.check() for c in cross_row(kind)]


VALUE = "v#"  # key-frame columns holding the cell as written (for the findings' values)


def key_frame(typed: pl.DataFrame, kind: str, text: pl.DataFrame | None = None) -> pl.DataFrame:
    """The few columns the cross-row rules read (about 30 bytes a row), and, given the text frame, the cells
    as written of the columns they report (``v#column``; about 45 bytes a row more)."""
    if kind != "service_record":
        return typed.select("__row__")
    names = _reported_columns(kind) if text is not None else []
    ids = {f.name for f in fields(kind) if f.sensitive}  # one value per person: kept as text; others as categories
    values = [(text.get_column(c) if c in ids else text.get_column(c).cast(pl.Categorical)).alias(VALUE + c)
              if c in text.columns else pl.lit(None, dtype=pl.Utf8).alias(VALUE + c) for c in names]
    return typed.select("__row__", DUP, PERSON, pl.col("sex").cast(pl.Categorical), "birth_date").with_columns(values)


def reported_value(column: str, kind: str, unmask: bool) -> pl.Expr:
    """A key frame's cell as written of ``column`` (its ``v#`` column) as text, masked when the field is
    sensitive unless ``unmask``."""
    value = pl.col(VALUE + column).cast(pl.Utf8)
    sensitive = any(f.sensitive for f in fields(kind) if f.name == column)
    return mask_expr(value) if sensitive and not unmask else value


def _reported_columns(kind: str) -> list[str]:
    return list(dict.fromkeys(check.column for check in dataset_checks(kind)))


def _repeated(keys: pl.DataFrame, name: str) -> pl.Series:
    """The non-null values of a hash column that occur more than once, found by sorting (a copy of one
    integer column, where a hash table over every row would take several times that)."""
    ordered = keys.get_column(name).drop_nulls().sort()
    return ordered.filter((ordered == ordered.shift(1)) | (ordered == ordered.shift(-1))).unique().implode()


RAW_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}


def cross_row_findings(keys: pl.DataFrame, kind: str, unmask: bool = False) -> pl.DataFrame:
    """Raw findings (row, column, rule, value) of the cross-row rules over key frames (concatenated), for
    :func:`fpschema.engine.finish_findings`.

    Only rows whose person or service key occurs more than once can fail, so the window checks run on
    those alone (the same result as over every row, at a fraction of the cost). Values come from the
    ``v#`` columns (null without them), sensitive ones masked unless ``unmask``.
    """
    todo = dataset_checks(kind)
    if not todo or keys.height == 0:
        return pl.DataFrame(schema=RAW_SCHEMA)
    keys = keys.filter(pl.col(DUP).is_in(_repeated(keys, DUP)) | pl.col(PERSON).is_in(_repeated(keys, PERSON)))
    parts = []
    for check in todo:
        value = (reported_value(check.column, kind, unmask) if VALUE + check.column in keys.columns
                 else pl.lit(None, dtype=pl.Utf8))
        parts.append(keys.filter(check.failed.fill_null(False)).select(
            pl.col("__row__").alias("row"), pl.lit(check.column).alias("column"), pl.lit(check.rule).alias("rule"),
            value.alias("value")))
    return pl.concat(parts).cast(RAW_SCHEMA)
