"""Large CSV files read block by block (fpschema.io.csvstream + engine.validate_stream): the same report as
reading the whole file, on real files, with small blocks so every test crosses block boundaries."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import fpschema
from fpschema.engine import validation as engine
from fpschema.errors import InputError
from fpschema.io import csvstream, writer
from fpschema.io.reader import Limits
from fpschema.testdata import generator

from .conftest import REF

KIND = "service_record"
WHOLE = Limits(stream_bytes=1 << 40)          # never streamed
BLOCKS = Limits(stream_bytes=0, block_bytes=1 << 16)  # streamed in 64 KiB blocks
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _same(a: fpschema.Report, b: fpschema.Report) -> None:
    assert a.findings_all.equals(b.findings_all)
    assert (a.kind, a.rows_total, a.rows_invalid, a.columns) == (b.kind, b.rows_total, b.rows_invalid, b.columns)
    assert a.source == b.source
    assert a.sample_rows == b.sample_rows
    assert a.to_json() == b.to_json()


def _blocks(path: Path, limits: Limits = BLOCKS) -> int:
    stream = csvstream.open_stream(path, known_headers=engine.known_headers(), limits=limits)
    assert stream is not None
    return sum(1 for _ in stream.frames())


@pytest.fixture(scope="module")
def corpus():
    return generator.generate(KIND, 4000, seed=5, defects="all", defect_rate=0.2, reference_date=REF)


@pytest.mark.parametrize("office", [False, True])
def test_streamed_report_equals_whole_file_report(tmp_path, corpus, office):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND, encoding="utf-8", office=office)
    assert _blocks(path) > 5
    whole = fpschema.validate(path, reference_date=REF, limits=WHOLE)
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, whole)
    assert whole.findings_all.filter(pl.col("rule").str.starts_with("dataset.")).height > 0
    if office:
        assert streamed.source["header_rows"] and streamed.source["skipped_rows"]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.csv") if ".manifest" not in p.name))
def test_fixtures_give_the_same_report_streamed(name):
    path = FIXTURES / name
    whole = fpschema.validate(path, reference_date=REF, limits=WHOLE)
    streamed = fpschema.validate(path, reference_date=REF, limits=Limits(stream_bytes=0, block_bytes=1 << 12))
    _same(streamed, whole)


def test_batched_validation_equals_whole_file(tmp_path, corpus):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    whole = fpschema.validate(path, KIND, reference_date=REF, limits=WHOLE)
    batched = engine.validate_batched(path, KIND, batch_rows=500, reference_date=REF)
    assert batched.source.pop("batch_rows") == 500
    _same(batched, whole)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _edited(tmp_path: Path, corpus, edit) -> Path:
    """The corpus written as CSV, its lines changed in place by ``edit``."""
    path = writer.write(corpus[0], tmp_path / "data.csv", KIND)
    lines = _lines(path)
    edit(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _refused(path: Path, limits: list[Limits], code: str, row: int) -> None:
    for each in limits:
        with pytest.raises(InputError) as err:
            fpschema.validate(path, reference_date=REF, limits=each)
        assert err.value.code == code and int(err.value.details["row"]) == row


def test_ragged_row_deep_in_the_file_is_reported_with_its_row(tmp_path, corpus):
    path = _edited(tmp_path, corpus, lambda lines: lines.__setitem__(3000, lines[3000] + ",extra"))
    _refused(path, [BLOCKS, WHOLE], "input.ragged", 3001)


def test_short_row_deep_in_the_file_is_reported_with_its_row(tmp_path, corpus):
    path = _edited(tmp_path, corpus, lambda lines: lines.__setitem__(3000, lines[3000].rsplit(",", 1)[0]))
    _refused(path, [BLOCKS, WHOLE], "input.ragged", 3001)


@pytest.mark.parametrize("line", ["x" * 300_000, "long cell"], ids=["one-cell", "every-cell-filled"])
def test_long_line_deep_in_the_file_is_refused_with_its_row(tmp_path, corpus, line):
    def edit(lines: list[str]) -> None:
        if line == "long cell":
            cells = lines[2500].split(",")
            cells[4] = "名" * 100_000
            lines[2500] = ",".join(cells)
        else:
            lines[2500] = line

    path = _edited(tmp_path, corpus, edit)
    _refused(path, [Limits(stream_bytes=0, block_bytes=block, max_bytes_line=100_000) for block in (1 << 16, 1 << 20)],
             "input.line_too_long", 2501)


def test_record_spanning_lines_falls_back_to_the_whole_file_reader(tmp_path, corpus):
    def quote_across_lines(lines: list[str]) -> None:
        cells = lines[3500].split(",")
        cells[corpus[0].columns.index("client_name")] = '"张\n三"'
        lines[3500] = ",".join(cells)

    path = _edited(tmp_path, corpus, quote_across_lines)
    with pytest.raises(csvstream.NotStreamable):
        _blocks(path)
    _same(fpschema.validate(path, reference_date=REF, limits=BLOCKS),
          fpschema.validate(path, reference_date=REF, limits=WHOLE))


def test_header_only_file_streams_to_a_no_rows_finding(tmp_path):
    path = FIXTURES / "valid_service_records.csv"
    header = tmp_path / "header.csv"
    header.write_text(_lines(path)[0] + "\n", encoding="utf-8")
    report = fpschema.validate(header, reference_date=REF, limits=BLOCKS)
    assert report.rows_total == 0 and "file.no_rows" in report.findings_all["rule"].to_list()
    _same(report, fpschema.validate(header, reference_date=REF, limits=WHOLE))


def test_streaming_keeps_memory_with_the_block_not_the_file(tmp_path):
    """Every frame handed out holds one block's rows: a 40,000-row file in 64 KiB blocks never yields a
    frame of more than a few hundred rows."""
    frame, _ = generator.generate(KIND, 40_000, seed=9, reference_date=REF)
    path = writer.write(frame, tmp_path / "big.csv", KIND)
    stream = csvstream.open_stream(path, known_headers=engine.known_headers(KIND), limits=BLOCKS)
    heights = [f.height for f in stream.frames()]
    assert sum(heights) == 40_000 and max(heights) < 600
    assert stream.sha256 == fpschema.validate(path, reference_date=REF, limits=WHOLE).source["sha256"]


def test_bad_bytes_deep_in_a_streamed_file(tmp_path, corpus):
    """Bytes that are not UTF-8 three quarters into the file: input.encoding with the row, as when read whole;
    control characters there are text (the cell's rules judge it), the same report either way."""
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    raw = path.read_bytes()
    cut = raw.index(b"\n", len(raw) * 3 // 4) + 1
    row = raw.count(b"\n", 0, cut) + 1
    path.write_bytes(raw[:cut] + b"\xff\xfe\xfa" + raw[cut:])
    _refused(path, [BLOCKS, WHOLE], "input.encoding", row)
    path.write_bytes(raw[:cut] + b"\x00\x01\x02" * 50 + raw[cut:])
    _same(fpschema.validate(path, reference_date=REF, limits=BLOCKS),
          fpschema.validate(path, reference_date=REF, limits=WHOLE))


def test_blank_lines_and_a_totals_row_in_the_middle_are_left_out_as_whole_file_reading_does(tmp_path, corpus):
    totals = "合计" + "," * (len(corpus[0].columns) - 1)
    path = _edited(tmp_path, corpus, lambda lines: lines.__setitem__(slice(1500, 1500), ["", ",,,", totals]))
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, fpschema.validate(path, reference_date=REF, limits=WHOLE))
    assert streamed.source["totals_rows"] == [1503] and streamed.rows_total == 4000


def _last_cell_emptied(lines: list[str]) -> None:
    for i in range(1000, 3000, 7):
        lines[i] = lines[i].rsplit(",", 1)[0] + ","


def _blank_cells(lines: list[str]) -> None:
    for at, column, cell in ((1200, 1, " "), (2400, 1, "\u3000"), (3100, 4, "x y")):  # blank, and a space in text
        cells = lines[at].split(",")
        cells[column] = cell
        lines[at] = ",".join(cells)


def _full_totals_row(lines: list[str]) -> None:
    cells = lines[1800].split(",")
    lines.insert(1800, ",".join(["合计", *cells[1:]]))  # 合计 first, but a data row: every cell filled, text too


@pytest.mark.parametrize("edit", [_last_cell_emptied, _blank_cells, _full_totals_row],
                         ids=["empty-last-cells", "blank-cells", "full-totals-row"])
def test_blocks_needing_a_closer_look_give_the_whole_file_report(tmp_path, corpus, edit):
    """Blocks with no quote, no blank character and every last cell filled are taken from the parsed cells
    alone; the others go through the lines. Both give what reading the whole file gives."""
    path = _edited(tmp_path, corpus, edit)
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, fpschema.validate(path, reference_date=REF, limits=WHOLE))
    if edit is _full_totals_row:  # judged, not dropped: it does not look like a totals row
        assert streamed.source["totals_rows"] == [] and 1801 in streamed.findings_all["row"].to_list()
    if edit is _blank_cells:  # a blank station number is a missing one
        assert {(1201, "field.required"), (2401, "field.required")} <= {
            (r["row"], r["rule"]) for r in streamed.findings_all.filter(pl.col("column") == "station_code").iter_rows(named=True)}


