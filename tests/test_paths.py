"""One verdict on every path: the same records, generated with every defect plus hand-written edge cases, give the
same (record, field, rule) findings through validate_record, validate on a list of dicts, a polars and a pandas
DataFrame, CSV, JSON Lines, JSON, XLSX and Parquet files, the command line's check-records, the pandera adapter and
Spark, for every kind of the contract.

What only one side can express is derived from the catalogue's scope, not listed by hand: rules over several
records (scope ``dataset``: duplicates, one ID with two sexes) and over the whole table (scope ``report``: roll-ups,
the year-on-year change) need the table, so the record paths (validate_record, check-records) are compared on the
other rules, and the pandera adapter (column checks, no aggregations) on all but ``report``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import fpschema
from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.engine import validation as engine
from fpschema.io import reader, writer
from fpschema.testdata import generator

from .conftest import REF, ROOT, spark_session

pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")

ROWS = 120  # generated records per kind (plus the edge cases)
KINDS = contract.kinds()
NEEDS_TABLE = {"dataset": "needs other records of the table (duplicates, one ID with two sexes)",
               "report": "needs the whole table (roll-ups, the year-on-year change, reconciliation)"}
Finding = tuple[int, str, str]  # (record index, field, rule)


# --- the records -------------------------------------------------------------------------------------------


def _generated(kind: str) -> list[dict[str, Any]]:
    """Generated records with every defect, typed as the JSON Lines writer types them."""
    frame, _ = generator.generate(kind, ROWS, seed=17, defects="all", defect_rate=0.4, reference_date=REF)
    fields = contract.field_map(kind)
    return [{k: writer._typed_value(fields[k], v) for k, v in row.items() if v is not None}
            for row in frame.iter_rows(named=True)]


def _edge_values(f: contract.Field) -> list[Any]:
    """Hand-written values a person or a program puts in this field: other spellings, types and damage."""
    if f.fmt == "date":
        return [45035, "45035", 45035.0, "2023/04/19", "2023年4月19日", "20230419", "２０２３-０４-１９",
                "2023-02-30", "2023-04-19 00:00:00", " 2023-04-19 ", "", "19.04.2023"]
    if f.json_type == "integer":
        return ["12", 12.0, " 7 ", "１２", "1e3", "12.5", -3, "两个", ""]
    if f.json_type == "number":
        return ["12.5", 12.5, "0", 0, "1,5", "-1", "NaN", "free"]
    if f.json_type == "boolean":
        return ["是", "否", 1, 0, "true", True, False, "Y", "maybe", "有"]
    if f.json_type == "array":
        return [["01", "02"], ["01", "99"], ["01", "01"], "01、02", '["01","03"]', "[01]", [], ["01", "03", "10"]]
    if f.codetable:
        codes = list(f.codetable.labels)
        label = f.codetable.labels[codes[-1]]
        out: list[Any] = [label, " " + codes[0] + " ", "９", "x"]
        if codes[-1].isdigit() and not codes[-1].startswith("0"):
            out.append(int(codes[-1]))  # the code given as a number
        return out
    if f.check == "gb11643":
        return ["110105199003070026", "11010519900307002x", "11010519900307002５", "1.10105E+17", 110105199003070026,
                "110105199003070000", " 110105199003070026", ""]
    if f.check == "uscc":
        return ["12110105400690139x", "121101054006901398 ", 121101054006901398]
    if f.check == "division":
        return [110105, "１１０１０５", "110105", " 110105", "999999"]
    return ["", "　", "x" * 300, 12345, True]


def _edge_cases(kind: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    """A clean record with one field changed at a time, for every hand-written value of the first two fields of
    each sort (dates, integers, codes, ID numbers...); a record with every optional field left out."""
    out = []
    sorts: dict[tuple, int] = {}
    for f in contract.fields(kind):
        sort = (f.json_type, f.fmt, bool(f.codetable), f.check)
        sorts[sort] = sorts.get(sort, 0) + 1
        if sorts[sort] > 2:
            continue
        for value in _edge_values(f):
            out.append({**base, f.name: value})
    out.append({k: v for k, v in base.items() if contract.field_map(kind)[k].required})
    return out


@pytest.fixture(scope="module", params=KINDS)
def corpus(request) -> tuple[str, list[dict[str, Any]]]:
    kind = request.param
    clean, _ = generator.generate(kind, 1, seed=3, reference_date=REF)
    fields = contract.field_map(kind)
    base = {k: writer._typed_value(fields[k], v) for k, v in clean.row(0, named=True).items() if v is not None}
    return kind, _generated(kind) + _edge_cases(kind, base)


# --- the same records in every form --------------------------------------------------------------------------


def _cell(value: Any) -> str | None:
    """A JSON value as a person's export spells it in a text cell."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return value if isinstance(value, str) else repr(value)


