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
        Check("dataset.duplicate_record", "client_id", complete & (pl.len().over(keys) > 1)),
        Check("dataset.id_conflict", "sex", conflicting("sex")),
        Check("dataset.id_conflict", "birth_date", conflicting("birth_date")),
    ]


_DATASET = {"service_record": _service_record}


def dataset_checks(kind: str) -> list[Check]:
    make = _DATASET.get(kind)
    return make() if make else []
