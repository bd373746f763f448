"""Validate records one by one, with the verdict the file path gives the same records.

A record is read as :func:`fpschema.validate` reads a list of dicts or a JSON Lines file: its keys name fields
(field names, titles and aliases, as headers do), each value becomes the text JSON gives it (numbers as JSON
writes them, ``true``/``false``, a list as its JSON array), blank values count as missing, and the text is
converted by the contract's rules (:mod:`fpschema.convert`). The checks are the frame engine's row rules
(:func:`fpschema.engine.all_checks` without the cross-row ones: conversion, schema, catalogue and the report
rows' own rules), run on a frame of the records. So what a file may hold, a record may hold: the code ``2``
given as the number 2 is the code "2"; the label 一孩 is its code; "2023/04/19", 20230419 and the Excel serial
day 45035 are dates with the ``field.date_nonstandard`` warning, as in a spreadsheet. Rules over several records
(duplicates, roll-ups) need the whole table and are the file path's.

Records are judged by what they carry, as files are (:mod:`fpschema.coverage`): their keys (all the records'
keys together, or the ``columns`` given) are the columns; a layout is found from them (or named); fields they
lack but their values determine are derived; a rule whose input fields are absent is not applied. A required field
of the layout that is absent and cannot be derived is ``field.required`` on each record (a file gets one
``file.missing_column``). A key given with a blank or null value is an empty cell.

>>> from fpschema import validate_record
>>> [(f.pointer, f.rule) for f in validate_record({"staff_name": "李春梅", "id_number": "110105199003070026"}, "staff")][:2]
[('/id_number', 'id.checksum'), ('/qualification', 'field.required')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fpschema import contract
from fpschema.contract import mask
from fpschema.engine import coverage
from fpschema.engine.findings import Finding

if TYPE_CHECKING:
    import polars as pl

    from fpschema.contract.check import Check

FEW_ROWS = 16  # up to this many records are checked by _few_findings, more by the engine's own route


def _pointer(key: Any) -> str:
    return "/" + str(key).replace("~", "~0").replace("/", "~1")


def _fields_of(record: Mapping[Any, Any], kind: str) -> tuple[dict[str, Any], list[Any]]:
    """The record's values by field (the first key naming a field wins), and the keys that name none."""
    from fpschema.engine.validation import header_map
    from fpschema.io.reader import normalize_header

    aliases = header_map(kind)
    values: dict[str, Any] = {}
    unknown = []
    for key, value in record.items():
        name = aliases.get(normalize_header(str(key)))
        if name is None or name in values:
            unknown.append(key)
        else:
            values[name] = value
    return values, unknown


@lru_cache(maxsize=16)
def _row_checks(kind: str, reference_date: date, groups: contract.Groups, plan: coverage.Plan) -> list[Check]:
    """Every check the frame engine applies to a row of a source judged by ``plan`` (the same list each time: the
    engine caches by it); ``groups`` as :func:`contract.load_free_services` gives them."""
    from fpschema.engine import validation as engine

    return engine.all_checks(kind, reference_date, cross_row=False, groups=groups, plan=plan)


def record_plan(kind: str, fields: Iterable[str], layout: str | None = None) -> coverage.Plan:
    """The plan of records carrying ``fields`` (field names, titles or aliases): as a file with those columns."""
    from fpschema.engine.validation import header_map
    from fpschema.io.reader import normalize_header

    aliases = header_map(kind)
    return coverage.plan(kind, {aliases[k] for k in (normalize_header(str(f)) for f in fields) if k in aliases},
                         layout)


