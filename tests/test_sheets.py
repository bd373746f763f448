"""Workbooks built by hand (zipfile, the XML written here): far cells read within bounds, every sheet validated or
listed, Excel error cells and corrupt sheets as findings, the 1904 date system; rows never dropped silently (rows
in = rows judged + rows skipped on every path); JSONL keys, wide headers and reader crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
import pytest

import fpschema
from fpschema.errors import InputError
from fpschema.io import writer
from fpschema.io.header import name_columns as _name_columns
from fpschema.io.reader import ROW, Limits, read
from fpschema.report import render
from fpschema.testdata import generator

from .conftest import REF

KIND = "service_record"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
Cell = str | int | float | None


def _letters(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _cell(ref: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):  # ("e", "#N/A"): an error cell; ("d", serial): a date cell
        kind, v = value
        return f'<c r="{ref}" t="e"><v>{v}</v></c>' if kind == "e" else f'<c r="{ref}" s="1"><v>{v}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def sheet_xml(rows: dict[int, list[Cell]], extra: dict[str, Cell] | None = None) -> str:
    """Rows (1-based row number → cells from column A) and single far cells ({"XFD1048576": 1})."""
    cells: dict[int, list[str]] = {r: [_cell(f"{_letters(j + 1)}{r}", v) for j, v in enumerate(vals)]
                                   for r, vals in rows.items()}
    for ref, v in (extra or {}).items():
        row = int("".join(ch for ch in ref if ch.isdigit()))
        cells.setdefault(row, []).append(_cell(ref, v))
    body = "".join(f'<row r="{r}">{"".join(cs)}</row>' for r, cs in sorted(cells.items()))
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>{body}</sheetData></worksheet>'


def workbook(path: Path, sheets: list[tuple[str, str]], *, date1904: bool = False) -> Path:
    """An XLSX of ``sheets`` (name, sheet XML); style 1 is a date format."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
                   'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/'
                   'xml"/></Types>')
        z.writestr("_rels/.rels", f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument"'
                   ' Target="xl/workbook.xml"/></Relationships>')
        pr = '<workbookPr date1904="1"/>' if date1904 else ""
        listed = "".join(f'<sheet name="{escape(n)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, (n, _) in
                         enumerate(sheets))
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{REL}">{pr}<sheets>{listed}</sheets>'
                   "</workbook>")
        rels = "".join(f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
                       for i in range(len(sheets)))
        rels += f'<Relationship Id="rId{len(sheets) + 1}" Type="{REL}/styles" Target="styles.xml"/>'
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{PKG}">{rels}</Relationships>')
        z.writestr("xl/styles.xml", f'<styleSheet xmlns="{MAIN}"><cellXfs count="2"><xf numFmtId="0"/>'
                   '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>')
        for i, (_, xml) in enumerate(sheets):
            z.writestr(f"xl/worksheets/sheet{i + 1}.xml", xml)
    return path


@pytest.fixture(scope="module")
def records() -> pl.DataFrame:
    frame, _ = generator.generate(KIND, 30, seed=3, reference_date=REF)
    return frame


def _rows(frame: pl.DataFrame, first: int = 2) -> dict[int, list[Cell]]:
    """The frame as sheet rows: its header in row ``first - 1``, the records below."""
    out: dict[int, list[Cell]] = {first - 1: list(frame.columns)}
    for i, rec in enumerate(frame.cast(pl.String).iter_rows()):
        out[first + i] = list(rec)
    return out


def _peak_run(code: str) -> tuple[float, int]:
    """Run ``code`` in a fresh interpreter: (seconds, its peak RSS in KiB)."""
    start = time.perf_counter()
    # the child reports its own peak, VmHWM (ru_maxrss survives fork and exec: it would show pytest's own peak)
    code += "\nimport re; print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, int(done.stdout.split()[-1])


# ------------------------------------------------------------------------------------------- far cells


