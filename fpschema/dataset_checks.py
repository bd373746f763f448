"""Cross-row rules, as window expressions over the typed frame (no row order is used, so the same
definitions run on any engine with window functions and across partitions).

Each rule reads two derived columns: a hash of the service's identity and a hash of the person. They are
computed row by row (:func:`key_stage`), so a file validated in batches keeps only them, the sex, the birth
date and the row number of each row (:func:`key_frame`) and runs the same checks over all rows at the end.
"""

from __future__ import annotations

import polars as pl

from .check import Check

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


def _service_record() -> list[Check]:
    dup, person = pl.col(DUP), pl.col(PERSON)

    def conflicting(column: str) -> pl.Expr:  # two different non-null values for one person
        value = pl.col(column)
        return person.is_not_null() & (value.min().over(person) != value.max().over(person))

    return [
        Check("dataset.duplicate_record", "client_id", dup.is_not_null() & dup.is_duplicated()),
        Check("dataset.id_conflict", "sex", conflicting("sex")),
        Check("dataset.id_conflict", "birth_date", conflicting("birth_date")),
    ]


_DATASET = {"service_record": _service_record}


def dataset_checks(kind: str) -> list[Check]:
    make = _DATASET.get(kind)
    return make() if make else []


def key_frame(typed: pl.DataFrame, kind: str) -> pl.DataFrame:
    """The few columns the cross-row rules read (about 30 bytes a row)."""
    if kind != "service_record":
        return typed.select("__row__")
    return typed.select("__row__", DUP, PERSON, pl.col("sex").cast(pl.Categorical), "birth_date")


def cross_row_findings(keys: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Findings of the cross-row rules over a key frame (values left empty: the rows were read in batches)."""
    from .catalogue import RULES
    from .report import FINDING_SCHEMA

    parts = []
    for check in dataset_checks(kind):
        rows = keys.filter(check.failed.fill_null(False)).get_column("__row__")
        parts.append(pl.DataFrame({"row": rows, "column": [check.column] * len(rows), "rule": [check.rule] * len(rows),
                                   "severity": [RULES[check.rule].severity] * len(rows), "value": [None] * len(rows)},
                                  schema=FINDING_SCHEMA))
    return pl.concat(parts) if parts else pl.DataFrame(schema=FINDING_SCHEMA)
