"""``fpschema validate``, ``generate`` and ``score`` as real processes on real files; bad input gets a
coded message and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from fpschema.io import writer
from fpschema.testdata import generator

from .conftest import REF, ROOT

KIND = "service_record"


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fpschema", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    frame, manifest = generator.generate(KIND, 400, seed=8, defects="all", defect_rate=0.3, reference_date=REF)
    path = writer.write(frame, folder / "data.csv", KIND, office=True, encoding="gb18030")
    clean = writer.write(frame.head(0).vstack(generator.generate(KIND, 50, seed=9)[0]), folder / "clean.csv", KIND)
    return folder, path, clean


def test_text_summary_in_chinese_and_exit_1(sample):
    _, path, _ = sample
    done = run("validate", path, "--reference-date", REF)
    assert done.returncode == 1, done.stderr
    assert "共 400 行" in done.stdout and "问题汇总" in done.stdout and "身份证号校验码错误" in done.stdout
    assert "Traceback" not in done.stderr


def test_english_and_clean_file_exit_0(sample):
    _, _, clean = sample
    done = run("validate", clean, "--lang", "en", "--reference-date", REF)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "50 rows: 50 valid, 0 invalid" in done.stdout


def test_batches_of_a_gb18030_file_with_its_encoding_named_give_the_whole_file_findings(tmp_path):
    frame, _ = generator.generate(KIND, 3000, seed=12, defects="all", defect_rate=0.2, reference_date=REF)
    path = writer.write(frame, tmp_path / "big.csv", KIND, encoding="gb18030")
    reports = {}
    for name, extra in (("whole", []), ("batched", ["--batch-rows", "1000", "--kind", KIND])):
        out = tmp_path / f"{name}.json"
        done = run("validate", path, "--encoding", "gbk", "--format", "json", "--output", out, "--reference-date",
                   REF, *extra)
        assert done.returncode == 1, done.stderr
        reports[name] = json.loads(out.read_text(encoding="utf-8"))
    assert reports["batched"]["source"].pop("batch_rows") == 1000
    assert reports["batched"] == reports["whole"] and reports["whole"]["source"]["encoding"] == "gb18030"
    assert reports["whole"]["rows_total"] == 3000 and reports["whole"]["findings"]


@pytest.mark.parametrize("fmt", ["json", "csv", "html", "junit"])
def test_report_formats_to_files(sample, tmp_path, fmt):
    _, path, _ = sample
    out = tmp_path / f"report.{fmt}"
    done = run("validate", path, "--format", fmt, "--output", out, "--max-findings", "10", "--reference-date", REF)
    assert done.returncode == 1 and out.is_file(), done.stderr
    text = out.read_text(encoding="utf-8-sig")
    if fmt == "json":
        doc = json.loads(text)
        assert doc["rows_total"] == 400 and doc["truncated"] and len(doc["findings"]) == 10
        assert doc["source"]["encoding"] == "gb18030"
    elif fmt == "csv":
        assert text.splitlines()[0] == "row,column,rule,severity,value,message"
    elif fmt == "html":
        assert "<svg" in text and "https://" not in text
    else:
        assert text.startswith("<?xml") and "<testsuite" in text


def test_several_files_quarantine_and_scoring(sample, tmp_path):
    folder, path, clean = sample
    reports = tmp_path / "reports"
    done = run("validate", path, clean, "--format", "json", "--output", reports, "--valid-out", tmp_path / "ok",
               "--invalid-out", tmp_path / "bad", "--reference-date", REF)
    assert done.returncode == 1, done.stderr
    assert (reports / "data.json").is_file() and (reports / "clean.json").is_file()
    assert (tmp_path / "bad" / "data.invalid.csv").is_file() and (tmp_path / "ok" / "clean.valid.csv").is_file()
    truth = path.with_name(path.name + ".manifest.csv")
    _, manifest = generator.generate(KIND, 400, seed=8, defects="all", defect_rate=0.3, reference_date=REF)
    writer.manifest_rows(manifest, "csv", True).write_csv(truth)
    scored = run("score", "--truth", truth, "--findings", reports / "data.json", "--format", "json")
    assert scored.returncode == 0, scored.stderr
    overall = [r for r in json.loads(scored.stdout) if r["rule"] == "overall"][0]
    assert overall["precision"] == overall["recall"] == 1.0


def _bad_inputs(folder):
    good = "服务站编号,身份证号,性别,生育状况,服务日期,市(区)代码\n"
    files = {
        "empty.csv": b"",
        "blank.csv": b"   \n\n",
        "garbage.csv": bytes(range(256)) * 64,
        "ragged.csv": (good + "1,2,3\n").encode(),
        "quote.csv": (good + '110105001,"11010519491231002X,2,1,2023-04-19,110105\n').encode(),
        "dup.csv": "服务站编号,服务站编号,性别\n1,2,3\n".encode(),
        "notzip.xlsx": b"this is not a spreadsheet",
        "data.xyz": b"a,b\n1,2\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    gbk = folder / "gbk.csv"
    gbk.write_bytes((good + "110105001,11010519491231002X,2,一孩,2023-04-19,110105\n").encode("gb18030"))
    bomb = folder / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<a>" + b"0" * 300_000_000 + b"</a>")
    entity = folder / "entity.xlsx"
    with zipfile.ZipFile(entity, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                   '<!ENTITY lol2 "&lol;&lol;&lol;">]><worksheet>&lol2;</worksheet>')
    return {
        "empty.csv": "input.empty", "blank.csv": "input.empty", "garbage.csv": "input.binary",
        "ragged.csv": "input.ragged", "quote.csv": "input.unclosed_quote", "dup.csv": "input.duplicate_column",
        "notzip.xlsx": "input.spreadsheet", "data.xyz": "input.format", "bomb.xlsx": "input.zip_bomb",
        "entity.xlsx": "input.xml_entity", "missing.csv": "input.not_found",
    }


def test_bad_input_gets_a_code_and_exit_2(tmp_path):
    expected = _bad_inputs(tmp_path)
    for name, code in expected.items():
        done = run("validate", tmp_path / name, "--kind", KIND)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert code in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr, name
    done = run("validate", tmp_path / "gbk.csv", "--kind", KIND, "--encoding", "utf-8")
    assert done.returncode == 2 and "input.encoding" in done.stderr and "gb18030" in done.stderr.lower()
    assert run("validate", tmp_path / "gbk.csv", "--kind", KIND, "--reference-date", REF).returncode == 0
    done = run("validate", tmp_path, "--kind", KIND)
    assert done.returncode == 2 and "input.is_directory" in done.stderr
    done = run("validate", tmp_path / "gbk.csv", "--kind", "no_such_kind")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_generate_bad_arguments_exit_2(tmp_path):
    for args in (["no_kind", "--rows", "5"], [KIND, "--rows", "-1"], [KIND, "--rows", "5", "--defects", "nope"]):
        done = run("generate", *args, "--output", tmp_path / "x.csv")
        assert done.returncode == 2 and "Traceback" not in done.stderr, args
    done = run("generate", KIND, "--rows", "5", "--output", tmp_path / "missing" / "x.csv")
    assert done.returncode == 2 and "output.not_found" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "missing").exists()
