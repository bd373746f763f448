"""The validation report: one structure for every entry point (library, CLI, service, Spark).

``{"fpschema_version", "kind", "source": {"name", "format", "encoding", "sha256", ...}, "reference_date",
"reference_date_source", "ok",
"rows_total", "rows_valid", "rows_invalid", "counts": {"by_rule", "by_column", "by_severity"},
"findings": [{"row", "column", "rule", "severity", "value", "sheet", "message"}], "truncated"}``

``source["sheets"]`` accounts for every row: one entry per part read (``"name": null`` for a CSV, JSON, JSONL or
Parquet file or a data frame; one per worksheet of a workbook, those not validated included), each ``{"name",
"status": "validated" | "ignored" | "empty" | "error", "rows_in", "rows_judged", "rows_skipped", "skipped_rows":
[{"row", "reason"}], "blank_rows"}`` with ``rows_in == rows_judged + rows_skipped`` and ``rows_skipped ==
len(skipped_rows)``; the validated sheets' ``rows_judged`` add up to ``rows_total``. Blank rows are no rows in:
they are counted in ``blank_rows``. A finding's ``sheet`` names its worksheet (null outside workbooks).

``rows_total == rows_valid + rows_invalid`` always; a row is invalid when it has at least one finding
of severity error. ``reference_date`` is the day future dates and ages were judged against, and
``reference_date_source`` where it came from: ``"option"`` (given), ``"manifest"`` (the generator's manifest
beside the file, see :mod:`fpschema.truth`) or ``"today"``. Findings are kept in a polars DataFrame; renderers live in :mod:`fpschema.render`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.contract.catalogue import RULES

FINDING_SCHEMA = {
    "row": pl.Int64,
    "column": pl.Utf8,
    "rule": pl.Utf8,
    "severity": pl.Utf8,
    "value": pl.Utf8,
}


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def _messages(lang: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"rule": list(RULES), "message": [r.message(lang) for r in RULES.values()]},
        schema={"rule": pl.Utf8, "message": pl.Utf8},
    )


@dataclass
class Report:
    """Result of validating one source. ``findings_all`` holds every finding; ``findings`` is the reported part,
    with messages. Unless ``unmask``, personal data is masked by value when the report is made (ID-like tokens
    anywhere, names and birth dates by field: :mod:`fpschema.mask`), so every renderer shows it masked."""

    kind: str
    source: dict[str, Any]
    rows_total: int
    findings_all: pl.DataFrame
    rows_invalid: int
    lang: str = "zh"
    max_findings: int | None = None
    sample_rows: list[dict[str, Any]] = field(default_factory=list)  # first failing rows, for the HTML page
    columns: list[str] = field(default_factory=list)  # field names in the file, in order
    extras: dict[str, Any] = field(default_factory=dict)  # aggregate reports: reconciliation, explanations, dashboard
    fpschema_version: str = ""
    reference_date: date | None = None  # the day future dates and ages were judged against
    reference_date_source: str | None = None  # "option", "manifest" or "today" (fpschema.truth.SOURCES)
    unmask: bool = False  # True: personal data shown as given (the one way out of masking)

    def __post_init__(self) -> None:
        if "sheet" not in self.findings_all.columns:  # the worksheet of each finding (null: not a workbook)
            self.findings_all = self.findings_all.with_columns(pl.lit(None, dtype=pl.Utf8).alias("sheet"))
        if not self.fpschema_version:
            from fpschema import __version__

            self.fpschema_version = __version__
        if not self.unmask:
            self._mask()

    def _mask(self) -> None:
        """Mask personal data by value in everything the report shows (:mod:`fpschema.mask`): the findings'
        values and columns (vectorised), the sample rows by field, and every text of the source and extras."""
        from fpschema.contract import mask

        self.findings_all = mask.mask_findings(self.findings_all, self.kind)
        self.sample_rows = [{**s, "cells": mask.mask_cells(s.get("cells", {}), self.kind)} for s in self.sample_rows]
        self.source = mask.mask_nested(self.source)
        self.extras = mask.mask_nested(self.extras)

    # --- the documented structure ----------------------------------------------------------------------
    @property
    def rows_valid(self) -> int:
        return self.rows_total - self.rows_invalid

    @property
    def ok(self) -> bool:
        return not (self.findings_all["severity"] == "error").any()

    @property
    def truncated(self) -> bool:
        return self.max_findings is not None and self.findings_all.height > self.max_findings

    @property
    def findings(self) -> pl.DataFrame:
        """The reported findings (first ``max_findings``) with their message in the report's language."""
        shown = self.findings_all if self.max_findings is None else self.findings_all.head(self.max_findings)
        return shown.join(_messages(self.lang), on="rule", how="left", maintain_order="left")

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        f = self.findings_all

        def tally(col: str) -> dict[str, int]:
            grouped = f.filter(pl.col(col).is_not_null()).group_by(col).len().sort(["len", col],
                                                                                   descending=[True, False])
            return dict(zip(grouped[col].to_list(), grouped["len"].to_list(), strict=True))

        return {"by_rule": tally("rule"), "by_column": tally("column"), "by_severity": tally("severity")}

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_dict_summary(), "findings": self.findings.to_dicts()}

    def _extras(self) -> dict[str, Any]:
        return {k: v for k, v in self.extras.items() if k != "dashboard"}

    def to_dict_summary(self) -> dict[str, Any]:
        """Everything but the findings list, in the documented key order."""
        return {
            "fpschema_version": self.fpschema_version,
            "kind": self.kind,
            "source": self.source,
            "reference_date": self.reference_date.isoformat() if self.reference_date else None,
            "reference_date_source": self.reference_date_source,
            "ok": self.ok,
            "rows_total": self.rows_total,
            "rows_valid": self.rows_valid,
            "rows_invalid": self.rows_invalid,
            "counts": self.counts,
            "findings": None,
            "truncated": self.truncated,
            **self._extras(),
        }

    # --- renderers ---------------------------------------------------------------------------------------
    def _json_parts(self, indent: int | None) -> tuple[str, str]:
        """The JSON text before and after the findings list."""
        head = {k: v for k, v in self.to_dict_summary().items()}
        head["findings"] = "__FINDINGS__"
        before, after = json.dumps(head, ensure_ascii=False, indent=indent, default=str).split('"__FINDINGS__"', 1)
        return before, after

    def _write_json(self, fh: Any, indent: int | None = 2) -> None:
        """The report as JSON into a binary file; the findings straight from polars (fast on large reports),
        never one big Python string."""
        before, after = self._json_parts(indent)
        findings = self.findings
        fh.write(before.encode("utf-8"))
        if findings.height:
            findings.write_json(fh)
        else:
            fh.write(b"[]")
        fh.write(after.encode("utf-8"))

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON."""
        buffer = io.BytesIO()
        self._write_json(buffer, indent)
        return buffer.getvalue().decode("utf-8")

    def to_csv(self) -> str:
        from fpschema.report.render import to_csv

        return to_csv(self)

    def to_html(self) -> str:
        from fpschema.report.render import to_html

        return to_html(self)

    def to_junit(self) -> str:
        from fpschema.report.render import to_junit

        return to_junit(self)

    def write(self, path: str | Path, fmt: str = "json") -> Path:
        """Write the report as json, csv, html or junit, whole or not at all: into a temporary file beside
        ``path``, then renamed (:func:`fpschema.writer.atomic_path`); a failed write leaves the old file as it was
        and raises a coded :class:`fpschema.errors.OutputError`."""
        from fpschema.io.writer import atomic_path

        path = Path(path)
        if fmt == "json":
            with atomic_path(path) as tmp, tmp.open("wb") as fh:
                self._write_json(fh)
            return path
        text = {"csv": self.to_csv, "html": self.to_html, "junit": self.to_junit}[fmt]()
        with atomic_path(path) as tmp:
            # CSV gets a BOM so that Excel opens the Chinese text as UTF-8
            tmp.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        return path
