"""The frame engine: a whole file or DataFrame in, a :class:`~fpschema.report.Report` out.

read (all text, real row numbers) → map headers through the contract's aliases (file findings) →
convert cell by cell → derived columns → every rule as a column expression in one pass → findings
(row, column, rule, severity, value) → report. No Python loop per row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.check import Check, one_of
from fpschema.contract.mask import mask_expr, mask_id
from fpschema.engine import convert, coverage
from fpschema.errors import InputError
from fpschema.io import truth
from fpschema.io.csvstream import CsvStream, NotStreamable, open_stream
from fpschema.io.reader import Limits, Table, normalize_header, read
from fpschema.report.report import FINDING_SCHEMA, Report, empty_findings
from fpschema.rules import aggregates, checks, dataset_checks, derive, schema_checks

SAMPLE_ROWS = 20
TABLE_KINDS = aggregates.TABLE_KINDS  # kinds with rules over the whole table (read whole)


@dataclass(frozen=True)
class Mapping:
    """How a file's headers map to a kind's fields."""

    columns: dict[str, str]  # field → header in the file
    findings: pl.DataFrame  # file-level findings (row null)
    plan: coverage.Plan  # the layout, the derived fields, the rules that apply

    @property
    def missing_required(self) -> tuple[str, ...]:
        """Fields the layout requires that the file neither has nor can derive."""
        return self.plan.missing

    def text(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``__row__`` and the mapped columns of a read frame, named by field."""
        return frame.select("__row__", *[pl.col(h).alias(f) for f, h in self.columns.items()])


@dataclass(frozen=True)
class Options:
    reference_date: date
    unmask: bool = False
    targets: dict[str, Any] | None = None  # indicator targets (aggregates.load_targets); None: the default
    zscore: float = aggregates.ZSCORE  # threshold of the year-on-year plausibility check
    rollups: bool = True  # False when the caller runs the roll-ups itself (the Spark engine)
    plan: coverage.Plan | None = None  # how the source is judged (default: a source carrying every field)
    groups: contract.Groups = ()  # code groups overriding the contract's (contract.load_free_services)
    reference_source: str = truth.OPTION  # where reference_date came from (truth.SOURCES)
    findings_budget: int | None = None  # most findings held before the validation stops (Limits.max_findings_total)


@cache
def header_map(kind: str) -> dict[str, str]:
    """Normalised header (field name, title or alias) → field: how file headers and record keys name fields."""
    return {normalize_header(k): v for k, v in contract.header_aliases(kind).items()}



def known_headers(kind: str | None = None) -> set[str]:
    kinds = [kind] if kind else list(contract.kinds())
    return {h for k in kinds for h in header_map(k)}


def infer_kind(headers: Collection[str]) -> str:
    """The kind whose fields the headers name most (at least two), else ``input.kind_not_inferred``."""
    names = {normalize_header(h) for h in headers}
    scores = sorted(((len({v for h, v in header_map(k).items() if h in names}), k) for k in contract.kinds()),
                    reverse=True)
    (best, kind), (second, _) = scores[0], scores[1]
    if best < 2 or best == second:
        raise InputError("input.kind_not_inferred")
    return kind


def _file_finding(rule: str, column: str) -> dict[str, Any]:
    return {"row": None, "column": column, "rule": rule, "severity": RULES[rule].severity, "value": None}


def map_headers(headers: list[str], kind: str, layout: str | None = None) -> Mapping:
    """How the headers map to fields, the file-level findings, and the plan (``layout``: the layout named by
    the caller, else the one the fields say)."""
    aliases = header_map(kind)
    columns: dict[str, str] = {}
    found = []
    for header in headers:
        name = aliases.get(normalize_header(header))
        if name is None:
            found.append(_file_finding("file.unknown_column", header))
        elif name in columns:
            found.append(_file_finding("file.duplicate_column", header))
        else:
            columns[name] = header
    plan = coverage.plan(kind, columns, layout)
    if plan.missing:  # once for the file, naming the nearest layout and what the file lacks
        found.append({**_file_finding("file.missing_column", ",".join(plan.missing)), "value": plan.layout.name})
    return Mapping(columns, pl.DataFrame(found, schema=FINDING_SCHEMA), plan)


def every_check(kind: str, reference_date: date, *, cross_row: bool = True, targets: dict[str, Any] | None = None,
                plan: coverage.Plan | None = None, groups: contract.Groups = ()) -> list[Check]:
    """Every check of a kind as a column expression, applicable or not: conversion, schema (the required cells of
    the plan's layout; ``groups`` overriding the contract's code groups), catalogue, deriving, report rows, and
    (unless told not to) cross-row."""
    plan = plan or coverage.full(kind)
    return (
        convert.conversion_checks(kind)
        + schema_checks.required_checks(plan.required)
        + list(schema_checks.schema_checks(kind, groups))
        + checks.checks(kind, reference_date)
        + derive.checks(plan.derived)
        + aggregates.row_checks(kind, reference_date, targets if targets is not None else aggregates.load_targets())
        + (dataset_checks.dataset_checks(kind) if cross_row else [])
    )


def all_checks(kind: str, reference_date: date, *, cross_row: bool = True, targets: dict[str, Any] | None = None,
               plan: coverage.Plan | None = None, groups: contract.Groups = ()) -> list[Check]:
    """The checks that apply to a source judged by ``plan`` (default: one carrying every field): those of
    :func:`every_check` whose input fields the source has or derives."""
    plan = plan or coverage.full(kind)
    return plan.select(every_check(kind, reference_date, cross_row=cross_row, targets=targets, plan=plan,
                                   groups=groups), reference_date)