def test_a_carriage_return_inside_a_line_is_a_blank_character(tmp_path, corpus):
    def edit(lines: list[str]) -> None:
        cells = lines[2100].split(",")
        cells[1] = "\r\r"  # a cell holding only CRs: blank, as a space would be (and the station is required)
        lines[2100] = ",".join(cells)

    path = _edited(tmp_path, corpus, edit)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # CRLF line ends: no closer look for them
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, fpschema.validate(path, reference_date=REF, limits=WHOLE))
    assert (2101, "station_code", "field.required") in {(r["row"], r["column"], r["rule"]) for r in streamed.findings_all.iter_rows(named=True)}


def test_empty_lines_at_block_boundaries_keep_the_row_numbers(tmp_path, corpus):
    """An empty line after every record, so blocks start right before one: row numbers stay those of the file."""
    def edit(lines: list[str]) -> None:
        lines[2:] = [line for record in lines[2:] for line in (record, "")]

    path = _edited(tmp_path, corpus, edit)
    stream = csvstream.open_stream(path, known_headers=engine.known_headers(), limits=BLOCKS)
    assert stream is not None
    for _ in stream.frames():
        pass
    ends = list(stream.ends)  # where each block ends (nothing took them off)
    data = path.read_bytes()
    assert sum(data[end:end + 1] == b"\n" for end in ends[:-1]) >= 3  # blocks that start with an empty line
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, fpschema.validate(path, reference_date=REF, limits=WHOLE))


