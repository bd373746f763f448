"""The leak test: no ID number, name or birth date of a corpus in any output, unless ``--unmask``.

The corpus holds personal data where it is expected (the ID, name and birth-date columns) and where it is not: an
ID in another column and in free text (typed with separators), a headerless file (its first data row read as the
header), a duplicated header that is an ID number (an input error), a file named by an ID number, JSON records
giving the ID as a number, a list and an object, and an XLSX workbook. Every output is collected (the library's
four renderers, the CLI's terminal summary, report files and error messages, ``check-records``, ``validate_record``,
and a real service's answers and log on loopback) and searched for every full ID number, the ID's region with its
eight birth digits, every name and every birth date. With ``--unmask`` / ``unmask=True`` they must be found,
so the search can fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import fpschema
from fpschema import validate_record
from fpschema.contract import mask
from fpschema.testdata import generator

from .conftest import REF
from .test_service import live_server

NAMES = ["欧阳秀英", "司徒春梅", "上官冬梅", "诸葛兰芳", "慕容红霞", "端木桂英"]
LONG_NAME = 60  # characters: over the contract's maxLength of a name (a finding whose value is the name)
FORMATS = ("json", "csv", "html", "junit")
KINDS = {"main": "service_record", "xlsx": "service_record", "headerless": "service_record",
         "duplicate": "service_record", "records": "service_record", "indicators": "indicator_report"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """The files, records and the secrets (texts that must not be shown) of the corpus."""
    folder = tmp_path_factory.mktemp("leaks")
    frame, _ = generator.generate("service_record", len(NAMES), seed=7, reference_date=REF)
    frame = frame.with_columns(pl.Series("client_name", NAMES))
    ids, births = frame["client_id"].to_list(), frame["birth_date"].to_list()
    rows = frame.to_dicts()
    bad_checksum = ids[1][:-1] + ("0" if ids[1][-1] != "0" else "1")
    rows[0]["birth_status"] = "9"  # a failing row: the sample rows show its name and birth date beside the ID
    rows[1]["client_id"] = bad_checksum
    rows[2]["village_code"] = ids[3]  # an ID in another column (a finding's value)
    rows[2]["issuing_office"] = f"核实：{ids[4][:6]} {ids[4][6:14]} {ids[4][14:]}"  # in free text, with spaces
    rows[4]["client_name"] = NAMES[4] + "娜" * LONG_NAME
    rows[5]["birth_date"] = births[5].replace("-", "")  # compact: a warning whose value is the birth date
    for r in rows:
        r["备注"] = f"同户：{ids[0]}"  # a column the contract does not know
    main = pl.DataFrame(rows)
    paths = {"main": folder / "main.csv", "xlsx": folder / f"{ids[2]}.xlsx", "headerless": folder / "headerless.csv",
             "duplicate": folder / f"{ids[5]}.csv", "records": folder / "records.json"}
    main.write_csv(paths["main"])
    main.write_excel(paths["xlsx"])
    main.select("station_code", "client_id", "client_name", "birth_date", "service_date", "备注").write_csv(
        paths["headerless"], include_header=False)
    paths["duplicate"].write_text(f"{ids[0]},{ids[0]},{NAMES[0]}\n1,2,3\n", encoding="utf-8")
    numeric = next(i for i in ids if i[-1] != "X")
    records = [
        {"client_id": int(numeric), "client_name": NAMES[0], "birth_date": births[0]},
        {"client_id": [ids[1]], "client_name": NAMES[1], "birth_date": int(births[1].replace("-", ""))},
        {"client_id": {"number": ids[2]}, "client_name": [NAMES[2]], "birth_date": births[2]},
        {"village_code": ids[3], ids[4]: NAMES[4]},  # an ID as a key (an unknown field)
    ]
    paths["records"].write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    indicators, _ = generator.generate("indicator_report", 30, seed=3, defects="all", defect_rate=0.6)
    paths["indicators"] = folder / "indicators.csv"  # 核实说明 (explanations) naming a person by ID number
    indicators.with_columns(pl.lit(f"已核实，见 {ids[0][:6]}-{ids[0][6:]} 的记录").alias("explanation")).write_csv(
        paths["indicators"])
    secrets = {*ids, bad_checksum, *(i[:14] for i in ids), *NAMES, *births, *(b.replace("-", "") for b in births)}
    return {"paths": paths, "records": records, "secrets": secrets, "ids": ids, "names": NAMES, "births": births}


def leaks(text: str, secrets: set[str]) -> set[str]:
    return {s for s in secrets if s in text}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpschema", *args], capture_output=True, text=True, timeout=300,
                          env={"COLUMNS": "400", "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8",
                               "PYTHONPATH": str(Path(fpschema.__file__).parent.parent)})


def library_outputs(paths: dict, unmask: bool = False) -> dict[str, str]:
    out = {}
    for name, kind in KINDS.items():
        try:
            report = fpschema.validate(paths[name], kind, reference_date=REF, unmask=unmask)
        except fpschema.InputError as err:  # every error message, in both languages, and its details
            out[f"{name}.error"] = json.dumps([err.to_dict(lang) for lang in ("zh", "en")], ensure_ascii=False)
            out[f"{name}.error"] += str(err) + err.message("zh") + err.message("en")
            continue
        for fmt in FORMATS:
            out[f"{name}.{fmt}"] = {"json": report.to_json, "csv": report.to_csv, "html": report.to_html,
                                   "junit": report.to_junit}[fmt]()
    return out


def test_mask_text_and_its_column_form_agree():
    texts = ["核实：身份证 110105 19491231 002X", "110105491231002", "１１０１０５１９４９１２３１００２Ｘ", "1101-0519-4912-3100-2x",
             "USA110079051801", "2023-04-19", "13800138000", "统一社会信用代码 911101087461045138", None, ""]
    expected = [mask.mask_text(t) for t in texts]
    assert pl.select(mask.mask_text_expr(pl.Series(texts, dtype=pl.Utf8))).to_series().to_list() == expected
    assert expected[:5] == ["核实：身份证 110105********002X", "110105******002", "１１０１０５********００２Ｘ",
                            "1101-05********00-2x", "USA11******1801"]
    assert expected[5:8] == texts[5:8]  # a date, a phone number, a credit code are not ID numbers


def test_the_contract_names_the_personal_fields():
    assert mask.personal_fields("service_record") == {"client_id": "id", "client_name": "name",
                                                      "birth_date": "birth_date"}
    assert mask.personal_fields("staff") == {"staff_name": "name", "id_number": "id"}


def test_library_renderers_leak_nothing(corpus):
    outputs = library_outputs(corpus["paths"])
    found = {k: leaks(v, corpus["secrets"]) for k, v in outputs.items()}
    assert not any(found.values()), {k: v for k, v in found.items() if v}
    html = outputs["main.html"]
    assert "欧***" in html and "****-**-**" in html  # the sample rows show the masked name and birth date


def test_library_unmask_shows_everything(corpus):
    outputs = library_outputs(corpus["paths"], unmask=True)
    text = "\n".join(outputs.values())
    ids, names, births = corpus["ids"], corpus["names"], corpus["births"]
    assert {ids[0], ids[3], names[0], births[0]} <= leaks(text, corpus["secrets"])
    assert ids[4][6:14] in outputs["main.html"]  # the ID in free text (a sample row), shown as typed
    assert ids[0][6:] in outputs["indicators.json"]  # in an explanation


def test_validate_record_masks_every_json_type(corpus):
    found = [f for r in corpus["records"] for f in validate_record(r, "service_record", reference_date=REF)]
    shown = json.dumps([f.to_dict() for f in found], ensure_ascii=False)
    assert not leaks(shown, corpus["secrets"]), leaks(shown, corpus["secrets"])
    found = [f for r in corpus["records"] for f in validate_record(r, "service_record", reference_date=REF,
                                                                     unmask=True)]
    shown = json.dumps([f.to_dict() for f in found], ensure_ascii=False, default=str)
    assert corpus["ids"][3] in shown and corpus["ids"][4] in shown


def test_cli_outputs_and_errors_leak_nothing(corpus, tmp_path):
    paths, secrets = corpus["paths"], corpus["secrets"]
    texts = {}
    for name, kind in KINDS.items():
        run = cli("validate", str(paths[name]), "--kind", kind, "--reference-date", REF.isoformat())
        texts[f"{name}.terminal"] = run.stdout + run.stderr
        for fmt in FORMATS:
            target = tmp_path / f"{name}.{fmt}"
            run = cli("validate", str(paths[name]), "--kind", kind, "--format", fmt, "--output",
                      str(target), "--reference-date", REF.isoformat())
            texts[f"{name}.{fmt}"] = run.stdout + run.stderr + (target.read_text("utf-8") if target.exists() else "")
    run = cli("validate", str(paths["main"]), str(paths["xlsx"]), "--kind", "service_record", "--format", "json",
              "--output", str(tmp_path / "several"), "--reference-date", REF.isoformat())
    texts["several"] = run.stdout + run.stderr  # "report written: <folder>/<the xlsx's stem, an ID>.json"
    assert "input.duplicate_column" in texts["duplicate.terminal"]
    for fmt in ("text", "json"):
        run = cli("check-records", "service_record", str(paths["records"]), "--format", fmt,
                  "--reference-date", REF.isoformat())
        texts[f"check-records.{fmt}"] = run.stdout + run.stderr
    found = {k: leaks(v, secrets) for k, v in texts.items()}
    assert not any(found.values()), {k: v for k, v in found.items() if v}

    run = cli("validate", str(paths["main"]), "--kind", "service_record", "--format", "html", "--unmask",
              "--reference-date", REF.isoformat())
    assert {corpus["ids"][0], corpus["names"][0], corpus["births"][0]} <= leaks(run.stdout, secrets)
    run = cli("check-records", "service_record", str(paths["records"]), "--format", "json", "--unmask",
              "--reference-date", REF.isoformat())
    assert corpus["ids"][3] in run.stdout and corpus["ids"][4] in run.stdout
    run = cli("validate", str(paths["duplicate"]), "--kind", "service_record", "--unmask")
    assert corpus["ids"][0] in run.stderr


def test_service_answers_and_log_leak_nothing(corpus, tmp_path):
    paths, secrets = corpus["paths"], corpus["secrets"]
    answers = {}
    with live_server(tmp_path / "server", reference_date=REF.isoformat()) as live, live.client() as client:
        for name, kind in KINDS.items():
            for fmt in ("json", "html", "csv"):
                response = client.post("/v1/validate", params={"kind": kind, "format": fmt},
                                       files={"file": (paths[name].name, paths[name].read_bytes())})
                answers[f"{name}.{fmt}"] = f"{response.status_code} {response.headers} {response.text}"
        response = client.post("/v1/validate", params={"kind": "service_record"}, json=corpus["records"])
        answers["records.body"] = response.text
        assert response.status_code == 200
        assert answers["duplicate.json"].startswith("400")
        answers["page"] = client.get("/").text
        answers["not found"] = client.get(f"/v1/schemas/{corpus['ids'][0]}").text
        log = live.log_text()
    found = {k: leaks(v, secrets) for k, v in {**answers, "log": log}.items()}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_error_details_are_masked_unless_asked():
    err = fpschema.InputError("input.duplicate_column", column="11010519491231002X")
    shown = [err.message("zh"), err.message("en"), str(err), json.dumps(err.to_dict(), ensure_ascii=False)]
    assert not any("19491231" in s for s in shown) and all("110105********002X" in s for s in shown)
    assert "****-**-**" in fpschema.InputError("input.duplicate_column", column="1949-12-31").message()
    assert "11010519491231002X" in err.message("zh", unmask=True)
    assert fpschema.InputError("input.duplicate_column", column="备注").message() == "表头重复：备注"


def test_values_with_nothing_to_hide_keep_their_json_type():
    found = validate_record({"client_id": 11010519491231002, "birth_status": 9}, "service_record",
                            reference_date=REF)
    values = {f.pointer: f.value for f in found}
    assert values["/birth_status"] == 9  # a code given as a number stays a number
    assert values["/client_id"] == "110105*******1002"  # an ID given as a number: its masked text
