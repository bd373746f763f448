"""What a validation gives back: sample rows, coverage, the row accounting of each part read, the report.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.mask import mask_id
from fpschema.engine import coverage
from fpschema.engine.evaluation import SAMPLE_ROWS, Options, every_check, with_table_findings
from fpschema.engine.headers import Mapping, file_finding
from fpschema.io.csvstream import CsvStream
from fpschema.io.reader import Table
from fpschema.report.report import FINDING_SCHEMA, Report
from fpschema.rules import derive


def sample_cells(text: pl.DataFrame, findings: pl.DataFrame, limit: int = SAMPLE_ROWS) -> pl.DataFrame:
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


def coverage_of(plan: coverage.Plan, options: Options, typed: pl.DataFrame | None = None) -> dict[str, Any]:
    """The report's ``coverage`` section (:meth:`coverage.Plan.summary`), with the names that matched several
    divisions when ``typed`` is given."""
    todo = every_check(plan.kind, options.reference_date, targets=options.targets, plan=plan, groups=options.groups)
    out = plan.summary(todo, options.reference_date)
    out["ambiguous"] = derive.candidates(typed, plan.derived) if typed is not None else []
    return out


def with_cell_errors(findings: pl.DataFrame, errors: list[tuple[int, str, str]], mapping: Mapping,
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


def sheet_entry(read: Table | CsvStream) -> dict[str, Any]:
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


def empty_entry(name: str | None, status: str) -> dict[str, Any]:
    return {"name": name, "status": status, "rows_in": 0, "rows_judged": 0, "rows_skipped": 0, "skipped_rows": [],
            "blank_rows": 0}


def source_entry(read: Table | CsvStream) -> dict[str, Any]:
    """The report's ``source``: what was read and how, the rows left out of the data, and the row accounting
    (``sheets``: one entry here; a workbook's report lists every sheet)."""
    return {"name": read.name, "format": read.format, "encoding": read.encoding, "sha256": read.sha256,
            "sheet": getattr(read, "sheet", None),
            "header_rows": read.header_rows, "totals_rows": read.totals_rows,
            "skipped_rows": [{"row": r, "reason": why} for r, why in read.skipped_rows],
            "sheets": [sheet_entry(read)]}


def make_report(kind: str, source: dict[str, Any], rows_total: int, mapping: Mapping, findings: pl.DataFrame,
            cells: pl.DataFrame, *, lang: str, max_findings: int | None, unmask: bool,
            extras: dict[str, Any] | None = None, options: Options | None = None) -> Report:
    """The report of a validated source: file findings first, then the rows' findings; it names the reference
    date of ``options``."""
    file_findings = mapping.findings
    if rows_total == 0:
        file_findings = pl.concat([file_findings, pl.DataFrame([file_finding("file.no_rows", "")],
                                                               schema=FINDING_SCHEMA)])
    error_rows = findings.filter(pl.col("severity") == "error").get_column("row").n_unique()
    return Report(
        kind=kind, source=source, rows_total=rows_total, findings_all=pl.concat([file_findings, findings]),
        rows_invalid=rows_total if mapping.missing_required else error_rows, lang=lang, max_findings=max_findings,
        sample_rows=_sample_rows(cells, findings, kind, unmask), columns=list(mapping.columns), extras=extras or {},
        reference_date=options.reference_date if options else None,
        reference_date_source=options.reference_source if options else None, unmask=unmask,
    )