def _few_findings(typed: pl.DataFrame, todo: list[Check], kind: str) -> pl.DataFrame:
    """:func:`engine.findings_of` for a few records (row, column, rule; no values): every check on every record
    in one pass, the failing ones finished as the engine finishes its findings (fewer operations than the engine's
    route, which pays off on many rows)."""
    import polars as pl

    from fpschema.engine import validation as engine
    from fpschema.io.reader import ROW

    if not todo:  # nothing applies (e.g. a record without any field): no findings, an empty frame of their shape
        empty = pl.DataFrame(schema={"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8})
        return engine.finish_findings(empty, kind)
    flags = typed.select(ROW, *[c.failed.fill_null(False).alias(str(i)) for i, c in enumerate(todo)])
    failing = (flags.unpivot(index=ROW, variable_name="check").filter(pl.col("value"))
               .select(pl.col(ROW).alias("row"), pl.col("check").cast(pl.Int64)))
    positions = range(len(todo))
    hits = failing.select(
        "row", pl.col("check").replace_strict(positions, [c.column for c in todo], return_dtype=pl.Utf8).alias("column"),
        pl.col("check").replace_strict(positions, [c.rule for c in todo], return_dtype=pl.Utf8).alias("rule"),
        pl.lit(None, dtype=pl.Utf8).alias("value"))
    return engine.finish_findings(hits, kind)


def validate_records(records: Iterable[Any], kind: str, *, reference_date: date | None = None,
                     unmask: bool = False, free_services: Any = None, layout: str | None = None,
                     columns: Iterable[str] | None = None) -> list[list[Finding]]:
    """The findings of each record (:func:`validate_record`), all records checked in one frame. The records'
    keys together are their columns, unless ``columns`` says which the source carries; ``layout`` names the form
    (else found from the columns)."""
    records = list(records)
    if kind not in contract.kinds():
        return [[Finding.of("record.unknown_kind", "", kind)] for _ in records]
    out: list[list[Finding]] = [[Finding.of("record.not_object", "", type(r).__name__)] for r in records]
    objects = [(i, *_fields_of(r, kind)) for i, r in enumerate(records) if isinstance(r, Mapping)]
    if not objects:
        return out
    import polars as pl

    from fpschema.engine import validation as engine
    from fpschema.io import reader

    ref = reference_date or date.today()
    names = [f.name for f in contract.fields(kind)]
    rows = pl.Series(reader.ROW, [i for i, _, _ in objects], dtype=pl.Int64)
    # blank text is missing, as in a file (reader.BLANK_CHARS)
    cells = [{n: None if isinstance(x, str) and reader.blank(x) else x for n, x in v.items()} for _, v, _ in objects]
    text = pl.DataFrame([rows, *[reader.json_texts(n, [c.get(n) for c in cells]) for n in names]])
    plan = record_plan(kind, columns if columns is not None else {n for _, v, _ in objects for n in v}, layout)
    typed = engine.prepare(text, kind, ref, plan=plan)
    todo = _row_checks(kind, ref, contract.load_free_services(free_services), plan)
    found = engine.findings_of(typed, todo, text, kind, unmask=True) if len(objects) > FEW_ROWS \
        else _few_findings(typed, todo, kind)
    personal = {} if unmask else mask.personal_fields(kind)
    values = {i: v for i, v, _ in objects}
    for i, _, _ in objects:  # a required field the records lack and cannot derive: on each record
        out[i] = [Finding.of("field.required", "/" + name) for name in plan.missing]
    said = {(c.rule, c.column): c.value for c in todo if c.value is not None}  # what such a finding reports
    for row, column, code in found.select("row", "column", "rule").iter_rows():
        value = values[row].get(column)
        if (code, column) in said:
            value = typed.filter(pl.col(reader.ROW) == row).select(said[code, column].cast(pl.Utf8)).item()
        out[row].append(Finding.of(code, "/" + column,
                                   value if unmask else mask.mask_value(value, personal.get(column))))
    order = contract.field_order(kind)
    for i, _, unknown in objects:  # in field order, as the engine orders a row's findings
        out[i].sort(key=lambda f: (order.get(f.pointer[1:], len(order)), f.rule))
        out[i] += [Finding.of("field.unknown", _pointer(k) if unmask else mask.mask_text(_pointer(k)))
                   for k in unknown]
    return out


def validate_record(
    record: Any, kind: str, *, reference_date: date | None = None, unmask: bool = False, free_services: Any = None,
    layout: str | None = None, columns: Iterable[str] | None = None,
) -> list[Finding]:
    """Every finding for one record of ``kind`` (empty when the record is clean), ordered by field.

    ``reference_date`` (default today) is the day "future" is measured from. Unless ``unmask`` is true, finding
    values are masked by value (:func:`fpschema.mask.mask_value`: an ID number, name or birth date by its field,
    ID-like tokens anywhere; a value that is not text, such as an ID given as a JSON number, list or object, is
    shown as its JSON text, masked), and so are ID-like keys. ``free_services`` overrides the services rural
    couples get free (a JSON file or a list of procedure codes: :func:`contract.load_free_services`). The record's keys are its
    columns unless ``columns`` names those of its source; ``layout`` names its form (:func:`validate_records`).
    """
    return validate_records([record], kind, reference_date=reference_date, unmask=unmask,
                            free_services=free_services, layout=layout, columns=columns)[0]


def is_valid_record(record: Any, kind: str, *, reference_date: date | None = None, free_services: Any = None,
                    layout: str | None = None) -> bool:
    """True when the record has no finding of severity error (warnings allowed)."""
    found = validate_record(record, kind, reference_date=reference_date, free_services=free_services, layout=layout)
    return not any(f.severity == "error" for f in found)
