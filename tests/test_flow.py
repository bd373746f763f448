"""The README's flow (generate, validate, score) with defaults only scores 1.0 on any day: the reference date the
generator dated its defects against travels in the manifest's sidecar, validate takes it from there, every
report says which reference date it used and where it came from, and score warns when the two differ."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date

import numpy as np
import polars as pl
import pytest

import fpschema
from fpschema.engine import validation as engine
from fpschema.io import truth
from fpschema.testdata import generator, primitives

from .conftest import ROOT


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "fpschema", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)


def _scores(truth_csv, report) -> tuple[dict[str, dict], str]:
    done = run("score", "--truth", truth_csv, "--findings", report, "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["rule"]: r for r in json.loads(done.stdout)}, done.stderr


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """The README's three commands, defaults only (no --reference-date), on 20,000 rows with every defect."""
    folder = tmp_path_factory.mktemp("flow")
    data = folder / "services.csv"
    done = run("generate", "service_record", "--rows", 20_000, "--seed", 1, "--defects", "all", "--defect-rate",
               0.05, "--output", data)
    assert done.returncode == 0, done.stderr
    done = run("validate", data, "--format", "json", "--output", folder / "report.json")
    assert done.returncode == 1, done.stderr
    return data, folder / "report.json", done.stdout


def test_readme_flow_scores_one_for_every_rule(flow):
    data, report, _ = flow
    scores, stderr = _scores(truth.csv_path(data), report)
    assert set(scores) == {*generator.defect_codes("service_record"), "overall"}
    wrong = {rule: (s["precision"], s["recall"]) for rule, s in scores.items()
             if (s["precision"], s["recall"]) != (1.0, 1.0)}
    assert not wrong
    assert scores["overall"]["tp"] > 1000 and "score.reference_date" not in stderr


def test_the_manifest_records_how_the_file_was_made(flow):
    data, report, summary = flow
    side = json.loads(truth.json_path(data).read_text(encoding="utf-8"))
    assert side == {"fpschema_version": fpschema.__version__, "kind": "service_record", "layout": "full",
                    "rows": 20_000, "seed": 1,
                    "defects": "all", "defect_rate": 0.05, "findings_expected": side["findings_expected"],
                    "reference_date": generator.DEFAULT_REFERENCE.isoformat(), "format": "csv", "encoding": "utf-8",
                    "office": False, "first_data_row": 2, "profile": None}
    assert side["findings_expected"] == pl.read_csv(truth.csv_path(data)).height
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert (doc["reference_date"], doc["reference_date_source"]) == ("2024-06-30", "manifest")
    assert "参考日 2024-06-30（取自缺陷清单 services.csv.manifest.json）" in summary


@pytest.fixture(scope="module")
def referral_flow(tmp_path_factory):
    """The README's flow for the form offices fill in (the 介绍信): ``generate --layout referral``, then validate and
    score with defaults only; the layout is found from the header."""
    folder = tmp_path_factory.mktemp("referral")
    data = folder / "介绍信.csv"
    done = run("generate", "service_record", "--rows", 20_000, "--seed", 1, "--defects", "all", "--defect-rate",
               0.05, "--layout", "referral", "--output", data)
    assert done.returncode == 0, done.stderr
    done = run("validate", data, "--format", "json", "--output", folder / "report.json")
    assert done.returncode == 1, done.stderr
    return data, folder / "report.json"


def test_readme_flow_in_the_referral_layout_scores_one_for_every_rule(referral_flow):
    data, report = referral_flow
    assert pl.read_csv(data, n_rows=1, infer_schema=False).columns == [
        "station_code", "client_id", "birth_status", "service_reason", "city_name", "township_name", "village_name",
        "service_date"]
    scores, stderr = _scores(truth.csv_path(data), report)
    assert set(scores) == {*generator.defect_codes("service_record", "referral"), "overall"}
    assert {"division.name_unknown", "division.name_ambiguous"} <= set(scores)
    wrong = {rule: (s["precision"], s["recall"]) for rule, s in scores.items()
             if (s["precision"], s["recall"]) != (1.0, 1.0)}
    assert not wrong
    assert scores["overall"]["tp"] > 800 and "score.reference_date" not in stderr
    assert truth.read(data)["layout"] == "referral"
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["coverage"]["layout"] == "referral" and doc["reference_date_source"] == "manifest"


def test_generate_refuses_a_layout_the_kind_has_not_and_defects_its_layout_cannot_show(tmp_path):
    done = run("generate", "institution", "--rows", 10, "--layout", "referral", "--output", tmp_path / "i.csv")
    assert done.returncode == 2 and "[generate.layout]" in done.stderr and "full" in done.stderr
    done = run("generate", "service_record", "--rows", 10, "--layout", "referral", "--defects",
               "service.sex_mismatch", "--output", tmp_path / "s.csv")
    assert done.returncode == 2 and "[generate.defect]" in done.stderr and "service.sex_mismatch" in done.stderr