@pytest.mark.parametrize("far", ["XFD1048576", "A1048576"])
def test_a_stray_far_cell_is_read_in_bounded_memory(tmp_path: Path, records: pl.DataFrame, far: str) -> None:
    """A 6 KB workbook whose one stray cell lies at the sheet's far corner: before, calamine's dense grid took 512 GiB
    (abort) or 1.7 GB and 20 s. Now the sheet is compacted: the data is judged, the far cell's row keeps its number,
    and a fresh process stays far below 400 MB."""
    path = workbook(tmp_path / "far.xlsx", [("数据", sheet_xml(_rows(records), {far: 1}))])
    assert path.stat().st_size < 20_000
    seconds, peak = _peak_run(f"import fpschema; fpschema.validate({str(path)!r}, {KIND!r})")
    assert seconds < 60 and peak < 400_000
    report = fpschema.validate(path, KIND, reference_date=REF)
    entry = report.source["sheets"][0]
    assert entry["name"] == "数据" and entry["rows_judged"] == report.rows_total == records.height + 1
    assert entry["blank_rows"] == 1048576 - (records.height + 2)
    assert 1048576 in report.findings_all["row"].to_list()  # the far row is judged (it lacks every field)


def test_limits_refuse_before_allocating_and_say_where(tmp_path: Path, records: pl.DataFrame) -> None:
    path = workbook(tmp_path / "wide.xlsx", [("S", sheet_xml(_rows(records), {"XFD1048576": 1}))])
    for limits, name in ((Limits(max_cells=100), "max_cells"), (Limits(max_columns=5), "max_columns"),
                         (Limits(max_area=500), "max_area")):
        with pytest.raises(InputError) as err:
            read(path, limits=limits)
        assert err.value.code == "input.sheet_too_large" and err.value.details["limit"] == name
        assert err.value.details["cell"] == "XFD1048576"
        assert f"Limits({name}=" in err.value.message("en") and "--limit" in err.value.message("zh")


def test_cli_limit_option_and_exit_code(tmp_path: Path, records: pl.DataFrame) -> None:
    path = workbook(tmp_path / "w.xlsx", [("S", sheet_xml(_rows(records)))])
    run = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(path), "--limit", "max_cells=10"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "input.sheet_too_large" in run.stderr and "Traceback" not in run.stderr


# ------------------------------------------------------------------------------------------ every sheet


def test_every_sheet_is_validated_and_findings_name_it(tmp_path: Path, records: pl.DataFrame) -> None:
    bad = records.head(5).with_columns(pl.lit("不是身份证").alias("client_id"))
    path = workbook(tmp_path / "two.xlsx", [("好", sheet_xml(_rows(records))), ("空", sheet_xml({})),
                                            ("坏", sheet_xml(_rows(bad)))])
    report = fpschema.validate(path, KIND, reference_date=REF)
    sheets = {e["name"]: e for e in report.source["sheets"]}
    assert [e["name"] for e in report.source["sheets"]] == ["好", "空", "坏"]
    assert sheets["好"]["status"] == sheets["坏"]["status"] == "validated" and sheets["空"]["status"] == "empty"
    assert report.rows_total == records.height + 5 == sum(e["rows_judged"] for e in sheets.values())
    assert not report.ok
    bad_rows = report.findings_all.filter(pl.col("column") == "client_id")
    assert set(bad_rows["sheet"].to_list()) == {"坏"} and bad_rows.height >= 5
    doc = json.loads(report.to_json())
    assert {f["sheet"] for f in doc["findings"]} == {"坏"}
    assert "sheet" in report.to_csv().splitlines()[0] and ",坏" in report.to_csv()
    assert "sheet 坏 row" in report.to_junit() and "坏 · " in report.to_html()

    only = fpschema.validate(path, KIND, reference_date=REF, sheet="好")
    assert only.ok and only.rows_total == records.height
    assert {e["name"]: e["status"] for e in only.source["sheets"]} == {"好": "validated", "空": "ignored",
                                                                       "坏": "ignored"}
    assert any("坏" in line and "未校验" in line for line in render.skipped_lines(only))
    with pytest.raises(InputError) as err:
        fpschema.validate(path, KIND, sheet="没有")
    assert err.value.code == "input.sheet_not_found" and "坏" in err.value.message()


