"""Cross-row rules, as window expressions over the typed frame (no row order is used, so the same
definitions run on any engine with window functions and across partitions).

Each rule reads a derived hash column: for service records the service's identity and the person, for the
aggregate reports the row's key (``x-key`` of the contract: division, year and indicator). They are computed row
by row (:func:`key_stage`), so a file validated in batches keeps only them, the compared columns and the row
number of each row (:func:`key_frame`) and runs the same checks over all rows at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from fpschema.contract import field_map, fields, key
from fpschema.contract.check import Check
from fpschema.contract.mask import (
    BIRTH_DATE,
    ID,
    NAME,
    mask_birth_expr,
    mask_expr,
    mask_name_expr,
    personal_fields,
)
from fpschema.reference import divisions

# The identity of one service: the same client, procedure, date and station twice is a duplicate.
SERVICE_KEY = ("client_id#c", "procedure", "service_date", "station_code")
DUP, PERSON = "service#dup_key", "service#person"
ROW_KEY = "row#key"  # the hash of a row's x-key (the aggregate reports)
HASHES = (DUP, PERSON, ROW_KEY)


def _hashed(columns: list[pl.Expr]) -> pl.Expr:
    """One signed 64-bit hash of several columns, null where one is null: each column hashed with a seed of its own
    and the hashes combined (twice as fast as hashing a struct); signed (the same bits) because some consumers,
    pandera's failure report among them, choke on UInt64."""
    complete = pl.all_horizontal(c.is_not_null() for c in columns)
    combined = pl.reduce(lambda a, b: a ^ b, [c.hash(seed=i + 1) for i, c in enumerate(columns)])
    return pl.when(complete).then(combined.reinterpret(signed=True))


def _key_column(kind: str, name: str) -> pl.Expr:
    """A key field as compared: a division code as its number (null when it is not a code of its digits, so
    malformed codes are not taken as repeats), else the typed value."""
    spec = field_map(kind)[name].spec
    return pl.col(f"{name}#number") if divisions.code_digits(spec) is not None else pl.col(name)