def _columns(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in records for k in r))


def _polars(records: list[dict[str, Any]]) -> pl.DataFrame:
    """A typed polars frame, as a pipeline holds the records: a column of one JSON type has that type (lists as
    List[str]); a column of mixed types is text."""
    series = []
    for name in _columns(records):
        values = [r.get(name) for r in records]
        types = {type(v) for v in values if v is not None}
        if types == {bool}:
            dtype: pl.DataType = pl.Boolean()
        elif types == {int} and all(abs(v) < 2**63 for v in values if v is not None):
            dtype = pl.Int64()
        elif types <= {int, float} and types and all(abs(v) < 2**53 for v in values if v is not None):
            dtype = pl.Float64()
        elif types == {list} and all(isinstance(i, str) for v in values if v for i in v):
            dtype = pl.List(pl.Utf8)
        else:
            dtype, values = pl.Utf8(), [_cell(v) for v in values]
        series.append(pl.Series(name, values, dtype=dtype))
    return pl.DataFrame(series)


def _csv(records: list[dict[str, Any]], path: Path) -> Path:
    import csv

    names = _columns(records)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(names)
        out.writerows([_cell(r.get(n)) or "" for n in names] for r in records)
    return path


def _xlsx(records: list[dict[str, Any]], path: Path) -> Path:
    """Numbers as number cells (an Excel serial date too), yes/no as boolean cells, the rest as text; integers
    beyond 2^53, which a spreadsheet cannot hold, as text."""
    import xlsxwriter

    names = _columns(records)
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    for j, name in enumerate(names):
        sheet.write_string(0, j, name)
    for i, record in enumerate(records, start=1):
        for j, name in enumerate(names):
            value = record.get(name)
            if isinstance(value, bool):
                sheet.write_boolean(i, j, value)
            elif isinstance(value, int | float) and abs(value) < 2**53:
                sheet.write_number(i, j, value)
            elif value is not None and (text := _cell(value)):
                sheet.write_string(i, j, text)
    book.close()
    return path


def _jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _json(records: list[dict[str, Any]], path: Path) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


# --- the paths: each gives {(record index, field, rule)} for the row findings, and the file findings ---------------


def _rows(report: fpschema.Report, first: int) -> tuple[set[Finding], set[tuple[str, str]]]:
    found = report.findings_all
    rows = {(r - first, c, u) for r, c, u in found.filter(pl.col("row").is_not_null())
            .select("row", "column", "rule").iter_rows()}
    files = {(c, u) for c, u in found.filter(pl.col("row").is_null()).select("column", "rule").iter_rows()}
    return rows, files


def _validated(source: Any, kind: str, first: int) -> tuple[set[Finding], set[tuple[str, str]]]:
    return _rows(fpschema.validate(source, kind, reference_date=REF, unmask=True), first)


def _record_path(records: list[dict[str, Any]], kind: str, _: Path) -> tuple[set[Finding], None]:
    return {(i, f.pointer.split("/")[1], f.rule) for i, r in enumerate(records)
            for f in fpschema.validate_record(r, kind, reference_date=REF)}, None


