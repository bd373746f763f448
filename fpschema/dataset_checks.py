"""Cross-row rules, as window expressions over the typed frame (``.over(key)``: no row order is used,
so the same definitions run on any engine with window functions and across partitions)."""

from __future__ import annotations

import polars as pl

from .checks import Check

# The identity of one service: the same client, procedure, date and station twice is a duplicate.
SERVICE_KEY = ("client_id#c", "procedure", "service_date", "station_code")


def _service_record() -> list[Check]:
    keys = [pl.col(k) for k in SERVICE_KEY]
    complete = pl.all_horizontal(k.is_not_null() for k in keys)
    person = pl.col("client_id#c")
    known = person.is_not_null() & pl.col("client_id#status").is_null()

    def conflicting(column: str) -> pl.Expr:
        return known & (pl.col(column).drop_nulls().n_unique().over(person) > 1)

    return [
        Check("dataset.duplicate_record", "client_id", complete & pl.struct(keys).is_duplicated()),
        Check("dataset.id_conflict", "sex", conflicting("sex")),
        Check("dataset.id_conflict", "birth_date", conflicting("birth_date")),
    ]


_DATASET = {"service_record": _service_record}


def dataset_checks(kind: str) -> list[Check]:
    make = _DATASET.get(kind)
    return make() if make else []


# Columns the cross-row rules read, kept compact for batched validation.
KEY_COLUMNS = {"service_record": ("client_id#c", "client_id#status", "procedure", "service_date", "station_code",
                                  "sex", "birth_date")}


def key_frame(typed: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The few columns the cross-row rules need, with long strings hashed (about 30 bytes a row)."""
    def hashed(name: str) -> pl.Expr:  # null stays null: a missing key is no key
        return pl.when(pl.col(name).is_not_null()).then(pl.col(name).hash()).alias(name)

    return typed.select(
        pl.col("__row__"),
        hashed("client_id#c"),
        pl.col("client_id#status"),
        pl.col("procedure").cast(pl.Categorical),
        pl.col("service_date"),
        hashed("station_code"),
        pl.col("sex").cast(pl.Categorical),
        pl.col("birth_date"),
    ) if kind == "service_record" else typed.select("__row__")


def cross_row_findings(keys: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Findings of the cross-row rules over a key frame (values left empty: the rows were read in batches)."""
    from .catalogue import RULES

    parts = []
    for check in dataset_checks(kind):
        rows = keys.filter(check.failed.fill_null(False)).get_column("__row__")
        parts.append(pl.DataFrame({"row": rows, "column": [check.column] * len(rows), "rule": [check.rule] * len(rows),
                                   "severity": [RULES[check.rule].severity] * len(rows), "value": [None] * len(rows)},
                                  schema={"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "severity": pl.Utf8,
                                          "value": pl.Utf8}))
    return pl.concat(parts) if parts else pl.DataFrame()