def test_progress_is_reported_block_by_block_up_to_the_file_size(tmp_path, corpus):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    calls: list[tuple[int, int]] = []
    fpschema.validate(path, reference_date=REF, limits=BLOCKS, progress=lambda done, total: calls.append((done, total)))
    size = path.stat().st_size
    assert len(calls) == _blocks(path) > 5
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (size, size)
    assert all(total == size for _, total in calls)


def test_cli_shows_a_progress_bar_with_the_bytes_checked_on_a_terminal(tmp_path):
    """A CSV big enough to be read block by block (over 32 MiB), validated by the CLI with stderr taken for a
    terminal (FORCE_COLOR): the bar counts the file's megabytes."""
    import os
    import subprocess
    import sys

    frame, _ = generator.generate(KIND, 180_000, seed=12, reference_date=REF)
    path = writer.write(frame, tmp_path / "big.csv", KIND)
    assert path.stat().st_size > Limits().stream_bytes
    done = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(path), "--reference-date", "2024-06-30"],
                          capture_output=True, text=True, env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr[-2000:]
    megabytes = f"{path.stat().st_size / 1e6:.1f}"
    assert f"/{megabytes} MB" in done.stderr or f"/{megabytes} MB" in done.stderr.replace("\x1b", "")
    assert "校验" in done.stdout or "校验" in done.stderr


