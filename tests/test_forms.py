"""Verdicts on files the package did not make: the service form (介绍信) as an office types it.

The files of ``fixtures/forms/`` were written by ``tests/forms/make_forms.py`` (no fpschema inside) and, for
the XLSX, by LibreOffice; ``fixtures/forms/README.md`` says what each holds. A clean form gets no error; a
form with hand-chosen defects gets every defect at its row and column, and no other error.
"""

from __future__ import annotations

import ast
import csv
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

import fpschema

from .conftest import REF, ROOT
from .forms import make_forms

FORMS = ROOT / "fixtures" / "forms"
CLEAN = ["介绍信_clean.csv", "介绍信_clean_gb18030.csv", "介绍信_clean.xlsx"]
DEFECTS = [("介绍信_defects.csv", "介绍信_defects.expected.csv"),
           ("介绍信_defects_gb18030.csv", "介绍信_defects.expected.csv"),
           ("介绍信_defects.xlsx", "介绍信_defects.xlsx.expected.csv")]

Finding = tuple[int, str, str]


def expected(name: str) -> set[Finding]:
    with (FORMS / name).open(encoding="utf-8", newline="") as fh:
        return {(int(r["row"]), r["column"], r["rule"]) for r in csv.DictReader(fh)}


def found(report: fpschema.Report, rules: set[str] | None = None, severity: str | None = None) -> set[Finding]:
    f = report.findings_all
    if rules is not None:
        f = f.filter(pl.col("rule").is_in(sorted(rules)))
    if severity is not None:
        f = f.filter(pl.col("severity") == severity)
    return {(row if row is not None else 0, column or "", rule) for row, column, rule in f.select(
        "row", "column", "rule").iter_rows()}


def tally(findings: set[Finding]) -> str:
    """(rule, column): count, and the first rows, for a readable failure message."""
    groups: dict[tuple[str, str], list[int]] = {}
    for row, column, rule in sorted(findings):
        groups.setdefault((rule, column), []).append(row)
    return "; ".join(f"{rule} {column} x{len(rows)} (rows {rows[:5]})" for (rule, column), rows in groups.items())


@pytest.fixture(scope="module")
def reports() -> dict[str, fpschema.Report]:
    names = CLEAN + [d for d, _ in DEFECTS] + ["full_layout.csv"]
    return {name: fpschema.validate(FORMS / name, reference_date=REF) for name in names}


# ------------------------------------------------------------------------------------------ clean forms


@pytest.mark.parametrize("name", CLEAN)
def test_clean_form_has_no_error(reports, name):
    report = reports[name]
    assert report.kind == "service_record"
    assert report.rows_total == 2000
    errors = found(report, severity="error")
    assert not errors, f"{len(errors)} errors on a clean form: {tally(errors)}"


@pytest.mark.parametrize("name", CLEAN)
def test_clean_form_cli_exit_0(name):
    done = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(FORMS / name), "--reference-date",
                           REF.isoformat()], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])


# ------------------------------------------------------------------------------------------ defects


@pytest.mark.parametrize(("name", "manifest"), DEFECTS)
def test_every_defect_at_its_row_and_column(reports, name, manifest):
    want = expected(manifest)
    got = found(reports[name], {rule for _, _, rule in want})
    assert got == want, f"missing: {tally(want - got)} | unexpected: {tally(got - want)}"


@pytest.mark.parametrize(("name", "manifest"), DEFECTS)
def test_no_error_but_the_defects(reports, name, manifest):
    want = expected(manifest)
    defect_rows = {row for row, _, _ in want}
    errors = found(reports[name], severity="error")
    elsewhere = {f for f in errors if f[0] not in defect_rows}
    assert not elsewhere, f"{len(elsewhere)} errors on rows without a defect: {tally(elsewhere)}"
    extra = errors - want - elsewhere
    assert not extra, f"defect rows with a second error: {tally(extra)}"


@pytest.mark.parametrize(("name", "manifest"), DEFECTS)
def test_defect_rows_counted(reports, name, manifest):
    """The rows with an error are the defect rows whose rule is an error (id.normalized and
    division.name_ambiguous are warnings: those rows stay valid)."""
    report = reports[name]
    warnings = {"id.normalized", "division.name_ambiguous"}
    assert report.rows_total == 2000
    assert report.rows_invalid == len({row for row, _, rule in expected(manifest) if rule not in warnings})


# ------------------------------------------------------------------------------------------ full layout


def test_full_layout_typed_by_hand(reports):
    report = reports["full_layout.csv"]
    assert report.kind == "service_record" and report.rows_total == 30
    assert found(report) == expected("full_layout.expected.csv"), tally(found(report))


# ------------------------------------------------------------------------------------------ the fixtures


def test_fixtures_are_what_the_script_writes(shared_data, tmp_path):
    """The committed CSV files come from make_forms.py as it stands (same seed, same bytes)."""
    make_forms.main(tmp_path, xlsx=False)
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (FORMS / path.name).read_bytes(), path.name


def test_fixtures_are_laid_out_as_offices_do():
    clean = (FORMS / "介绍信_clean.csv").read_bytes()
    assert clean.startswith(b"\xef\xbb\xbf") and b"\r\n" in clean
    assert clean[3:].decode("utf-8") == (FORMS / "介绍信_clean_gb18030.csv").read_bytes().decode("gb18030")
    header = clean[3:].decode("utf-8").split("\r\n", 1)[0].split(",")
    assert header == make_forms.HEADERS
    for name in ("介绍信_clean.xlsx", "介绍信_defects.xlsx"):
        rows = CalamineWorkbook.from_path(str(FORMS / name)).get_sheet_by_index(0).to_python(skip_empty_area=False)
        assert rows[0][0] == "计划生育技术服务介绍信登记表" and rows[1][0].startswith("填报单位：")
        assert rows[2] == make_forms.HEADERS and len(rows) == 2000 + 4
        assert rows[-1][:2] == ["合计", 2000.0]
        ids = [r[1] for r in rows[3:-1]]
        numbers = [v for v in ids if not isinstance(v, str)]
        assert len(numbers) == (name == "介绍信_defects.xlsx"), numbers  # one ID cell stored as a number

    tree = ast.parse(Path(make_forms.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] == "fpschema"}, "the forms must not come from fpschema"