def _check_records(records: list[dict[str, Any]], kind: str, tmp: Path) -> tuple[set[Finding], None]:
    path = _jsonl(records, tmp / "cli.jsonl")
    done = subprocess.run([sys.executable, "-m", "fpschema", "check-records", kind, str(path), "--format", "json",
                           "--reference-date", REF.isoformat()], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["records"] == len(records)
    return {(f["record"] - 1, f["pointer"].split("/")[1], f["rule"]) for f in doc["findings"]}, None


def _pandera(records: list[dict[str, Any]], kind: str, _: Path) -> tuple[set[Finding], None]:
    import pandera.polars as pa

    from fpschema.pandera_schema import pandera_schema

    table = reader.read(records)
    mapping = engine.map_headers(table.columns, kind)
    prepared = engine.prepare(mapping.text(table.frame), kind, REF)
    try:
        pandera_schema(kind, REF).validate(prepared, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.value.failure_cases if hasattr(err, "value") else err.failure_cases
        return {(int(i), *reversed(c.split("|")[:2])) for i, c in  # type: ignore[misc]
                zip(cases["index"], cases["check"], strict=True) if i is not None}, None
    return set(), None


PATHS: dict[str, Callable[[list[dict[str, Any]], str, Path], tuple[set[Finding], Any]]] = {
    "validate_record": _record_path,
    "check-records": _check_records,
    "list of dicts": lambda rs, kind, tmp: _validated(rs, kind, 0),
    "polars": lambda rs, kind, tmp: _validated(_polars(rs), kind, 0),
    "pandas": lambda rs, kind, tmp: _validated(_polars(rs).to_pandas(), kind, 0),
    "pandas objects": lambda rs, kind, tmp: _validated(_pandas_objects(rs), kind, 0),
    "csv": lambda rs, kind, tmp: _validated(_csv(rs, tmp / "r.csv"), kind, 2),
    "jsonl": lambda rs, kind, tmp: _validated(_jsonl(rs, tmp / "r.jsonl"), kind, 1),
    "json": lambda rs, kind, tmp: _validated(_json(rs, tmp / "r.json"), kind, 1),
    "xlsx": lambda rs, kind, tmp: _validated(_xlsx(rs, tmp / "r.xlsx"), kind, 2),
    "parquet": lambda rs, kind, tmp: _validated(_write_parquet(rs, tmp / "r.parquet"), kind, 1),
    "pandera": _pandera,
}
RECORD_PATHS = {"validate_record", "check-records"}


def _pandas_objects(records: list[dict[str, Any]]) -> Any:
    """The records as pandas makes a frame of them: mixed columns of Python objects, integers with gaps as
    floats."""
    import pandas as pd

    return pd.DataFrame(records)


def _write_parquet(records: list[dict[str, Any]], path: Path) -> Path:
    _polars(records).write_parquet(path)
    return path


def _comparable(path: str) -> Callable[[str], bool]:
    """Which rules a path can express (by the catalogue's scope)."""
    if path in RECORD_PATHS:
        return lambda code: RULES[code].scope not in NEEDS_TABLE
    if path == "pandera":
        return lambda code: RULES[code].scope != "report"
    return lambda code: True


def _disagreements(reference: set[Finding], found: set[Finding], keep: Callable[[str], bool]) -> list[tuple]:
    ref = {f for f in reference if keep(f[2])}
    return sorted([(*f, "missing") for f in ref - found] + [(*f, "extra") for f in found - ref])


def _table(rows: list[tuple], records: list[dict[str, Any]]) -> str:
    lines = [f"{'path':<16} {'record':>6}  {'field':<28} {'rule':<36} {'':<8} value"]
    for path, i, column, rule, side in rows[:40]:
        value = records[i].get(column, "<absent>") if 0 <= i < len(records) else "?"
        lines.append(f"{path:<16} {i:>6}  {column:<28} {rule:<36} {side:<8} {value!r}")
    return "\n".join(lines) + (f"\n… {len(rows) - 40} more" if len(rows) > 40 else "")


def test_every_path_gives_the_same_verdict(corpus, tmp_path):
    kind, records = corpus
    reference, files = _validated(records, kind, 0)
    assert len({i for i, _, _ in reference}) > 40, "the corpus must carry defects"
    problems = []
    for path, run in PATHS.items():
        found, path_files = run(records, kind, tmp_path)
        problems += [(path, *d) for d in _disagreements(reference, found, _comparable(path))]
        if path_files is not None and path_files != files:
            problems += [(path, -1, c, u, "file") for c, u in path_files ^ files]
    assert not problems, "paths disagree:\n" + _table(problems, records)


def test_the_edge_cases_are_judged_as_a_file_judges_them():
    """A few of the hand-written cases, spelled out: the decision the paths share."""
    base = contract.schema("service_record")["examples"][0]

    def rules(**changes: Any) -> set[tuple[str, str]]:
        return {(f.pointer, f.rule) for f in fpschema.validate_record({**base, **changes}, "service_record",
                                                                       reference_date=REF)}

    assert rules(service_date=45035) == {("/service_date", "field.date_nonstandard")}  # Excel's 2023-04-19
    assert rules(service_date="２０２３-０４-１９") == {("/service_date", "field.date")}
    assert rules(child_count="2") == rules(child_count=2.0) == rules(child_count=2)
    assert ("/station_code", "field.required") in rules(station_code="　")
    inst = contract.schema("institution")["examples"][0]
    for items in (["01", "02"], '["01","02"]', "01、02"):
        assert fpschema.validate_record({**inst, "service_items": items}, "institution", reference_date=REF) == []


# --- a form the package did not make: the 介绍信 (fixtures/forms) ----------------------------------------------

FORM = ROOT / "fixtures" / "forms" / "介绍信_defects.csv"


def _form_records() -> tuple[list[str], list[dict[str, Any]]]:
    frame = pl.read_csv(FORM, infer_schema=False, encoding="utf8")
    return frame.columns, frame.to_dicts()


def _form_paths(header: list[str], records: list[dict[str, Any]], tmp: Path) -> dict[str, set[Finding]]:
    """The hand-typed 介绍信 with its defects through every path but Spark: (CSV row, field, rule) each."""
    kind = "service_record"
    out = {"csv": _validated(FORM, kind, 0)[0], "list of dicts": _validated(records, kind, -2)[0],
           "jsonl": _validated(_jsonl(records, tmp / "form.jsonl"), kind, -1)[0]}
    out["validate_records"] = {(i + 2, f.pointer.split("/")[1], f.rule) for i, found in enumerate(
        fpschema.validate_records(records, kind, reference_date=REF)) for f in found}
    # one record alone carries its own keys: told the columns of its form, it is judged as its row is
    out["validate_record"] = {(i + 2, f.pointer.split("/")[1], f.rule) for i, r in enumerate(records)
                              for f in fpschema.validate_record(r, kind, reference_date=REF, columns=header)}
    return out


def test_a_form_the_package_did_not_make_gets_one_verdict(tmp_path):
    header, records = _form_records()
    report = fpschema.validate(FORM, reference_date=REF)
    assert report.to_dict()["coverage"]["layout"] == "referral"
    paths = _form_paths(header, records, tmp_path)
    reference = paths.pop("csv")
    assert len(reference) > 30
    problems = [(name, *d) for name, found in paths.items()
                for d in _disagreements(reference, found, _comparable(name))]
    assert not problems, "paths disagree on the 介绍信:\n" + "\n".join(map(str, problems[:40]))


# --- Spark: one session, the same records -------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    yield from spark_session("fpschema-paths", 2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_gives_the_same_verdict(spark, corpus, tmp_path):
    from fpschema import spark as fs

    kind, records = corpus
    reference, _ = _validated(records, kind, 0)
    frame = _polars(records).with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    report = fs.validate(spark.createDataFrame(frame.to_arrow()).repartition(2), kind, reference_date=REF,
                         id_column="seq", unmask=True, max_findings=None)
    # each finding names its record by the integer id column (record_id holds it as text)
    found = {(int(s), c, u) for s, c, u in report.findings_all.filter(pl.col("row").is_not_null())
             .select("record_id", "column", "rule").iter_rows()}
    problems = [("spark", *d) for d in _disagreements(reference, found, lambda code: True)]
    path = _csv(records, tmp_path / "spark.csv")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(path.stat().st_size // 3 + 1))  # the file in 3 parts
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    try:
        report = fs.validate_path(spark, path, kind, reference_date=REF, unmask=True)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    assert report.source["partitions"] >= 3
    found, _ = _rows(report, 2)  # the file's row numbers, as the command line reports them
    problems += [("spark csv", *d) for d in _disagreements(_validated(path, kind, 2)[0], found, lambda code: True)]
    assert not problems, "Spark disagrees:\n" + _table(problems, records)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_judges_the_form_as_the_file_path_does(spark):
    from fpschema import spark as fs

    report = fs.validate_path(spark, FORM, reference_date=REF, unmask=True)
    assert report.to_dict()["coverage"]["layout"] == "referral"
    found, _ = _rows(report, 0)
    reference, _ = _validated(FORM, "service_record", 0)
    problems = _disagreements(reference, found, lambda code: True)
    assert not problems, "Spark disagrees on the 介绍信:\n" + "\n".join(map(str, problems[:40]))