def prepare(text: pl.DataFrame, kind: str, reference_date: date,
            distinct: dict[str, pl.Series] | None = None,
            seen: dict[str, tuple[str, ...]] | None = None, plan: coverage.Plan | None = None) -> pl.DataFrame:
    """Typed and derived columns (the frame every check reads) from text columns named by field.
    ``distinct`` receives the values of the columns converted through their distinct texts (for
    :func:`findings_of`); ``seen`` carries those columns' texts from one block of a file to the next
    (:func:`convert.convert_frame`); ``plan`` says which fields to derive."""
    present = set(text.columns)
    base = text.with_columns(pl.lit(None, dtype=pl.Utf8).alias(f.name) for f in contract.fields(kind)
                             if f.name not in present)
    return checks.derive(convert.convert_frame(base, kind, distinct=distinct, seen=seen), kind, reference_date,
                         plan.derived if plan is not None else ())


def evaluate(text: pl.DataFrame, kind: str, options: Options) -> pl.DataFrame:
    """Findings (row, column, rule, severity, value) for a frame of text columns named by field plus ``__row__``.

    Values are the cells as given (ID numbers masked unless ``options.unmask``).
    """
    return _evaluate(text, kind, options)[0]


def _evaluate(text: pl.DataFrame, kind: str, options: Options) -> tuple[pl.DataFrame, pl.DataFrame]:
    distinct: dict[str, pl.Series] = {}
    typed = prepare(text, kind, options.reference_date, distinct, plan=options.plan)
    todo = all_checks(kind, options.reference_date, cross_row=False, targets=options.targets, plan=options.plan,
                      groups=options.groups)
    raw = findings_of(typed, todo, text, kind, options.unmask, finish=False, distinct=distinct,
                      budget=options.findings_budget)
    cross = dataset_checks.cross_row_findings(dataset_checks.key_frame(typed, kind, text), kind, options.unmask)
    found = finish_findings(pl.concat([raw, cross]), kind)
    rollups = aggregates.rollup_findings(typed, kind) if options.rollups else pl.DataFrame()
    found = with_table_findings(found, [rollups, aggregates.plausibility_findings(typed, kind, options.zscore)],
                                kind)
    return found, typed


def records_frame(source: Any) -> pl.DataFrame:
    """Service records (a path, DataFrame or list) typed just enough to be counted: county, procedure, date.

    A plain UTF-8 CSV whose first line is the header is read for those three columns only; anything else
    goes through the full reader."""
    needed = ["city_code", "procedure", "service_date"]
    fast = _three_columns(source, needed)
    if fast is not None:
        return convert.convert_frame(fast, "service_record", only=tuple(needed)).select(needed)
    table = read(source, known_headers=known_headers("service_record"))
    mapping = map_headers([c for c in table.frame.columns if c != "__row__"], "service_record")
    needed = ["city_code", "procedure", "service_date"]
    missing = [n for n in needed if n not in mapping.columns]
    if missing:
        raise InputError("input.kind_not_inferred")
    text = table.frame.select(pl.col(mapping.columns[n]).alias(n) for n in needed)
    return convert.convert_frame(text, "service_record", only=tuple(needed)).select(needed)


def _three_columns(source: Any, needed: list[str]) -> pl.DataFrame | None:
    if not isinstance(source, str | Path) or Path(source).suffix.lower() != ".csv" or not Path(source).is_file():
        return None
    try:
        with open(source, encoding="utf-8") as fh:
            first = fh.readline().lstrip("\ufeff").rstrip("\r\n")
        aliases = header_map("service_record")
        headers = {aliases.get(normalize_header(h)): h for h in first.split(",")}
        if not all(n in headers for n in needed):
            return None
        frame = pl.read_csv(source, columns=[headers[n] for n in needed], infer_schema=False)
    except (UnicodeDecodeError, pl.exceptions.PolarsError, OSError):
        return None
    return frame.rename({headers[n]: n for n in needed}).with_columns(
        pl.when(pl.col(n).str.strip_chars() != "").then(pl.col(n)).alias(n) for n in needed)


def explanations_of(findings: pl.DataFrame, text: pl.DataFrame, side: Any = None) -> dict[str, Any]:
    """Which warnings carry an explanation: the row's ``explanation`` cell, or a side table keyed by division
    and rule (columns division_code, rule, explanation: a path to a CSV or a DataFrame)."""
    warnings = findings.filter((pl.col("severity") == "warning") & pl.col("row").is_not_null())
    cols = [c for c in ("division_code", "explanation") if c in text.columns]
    rows = warnings.join(text.select(pl.col("__row__").alias("row"), *cols), on="row", how="left")
    if "explanation" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("explanation"))
    if side is not None and "division_code" in rows.columns:
        table = side if isinstance(side, pl.DataFrame) else pl.read_csv(side, infer_schema=False, encoding="utf8-lossy")
        table = table.select("division_code", "rule", pl.col("explanation").alias("#side"))
        rows = rows.join(table, on=["division_code", "rule"], how="left").with_columns(
            pl.coalesce(pl.col("explanation"), pl.col("#side")).alias("explanation"))
    rows = rows.with_columns(pl.col("explanation").str.strip_chars().replace("", None))
    rows = rows.with_columns(pl.col("explanation").is_not_null().alias("explained"))
    explained = int(rows["explained"].sum())
    return {"warnings": rows.height, "explained": explained, "unexplained": rows.height - explained,
            "items": rows.select("row", "column", "rule", "explained", "explanation").head(1000).to_dicts()}


def with_table_findings(found: pl.DataFrame, extra: list[pl.DataFrame], kind: str) -> pl.DataFrame:
    """Add findings made by aggregations (row, column, rule, value) to row findings, in report order."""
    extra = [e for e in extra if e.height]
    if not extra:
        return found
    severity = {code: r.severity for code, r in RULES.items()}
    more = pl.concat(extra).with_columns(pl.col("rule").replace_strict(severity, return_dtype=pl.Utf8)
                                         .alias("severity")).select(list(FINDING_SCHEMA))
    return (pl.concat([found, more.cast(FINDING_SCHEMA)], how="diagonal").with_columns(order_expr(kind))
            .sort(["row", "_order", "rule"]).drop("_order"))