def key_stage(kind: str) -> dict[str, pl.Expr]:
    """Row-level hashes the cross-row rules compare (null where the key is incomplete or the ID is bad)."""
    if kind != "service_record":
        names = key(kind)
        return {ROW_KEY: _hashed([_key_column(kind, n) for n in names])} if names else {}
    person = pl.col("client_id#c")
    known = person.is_not_null() & pl.col("client_id#status").is_null()
    return {DUP: _hashed([pl.col(k) for k in SERVICE_KEY]),
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
    """The kind's cross-row rules: a kind with an ``x-key`` has one row per key (``report.duplicate_key``, on
    every row of a repeated key, reported on its first field)."""
    names = key(kind)
    repeated = (CrossRow("report.duplicate_key", names[0], ROW_KEY),) if names else ()
    return _CROSS_ROW.get(kind, ()) + repeated


def dataset_checks(kind: str) -> list[Check]:
    """The kind's cross-row rules as window expressions over the typed frame."""
    return [c.check() for c in cross_row(kind)]


VALUE = "v#"  # key-frame columns holding the cell as written (for the findings' values)


def key_frame(typed: pl.DataFrame, kind: str, text: pl.DataFrame | None = None) -> pl.DataFrame:
    """The few columns the cross-row rules read, and, given the text frame, the cells
    as written of the columns they report (``v#column``): ID numbers whole, compared columns only where their
    typed value does not say them (about 90 bytes a row in all: docs/library.md)."""
    if not cross_row(kind):
        return typed.select("__row__")
    hashes = [h for h in HASHES if h in typed.columns]
    reported = _reported_columns(kind) if text is not None else []
    values = [_as_written(typed, text, c, kind).alias(VALUE + c) for c in reported]
    compared = [pl.col(c) for c in _compared(kind)]
    # one chunk a column: the cross-row filter over all blocks' key frames reads them twice as fast
    return typed.select("__row__", *hashes, *compared).with_columns(values).rechunk()


def _as_written(typed: pl.DataFrame, text: pl.DataFrame, column: str, kind: str) -> pl.Series:
    """The cells as written of ``column``: whole for ID numbers; for a compared column only the cells its typed
    value (kept beside, read back as text by :func:`reported_value`) does not give, blank elsewhere."""
    if column not in text.columns:
        return pl.repeat(None, typed.height, dtype=pl.Utf8, eager=True)
    cells = text.get_column(column)
    if _sensitive(column, kind):  # one value per person: kept as text
        return cells
    if column not in _compared(kind):
        return cells.cast(pl.Categorical)
    value = typed.get_column(column)
    if value.dtype == pl.Utf8:
        said = value.eq_missing(cells)
    elif f"{column}#nonstandard" in typed.columns:  # a date written YYYY-MM-DD is its typed value as text
        said = value.is_not_null() & ~typed.get_column(f"{column}#nonstandard")
    else:
        said = pl.repeat(False, typed.height, eager=True)
    return cells.set(said, None).cast(pl.Categorical)


def reported_value(column: str, kind: str, unmask: bool) -> pl.Expr:
    """A key frame's cell as written of ``column`` (its ``v#`` column, or for a compared column its typed value
    as text where the ``v#`` cell is blank), masked when the field holds personal data (an ID number, name or
    birth date: :func:`fpschema.mask.personal_fields`) unless ``unmask``."""
    value = pl.col(VALUE + column).cast(pl.Utf8)
    sensitive = _sensitive(column, kind)
    if column in _compared(kind) and not sensitive:
        value = pl.coalesce(value, pl.col(column).cast(pl.Utf8))
    personal = personal_fields(kind).get(column)
    if unmask or personal is None:
        return value
    return {ID: mask_expr, NAME: mask_name_expr, BIRTH_DATE: mask_birth_expr}[personal](value)


def _sensitive(column: str, kind: str) -> bool:
    return any(f.sensitive for f in fields(kind) if f.name == column)


def _compared(kind: str) -> list[str]:
    """The typed columns the cross-row rules compare (kept in the key frame)."""
    return list(dict.fromkeys(c.compare for c in cross_row(kind) if c.compare))


def _reported_columns(kind: str) -> list[str]:
    return list(dict.fromkeys(check.column for check in dataset_checks(kind)))


def sorted_hashes(keys: pl.DataFrame) -> dict[str, pl.Series]:
    """The non-null values of the key frames' hash columns, each sorted: where the cross-row rules look for
    repeats (sorting a copy of one integer column is several times cheaper than a hash table over every row)."""
    return {name: keys.get_column(name).drop_nulls().sort() for name in HASHES if name in keys.columns}


def _repeated(ordered: pl.Series) -> pl.Series:
    """The values of a sorted column that occur more than once."""
    return ordered.filter((ordered == ordered.shift(1)) | (ordered == ordered.shift(-1))).unique()


def _repeated_in_both(first: pl.Series, second: pl.Series) -> pl.Series:
    """The values that occur more than once in two sorted columns taken together: repeated in either, or in both
    (the second's values looked up in the first by binary search; no merge, no new sort)."""
    out = [_repeated(first), _repeated(second)]
    if len(first) and len(second):
        at = first.search_sorted(second).clip(upper_bound=len(first) - 1)
        out.append(second.filter(first.gather(at) == second))
    return pl.concat(out).unique()


RAW_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}


def cross_row_findings(keys: pl.DataFrame, kind: str, unmask: bool = False,
                       ahead: tuple[int, dict[str, pl.Series]] | None = None) -> pl.DataFrame:
    """Raw findings (row, column, rule, value) of the cross-row rules over key frames (concatenated), for
    :func:`fpschema.engine.finish_findings`.

    Only rows whose hash key (person, service, row key) occurs more than once can fail, so the window checks run on
    those alone (the same result as over every row, at a fraction of the cost). Values come from the
    ``v#`` columns (null without them), sensitive ones masked unless ``unmask``. ``ahead``: (n, the
    :func:`sorted_hashes` of the first n rows of ``keys``), computed beforehand: only the rest is sorted.
    """
    todo = dataset_checks(kind)
    if not todo or keys.height == 0 or not any(h in keys.columns for h in HASHES):
        return pl.DataFrame(schema=RAW_SCHEMA)
    rest = sorted_hashes(keys if ahead is None else keys.slice(ahead[0]))
    repeated = {name: _repeated(values) if ahead is None else _repeated_in_both(ahead[1][name], values)
                for name, values in rest.items()}
    keys = keys.filter(pl.any_horizontal(pl.col(name).is_in(values.implode()) for name, values in repeated.items()))
    parts = []
    for check in todo:
        value = (reported_value(check.column, kind, unmask) if VALUE + check.column in keys.columns
                 else pl.lit(None, dtype=pl.Utf8))
        parts.append(keys.filter(check.failed.fill_null(False)).select(
            pl.col("__row__").alias("row"), pl.lit(check.column).alias("column"), pl.lit(check.rule).alias("rule"),
            value.alias("value")))
    return pl.concat(parts).cast(RAW_SCHEMA)