def test_validate_says_which_reference_date_it_used(tmp_path):
    data = tmp_path / "s.csv"
    assert run("generate", "service_record", "--rows", 300, "--seed", 2, "--defects", "all", "--output",
               data).returncode == 0
    english = run("validate", data, "--lang", "en").stdout
    assert "reference date 2024-06-30 (from the manifest s.csv.manifest.json)" in english
    given = run("validate", data, "--reference-date", "2030-01-01", "--format", "json")
    assert json.loads(given.stdout)["reference_date_source"] == "option"
    assert json.loads(given.stdout)["reference_date"] == "2030-01-01"
    bare = tmp_path / "bare" / "s.csv"  # the same data without its manifest: today
    bare.parent.mkdir()
    shutil.copy(data, bare)
    doc = json.loads(run("validate", bare, "--format", "json").stdout)
    assert (doc["reference_date"], doc["reference_date_source"]) == (date.today().isoformat(), "today")
    assert f"参考日 {date.today()}（今天" in run("validate", bare).stdout
    batched = json.loads(run("validate", data, "--kind", "service_record", "--batch-rows", 1000, "--format",
                             "json").stdout)
    assert (batched["reference_date"], batched["reference_date_source"]) == ("2024-06-30", "manifest")


def test_score_warns_when_the_report_used_another_day(tmp_path):
    data = tmp_path / "s.csv"
    assert run("generate", "service_record", "--rows", 2000, "--seed", 3, "--defects", "all", "--output",
               data).returncode == 0
    report = tmp_path / "r.json"
    run("validate", data, "--reference-date", "2030-01-01", "--format", "json", "--output", report)
    scores, stderr = _scores(truth.csv_path(data), report)
    assert scores["date.future"]["recall"] == 0.0  # the defect the warning is about
    assert "警告 [score.reference_date]" in stderr and "2030-01-01" in stderr and "2024-06-30" in stderr
    assert stderr.index("警告") < stderr.index("warning")
    # another validator's findings that do not say: a note naming the manifest's date
    csv_findings = tmp_path / "other.csv"
    pl.read_csv(truth.csv_path(data)).write_csv(csv_findings)
    scores, stderr = _scores(truth.csv_path(data), csv_findings)
    assert scores["overall"]["recall"] == 1.0
    assert "提示 [score.reference_date]" in stderr and "2024-06-30" in stderr


def test_generate_reference_date_moves_the_defects_and_the_clean_data(tmp_path):
    for kind in ("service_record", "institution"):
        data = tmp_path / f"{kind}.csv"
        done = run("generate", kind, "--rows", 2000, "--seed", 4, "--defects", "all", "--reference-date",
                   "2031-03-15", "--output", data)
        assert done.returncode == 0, done.stderr
        assert truth.reference_date(data) == date(2031, 3, 15)
        report = tmp_path / f"{kind}.json"
        run("validate", data, "--format", "json", "--output", report)
        scores, _ = _scores(truth.csv_path(data), report)
        assert (scores["overall"]["precision"], scores["overall"]["recall"]) == (1.0, 1.0), kind
    done = run("generate", "service_record", "--rows", 10, "--reference-date", "2023-01-01", "--output",
               tmp_path / "early.csv")
    assert done.returncode == 2 and "[generate.reference_date]" in done.stderr


def test_library_validate_takes_the_manifest_and_an_explicit_date_wins(tmp_path):
    data = tmp_path / "s.csv"
    assert run("generate", "service_record", "--rows", 400, "--seed", 5, "--defects", "all", "--output",
               data).returncode == 0
    report = fpschema.validate(data)
    assert (report.reference_date, report.reference_date_source) == (date(2024, 6, 30), "manifest")
    assert "参考日" in report.to_html() and 'name="reference_date" value="2024-06-30"' in report.to_junit()
    whole = fpschema.validate(data, limits=fpschema.io.reader.Limits(stream_bytes=1 << 40), valid_out=tmp_path / "ok.csv")
    assert (whole.reference_date, whole.reference_date_source) == (date(2024, 6, 30), "manifest")
    assert whole.findings_all.equals(report.findings_all)
    given = fpschema.validate(data, reference_date=date(2030, 1, 1))
    assert (given.reference_date, given.reference_date_source) == (date(2030, 1, 1), "option")
    batched = engine.validate_batched(data, "service_record", batch_rows=1000)
    assert batched.reference_date_source == "manifest"
    frame = pl.read_csv(data, infer_schema=False)
    assert fpschema.validate(frame).reference_date_source == "today"
    truth.json_path(data).write_text("not json", encoding="utf-8")  # a broken sidecar is no sidecar
    assert fpschema.validate(data).reference_date_source == "today"


def test_check_records_takes_the_manifest_too(tmp_path):
    data = tmp_path / "s.jsonl"
    assert run("generate", "service_record", "--rows", 200, "--seed", 6, "--defects", "all", "--format", "jsonl",
               "--output", data).returncode == 0
    doc = json.loads(run("check-records", "service_record", data, "--format", "json").stdout)
    assert (doc["reference_date"], doc["reference_date_source"]) == ("2024-06-30", "manifest")
    assert "date.future" in {f["rule"] for f in doc["findings"]}


def test_generated_people_have_distinct_id_numbers():
    """Random ID bodies collide by chance (some hundred pairs in 300,000 records); a collision next to an injected
    id_conflict or birth-date defect was a false alarm the manifest did not list (24 at 1,000,000 rows)."""
    frame, _ = generator.generate("service_record", 300_000, seed=1)
    assert frame["client_id"].n_unique() == frame.height
    body = 11010519900307012  # sequence 01; the 17th digit (2: a woman) and the sequence's range are kept
    bumped = primitives._distinct(np.array([body, body, body, body + 10], dtype=np.int64))
    assert len(set(bumped)) == 4 and set(bumped % 10) == {2} and all(1 <= b // 10 % 100 <= 98 for b in bumped)