def order_expr(kind: str) -> pl.Expr:
    """``_order``: each finding's field position in the schema (others after), to sort findings by."""
    order = contract.field_order(kind)
    return pl.col("column").replace_strict(order, default=len(order), return_dtype=pl.Int32).alias("_order")


PROBE = 4096  # rows sampled to guess whether a column has few distinct values


_COSTLY: dict[int, tuple[list[Check], dict[str, list[int]]]] = {}


def _costly(todo: list[Check]) -> dict[str, list[int]]:
    """Column → the checks (positions in ``todo``) that test it alone with a pattern or a code list."""
    seen = _COSTLY.get(id(todo))
    if seen is not None and seen[0] is todo:
        return seen[1]
    costly: dict[str, list[int]] = {}
    for i, c in enumerate(todo):
        roots = set(c.failed.meta.root_names())
        if c.per_value and c.rows is None and len(roots) == 1:
            costly.setdefault(roots.pop(), []).append(i)
    if len(_COSTLY) > 64:
        _COSTLY.clear()
    _COSTLY[id(todo)] = (todo, costly)  # the list is kept, so its id is not reused while cached
    return costly


def _flag_exprs(typed: pl.DataFrame, todo: list[Check], known: dict[str, pl.Series] | None = None
                ) -> list[pl.Expr]:
    """One boolean expression per check, true where it fails (its ``rows`` when it has them). A pattern or
    code-list check on one column with few distinct values (stations, codes) is evaluated on those values; the
    rows then need only a membership test with the failing ones, or nothing when none fails; a length check is
    tested on bytes when that gives the same answer (:func:`_lengths_in_bytes`). Checks are row by row, so this
    gives the same flags. ``known``: columns whose values are known already (from :func:`prepare`)."""
    exprs = [(c.failed if c.rows is None else c.rows).fill_null(False) for c in todo]
    _lengths_in_bytes(typed, todo, exprs)
    rows = typed.height
    chosen: dict[str, list[int]] = {}
    values: list[pl.Series] = []
    for name, idx in _costly(todo).items():
        column = typed.get_column(name)
        if known is not None and name in known:
            distinct = known[name]
        elif column.head(PROBE).n_unique() * 2 > min(PROBE, rows):  # mostly distinct already in a sample
            continue
        else:
            distinct = column.unique()
        if len(distinct) * 8 <= rows:
            chosen[name] = idx
            values.append(distinct.alias(name))
    if not chosen:
        return exprs
    # every such column's values side by side (padded with nulls: a null is evaluated as a null cell would be),
    # all their checks in one pass
    table = convert.padded(values)
    failed = table.select(exprs[i].alias(str(i)) for idx in chosen.values() for i in idx)
    for name, idx in chosen.items():
        for i in idx:
            bad = table.get_column(name).filter(failed.get_column(str(i)))
            exprs[i] = pl.lit(False) if bad.is_empty() else _one_of_values(pl.col(name), bad)
    return exprs


def _lengths_in_bytes(typed: pl.DataFrame, todo: list[Check], exprs: list[pl.Expr]) -> None:
    """Length checks (in characters) tested on bytes where that gives the same answer: a text has at least as many
    bytes as characters, and one character exactly when it has one byte or more. So when no cell of the column
    is longer in bytes than the upper bound, the check fails only on an empty cell (or never, for a lower bound
    of 0). Counting characters costs several times more than reading the byte length."""
    columns = {i: c.failed.meta.root_names() for i, c in enumerate(todo) if c.chars is not None and c.chars[0] <= 1}
    columns = {i: names[0] for i, names in columns.items() if len(set(names)) == 1}
    if not columns:
        return
    longest = typed.select(pl.col(n).str.len_bytes().max().alias(n) for n in set(columns.values())).row(0, named=True)
    for i, name in columns.items():
        low, high = todo[i].chars  # type: ignore[misc]
        if longest[name] is None or longest[name] <= high:
            exprs[i] = (pl.col(name).str.len_bytes() < low).fill_null(False)


def _one_of_values(col: pl.Expr, values: pl.Series) -> pl.Expr:
    """True where ``col`` holds one of ``values``, a null among them included (false elsewhere)."""
    present = values.drop_nulls()
    hit = one_of(col, present.to_list()).fill_null(False) if len(present) else pl.lit(False)
    return hit | col.is_null() if values.null_count() else hit


def findings_of(typed: pl.DataFrame, todo: list[Check], text: pl.DataFrame, kind: str,
                unmask: bool, *, finish: bool = True, distinct: dict[str, pl.Series] | None = None,
                budget: int | None = None) -> pl.DataFrame:
    """Run ``todo`` over a prepared frame (rows aligned with ``text``); findings carry the cell as written.

    A fixed number of frame operations whatever the number of checks (blocks of a large file pay them once
    each): every check's failing positions in one pass, then the cells gathered column by column. Without
    ``finish``, the raw findings (row, column, rule, value) for :func:`finish_findings` to complete once.
    ``distinct``: the column values :func:`prepare` reported, so they need not be looked for again. More than
    ``budget`` findings raise ``input.too_many_findings`` before any is built (memory stays bounded)."""
    if not todo:  # no rule applies (a file with none of the kind's columns)
        return empty_findings() if finish else pl.DataFrame(schema=dataset_checks.RAW_SCHEMA)
    names = [f"c{i}" for i in range(len(todo))]
    failing = typed.select(e.arg_true().implode().alias(n)
                           for e, n in zip(_flag_exprs(typed, todo, distinct), names, strict=True))
    if budget is not None:
        _spend(failing.select(pl.sum_horizontal(pl.all().list.len())).item(), budget)
    meta = pl.DataFrame({"check": names, "column": [c.column for c in todo], "rule": [c.rule for c in todo]})
    long = (failing.unpivot(variable_name="check", value_name="i").explode("i").drop_nulls("i")
            .join(meta, on="check"))
    if long.height == 0:
        return empty_findings() if finish else pl.DataFrame(schema=dataset_checks.RAW_SCHEMA)
    # the cells as written, column by column: one gather each (a direct Series call, no query to plan)
    long = long.sort("column")
    positions = long.get_column("i")
    sensitive = {f.name for f in contract.fields(kind) if f.sensitive}
    runs = long.get_column("column").rle()
    values, start = [], 0
    for n, column in zip(runs.struct.field("len").to_list(), runs.struct.field("value").to_list(), strict=True):
        where = positions.slice(start, n)
        start += n
        if column not in text.columns:
            values.append(pl.Series("value", [None] * n, dtype=pl.Utf8))
            continue
        cells = text.get_column(column).gather(where)
        cells = cells if cells.dtype == pl.Utf8 else cells.cast(pl.Utf8)
        if column in sensitive and not unmask:
            cells = pl.select(mask_expr(pl.lit(cells))).to_series()
        values.append(cells.alias("value"))
    value = _reported_values(typed, todo, names, long, pl.concat(values))
    hits = long.with_columns(value).select(
        typed.get_column("__row__").gather(positions).alias("row"), "column", "rule", "value")
    return finish_findings(hits, kind) if finish else hits


