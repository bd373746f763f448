"""Evaluation: every rule of a kind (:func:`all_checks`) computed on a typed frame in one pass, and the
findings frame built from the failing positions (:func:`findings_of`, :func:`finish_findings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.check import Check, one_of
from fpschema.contract.mask import mask_expr
from fpschema.engine import convert, coverage
from fpschema.engine.headers import header_map, known_headers, map_headers
from fpschema.errors import InputError
from fpschema.io import truth
from fpschema.io.reader import normalize_header, read
from fpschema.report.report import FINDING_SCHEMA, empty_findings
from fpschema.rules import aggregates, checks, dataset_checks, derive, schema_checks

SAMPLE_ROWS = 20
TABLE_KINDS = aggregates.TABLE_KINDS  # kinds with rules over the whole table (read whole)


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
    return evaluate_parts(text, kind, options)[0]


def evaluate_parts(text: pl.DataFrame, kind: str, options: Options) -> tuple[pl.DataFrame, pl.DataFrame]:
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
