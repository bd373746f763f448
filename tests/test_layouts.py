"""Layouts of real forms: a file laid out as the 介绍信 (the seed's service form) is judged by what it carries.

The IDs here get their check digits from python-stdnum, an implementation independent of ours."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from stdnum.cn import ric

import fpschema
from fpschema.engine import coverage
from fpschema.engine import validation as engine

from .conftest import REF, ROOT

HEADER = ["计划生育服务站(医院、保健中心)编号", "服务对象的身份证号", "客户的生育状况", "接受避孕服务的原因", "市(区)",
          "乡(镇、街道办事处)", "村", "日期"]


def _id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "?")  # stdnum drops the last character (the check digit)


ROWS = [
    ["330110001", _id("33011019900307122"), "一胎", "分娩后脱环", "余杭区", "塘栖镇", "东风村", "2023-04-19"],
    ["330110001", _id("33010619880512004"), "二胎", "带环怀孕", "杭州市西湖区", "转塘街道", "", "2023/4/20"],
    ["330122002", _id("33012219951101302"), "一胎", "结扎失败", "桐庐县", "分水镇", "新龙村", "2023年5月2日"],
    ["330182003", _id("33018219921230102"), "二胎", "其他避孕措施失败", "浙江省杭州市建德市", "新安江街道", "", "2022-11-30"],
]


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8", header: list[str] = HEADER) -> Path:
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_a_clean_referral_form_passes(tmp_path, encoding):
    report = fpschema.validate(_write(tmp_path / "介绍信.csv", ROWS, encoding), reference_date=REF)
    errors = report.findings_all.filter(pl.col("severity") == "error")
    assert errors.height == 0, errors
    assert report.kind == "service_record" and report.rows_valid == len(ROWS)
    cov = report.to_dict()["coverage"]
    assert cov["layout"] == "referral" and not cov["layout_named"] and cov["columns_missing"] == []
    assert {d["field"] for d in cov["derived"]} == {"sex", "birth_date", "city_code"}
    not_applied = {r["rule"]: r["missing"] for r in cov["rules_not_applied"]}
    assert not_applied["service.reason_needs_iud"] == ["iud_history"]
    assert not_applied["service.reason_needs_sterilisation"] == ["sterilisation_history"]
    assert "service.reason_needs_iud" not in report.counts["by_rule"]
    assert {"id.checksum", "service.age_unusual", "division.name_unknown"} <= set(cov["rules_applied"])


def test_the_cells_still_count(tmp_path):
    bad = [
        ["330110001", _id("33011019900307122")[:-1] + "0", "一胎", "分娩后脱环", "余杭区", "", "", "2023-04-19"],
        ["330110001", _id("33011019900307122"), "四胎", "想换方法", "余杭区", "", "", "2023-02-30"],
        ["330110001", _id("33011019900307122"), "一胎", "分娩后脱环", "不存在区", "", "", "2023-04-19"],
        ["330110001", _id("33011019900307122"), "一胎", "分娩后脱环", "朝阳区", "", "", "2023-04-19"],
        ["330110001", _id("33011019600307122"), "一胎", "分娩后脱环", "余杭区", "", "", "2023-04-19"],
        ["330110001", "", "一胎", "", "余杭区", "", "", "2023-04-19"],
    ]
    report = fpschema.validate(_write(tmp_path / "bad.csv", bad), reference_date=REF)
    got = {(r["row"], r["column"], r["rule"]) for r in report.findings_all.iter_rows(named=True)
           if r["rule"] != "field.date_nonstandard"}
    assert got == {
        (2, "client_id", "id.checksum"),
        (3, "birth_status", "field.code"), (3, "service_reason", "field.code"), (3, "service_date", "field.date"),
        (4, "city_name", "division.name_unknown"),
        (5, "city_name", "division.name_ambiguous"),
        (6, "service_date", "service.age_unusual"),  # a woman of 63, sex and birth date from her ID number
        (7, "client_id", "field.required"), (7, "service_reason", "field.required"),
    }
    listed = report.findings_all.filter(pl.col("rule") == "division.name_ambiguous")["value"].to_list()
    assert listed == ["朝阳区 → 110105（北京市朝阳区）、220104（吉林省长春市朝阳区）"]
    ambiguous = report.to_dict()["coverage"]["ambiguous"]
    assert ambiguous == [{"field": "city_code", "name": "朝阳区", "year": 2023,
                          "candidates": ["110105（北京市朝阳区）", "220104（吉林省长春市朝阳区）"]}]


def test_a_name_is_judged_in_the_service_year(tmp_path):
    # 建德市 since 1992: a 1991 service there names no county of that year
    row = ["330182003", _id("33018219701230102"), "二胎", "其他避孕措施失败", "建德市", "", "", "1991-06-01"]
    report = fpschema.validate(_write(tmp_path / "old.csv", [row]), reference_date=REF)
    assert {(r["row"], r["rule"]) for r in report.findings_all.iter_rows(named=True)} == {
        (2, "division.name_unknown")}


def test_a_file_that_fits_no_layout_gets_one_finding(tmp_path):
    path = _write(tmp_path / "few.csv", [["110105001", _id("11010519900307122")]], header=["服务站编号", "身份证号"])
    report = fpschema.validate(path, "service_record", reference_date=REF)
    assert report.findings_all.height == 1
    finding = report.findings_all.row(0, named=True)
    assert finding["row"] is None and finding["rule"] == "file.missing_column"
    # the nearest layout (the full record: sex comes from the ID), and what the file lacks of it
    assert finding["value"] == "full"
    assert finding["column"].split(",") == ["birth_status", "service_date", "city_code"]
    assert report.rows_invalid == report.rows_total == 1


def test_the_layout_can_be_named(tmp_path):
    path = _write(tmp_path / "介绍信.csv", ROWS)
    named = fpschema.validate(path, reference_date=REF, layout="full")
    cov = named.to_dict()["coverage"]
    assert cov["layout"] == "full" and cov["layout_named"] and cov["columns_missing"] == []
    assert named.ok
    with pytest.raises(fpschema.InputError) as err:
        fpschema.validate(path, reference_date=REF, layout="nonsense")
    assert err.value.code == "input.unknown_layout"


def test_the_plan_prefers_the_layout_a_file_carries():
    full = coverage.plan("service_record", [f.name for f in fpschema.contract.fields("service_record")])
    assert full.layout.name == "full" and full.derived == () and full.missing == ()
    referral = coverage.plan("service_record", ["station_code", "client_id", "birth_status", "service_reason",
                                                "city_name", "service_date"])
    assert referral.layout.name == "referral" and referral.missing == ()
    # a code column and no name: the county code is the file's own, not derived
    coded = coverage.plan("service_record", ["station_code", "client_id", "sex", "birth_status", "service_date",
                                             "city_code"])
    assert coded.layout.name == "full" and [d.field for d in coded.derived] == ["birth_date"]


def test_every_renderer_shows_the_coverage(tmp_path):
    path = _write(tmp_path / "介绍信.csv", ROWS)
    report = fpschema.validate(path, reference_date=REF)
    assert "版式：介绍信（由表头判断）" in report.to_csv()
    assert "“分娩后脱环”“带环怀孕”须有宫内节育器史" in report.to_csv()
    assert 'id="coverage"' in report.to_html() and "版式：介绍信" in report.to_html()
    junit = report.to_junit()
    assert '<skipped message="未执行的规则：“分娩后脱环”“带环怀孕”须有宫内节育器史（缺少：有宫内节育器史）"' in junit
    assert json.loads(report.to_json())["coverage"]["layout"] == "referral"
    english = fpschema.validate(path, reference_date=REF, lang="en")
    assert "Layout: Referral form (介绍信) (found from the header)" in english.to_csv()


def test_cli_names_a_layout_and_prints_the_coverage(tmp_path):
    path = _write(tmp_path / "介绍信.csv", ROWS)
    run = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(path), "--reference-date", "2024-06-30"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "版式：介绍信（由表头判断）" in run.stdout and "推得的字段：性别" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(path), "--layout", "nope"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2


def test_streamed_and_whole_reads_agree_on_a_referral_file(tmp_path):
    path = _write(tmp_path / "介绍信.csv", ROWS * 50 + [["330110001", "x", "一胎", "分娩后脱环", "朝阳区", "", "",
                                                         "2023-04-19"]])
    whole = fpschema.validate(path, reference_date=REF, valid_out=tmp_path / "ok.csv")  # read whole
    streamed = engine.validate_batched(path, "service_record", batch_rows=1000, reference_date=REF)
    assert whole.findings_all.equals(streamed.findings_all)
    assert whole.to_dict()["coverage"] == streamed.to_dict()["coverage"]


def test_the_pandera_adapter_judges_a_referral_frame_as_the_engine_does(tmp_path):
    import pandera.polars as pa

    from fpschema import pandera_schema as ps

    path = _write(tmp_path / "介绍信.csv", ROWS + [["330110001", _id("33011019900307122"), "四胎", "分娩后脱环",
                                                      "不存在区", "", "", "2023-04-19"]])
    table = fpschema.io.reader.read(path)
    mapping = engine.map_headers([c for c in table.frame.columns if c != "__row__"], "service_record")
    text = mapping.text(table.frame)
    prepared = ps.prepare(text, "service_record", REF)
    schema = ps.pandera_schema("service_record", REF, columns=list(mapping.columns))
    with pytest.raises(pa.errors.SchemaErrors) as err:
        schema.validate(prepared, lazy=True)
    cases = err.value.failure_cases
    got = {(int(i), c.split("|")[0]) for i, c in zip(cases["index"], cases["check"], strict=True) if i is not None}
    engine_found = {(r - 2, u) for r, u in fpschema.validate(path, reference_date=REF).findings_all
                    .filter(pl.col("row").is_not_null()).select("row", "rule").iter_rows()}
    assert got == engine_found
    assert {(4, "field.code"), (4, "division.name_unknown")} <= got
    assert {u for _, u in got} == {"field.code", "division.name_unknown", "field.date_nonstandard"}
