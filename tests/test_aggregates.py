"""Aggregate reports: each report-level rule on a generated report that agrees with its records and on one
with the defect injected; targets as configuration; explanations; the dashboard; the CLI with --records."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

import fpschema
from fpschema.io import writer
from fpschema.rules import aggregates
from fpschema.testdata import generator, linked, scorer

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
    from fpschema.engine import validation as engine

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


# --- "of which" columns, repeated keys, the rural free-service list (issue 15) --------------------------------

def _ws45(**counts) -> dict:
    """The contract's example 卫统45表 row with some counts changed (the total kept the sum of the procedures)."""
    from fpschema import contract

    row = dict(contract.schema("procedure_report")["examples"][0], vas_reanastomosis=0, **counts)  # no sentinel
    procedures, _, total = aggregates.procedure_columns()
    parts = [row[c] for c in procedures.values() if c not in aggregates.subset_columns() and row[c] >= 0]
    return {**row, total: sum(parts)}


def _rules(rows: list[dict], kind: str = "procedure_report") -> set[tuple[int, str, str]]:
    report = fpschema.validate(rows, kind, reference_date=REF)
    return {(r["row"], r["column"], r["rule"]) for r in report.findings_all.iter_rows(named=True)}


def test_anaesthesia_abortion_is_part_of_vacuum_aspiration_and_dc_not_of_the_total():
    assert aggregates.subset_columns() == {"anaesthesia_abortion": ("vacuum_aspiration", "dilation_curettage")}
    row = _ws45(anaesthesia_abortion=150)  # 150 of the 210 + 12 abortions under anaesthesia
    assert fpschema.validate_record(row, "procedure_report", reference_date=REF) == []
    assert _rules([row]) == set()
    # the old reading, 麻醉流产 added to the total, is now a wrong total
    assert _rules([dict(row, total_services=row["total_services"] + 150)]) == {
        (0, "total_services", "report.total_mismatch")}
    assert _rules([_ws45(anaesthesia_abortion=210 + 12)]) == set()  # all of them: still lawful


def test_anaesthesia_abortion_above_its_parts_is_flagged():
    row = _ws45(anaesthesia_abortion=210 + 12 + 1)
    assert _rules([row]) == {(0, "anaesthesia_abortion", "report.subset_exceeds")}
    # a part that is a sentinel (-1: not collected) cannot be compared
    assert _rules([_ws45(anaesthesia_abortion=500, dilation_curettage=-1)]) == set()


def test_a_repeated_key_is_flagged_on_each_of_its_rows():
    row = _ws45(anaesthesia_abortion=10)
    other = dict(_ws45(iud_insertion=100), division_code="110106", division_name="丰台区")
    rows = [row, other, _ws45(iud_insertion=90), dict(row, report_year=2022)]  # rows 0 and 2 repeat 110105 2023
    assert _rules(rows) == {(0, "division_code", "report.duplicate_key"), (2, "division_code", "report.duplicate_key")}
    indicator = dict(fpschema.schema("indicator_report")["examples"][0])
    other = dict(indicator, indicator="informed_choice", unit="%")
    assert _rules([indicator, other, indicator], "indicator_report") >= {
        (0, "division_code", "report.duplicate_key"), (2, "division_code", "report.duplicate_key")}
    assert not {r for r in _rules([indicator, other], "indicator_report") if r[2] == "report.duplicate_key"}
    # a key whose division code is not a code is not compared (field.pattern says what is wrong)
    bad = [dict(row, division_code="1101"), dict(row, division_code="1101")]
    assert {r[2] for r in _rules(bad)} == {"field.pattern"}


def test_rural_fee_only_for_the_free_services(tmp_path):
    from fpschema import contract

    record = dict(contract.schema("service_record")["examples"][0], is_rural=True, fee=50)  # 02 取出宫内节育器
    assert [f.rule for f in fpschema.validate_record(record, "service_record", reference_date=REF)] == [
        "service.rural_fee"]
    woman = {k: v for k, v in record.items() if k not in ("procedure", "fee")}
    recanalisation = dict(woman, procedure="12", fee=800)  # 输卵管吻合术: not free, lawfully charged
    assert fpschema.validate_record(recanalisation, "service_record", reference_date=REF) == []
    assert fpschema.validate_record(dict(woman, fee=50), "service_record", reference_date=REF) == []  # no procedure
    rows = [record, recanalisation]
    report = fpschema.validate(rows, "service_record", reference_date=REF)
    assert [(r["row"], r["rule"]) for r in report.findings_all.iter_rows(named=True)] == [(0, "service.rural_fee")]
    # a province's list (a file) overrides the contract's: here recanalisation is free too, IUD removal is not
    path = tmp_path / "free.json"
    path.write_text(json.dumps({"version": "某省 2023", "procedure_free_rural": ["01", "11", "12"]}), encoding="utf-8")
    report = fpschema.validate(rows, "service_record", reference_date=REF, free_services=path)
    assert [(r["row"], r["rule"]) for r in report.findings_all.iter_rows(named=True)] == [(1, "service.rural_fee")]
    assert [f.rule for f in fpschema.validate_record(recanalisation, "service_record", reference_date=REF,
                                                     free_services=path)] == ["service.rural_fee"]
    assert fpschema.validate_record(record, "service_record", reference_date=REF, free_services=["01"]) == []
    with pytest.raises(ValueError):
        fpschema.validate(rows, "service_record", reference_date=REF, free_services=["99"])


def test_licence_verification_period_depends_on_the_licence_type():
    from datetime import timedelta

    from fpschema import contract

    example = contract.schema("institution")["examples"][0]
    cases = [("1", 2 * 365, []), ("1", 3 * 365 + 10, ["institution.licence_overdue"]),
             ("2", 300, []), ("2", 400, ["institution.licence_overdue"])]  # 医疗机构执业许可证: yearly
    for licence, days, expected in cases:
        record = dict(example, licence_type=licence, last_verified_date=str(REF - timedelta(days=days)))
        assert [f.rule for f in fpschema.validate_record(record, "institution", reference_date=REF)] == expected