@pytest.mark.parametrize("office", [False, True])
def test_gb18030_file_is_streamed_with_the_same_report_as_read_whole(tmp_path, corpus, office):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND, encoding="gb18030", office=office)
    assert "张".encode("gb18030") in path.read_bytes()  # really GB18030, with Chinese text
    stream = csvstream.open_stream(path, known_headers=engine.known_headers(), limits=BLOCKS)
    assert stream is not None and stream.encoding == "gb18030"
    heights = [f.height for f in stream.frames()]
    assert sum(heights) == 4000 and len(heights) > 5 and max(heights) < 1500
    whole = fpschema.validate(path, reference_date=REF, limits=WHOLE)
    streamed = fpschema.validate(path, reference_date=REF, limits=BLOCKS)
    _same(streamed, whole)
    assert streamed.source["encoding"] == "gb18030" and streamed.rows_invalid > 0


def test_bad_bytes_deep_in_a_streamed_gb18030_file(tmp_path, corpus):
    """Bytes that are not GB18030 three quarters into the file: the coded error of whole-file reading, with
    the row when the caller named the encoding."""
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND, encoding="gb18030")
    raw = path.read_bytes()
    cut = raw.index(b"\n", len(raw) * 3 // 4) + 1
    row = raw.count(b"\n", 0, cut) + 1
    path.write_bytes(raw[:cut] + b"\x81\x20\x81" + raw[cut:])
    for limits in (BLOCKS, WHOLE):
        with pytest.raises(InputError) as named:
            fpschema.validate(path, reference_date=REF, limits=limits, encoding="gbk")
        assert named.value.code == "input.encoding" and int(named.value.details["row"]) == row
        with pytest.raises(InputError) as detected:
            fpschema.validate(path, reference_date=REF, limits=limits)
        assert detected.value.code == "input.unknown_encoding"



def test_a_footer_is_never_split_between_blocks(tmp_path, corpus):
    """Footer lines (填表人…) end the file; files are cut so that a 64 KiB block boundary would fall inside the
    footer. The last block takes them whole: the report equals whole-file reading, footer rows left out."""
    frame, _ = corpus
    lines = writer.write(frame.head(3000), tmp_path / "data.csv", KIND).read_bytes().split(b"\n")
    footer = "填表人：张三\n审核人：李四\n填报日期：2024年7月1日\n".encode()
    step, tried = 1 << 16, 0
    for n in range(300, 3000):
        data = b"\n".join(lines[:n + 1]) + b"\n" + footer
        pos, cuts = len(lines[0]) + 1, []
        while pos + step < len(data):  # where a block would end without the last-block rule
            pos = data.index(b"\n", pos + step) + 1
            cuts.append(pos)
        if not any(len(data) - len(footer) < cut < len(data) for cut in cuts):
            continue
        path = tmp_path / f"footer{n}.csv"
        path.write_bytes(data)
        streamed = fpschema.validate(path, reference_date=REF, limits=Limits(stream_bytes=0, block_bytes=step))
        _same(streamed, fpschema.validate(path, reference_date=REF, limits=WHOLE))
        assert streamed.rows_total == n and [r["reason"] for r in streamed.source["skipped_rows"]] == ["footer"] * 3
        tried += 1
        if tried == 2:
            break
    assert tried >= 1


@pytest.mark.parametrize("kind", engine.TABLE_KINDS)
def test_aggregate_reports_asked_in_batches_are_read_whole(tmp_path, kind):
    """Their table rules (roll-ups, year-on-year) and extras need the whole table: --batch-rows reads them
    whole and gives the whole-file report."""
    frame, _ = generator.generate(kind, 3000, seed=3, defects="all", defect_rate=0.2, reference_date=REF)
    path = writer.write(frame, tmp_path / f"{kind}.csv", kind)
    assert _blocks(path) > 1
    batched = engine.validate_batched(path, kind, batch_rows=1000, reference_date=REF)
    _same(batched, fpschema.validate(path, reference_date=REF, limits=WHOLE))
    assert "batch_rows" not in batched.source and "explanations" in batched.extras
