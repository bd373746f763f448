"""The command line, run as a real process on real files."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT

SAMPLE = ROOT / "fixtures" / "service_records_sample.jsonl"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fpschema", *args], cwd=cwd, capture_output=True, text=True)


def test_help_is_chinese_then_english():
    out = run("--help").stdout
    assert out.index("计划生育") < out.index("family-planning")
    assert "check-records" in out


def test_check_records_reports_in_chinese_with_masked_ids_and_exit_1():
    done = run("check-records", "service_record", str(SAMPLE), "--reference-date", "2024-06-30")
    assert done.returncode == 1
    assert "身份证号校验码错误" in done.stdout and "共 8 条记录" in done.stdout
    assert "110105********" in done.stdout
    assert "11010519880511" not in done.stdout  # the unmasked number of record 2


def test_json_output_english_and_unmask():
    done = run("check-records", "service_record", str(SAMPLE), "--format", "json", "--lang", "en", "--unmask",
               "--reference-date", "2024-06-30")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["records"] == 8 and report["records_invalid"] == 6
    rules = {(f["record"], f["rule"]) for f in report["findings"]}
    assert {(2, "id.checksum"), (3, "id.excel_scientific"), (4, "service.sex_mismatch"),
            (6, "id.legacy_15"), (7, "date.future")} <= rules
    assert any(str(f["value"]).startswith("1101051988") for f in report["findings"])


def test_clean_file_exits_0(tmp_path):
    from fpschema import contract

    path = tmp_path / "clean.json"
    path.write_text(json.dumps(contract.schema("service_record")["examples"], ensure_ascii=False), encoding="utf-8")
    done = run("check-records", "service_record", str(path), "--reference-date", "2024-06-30")
    assert done.returncode == 0, done.stdout


def test_bad_input_exits_2_with_a_coded_message(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    binary = tmp_path / "garbage.jsonl"
    binary.write_bytes(bytes(range(256)) * 4)
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1', encoding="utf-8")
    gbk = tmp_path / "gbk.json"
    gbk.write_bytes('{"client_name": "王秀英"}'.encode("gb18030"))
    cases = {
        str(tmp_path / "missing.jsonl"): "input.not_found",
        str(tmp_path): "input.not_found",
        str(empty): "input.empty",
        str(binary): "input.encoding",
        str(broken): "input.json",
        str(gbk): "input.encoding",
    }
    for path, code in cases.items():
        done = run("check-records", "service_record", path)
        assert done.returncode == 2, path
        assert code in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = run("check-records", "no_such_kind", str(SAMPLE))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_kinds_schema_and_rules_commands():
    assert "service_record\t避孕节育服务记录" in run("kinds").stdout
    schema = json.loads(run("schema", "staff").stdout)
    assert schema["$id"].endswith("/staff.json")
    assert "id.checksum\terror\tThe ID number's check digit is wrong" in run("rules", "--lang", "en").stdout