def _spend(count: int, budget: int) -> None:
    """``input.too_many_findings`` when ``count`` findings exceed what is left of the budget."""
    if count > budget:
        raise InputError("input.too_many_findings", limit=budget)


def _reported_values(typed: pl.DataFrame, todo: list[Check], names: list[str], long: pl.DataFrame,
                     value: pl.Series) -> pl.Series:
    """``value`` (the cells of the findings ``long``) with the text of the checks that say what to report
    (``Check.value``), computed on their failing rows only."""
    for name, c in zip(names, todo, strict=True):
        if c.value is None:
            continue
        at = (long.get_column("check") == name).arg_true()
        if len(at):
            rows = long.get_column("i").gather(at)
            text = typed.select(pl.col(c.value.meta.root_names()).gather(rows)).select(c.value.cast(pl.Utf8))
            value = value.scatter(at, text.to_series())
    return value


def finish_findings(hits: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Raw findings (row, column, rule, value) to report findings: each once, those a more specific rule on
    the same cell replaces dropped, with severity, in report order (row, field, rule)."""
    hits = hits.unique(subset=["row", "column", "rule"], maintain_order=False)
    # drop findings a more specific rule on the same cell replaces (e.g. scientific notation vs format)
    replaced = [(r.code, old) for r in RULES.values() for old in r.supersedes]
    if replaced:
        pairs = pl.DataFrame(replaced, schema={"by": pl.Utf8, "old": pl.Utf8}, orient="row")
        superseded = (hits.filter(pl.col("rule").is_in(pairs.get_column("by").implode()))
                      .join(pairs, left_on="rule", right_on="by").select("row", "column", pl.col("old").alias("rule")))
        hits = hits.join(superseded, on=["row", "column", "rule"], how="anti")
    severity = {code: r.severity for code, r in RULES.items()}
    return (
        hits.with_columns(pl.col("rule").replace_strict(severity, return_dtype=pl.Utf8).alias("severity"),
                          order_expr(kind))
        .sort(["row", "_order", "rule"])
        .select(list(FINDING_SCHEMA))
        .cast(FINDING_SCHEMA)
    )


def _sample_cells(text: pl.DataFrame, findings: pl.DataFrame, limit: int = SAMPLE_ROWS) -> pl.DataFrame:
    """The text rows of the first ``limit`` rows with findings of their own (cross-row ones aside)."""
    rows = (findings.filter(pl.col("row").is_not_null() & ~pl.col("rule").str.starts_with("dataset."))
            .get_column("row").unique().sort().head(limit))
    return text.filter(pl.col("__row__").is_in(rows.implode())) if len(rows) else text.clear()


def _sample_rows(cells: pl.DataFrame, findings: pl.DataFrame, kind: str, unmask: bool) -> list[dict[str, Any]]:
    """The rows for the HTML page: cells (ID numbers masked unless ``unmask``) and the rules each broke."""
    if cells.height == 0:
        return []
    rows = cells.get_column("__row__").to_list()
    sensitive = {f.name for f in contract.fields(kind) if f.sensitive}
    by_row: dict[int, dict[str, list[str]]] = {}
    for r in findings.filter(pl.col("row").is_in(rows)).iter_rows(named=True):
        by_row.setdefault(r["row"], {}).setdefault(r["column"], []).append(r["rule"])
    out = []
    for record in cells.iter_rows(named=True):
        row = record.pop("__row__")
        if not unmask:
            record = {k: mask_id(v) if k in sensitive else v for k, v in record.items()}
        rules = {k: v for k, v in by_row.get(row, {}).items() if k is not None}
        out.append({"row": row, "cells": record, "bad": sorted(rules), "rules": rules})
    return out


def _targets(targets: Any) -> dict[str, Any]:
    """A targets document: given parsed, read from a file, or the packaged default (None)."""
    return targets if isinstance(targets, dict) else aggregates.load_targets(targets)


def validate_table(
    table: Table, kind: str | None = None, *, reference_date: date | None = None, lang: str = "zh",
    max_findings: int | None = None, unmask: bool = False, records: Any = None, targets: Any = None,
    explanations: Any = None, zscore: float = aggregates.ZSCORE, rollups: bool = True, layout: str | None = None,
    free_services: Any = None, findings_budget: int | None = None,
) -> Report:
    """Validate a table from :func:`fpschema.reader.read` (a workbook: each of its sheets, :func:`_validate_sheets`).

    For aggregate reports: ``records`` (service records: a path, DataFrame or list) reconciles a county-level
    卫统45表 with counts recomputed from them; ``targets`` is a targets file (or its parsed dict) overriding the
    default; ``explanations`` a side table (division_code, rule, explanation) for warnings; ``zscore`` the
    threshold of the year-on-year check; ``layout`` the form the table is laid out as (else found from its
    header). ``free_services`` (a JSON file or a list of procedure codes) overrides the services rural couples get
    free (:func:`contract.load_free_services`). ``findings_budget``: the most findings a table (each sheet) may
    hold; more raise ``input.too_many_findings`` (:attr:`fpschema.reader.Limits.max_findings_total`)."""
    options = dict(reference_date=reference_date, lang=lang, max_findings=max_findings, unmask=unmask,
                   records=records, targets=targets, explanations=explanations, zscore=zscore, rollups=rollups,
                   layout=layout, free_services=free_services, findings_budget=findings_budget)
    if table.sheets or table.sheet_notes:
        return _validate_sheets(table, kind, options)
    return _validate_part(table, kind, **options)


def _validate_sheets(table: Table, kind: str | None, options: dict[str, Any]) -> Report:
    """A workbook's report: each sheet read validated as a table of its own (the kind given, else the one the
    first sheet's header says; a later sheet whose header names fewer than two of that kind's fields is ignored,
    with a warning), their findings marked with the sheet, rows added up; the sheets not read are listed."""
    parts = table.sheets or [table]
    reports: list[tuple[Table, Report]] = []
    notes = list(table.sheet_notes)
    extra: list[dict[str, Any]] = [{**_file_finding("file.sheet_unreadable", ""), "value": n["reason"],
                                    "sheet": n["name"]} for n in notes if n["status"] == "error"]
    extra += [{**_file_finding("file.sheet_ignored", ""), "value": n["name"], "sheet": n["name"]}
              for n in notes if n["status"] == "ignored" and n["reason"] != "not_selected"]
    for i, part in enumerate(parts):
        headers = [c for c in part.frame.columns if c != "__row__"]
        if i and not _fits(headers, kind or (reports[0][1].kind if reports else None)):
            notes.append({"name": part.sheet, "status": "ignored", "reason": "no_header_of_kind"})
            extra.append({**_file_finding("file.sheet_ignored", ""), "value": part.sheet, "sheet": part.sheet})
            continue
        try:
            report = _validate_part(part, kind or (reports[0][1].kind if reports else None), **options)
        except InputError as exc:
            if exc.code != "input.kind_not_inferred" or (i == len(parts) - 1 and not reports):
                raise
            notes.append({"name": part.sheet, "status": "ignored", "reason": "no_header_of_kind"})
            extra.append({**_file_finding("file.sheet_ignored", ""), "value": part.sheet, "sheet": part.sheet})
            continue
        reports.append((part, report))
    if not reports:  # no sheet had a header of any kind (each was passed over above)
        raise InputError("input.kind_not_inferred")
    first = reports[0][1]
    schema = {**FINDING_SCHEMA, "sheet": pl.Utf8}
    findings = pl.concat([pl.DataFrame(extra, schema=schema)]
                         + [r.findings_all.with_columns(pl.lit(p.sheet, dtype=pl.Utf8).alias("sheet"))
                            for p, r in reports], how="diagonal")
    source = _source(parts[0])
    entries = {p.sheet: _sheet_entry(p) for p, _ in reports}
    entries.update({n["name"]: {**_empty_entry(n["name"], n["status"]), "reason": n["reason"]} for n in notes})
    order = [n for n in (table.sheet_order or [p.sheet for p in parts]) if n in entries]
    source["sheets"] = [entries[n] for n in order] + [e for n, e in entries.items() if n not in order]
    samples = [{**row, "sheet": p.sheet} for p, r in reports for row in r.sample_rows][:SAMPLE_ROWS]
    columns = list(dict.fromkeys(c for _, r in reports for c in r.columns))
    return Report(kind=first.kind, source=source, rows_total=sum(r.rows_total for _, r in reports),
                  findings_all=findings, rows_invalid=sum(r.rows_invalid for _, r in reports), lang=first.lang,
                  max_findings=first.max_findings, sample_rows=samples, columns=columns, extras=first.extras,
                  reference_date=first.reference_date, reference_date_source=first.reference_date_source)


def _fits(headers: list[str], kind: str | None) -> bool:
    """Whether headers name at least two fields of ``kind`` (any kind when None)."""
    names = {normalize_header(h) for h in headers}
    kinds = [kind] if kind else list(contract.kinds())
    return any(len({v for h, v in header_map(k).items() if h in names}) >= 2 for k in kinds)


def _validate_part(
    table: Table, kind: str | None = None, *, reference_date: date | None = None, lang: str = "zh",
    max_findings: int | None = None, unmask: bool = False, records: Any = None, targets: Any = None,
    explanations: Any = None, zscore: float = aggregates.ZSCORE, rollups: bool = True, layout: str | None = None,
    free_services: Any = None, findings_budget: int | None = None,
) -> Report:
    """:func:`validate_table` of one table (one sheet)."""
    headers = [c for c in table.frame.columns if c != "__row__"]
    if kind is None:
        kind = infer_kind(headers)
    elif kind not in contract.kinds():
        raise InputError("input.unknown_kind", kind=kind)
    mapping = map_headers(headers, kind, layout)
    text = mapping.text(table.frame)
    target_doc = _targets(targets)
    ref, how = truth.resolve(None, reference_date)  # given, else today; validate() also looks for a manifest
    options = Options(ref, unmask, target_doc, zscore, rollups, mapping.plan,
                      contract.load_free_services(free_services), how, findings_budget)
    findings, typed = _evaluate(text, kind, options)
    extras: dict[str, Any] = {"coverage": coverage_of(mapping.plan, options, typed)}
    if records is not None and kind == "procedure_report":
        recon_findings, table_ = aggregates.reconcile(typed, records_frame(records))
        findings = with_table_findings(findings, [recon_findings], kind)
        extras["reconciliation"] = {"cells": table_.height, "mismatches": recon_findings.height,
                                    "differences": table_.filter(pl.col("difference") != 0).head(1000).to_dicts()}
    if kind in TABLE_KINDS:
        extras["explanations"] = explanations_of(findings, text, explanations)
        if kind == "indicator_report":
            extras["dashboard"] = dashboard(typed, target_doc)
    if table.cell_errors:
        findings = _with_cell_errors(findings, table.cell_errors, mapping, kind)
    return _report(kind, _source(table), text.height, mapping, findings, _sample_cells(text, findings), lang=lang,
                   max_findings=max_findings, unmask=unmask, extras=extras, options=options)


def coverage_of(plan: coverage.Plan, options: Options, typed: pl.DataFrame | None = None) -> dict[str, Any]:
    """The report's ``coverage`` section (:meth:`coverage.Plan.summary`), with the names that matched several
    divisions when ``typed`` is given."""
    todo = every_check(plan.kind, options.reference_date, targets=options.targets, plan=plan, groups=options.groups)
    out = plan.summary(todo, options.reference_date)
    out["ambiguous"] = derive.candidates(typed, plan.derived) if typed is not None else []
    return out


def _with_cell_errors(findings: pl.DataFrame, errors: list[tuple[int, str, str]], mapping: Mapping,
                      kind: str) -> pl.DataFrame:
    """``findings`` with cell.excel_error for each Excel error cell (#N/A…), in place of the field rules the
    error text broke on that cell."""
    field_of = {h: f for f, h in mapping.columns.items()}
    cells = pl.DataFrame({"row": [r for r, _, _ in errors], "column": [field_of.get(c, c) for _, c, _ in errors],
                          "rule": "cell.excel_error", "value": [v for _, _, v in errors]},
                         schema={"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8})
    field_rules = [code for code, r in RULES.items() if r.scope == "field" and code != "cell.excel_error"]
    kept = findings.join(cells.select("row", "column"), on=["row", "column"], how="anti")
    replaced = findings.filter(pl.col("rule").is_in(field_rules).not_()).join(
        cells.select("row", "column"), on=["row", "column"], how="semi")
    return with_table_findings(pl.concat([kept, replaced]).sort("row", maintain_order=True), [cells], kind)


def _sheet_entry(read: Table | CsvStream) -> dict[str, Any]:
    """Row accounting of one part read: rows in = rows judged + rows skipped (totals and footer rows, each
    listed); blank rows are no rows in, only counted."""
    last_header = max(read.header_rows, default=0)
    skipped = sorted([(r, "footer") for r, why in read.skipped_rows if why == "footer"]
                     + [(r, "totals") for r in read.totals_rows])
    blanks = getattr(read, "blank_rows", None)
    if blanks is None or isinstance(read, CsvStream):
        blanks = sum(why == "blank" and r > last_header for r, why in read.skipped_rows)
    judged = read.rows if isinstance(read, CsvStream) else read.frame.height
    return {"name": getattr(read, "sheet", None), "status": "validated", "rows_in": judged + len(skipped),
            "rows_judged": judged, "rows_skipped": len(skipped),
            "skipped_rows": [{"row": r, "reason": why} for r, why in skipped], "blank_rows": blanks}


def _empty_entry(name: str | None, status: str) -> dict[str, Any]:
    return {"name": name, "status": status, "rows_in": 0, "rows_judged": 0, "rows_skipped": 0, "skipped_rows": [],
            "blank_rows": 0}


def _source(read: Table | CsvStream) -> dict[str, Any]:
    """The report's ``source``: what was read and how, the rows left out of the data, and the row accounting
    (``sheets``: one entry here; a workbook's report lists every sheet)."""
    return {"name": read.name, "format": read.format, "encoding": read.encoding, "sha256": read.sha256,
            "sheet": getattr(read, "sheet", None),
            "header_rows": read.header_rows, "totals_rows": read.totals_rows,
            "skipped_rows": [{"row": r, "reason": why} for r, why in read.skipped_rows],
            "sheets": [_sheet_entry(read)]}


def _report(kind: str, source: dict[str, Any], rows_total: int, mapping: Mapping, findings: pl.DataFrame,
            cells: pl.DataFrame, *, lang: str, max_findings: int | None, unmask: bool,
            extras: dict[str, Any] | None = None, options: Options | None = None) -> Report:
    """The report of a validated source: file findings first, then the rows' findings; it names the reference
    date of ``options``."""
    file_findings = mapping.findings
    if rows_total == 0:
        file_findings = pl.concat([file_findings, pl.DataFrame([_file_finding("file.no_rows", "")],
                                                               schema=FINDING_SCHEMA)])
    error_rows = findings.filter(pl.col("severity") == "error").get_column("row").n_unique()
    return Report(
        kind=kind, source=source, rows_total=rows_total, findings_all=pl.concat([file_findings, findings]),
        rows_invalid=rows_total if mapping.missing_required else error_rows, lang=lang, max_findings=max_findings,
        sample_rows=_sample_rows(cells, findings, kind, unmask), columns=list(mapping.columns), extras=extras or {},
        reference_date=options.reference_date if options else None,
        reference_date_source=options.reference_source if options else None, unmask=unmask,
    )


_END = object()


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """The items of an iterator, each next one produced in a worker thread while the caller uses this one.
    The first is asked for at once, so the caller can prepare while it is produced."""
    pool = ThreadPoolExecutor(1)
    ahead = pool.submit(next, items, _END)

    def consume() -> Iterator[Any]:
        nonlocal ahead
        try:
            while (item := ahead.result()) is not _END:
                ahead = pool.submit(next, items, _END)
                yield item
        finally:
            pool.shutdown(wait=True)

    return consume()


Progress = Callable[[int, int], None]  # (bytes done, bytes in all), called as a large file is validated


def validate_stream(stream: CsvStream, kind: str | None, options: Options, *, lang: str = "zh",
                    max_findings: int | None = None, source_extra: dict[str, Any] | None = None,
                    progress: Progress | None = None, layout: str | None = None) -> Report:
    """Validate a CSV read block by block (:mod:`fpschema.csvstream`): the same rules and report as
    :func:`validate_table`, in memory bounded by the block (:class:`NotStreamable` for the aggregate kinds,
    whose table rules need the whole table). Row rules run per block while the next block is
    parsed; cross-row rules run at the end over the blocks' key frames. ``progress`` hears of each block
    checked."""
    kind = infer_kind(stream.names) if kind is None else kind
    if kind not in contract.kinds():
        raise InputError("input.unknown_kind", kind=kind)
    if kind in TABLE_KINDS:  # their table rules need the whole table
        raise NotStreamable(stream.path)
    mapping = map_headers(stream.names, kind, layout)
    options = replace(options, plan=mapping.plan)
    blocks = _prefetched(stream.frames())
    todo = all_checks(kind, options.reference_date, cross_row=False, targets=options.targets, plan=options.plan,
                      groups=options.groups)
    # while the first block is read: one pass over no rows loads what the rules read (code lists, divisions)
    empty = pl.DataFrame(schema={"__row__": pl.Int64, **dict.fromkeys(mapping.columns, pl.Utf8)})
    findings_of(prepare(empty, kind, options.reference_date, plan=options.plan), todo, empty, kind, options.unmask)
    found, keys, cells, ambiguous = [], [], [], []
    seen: dict[str, tuple[str, ...]] = {}  # the few-valued columns' texts so far
    kept = held = 0  # sample rows kept, findings held
    size = stream.size
    cross, ahead, helper = None, None, ThreadPoolExecutor(1)  # one helper thread: its tasks run in the order given
    for frame in blocks:
        done = stream.ends.popleft()  # where this block ends (the reader may be a block ahead)
        last = stream.sha256 is not None and not stream.ends  # the last block: cross-row rules run beside it
        if last and keys:  # the other blocks' hashes sorted while this one is prepared
            ahead = (sum(k.height for k in keys), helper.submit(dataset_checks.sorted_hashes, pl.concat(keys)))
        text = mapping.text(frame)
        distinct: dict[str, pl.Series] = {}
        typed = prepare(text, kind, options.reference_date, distinct, seen, options.plan)
        keys.append(dataset_checks.key_frame(typed, kind, text))
        if last:
            cross = helper.submit(_cross_row, pl.concat(keys), kind, options.unmask, ahead)
        left = None if options.findings_budget is None else options.findings_budget - held
        try:
            block = findings_of(typed, todo, text, kind, options.unmask, finish=False, distinct=distinct, budget=left)
        except InputError as err:  # what was left of the budget ran out: the message names the whole budget
            raise InputError(err.code, limit=options.findings_budget) from None
        held += block.height
        found.append(block)
        if kept < SAMPLE_ROWS:
            cells.append(_sample_cells(text, block, SAMPLE_ROWS - kept))
            kept += cells[-1].height
        if options.plan.derived:
            ambiguous.extend(derive.candidates(typed, options.plan.derived))
        del frame, text, typed  # before the next block arrives: one block's frames alive at a time
        if progress is not None:
            progress(min(done, size), size)
    if cross is not None:
        found.append(cross.result())
    elif keys:
        found.append(dataset_checks.cross_row_findings(pl.concat(keys), kind, options.unmask))
    helper.shutdown()
    findings = finish_findings(pl.concat(found), kind) if found else empty_findings()
    source = {**_source(stream), **(source_extra or {})}
    covered = {**coverage_of(mapping.plan, options),
               "ambiguous": list({(a["field"], a["name"], a["year"]): a for a in ambiguous}.values())[:100]}
    return _report(kind, source, stream.rows, mapping, findings, pl.concat(cells) if cells else pl.DataFrame(),
                   lang=lang, max_findings=max_findings, unmask=options.unmask, extras={"coverage": covered},
                   options=options)


def _cross_row(keys: pl.DataFrame, kind: str, unmask: bool, ahead: tuple[int, Future[Any]] | None) -> pl.DataFrame:
    """:func:`dataset_checks.cross_row_findings` with the leading blocks' sorted hashes (a task the same helper
    thread ran before this one)."""
    return dataset_checks.cross_row_findings(keys, kind, unmask, None if ahead is None else (ahead[0], ahead[1].result()))


def dashboard(typed: pl.DataFrame, targets: dict[str, Any]) -> list[dict[str, Any]]:
    """Per indicator and year: each division's value against the target, ranked (for the HTML report)."""
    labels = contract.codetables()["indicator"].labels
    goals = targets.get("targets", {})
    rows = typed.filter(pl.col("value") >= 0).select("indicator", "report_year", "division_code", "division_name",
                                                      "value", "unit")
    out = []
    for (indicator, year), group in rows.group_by("indicator", "report_year", maintain_order=True):
        if indicator not in labels:
            continue
        goal = goals.get(indicator)
        ranked = group.sort("value", descending=True).head(60)
        out.append({
            "indicator": indicator, "label": labels[indicator], "year": year, "unit": ranked["unit"][0],
            "target": None if goal is None else {"op": goal["op"], "value": goal["value"]},
            "divisions": [{"code": c, "name": n, "value": v,
                           "missed": goal is not None and (v <= goal["value"] if goal["op"] == ">" else v < goal["value"])}
                          for c, n, v in ranked.select("division_code", "division_name", "value").iter_rows()],
        })
    return out


def validate(
    source: Any, kind: str | None = None, *, fmt: str | None = None, encoding: str | None = None,
    reference_date: date | None = None, lang: str = "zh", max_findings: int | None = None,
    unmask: bool = False, limits: Limits | None = None, valid_out: str | Path | None = None,
    invalid_out: str | Path | None = None, records: Any = None, targets: Any = None, explanations: Any = None,
    zscore: float = aggregates.ZSCORE, rollups: bool = True, progress: Progress | None = None,
    layout: str | None = None, free_services: Any = None, sheet: str | None = None,
) -> Report:
    """Validate a file (path), a polars or pandas DataFrame, or a list of dicts.

    A workbook (XLSX, XLS) has every worksheet with data validated, its findings naming their ``sheet``; or only the
    one named ``sheet``, the report listing the others as ignored (``source["sheets"]``).

    ``valid_out`` / ``invalid_out`` write the rows without / with errors to files (CSV, Parquet or JSONL
    by suffix), original headers and values untouched. ``layout`` names the form the file is laid out as (a
    kind's ``x-layouts``; default: found from its header). ``progress(done, total)`` is called with the bytes
    checked so far as a large CSV is validated block by block. Without ``reference_date``, a file generated by
    :mod:`fpschema.generator` is judged against the reference date of its manifest (``X.manifest.json`` beside
    ``X``), anything else against today; the report names the date and its source. ``free_services``: the services
    rural couples get free, overriding the contract's list (a JSON file or a list of procedure codes:
    :func:`contract.load_free_services`). Raises :class:`fpschema.errors.InputError` when the source cannot be
    read as a table.
    """
    if kind is not None and kind not in contract.kinds():
        raise InputError("input.unknown_kind", kind=kind)
    ref, how = truth.resolve(source, reference_date)
    if (isinstance(source, str | Path) and kind not in TABLE_KINDS and not (valid_out or invalid_out) and sheet is None
            and (fmt is None or fmt.lower().lstrip(".") in ("csv", "txt", "tsv"))):
        stream = open_stream(Path(source), encoding=encoding, known_headers=known_headers(kind), limits=limits)
        if stream is not None:
            options = Options(ref, unmask, _targets(targets), zscore, rollups,
                              groups=contract.load_free_services(free_services), reference_source=how,
                              findings_budget=limits.max_findings_total if limits else None)
            try:
                return validate_stream(stream, kind, options, lang=lang, max_findings=max_findings,
                                       progress=progress, layout=layout)
            except NotStreamable:
                pass  # read whole below
    table = read(source, fmt=fmt, encoding=encoding, known_headers=known_headers(kind), limits=limits, sheet=sheet)
    report = validate_table(table, kind, reference_date=ref, lang=lang, max_findings=max_findings,
                            unmask=unmask, records=records, targets=targets, explanations=explanations,
                            zscore=zscore, rollups=rollups, layout=layout, free_services=free_services,
                            findings_budget=limits.max_findings_total if limits else None)
    report.reference_date_source = how
    if valid_out or invalid_out:
        valid, invalid = split_rows(table, report)
        if valid_out:
            write_rows(valid, valid_out)
        if invalid_out:
            write_rows(invalid, invalid_out)
    return report


def split_rows(table: Table, report: Report) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows, invalid rows) of the source, with its original headers and values untouched (a workbook: its
    validated sheets' rows, one after the other)."""
    if table.sheets:
        validated = {e["name"] for e in report.source.get("sheets", []) if e["status"] == "validated"}
        pairs = [_split_part(p, report.findings_all.filter(pl.col("sheet") == p.sheet), False)
                 for p in table.sheets if p.sheet in validated]
        return (pl.concat([v for v, _ in pairs], how="diagonal_relaxed"),
                pl.concat([i for _, i in pairs], how="diagonal_relaxed"))
    return _split_part(table, report.findings_all, report.rows_invalid == report.rows_total)


def _split_part(table: Table, findings: pl.DataFrame, all_bad: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    errors = findings.filter((pl.col("severity") == "error") & pl.col("row").is_not_null())
    if all_bad or findings.filter((pl.col("severity") == "error") & pl.col("row").is_null()
                                  & (pl.col("rule") == "file.missing_column")).height:
        bad = table.frame.get_column("__row__")
    else:
        bad = errors.get_column("row").unique()
    is_bad = pl.col("__row__").is_in(bad.implode())
    return table.frame.filter(~is_bad).drop("__row__"), table.frame.filter(is_bad).drop("__row__")


def write_rows(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write rows as CSV (UTF-8 with BOM, for Excel), Parquet or JSONL, by the file's suffix; whole or not at all
    (:func:`fpschema.writer.atomic_path`)."""
    from fpschema.io.writer import atomic_path

    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            frame.write_parquet(tmp)
        elif suffix in (".jsonl", ".ndjson"):
            frame.write_ndjson(tmp)
        else:
            tmp.write_bytes(b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8"))
    return path


def validate_batched(
    path: str | Path, kind: str, *, batch_rows: int = 250_000, reference_date: date | None = None,
    lang: str = "zh", max_findings: int | None = None, unmask: bool = False, progress: Progress | None = None,
    encoding: str | None = None, layout: str | None = None, free_services: Any = None,
) -> Report:
    """Validate a large CSV in blocks of about ``batch_rows`` rows (:func:`validate_stream`), whatever its
    size; a file that cannot be read block by block is validated whole. ``encoding``, ``free_services``: as for
    :func:`validate`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("input.not_found", path=str(path))
    with path.open("rb") as fh:
        sample = fh.read(1 << 20)
    row_bytes = max(1, len(sample) // max(1, sample.count(b"\n")))
    limits = Limits(stream_bytes=0, block_bytes=max(1 << 16, batch_rows * row_bytes))
    ref, how = truth.resolve(path, reference_date)
    stream = open_stream(path, encoding=encoding, known_headers=known_headers(kind), limits=limits)
    if stream is not None:
        try:
            options = Options(ref, unmask, groups=contract.load_free_services(free_services), reference_source=how)
            return validate_stream(stream, kind, options, lang=lang, max_findings=max_findings,
                                   source_extra={"batch_rows": batch_rows}, progress=progress, layout=layout)
        except NotStreamable:
            pass
    return validate(path, kind, encoding=encoding, reference_date=reference_date, lang=lang,
                    max_findings=max_findings, unmask=unmask, layout=layout, free_services=free_services)