def test_cli_sheet_option(tmp_path: Path, records: pl.DataFrame) -> None:
    bad = records.head(3).with_columns(pl.lit("x").alias("client_id"))
    path = workbook(tmp_path / "c.xlsx", [("a", sheet_xml(_rows(records))), ("b", sheet_xml(_rows(bad)))])
    base = [sys.executable, "-m", "fpschema", "validate", str(path), "--kind", KIND, "--reference-date", "2024-06-30"]
    assert subprocess.run(base, capture_output=True, timeout=120).returncode == 1
    chosen = subprocess.run([*base, "--sheet", "a", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert chosen.returncode == 0
    assert [s["status"] for s in json.loads(chosen.stdout)["source"]["sheets"]] == ["validated", "ignored"]


def test_excel_error_cells_are_findings(tmp_path: Path, records: pl.DataFrame) -> None:
    rows = _rows(records.head(3))
    rows[3] = [("e", "#N/A") if j == records.columns.index("client_id") else v for j, v in enumerate(rows[3])]
    rows[4] = [("e", "#DIV/0!") for _ in rows[4]]  # a row of error cells only: judged, not blank
    path = workbook(tmp_path / "e.xlsx", [("S", sheet_xml(rows))])
    report = fpschema.validate(path, KIND, reference_date=REF)
    errors = report.findings_all.filter(pl.col("rule") == "cell.excel_error")
    assert ("client_id", "#N/A", 3) in set(errors.select("column", "value", "row").iter_rows())
    assert errors.filter(pl.col("row") == 4).height == records.width
    assert not report.findings_all.filter((pl.col("row") == 3) & (pl.col("column") == "client_id")
                                          & (pl.col("rule") != "cell.excel_error")).height  # no second finding
    assert report.source["sheets"][0]["rows_judged"] == 3 and report.source["sheets"][0]["blank_rows"] == 0


def test_a_corrupt_sheet_is_a_finding_not_emptiness(tmp_path: Path, records: pl.DataFrame) -> None:
    path = workbook(tmp_path / "c.xlsx", [("ok", sheet_xml(_rows(records))),
                                          ("broken", '<worksheet xmlns="' + MAIN + '"><sheetData><row r="1">'
                                           '<c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1"><v>1</v>')])
    report = fpschema.validate(path, KIND, reference_date=REF)
    status = {e["name"]: e["status"] for e in report.source["sheets"]}
    assert status["ok"] == "validated" and status["broken"] in ("error", "ignored")
    rules = set(report.findings_all.filter(pl.col("sheet") == "broken")["rule"].to_list())
    assert rules & {"file.sheet_unreadable", "file.sheet_ignored"}


def test_1904_date_system(tmp_path: Path) -> None:
    day = date(2023, 10, 8)
    serial_1904 = (day - date(1904, 1, 1)).days
    rows = {1: ["名称", "日期"], 2: ["a", ("d", serial_1904)]}
    t = read(workbook(tmp_path / "d.xlsx", [("S", sheet_xml(rows))], date1904=True))
    assert t.frame["日期"].to_list() == [day.isoformat()]
    t1900 = read(workbook(tmp_path / "d0.xlsx", [("S", sheet_xml({1: ["名称", "日期"],
                                                                  2: ["a", ("d", (day - date(1899, 12, 30)).days)]}))]))
    assert t1900.frame["日期"].to_list() == [day.isoformat()]


# -------------------------------------------------------------------------------- nothing dropped silently


def _accounting_holds(report: fpschema.Report) -> None:
    validated = [e for e in report.source["sheets"] if e["status"] == "validated"]
    for e in report.source["sheets"]:
        assert e["rows_in"] == e["rows_judged"] + e["rows_skipped"] and e["rows_skipped"] == len(e["skipped_rows"])
    assert sum(e["rows_judged"] for e in validated) == report.rows_total


def _disguised(frame: pl.DataFrame) -> tuple[list[list[str]], list[int], list[int]]:
    """Records with a full invalid data row starting 合计 and one starting 说明 at the end, a real totals row and a
    real footer: (rows, rows to judge, rows to skip) as spreadsheet rows (header in row 1)."""
    lines = [list(r) for r in frame.cast(pl.String).fill_null("").iter_rows()]
    width = frame.width
    fake_total = ["合计", *lines[0][1:]]
    fake_total[frame.columns.index("client_id")] = "123"  # an invalid ID
    fake_note = ["说明", *lines[1][1:]]
    real_total = ["合计", str(len(lines))] + [""] * (width - 2)
    note = ["填表人：张三", "审核人：李四"] + [""] * (width - 2)
    body = lines[:5] + [fake_total] + lines[5:] + [real_total, fake_note, note]
    n = len(body)
    judged = [r for r in range(2, n + 2) if r not in (n - 2 + 1, n + 1)]
    return body, judged, [n - 1, n + 1]


@pytest.mark.parametrize("how", ["csv", "stream", "xlsx"])
def test_rows_that_only_start_like_totals_or_notes_are_judged(tmp_path: Path, records: pl.DataFrame,
                                                               how: str) -> None:
    body, judged, skipped = _disguised(records)
    if how == "xlsx":
        path = workbook(tmp_path / "t.xlsx", [("S", sheet_xml({1: list(records.columns),
                                                                **{i + 2: r for i, r in enumerate(body)}}))])
    else:
        path = tmp_path / "t.csv"
        path.write_text("\n".join(",".join(r) for r in [list(records.columns), *body]) + "\n", encoding="utf-8")
    limits = Limits(stream_bytes=0, block_bytes=1 << 16) if how == "stream" else None
    report = fpschema.validate(path, KIND, reference_date=REF, limits=limits)
    _accounting_holds(report)
    entry = report.source["sheets"][0]
    assert [s["row"] for s in entry["skipped_rows"]] == skipped
    assert [s["reason"] for s in entry["skipped_rows"]] == ["totals", "footer"]
    assert report.rows_total == len(judged)
    assert not report.ok and 7 in report.findings_all.filter(pl.col("column") == "client_id")["row"].to_list()
    lines = render.skipped_lines(report)
    assert any(str(skipped[0]) in line and "合计" in line for line in lines)
    for text in (report.to_csv(), report.to_html(), report.to_junit()):
        assert f"跳过第 {skipped[1]} 行" in text


def test_accounting_on_several_files(tmp_path: Path, records: pl.DataFrame) -> None:
    paths = [writer.write(records, tmp_path / "a.csv", KIND), writer.write(records, tmp_path / "b.csv", KIND,
                                                                            office=True),
             writer.write(records, tmp_path / "c.jsonl", KIND, fmt="jsonl"),
             writer.write(records, tmp_path / "d.parquet", KIND, fmt="parquet"),
             writer.write(records, tmp_path / "e.xlsx", KIND, fmt="xlsx", office=True)]
    for path in paths:
        report = fpschema.validate(path, KIND, reference_date=REF)
        _accounting_holds(report)
        assert (report.source["sheets"][0]["name"] is None) == (path.suffix != ".xlsx")
    _accounting_holds(fpschema.validate(records, KIND, reference_date=REF))


def test_fast_csv_path_judges_a_full_row_after_a_footer_word(tmp_path: Path) -> None:
    """The plain CSV path flags lines that may be special (SPECIAL); a full data row starting 说明 is judged there."""
    path = tmp_path / "f.csv"
    path.write_text("a,b,c\n1,2,3\n说明,5,6\n", encoding="utf-8")
    t = read(path)
    assert t.frame[ROW].to_list() == [2, 3] and t.skipped_rows == []


# -------------------------------------------------------------------------------------- other readers


def test_jsonl_key_first_seen_late_with_a_space_before_the_colon(tmp_path: Path) -> None:
    path = tmp_path / "k.jsonl"
    lines = [json.dumps({"a": str(i)}) for i in range(1500)] + ['{"a": "z", "late" : "v"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = read(path)
    assert t.frame.columns == [ROW, "a", "late"] and t.frame["late"].to_list()[-1] == "v"
    assert t.frame["late"].null_count() == 1500


def test_a_wide_header_is_named_in_linear_time() -> None:
    """200,000 columns: checking each name against a list of the names so far (the old way) makes 2·10¹⁰
    comparisons; a set makes it linear."""
    n = 200_000
    frame = pl.DataFrame({f"c{j}": pl.Series([], dtype=pl.String) for j in range(n)}).with_columns(
        pl.lit(0, dtype=pl.Int64).alias(ROW))
    start = time.perf_counter()
    named = _name_columns(frame, [f"h{j}" for j in range(n)])
    assert named.width == n + 1 and time.perf_counter() - start < 30
    with pytest.raises(InputError):
        _name_columns(frame, [f"h{j}" for j in range(n - 1)] + ["h0"])


def test_parquet_duration_and_non_text_encodings_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pl.DataFrame({"a": ["x"], "d": [timedelta(days=1, seconds=5)]}).write_parquet(path)
    assert read(path).frame["d"].to_list() == ["1 day, 0:00:05"]
    csv = tmp_path / "r.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    for codec in ("rot13", "base64", "zlib"):
        with pytest.raises(InputError) as err:
            read(csv, encoding=codec)
        assert err.value.code == "input.unknown_encoding"
    run = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(csv), "--encoding", "rot13"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_xls_far_cell_keeps_row_numbers_without_a_python_grid(tmp_path: Path) -> None:
    """XLS cannot be scanned first (its grid is at most 65536 × 256); its empty rows and columns are left out
    before any Python value per cell is made (before: 20 s and 1.7 GB for one far cell; now about 3 s)."""
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("表1")
    for j, head in enumerate(["单位名称", "例数"]):
        sheet.write(0, j, head)
    sheet.write(1, 0, "城关镇")
    sheet.write(1, 1, 12)
    sheet.write(65535, 255, "远")
    book.save(str(tmp_path / "far.xls"))
    start = time.perf_counter()
    t = read(tmp_path / "far.xls")
    assert time.perf_counter() - start < 30
    assert t.frame[ROW].to_list() == [2, 65536] and t.frame.columns == [ROW, "单位名称", "例数", "column_256"]
    assert t.blank_rows == 65536 - 3 and t.sheet == "表1"


def test_service_validates_every_sheet_or_the_one_named(tmp_path: Path, records: pl.DataFrame) -> None:
    from .test_service import live_server

    bad = records.head(3).with_columns(pl.lit("x").alias("client_id"))
    path = workbook(tmp_path / "s.xlsx", [("a", sheet_xml(_rows(records))), ("b", sheet_xml(_rows(bad)))])
    with live_server(tmp_path / "srv", reference_date=REF.isoformat()) as live, live.client() as client:
        def post(**params: str) -> dict:
            answer = client.post("/v1/validate", params={"kind": KIND, **params},
                                 files={"file": (path.name, path.read_bytes())})
            assert answer.status_code == 200, answer.text
            return answer.json()

        every = post()
        assert not every["ok"] and {f["sheet"] for f in every["findings"] if f["row"]} == {"b"}
        assert [s["status"] for s in every["source"]["sheets"]] == ["validated", "validated"]
        one = post(sheet="a")
        assert one["ok"] and [s["status"] for s in one["source"]["sheets"]] == ["validated", "ignored"]
        missing = client.post("/v1/validate", params={"sheet": "c"}, files={"file": (path.name, path.read_bytes())})
        assert missing.status_code in (400, 422) and missing.json()["error"]["code"] == "input.sheet_not_found"


def test_a_notes_sheet_is_ignored_with_a_warning_not_an_error(tmp_path: Path, records: pl.DataFrame) -> None:
    notes = sheet_xml({1: ["填报说明"], 3: [None, None, "本表按季度报送"]})
    path = workbook(tmp_path / "n.xlsx", [("说明", notes), ("数据", sheet_xml(_rows(records)))])
    report = fpschema.validate(path, reference_date=REF)  # kind from the data sheet's header
    assert report.kind == KIND and report.ok and report.rows_total == records.height
    status = {e["name"]: e["status"] for e in report.source["sheets"]}
    assert status == {"说明": "ignored", "数据": "validated"}
    ignored = report.findings_all.filter(pl.col("rule") == "file.sheet_ignored")
    assert ignored["sheet"].to_list() == ["说明"] and ignored["severity"].to_list() == ["warning"]


# ------------------------------------------------------------------------------------------ findings budget
def test_a_findings_budget_stops_a_file_of_errors_before_its_findings_are_built(tmp_path: Path,
                                                                                 records: pl.DataFrame) -> None:
    """Limits.max_findings_total: counted from the failing positions, on the whole-file and the streamed CSV path
    alike (the stream's blocks add up); under the budget the report is the same as without one."""
    from fpschema.io.reader import Limits

    frame, _ = generator.generate(KIND, 1200, seed=4, reference_date=REF)
    bad = frame.with_columns(("x" + pl.col(c).cast(pl.String)).alias(c) for c in frame.columns)  # every cell wrong
    path = tmp_path / "bad.csv"
    bad.write_csv(path)
    assert path.stat().st_size > 2 * 65536  # the streamed path reads it in blocks of at least 64 KiB: several
    plain = fpschema.validate(path, KIND, reference_date=REF)
    n = plain.findings_all.height
    assert n > frame.height * 5
    small_blocks = {"stream_bytes": 1, "block_bytes": 256}  # the streamed path, in many blocks
    for extra in ({}, small_blocks):
        with pytest.raises(InputError) as err:
            fpschema.validate(path, KIND, reference_date=REF, limits=Limits(max_findings_total=n // 2, **extra))
        assert err.value.code == "input.too_many_findings" and str(n // 2) in err.value.message()
        kept = fpschema.validate(path, KIND, reference_date=REF, limits=Limits(max_findings_total=n, **extra))
        assert kept.findings_all.equals(plain.findings_all)
