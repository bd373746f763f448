"""Aggregate reports: each report-level rule on a generated report that agrees with its records and on one
with the defect injected; targets as configuration; explanations; the dashboard; the CLI with --records."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

import fpschema
from fpschema import aggregates, generator, linked, scorer, writer

from .conftest import REF, ROOT


def _found(report) -> pl.DataFrame:
    return report.findings_all.select(pl.col("row").alias("index"), "column", "rule")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_report_set_agrees_with_its_records(seed):
    parts, manifest = linked.report_set(seed=seed)
    assert manifest.height == 0
    report = fpschema.validate(parts["procedure_report"], "procedure_report", records=parts["service_record"],
                               reference_date=REF)
    assert report.findings_all.height == 0, report.findings
    recon = report.extras["reconciliation"]
    assert recon["cells"] > 100 and recon["mismatches"] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_injected_report_level_defect_is_found(seed):
    parts, manifest = linked.report_set(seed=seed, defects=True)
    assert set(manifest["rule"]) == set(linked.SET_DEFECTS)
    report = fpschema.validate(parts["procedure_report"], "procedure_report", records=parts["service_record"],
                               reference_date=REF)
    table = scorer.score(manifest.rename({"index": "row"}), report.findings_all)
    assert table.filter((pl.col("precision") < 1) | (pl.col("recall") < 1)).height == 0, table
    differences = report.extras["reconciliation"]["differences"]
    assert {d["difference"] for d in differences} == {2}


def test_rollup_parent_must_equal_the_sum_and_children_must_be_complete():
    parts, _ = linked.report_set(seed=4)
    ws45 = parts["procedure_report"]
    assert aggregates.rollup_findings(_typed(ws45), "procedure_report").height == 0
    changed = ws45.with_columns(pl.when(pl.col("division_code") == "130100").then(pl.lit("999999"))
                                .otherwise(pl.col("total_services")).alias("total_services"))
    found = aggregates.rollup_findings(_typed(changed), "procedure_report")
    assert set(found["rule"]) == {"report.rollup_mismatch"}
    missing = ws45.filter(pl.col("division_code") != ws45["division_code"].unique().sort()[1])
    found = aggregates.rollup_findings(_typed(missing), "procedure_report")
    assert set(found["rule"]) == {"report.rollup_incomplete"}


def _typed(text: pl.DataFrame) -> pl.DataFrame:
    from fpschema import engine

    frame = text.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    return engine.prepare(frame, "procedure_report", REF)


def test_indicator_rules_and_targets_as_configuration(tmp_path):
    frame, _ = generator.generate("indicator_report", 400, seed=6, reference_date=REF)
    assert fpschema.validate(frame, "indicator_report", reference_date=REF).ok
    assert not fpschema.validate(frame, "indicator_report", reference_date=REF).counts["by_rule"]
    stricter = aggregates.load_targets()
    stricter["version"] = "test-province-2023"
    for goal in stricter["targets"].values():
        goal["value"] = 99.99 if goal["value"] <= 100 else goal["value"] * 10
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(stricter, ensure_ascii=False), encoding="utf-8")
    report = fpschema.validate(frame, "indicator_report", reference_date=REF, targets=path)
    assert report.ok, "missing a target is a warning, never an error"
    assert report.counts["by_rule"]["indicator.below_target"] > 100
    bad = dict(stricter, targets={"no_such_indicator": {"op": ">=", "value": 1}})
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError):
        fpschema.validate(frame, "indicator_report", reference_date=REF, targets=path)


def test_explanations_mark_warnings_explained(tmp_path):
    frame, manifest = generator.generate("indicator_report", 300, seed=7, defects=["indicator.below_target"],
                                         defect_rate=0.1, reference_date=REF)
    rows = manifest["index"].to_list()
    explained = frame.with_columns(pl.when(pl.int_range(pl.len()).is_in(rows[:5])).then(pl.lit("新建机构，数据属实"))
                                   .alias("explanation"))
    report = fpschema.validate(explained, "indicator_report", reference_date=REF)
    notes = report.extras["explanations"]
    assert notes["warnings"] == len(rows) and notes["explained"] == 5 and notes["unexplained"] == len(rows) - 5
    side = pl.DataFrame({"division_code": frame["division_code"].gather(rows[5:8]),
                         "rule": ["indicator.below_target"] * 3, "explanation": ["已核实"] * 3})
    report = fpschema.validate(explained, "indicator_report", reference_date=REF, explanations=side)
    assert report.extras["explanations"]["explained"] >= 8


def test_dashboard_in_the_html_report():
    frame, _ = generator.generate("indicator_report", 200, seed=8, defects=["indicator.below_target"],
                                  defect_rate=0.2, reference_date=REF)
    report = fpschema.validate(frame, "indicator_report", reference_date=REF)
    board = report.extras["dashboard"]
    assert board and all(d["divisions"] == sorted(d["divisions"], key=lambda x: -x["value"]) for d in board)
    assert any(x["missed"] for d in board for x in d["divisions"])
    html = report.to_html()
    assert 'class="dashboard"' in html and "目标" in html and "stroke-dasharray" in html


def test_cli_reconciles_with_records(tmp_path):
    parts, _ = linked.report_set(seed=5, defects=True)
    ws45 = writer.write(parts["procedure_report"], tmp_path / "ws45.csv", "procedure_report", office=True)
    services = writer.write(parts["service_record"], tmp_path / "services.csv", "service_record")
    done = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(ws45), "--kind", "procedure_report",
                           "--records", str(services), "--reference-date", str(REF)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 1, done.stderr
    assert "与个案记录核对" in done.stdout and "report.reconcile_mismatch" in done.stdout
