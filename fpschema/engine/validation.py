"""The frame engine: a whole file or DataFrame in, a :class:`~fpschema.report.Report` out.

read (all text, real row numbers) → map headers through the contract's aliases (file findings) →
convert cell by cell → derived columns → every rule as a column expression in one pass → findings
(row, column, rule, severity, value) → report. No Python loop per row.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.engine.evaluation import (
    PROBE,
    SAMPLE_ROWS,
    TABLE_KINDS,
    Options,
    all_checks,
    evaluate,
    evaluate_parts,
    every_check,
    explanations_of,
    findings_of,
    finish_findings,
    order_expr,
    prepare,
    records_frame,
    with_table_findings,
)
from fpschema.engine.headers import Mapping, file_finding, header_map, infer_kind, known_headers, map_headers
from fpschema.engine.outcome import (
    coverage_of,
    empty_entry,
    make_report,
    sample_cells,
    sheet_entry,
    source_entry,
    with_cell_errors,
)
from fpschema.engine.streaming import Progress, validate_stream
from fpschema.errors import InputError
from fpschema.io import truth
from fpschema.io.csvstream import NotStreamable, open_stream
from fpschema.io.reader import Limits, Table, normalize_header, read
from fpschema.report.report import FINDING_SCHEMA, Report
from fpschema.rules import aggregates

# the names callers take from here (the engine's entry points and what they re-export)
__all__ = ["Mapping", "Options", "PROBE", "Progress", "SAMPLE_ROWS", "TABLE_KINDS",
           "all_checks", "coverage_of", "dashboard", "empty_entry", "evaluate", "evaluate_parts", "every_check",
           "explanations_of", "file_finding", "findings_of", "finish_findings", "header_map", "infer_kind",
           "known_headers", "make_report", "map_headers", "order_expr", "prepare", "records_frame", "sample_cells",
           "sheet_entry", "source_entry", "split_rows", "validate", "validate_batched", "validate_stream",
           "validate_table", "with_cell_errors", "with_table_findings", "write_rows"]


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
    extra: list[dict[str, Any]] = [{**file_finding("file.sheet_unreadable", ""), "value": n["reason"],
                                    "sheet": n["name"]} for n in notes if n["status"] == "error"]
    extra += [{**file_finding("file.sheet_ignored", ""), "value": n["name"], "sheet": n["name"]}
              for n in notes if n["status"] == "ignored" and n["reason"] != "not_selected"]
    for i, part in enumerate(parts):
        headers = [c for c in part.frame.columns if c != "__row__"]
        if i and not _fits(headers, kind or (reports[0][1].kind if reports else None)):
            notes.append({"name": part.sheet, "status": "ignored", "reason": "no_header_of_kind"})
            extra.append({**file_finding("file.sheet_ignored", ""), "value": part.sheet, "sheet": part.sheet})
            continue
        try:
            report = _validate_part(part, kind or (reports[0][1].kind if reports else None), **options)
        except InputError as exc:
            if exc.code != "input.kind_not_inferred" or (i == len(parts) - 1 and not reports):
                raise
            notes.append({"name": part.sheet, "status": "ignored", "reason": "no_header_of_kind"})
            extra.append({**file_finding("file.sheet_ignored", ""), "value": part.sheet, "sheet": part.sheet})
            continue
        reports.append((part, report))
    if not reports:  # no sheet had a header of any kind (each was passed over above)
        raise InputError("input.kind_not_inferred")
    first = reports[0][1]
    schema = {**FINDING_SCHEMA, "sheet": pl.Utf8}
    findings = pl.concat([pl.DataFrame(extra, schema=schema)]
                         + [r.findings_all.with_columns(pl.lit(p.sheet, dtype=pl.Utf8).alias("sheet"))
                            for p, r in reports], how="diagonal")
    source = source_entry(parts[0])
    entries = {p.sheet: sheet_entry(p) for p, _ in reports}
    entries.update({n["name"]: {**empty_entry(n["name"], n["status"]), "reason": n["reason"]} for n in notes})
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
    findings, typed = evaluate_parts(text, kind, options)
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
        findings = with_cell_errors(findings, table.cell_errors, mapping, kind)
    return make_report(kind, source_entry(table), text.height, mapping, findings, sample_cells(text, findings), lang=lang,
                   max_findings=max_findings, unmask=unmask, extras=extras, options=options)


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
