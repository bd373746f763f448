"""ID-number and credit-code vectors from the published test suites of independent validators (tests/vectors/,
README.md says where each came from), run through fpschema's verbs, both validation paths and python-stdnum.

Each vector carries the source's verdict and the verdict judged here (``expected``); where they differ, or where
python-stdnum differs from the judged verdict, the row names an entry of DISAGREEMENTS.md."""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import pytest
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

import fpschema
from fpschema import contract, validate_record
from fpschema.contract import catalogue
from fpschema.reference import divisions, fpr, gb11643, uscc

from .conftest import REF

VECTORS = Path(__file__).parent / "vectors"
# entries whose verdict differs from the source's in the reason only, not in validity
REASON_ONLY = {"D8"}


def _rows(name: str) -> list[dict[str, str]]:
    with open(VECTORS / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _documented() -> set[str]:
    return set(re.findall(r"^## ([A-Z][0-9]+)\b", (VECTORS / "DISAGREEMENTS.md").read_text(encoding="utf-8"), re.M))


def _params(name: str) -> list:
    out = []
    for row in _rows(name):
        marks = []
        if row["needs"].startswith("division:") and not divisions.is_valid(row["needs"].split(":")[1]):
            marks.append(pytest.mark.xfail(reason=f"the division table lacks {row['needs']}", strict=True))
        out.append(pytest.param(row, marks=marks, id=f"{row['source']}-{row['value']}"))
    return out


def _verdict(codes: list[str]) -> str:
    """The verdict of a value's rule codes, in the vectors' notation."""
    errors = sorted(c for c in codes if catalogue.rule(c).severity == "error")
    if errors:
        return "error:" + "+".join(errors)
    return "warning:" + "+".join(sorted(codes)) if codes else "ok"


def _matches(expected: str, got: str) -> bool:
    return not got.startswith("error") if expected == "no-error" else got == expected


def _stdnum(is_valid, value: str) -> str:
    """python-stdnum's verdict; ``crash`` where its ``is_valid`` raises instead of answering (D5, D9)."""
    try:
        return "valid" if is_valid(value) else "invalid"
    except Exception:  # noqa: BLE001 - recorded as such
        return "crash"


def _judged(row: dict[str, str], ours_valid: bool) -> None:
    """The source's verdict agrees with ours, or the row names the documented disagreement."""
    documented = _documented()
    agrees = (row["source_verdict"] == "valid") == ours_valid
    if not row["disagreement"] or row["disagreement"] in REASON_ONLY:
        assert agrees, f"{row['value']}: the source says {row['source_verdict']}; no disagreement is recorded"
    else:
        assert not agrees, f"{row['value']}: marked {row['disagreement']} but agrees with the source"
    assert not row["disagreement"] or row["disagreement"] in documented, row["disagreement"]
    assert not row["stdnum_disagreement"] or row["stdnum_disagreement"] in documented, row["stdnum_disagreement"]


@pytest.mark.parametrize("row", _params("id_numbers.csv"))
def test_id_vector(row):
    value = row["value"]
    code = gb11643.check(value, REF)
    got = _verdict([code] if code else [])
    assert _matches(row["expected"], got), (value, got)
    ours_valid = not got.startswith("error")
    _judged(row, ours_valid)
    # a second implementation: python-stdnum, as recorded; its disagreements with ours are documented
    theirs = _stdnum(ric.is_valid, value)
    assert theirs == row["stdnum"], value
    assert (theirs == ("valid" if ours_valid else "invalid")) or row["stdnum_disagreement"], value
    # the card's own verbs agree with the status
    if fpr.check(value, REF) != "fpr.format":
        assert fpr.is_valid(value, REF) == ours_valid


@pytest.mark.parametrize("row", _params("uscc.csv"))
def test_uscc_vector(row):
    value = row["value"]
    code = uscc.check(value)
    codes = [code] if code else uscc.warnings(value) + (["uscc.normalized"] if uscc.compact(value) != value else [])
    got = _verdict(codes)
    assert _matches(row["expected"], got), (value, got)
    ours_valid = code is None
    assert uscc.is_valid(value) == ours_valid
    _judged(row, ours_valid)
    theirs = _stdnum(stdnum_uscc.is_valid, value)
    assert theirs == row["stdnum"], value
    assert (theirs == ("valid" if ours_valid else "invalid")) or row["stdnum_disagreement"], value


def _paths(kind: str, field: str, records: list[dict]) -> tuple[list[set[str]], list[set[str]]]:
    """The rule codes on ``field`` of each record: record by record (validate_record) and as one frame."""
    one = [{f.rule for f in validate_record(r, kind, reference_date=REF) if f.pointer == f"/{field}"} for r in records]
    frame: list[set[str]] = [set() for _ in records]
    report = fpschema.validate(records, kind, reference_date=REF)
    for row in report.findings_all.filter(report.findings_all["column"] == field).iter_rows(named=True):
        if not row["rule"].startswith("dataset."):
            frame[row["row"]].add(row["rule"])
    return one, frame


def test_id_vectors_in_service_records_agree_on_both_paths():
    """Every ID vector as a service record's 身份证号 (no document type column, as on the seed's form): the same
    rule codes record by record and as a frame, the status's code among them."""
    rows = _rows("id_numbers.csv")
    example = contract.schema("service_record")["examples"][0]
    records = []
    for row in rows:
        record = copy.deepcopy(example)
        record.pop("id_doc_type")
        record["client_id"] = row["value"]
        record["sex"] = gb11643.sex(row["value"]) or "2"
        records.append(record)
    one, frame = _paths("service_record", "client_id", records)
    assert one == frame
    for row, rules in zip(rows, one, strict=True):
        code = gb11643.check(row["value"], REF)
        assert code is None or code in rules, (row["value"], code, rules)
        assert ("id.normalized" in rules) == (gb11643.normalize(row["value"]) != row["value"]), row["value"]
        if not row["needs"] or divisions.is_valid(row["needs"].split(":")[1]):
            got = _verdict(sorted(rules - {"id.normalized"}))
            assert _matches(row["expected"], got), (row["value"], rules)


def test_uscc_vectors_in_institution_records_agree_on_both_paths():
    rows = _rows("uscc.csv")
    example = contract.schema("institution")["examples"][0]
    records = [dict(copy.deepcopy(example), uscc=row["value"]) for row in rows]
    one, frame = _paths("institution", "uscc", records)
    assert one == frame
    for row, rules in zip(rows, one, strict=True):
        if not row["needs"] or divisions.is_valid(row["needs"].split(":")[1]):
            assert _matches(row["expected"], _verdict(sorted(rules))), (row["value"], rules)


def test_every_documented_disagreement_is_used_and_every_source_is_described():
    used = {r[k] for name in ("id_numbers.csv", "uscc.csv") for r in _rows(name)
            for k in ("disagreement", "stdnum_disagreement") if r[k]}
    assert used == _documented()
    readme = (VECTORS / "README.md").read_text(encoding="utf-8")
    sources = {r["source"] for name in ("id_numbers.csv", "uscc.csv") for r in _rows(name)}
    assert all(f"`{s}`" in readme for s in sources), sources
