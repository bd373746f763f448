"""Fuzz tests (issue J, point 6): mutated CSV, XLSX, JSON and JSONL files, and multipart and JSON bodies, drawn by
hypothesis with a fixed budget (derandomized, no example database: every run tries the same inputs).

The contract checked on every input:
- the library (:func:`fpschema.validate`, ``validate_records``, every renderer) raises only
  :class:`fpschema.errors.InputError` with a known code, within ``CALL_SECONDS``, without aborting its process
  (it runs in a worker process, ``tests/fuzz/worker.py``, capped at ``MEMORY_CAP`` bytes of address space);
- the CLI exits 0, 1 or 2 (never 3 or a signal), prints no traceback and no raw escape sequence, and writes the
  report it was asked for;
- the service (a real ``fpschema.service`` on loopback) answers every request with a report or a coded JSON error,
  never a 500, a 504 or a crash of the reader behind a 422, and ``/healthz`` still answers after the burst;
- rows in = rows judged + rows skipped for each part of the source (:func:`check_rows`).

Seeds: ``tests/fuzz/seeds/`` (see its README). Deeper local runs: ``FPSCHEMA_FUZZ_SCALE=10`` multiplies every
example count, ``FPSCHEMA_FUZZ_SHRINK=1`` lets hypothesis shrink a failing input. Each input that crashed is kept
as an explicit ``@example`` (eleven crash classes found on 2026-12-02, all fixed in issue J)."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import resource
import select
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import xlsxwriter
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from fpschema import contract
from fpschema.engine import validation as engine
from fpschema.errors import CODES

from .conftest import REF, ROOT
from .test_service import LiveServer, error_of, live_server

pytestmark = pytest.mark.slow  # about 90 s in all, by design (FPSCHEMA_FUZZ_SCALE for more)

SEEDS = Path(__file__).parent / "fuzz" / "seeds"

# ------------------------------------------------------------------------------------------------ budget

SCALE = max(1, int(os.environ.get("FPSCHEMA_FUZZ_SCALE", "1")))  # multiplies every example count (local runs)
SHRINK = os.environ.get("FPSCHEMA_FUZZ_SHRINK") == "1"  # shrink failing inputs (slow; off in the suite)
CALL_SECONDS = 20  # one library call, CLI run or HTTP request taking longer than this is a hang
WARM_UP_SECONDS = 40  # more for the worker's first call, which imports polars and the package
MEMORY_CAP = 4 << 30  # address space of the library worker and of each CLI run (bytes): a runaway fails alone
FAR_ROW, FAR_COL = 3000, 100  # drawn workbook cells lie within A1:CW3000 (the unbounded ones are explicit cases)
LONG_FIELDS = (5_000, 70_000, 1_100_000)  # very long fields (the last is over the reader's 1 MiB line limit)


def fuzz(examples: int, deadline_seconds: float) -> settings:
    """Bounded, reproducible settings: ``examples`` inputs, the same ones on every run."""
    phases = (Phase.explicit, Phase.generate, *((Phase.shrink,) if SHRINK else ()))
    return settings(max_examples=examples * SCALE, derandomize=True, database=None, phases=phases,
                    deadline=timedelta(seconds=deadline_seconds), report_multiple_bugs=False, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# ------------------------------------------------------------------------------------------------ contract


def check_rows(doc: dict[str, Any]) -> None:
    """Row accounting of a report (or its summary): every row in is judged or listed as skipped."""
    assert doc["rows_total"] == doc["rows_valid"] + doc["rows_invalid"], doc
    assert doc["rows_total"] >= 0
    sheets = doc["source"]["sheets"]
    assert sheets, "source.sheets lists at least the one part read"
    for sheet in sheets:
        assert sheet["status"] in ("validated", "ignored", "empty", "error"), sheet
        assert sheet["rows_in"] == sheet["rows_judged"] + sheet["rows_skipped"], sheet
        assert sheet["rows_skipped"] == len(sheet["skipped_rows"]), sheet
    judged = sum(s["rows_judged"] for s in sheets if s["status"] == "validated")
    assert judged == doc["rows_total"], f"rows judged {judged} != rows_total {doc['rows_total']}: {sheets}"


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


class LibraryWorker:
    """``tests/fuzz/worker.py`` in a child process, restarted after it dies or hangs."""

    def __init__(self, stderr: IO[bytes]) -> None:
        self.process: subprocess.Popen | None = None
        self.warm = False
        self.stderr = stderr  # a file, not a pipe: a chatty worker never blocks on it

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.stderr.seek(0)
        self.stderr.truncate()
        return subprocess.Popen([sys.executable, "-m", "tests.fuzz.worker"], cwd=ROOT, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                preexec_fn=_cap_memory)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.process is None or self.process.poll() is not None:
            self.process, self.warm = self._start(), False
        proc = self.process
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        limit = CALL_SECONDS + (0 if self.warm else WARM_UP_SECONDS)
        ready, _, _ = select.select([proc.stdout], [], [], limit)
        if not ready:
            self.stop()
            raise AssertionError(f"hang: no answer within {limit} s to {request}")
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read()[-3000:].decode(errors="replace")
            self.process = None
            raise AssertionError(f"the library process died (exit {code}) on {request}:\n{tail}")
        self.warm = True
        return json.loads(line)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None



@pytest.fixture(scope="module")
def worker() -> Iterator[LibraryWorker]:
    with tempfile.TemporaryFile() as stderr:
        w = LibraryWorker(stderr)
        yield w
        w.stop()


@pytest.fixture(scope="module")
def spool(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def library_contract(worker: LibraryWorker, spool: Path, suffix: str, content: bytes, kind: str | None = None,
                     streamed: bool = False) -> dict[str, Any]:
    """Validate ``content`` as a file named ``*suffix``: a report whose rows add up, or an InputError."""
    path = spool / f"input{suffix}"
    path.write_bytes(content)
    out = worker.ask({"op": "validate", "path": str(path), "kind": kind, "streamed": streamed})
    assert out["outcome"] != "crash", f"{out['error']} (not an InputError):\n{out['traceback']}"
    if out["outcome"] == "input_error":
        assert out["code"] in CODES and out["zh"] and out["en"], out
    else:
        check_rows(out["summary"])
    return out


# ------------------------------------------------------------------------------------------------ seeds and bytes

CSV_SEEDS = {p.name: p.read_bytes() for p in sorted(SEEDS.glob("*.csv"))}
JSONL_SEED = (ROOT / "fixtures" / "service_records_sample.jsonl").read_bytes()
HEADERS = sorted(engine.header_map("service_record"))  # every header spelling of a service record
SPELLINGS: dict[str, list[str]] = {}  # field -> its header spellings
for _spelling, _field in sorted(engine.header_map("service_record").items()):
    SPELLINGS.setdefault(_field, []).append(_spelling)
KINDS = contract.kinds()

# text a hostile or careless cell may hold: totals and footer words, terminal markup and escapes, ID-like numbers,
# spreadsheet formulas, message placeholders, invisible and control characters
CELL_WORDS = ("合计", "小计", "总计", "合 计", "合计：", "说明", "注意", "制表", "填表人：", "审核人", "[/x]", "[bold]",
              "[/]", "[link=http://x]a[/link]", "\x1b[31m红\x1b[0m", "\x1b]0;title\x07", "\x1b[2J", "\x9b2J", "\r", "\u202e",
              "\u200b", "\ufeff", "\u3000", "\x00", "\x85", "\u2028", "=1+1", "@SUM(A1)", "=cmd|' /C calc'!A0",
              "1.10105E+17", "11010519491231002X", "110105491231002", "9" * 40, "-1", "NaN", "#N/A", "{path}", "{0}",
              "%s%n", "<script>alert(1)</script>", "   ", "")
BYTES = (b'"', b'""', b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b",", b"\t", b";", b"|", b"\r", b"\n",
         b"\r\n", b"\x1a", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\x81\x30\x81\x30", b"\xa1", b"\\N",
         *(w.encode("utf-8") for w in CELL_WORDS if w), *(w.encode("gb18030") for w in ("合计", "身份证号", "说明")))

POS = st.integers(0, 1 << 20)
Op = tuple[str, int, int, bytes]


def byte_ops(palette: tuple[bytes, ...], *, random_bytes: bool = True, long: bool = True,
             max_ops: int = 4) -> st.SearchStrategy[list[Op]]:
    """Edits of a byte string: delete, insert (palette or random), duplicate, overwrite, a line's first cell,
    a very long field."""
    payload = st.sampled_from(palette) | st.binary(min_size=1, max_size=8) if random_bytes else st.sampled_from(palette)
    op = st.one_of(
        st.tuples(st.just("delete"), POS, st.integers(1, 64), st.just(b"")),
        st.tuples(st.just("insert"), POS, st.just(0), payload),
        st.tuples(st.just("duplicate"), POS, st.integers(1, 400), st.just(b"")),
        st.tuples(st.just("overwrite"), POS, st.just(0), payload),
        st.tuples(st.just("first_cell"), POS, st.just(0), st.sampled_from([w.encode() for w in CELL_WORDS])),
        *((st.tuples(st.just("long"), POS, st.sampled_from(LONG_FIELDS), st.just(b"")),) if long else ()),
    )
    return st.lists(op, max_size=max_ops)


def mutate(data: bytes, ops: list[Op]) -> bytes:
    buf = bytearray(data)
    for what, at, n, payload in ops:
        i = at % (len(buf) + 1)
        if what == "delete":
            del buf[i:i + n]
        elif what == "insert":
            buf[i:i] = payload
        elif what == "duplicate":
            buf[i:i] = buf[i:i + n]
        elif what == "overwrite":
            buf[i:i + len(payload)] = payload
        elif what == "long":
            buf[i:i] = b"x" * n
        elif what == "first_cell":  # the line's first cell becomes the payload
            lines = bytes(buf).split(b"\n")
            k = at % len(lines)
            line = lines[k]
            cut = min((j for j in (line.find(b","), line.find(b"\t")) if j >= 0), default=len(line))
            lines[k] = payload + line[cut:]
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


SEED_20 = CSV_SEEDS["service_record_20.csv"]
SEED_OFFICE = CSV_SEEDS["referral_office.csv"]
SEED_ENCODING = {"referral_office_gb18030.csv": "gb18030", "referral_office.csv": "utf-8-sig"}  # else UTF-8
# the seeds' own cell values: a drawn cell that is a real value lets a row get past the first checks
REAL_VALUES = sorted({c for seed in (SEED_20, SEED_OFFICE) for line in seed.decode("utf-8-sig").splitlines()[1:]
                      for c in line.split(",") if c})
TEXT_INSERTS = ('"', '""', ",", "\t", ";", "|", "\r", "\n", "\r\n", "\x00", "\ufeff", "\x1a", *CELL_WORDS)
CellEdit = tuple[int, int, str]  # (line, column, new text)


def with_cell(seed: bytes, line: int, column: int, text: str) -> bytes:
    """``seed`` (UTF-8 CSV) with one cell replaced."""
    return edit_cells(seed, "utf-8-sig", [(line, column, text)], [])


def edit_cells(seed: bytes, encoding: str, cells: list[CellEdit], inserts: list[tuple[int, str]]) -> bytes:
    """``seed`` decoded, cells replaced (positions taken modulo the lines and cells there are), texts inserted
    anywhere, encoded again as it was (GB18030 stays GB18030 where the text allows)."""
    lines = seed.decode(encoding).split("\n")
    for line, column, text in cells:
        k = line % len(lines)
        row = lines[k].split(",")
        row[column % len(row)] = text
        lines[k] = ",".join(row)
    text = "\n".join(lines)
    for at, payload in inserts:
        i = at % (len(text) + 1)
        text = text[:i] + payload + text[i:]
    return text.encode(encoding, errors="replace" if encoding == "gb18030" else "surrogatepass")


cell_texts = st.sampled_from(CELL_WORDS) | st.sampled_from(REAL_VALUES) | st.text(max_size=12)
cell_edits = st.lists(st.tuples(POS, st.integers(0, 30), cell_texts), min_size=1, max_size=6)
text_inserts = st.lists(st.tuples(POS, st.sampled_from(TEXT_INSERTS)), max_size=2)
csv_seed_names = st.sampled_from(sorted(CSV_SEEDS))
csv_files = st.one_of(
    # cell edits: the file stays in its encoding, so most reach the checks
    st.builds(lambda name, cells, inserts: edit_cells(CSV_SEEDS[name], SEED_ENCODING.get(name, "utf-8"), cells,
                                                      inserts), csv_seed_names, cell_edits, text_inserts),
    st.builds(lambda name, cells, inserts: edit_cells(CSV_SEEDS[name], SEED_ENCODING.get(name, "utf-8"), cells,
                                                      inserts), csv_seed_names, cell_edits, text_inserts),
    # byte edits: anything goes
    st.builds(mutate, csv_seed_names.map(CSV_SEEDS.__getitem__), byte_ops(BYTES)),
)


# ------------------------------------------------------------------------------------------------ workbooks

SHEET_NAMES = ("Sheet1", "数据", "汇总", "说明", "第二表", "Sheet 2", "空表")
ERROR_FORMULAS = (("=1/0", "#DIV/0!"), ("=NA()", "#N/A"), ("=SQRT(-1)", "#NUM!"), ("=A1+\"x\"", "#VALUE!"),
                  ("=#REF!", "#REF!"), ("=XYZ()", "#NAME?"), ("=\"合计\"", "合计"), ("=1+1", 2))
DATE_NUMBER_FORMAT = "yyyy-mm-dd"

cell_values = st.one_of(
    st.tuples(st.just("s"), st.sampled_from(REAL_VALUES)), st.tuples(st.just("s"), st.sampled_from(REAL_VALUES)),
    st.tuples(st.just("s"), st.sampled_from(CELL_WORDS) | st.sampled_from(HEADERS) | st.text(max_size=30)),
    st.tuples(st.just("n"), st.integers(-(10**20), 10**20) | st.floats()),
    st.tuples(st.just("b"), st.booleans()),
    st.tuples(st.just("d"), st.datetimes(datetime(1900, 1, 1), datetime(9999, 12, 31))),
    st.tuples(st.just("f"), st.sampled_from(ERROR_FORMULAS)),
    st.tuples(st.just("id"), st.from_regex(r"\A[1-6][0-9]{16}[0-9X]\Z")),
)


def put(sheet: Any, row: int, col: int, value: tuple[str, Any], date_format: Any) -> None:
    tag, v = value
    if tag in ("s", "id"):
        sheet.write_string(row, col, v)
    elif tag == "n":
        sheet.write_number(row, col, float(v) if abs(v) < 1e308 else v)
    elif tag == "b":
        sheet.write_boolean(row, col, v)
    elif tag == "d":
        sheet.write_datetime(row, col, v, date_format)
    else:
        sheet.write_formula(row, col, v[0], None, v[1])


XML_BYTES = (b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xFFFF;", b'"', b"\xff", b"\x00", b"</sheetData>",
             b'<c r="B2" t="s"><v>99999</v></c>', b'<c r="C3" t="e"><v>#N/A</v></c>', b'<c r="CW3000"><v>1</v></c>',
             b'<c r="A" t="n"><v>x</v></c>', b'<c t="d"><v>not a date</v></c>', b'<row r="0">',
             b'<!DOCTYPE x [<!ENTITY a "b">]>', b"<workbookPr date1904=\"1\"/>", b'<mergeCell ref="A1:CW3000"/>',
             b'<sheet name="x" sheetId="9" r:id="rId99"/>', b'<si><t>[/x]</t></si>')
MEMBERS = ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/sharedStrings.xml", "xl/workbook.xml",
           "xl/styles.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels")
# The XML edits take no random bytes (and duplicate nothing): a byte edit of a cell reference such as r="A30"
# -> r="A3030030" makes a far cell past the FAR_ROW bound, which is an explicit case, not a drawn one.
xml_ops = st.lists(st.one_of(st.tuples(st.just("delete"), POS, st.integers(1, 64), st.just(b"")),
                             st.tuples(st.just("insert"), POS, st.just(0), st.sampled_from(XML_BYTES))),
                   min_size=1, max_size=3)
damages = st.one_of(
    st.just(("none",)), st.just(("none",)), st.just(("none",)),
    st.tuples(st.just("zip"), byte_ops((b"PK\x03\x04", b"PK\x01\x02", b"\x00" * 4, b"\xff" * 4), long=False,
                                       random_bytes=False, max_ops=2)),
    st.tuples(st.just("member"), st.sampled_from(MEMBERS), xml_ops),
    st.tuples(st.just("drop"), st.sampled_from(MEMBERS)),
)


def damage(data: bytes, how: tuple) -> bytes:
    """``data`` (a workbook) with its zip or one of its members corrupted."""
    if how[0] == "none":
        return data
    if how[0] == "zip":
        return mutate(data, how[1])
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                body = src.read(info.filename)
                if info.filename == how[1]:
                    if how[0] == "drop":
                        continue
                    body = mutate(body, how[2])
                dst.writestr(info.filename, body)
    return out.getvalue()


@st.composite
def workbooks(draw: st.DrawFn) -> bytes:
    """An XLSX file: one to three sheets, each with a header (or none), rows of drawn values, far cells within
    the bound, error formulas; then maybe corrupted."""
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "nan_inf_to_errors": True, "strings_to_numbers": False,
                                     "strings_to_formulas": False, "strings_to_urls": False})
    date_format = book.add_format({"num_format": DATE_NUMBER_FORMAT})
    for name in draw(st.lists(st.sampled_from(SHEET_NAMES), min_size=1, max_size=3, unique=True)):
        sheet = book.add_worksheet(name)
        top, left = draw(st.integers(0, 4)), draw(st.integers(0, 2))
        if draw(st.booleans()):
            sheet.write_string(0, 0, draw(st.sampled_from(("计划生育技术服务介绍信登记表", "填报单位：某区", "[/x]"))))
        fields = draw(st.lists(st.sampled_from(sorted(SPELLINGS)), max_size=10, unique=True))
        headers = [draw(st.sampled_from(SPELLINGS[f])) for f in fields]  # a field once (duplicates: rarely)
        if headers and draw(st.integers(0, 9)) == 0:
            headers.append(headers[0])
        for j, header in enumerate(headers):
            sheet.write_string(top, left + j, header)
        for i, row in enumerate(draw(st.lists(st.lists(cell_values, max_size=len(headers) + 2), max_size=8))):
            for j, value in enumerate(row):
                put(sheet, top + 1 + i, left + j, value, date_format)
        for row, col, value in draw(st.lists(st.tuples(st.integers(0, FAR_ROW - 1), st.integers(0, FAR_COL - 1),
                                                       cell_values), max_size=3)):
            put(sheet, row, col, value, date_format)
    book.close()
    return damage(buf.getvalue(), draw(damages))


def workbook(cells: dict[tuple[int, int], Any], *, sheets: int = 1) -> bytes:
    """A small XLSX file with these text cells on each of ``sheets`` sheets (for the explicit cases)."""
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    for k in range(sheets):
        sheet = book.add_worksheet(f"Sheet{k + 1}")
        for (row, col), value in cells.items():
            sheet.write(row, col, value)
    book.close()
    return buf.getvalue()


OFFICE_HEADER = SEED_OFFICE.decode("utf-8-sig").splitlines()[2].split(",")
OFFICE_ROW = SEED_OFFICE.decode("utf-8-sig").splitlines()[3].split(",")
# far cells past the drawn bound (issue J: XFD1048576 aborted the process, A1048576 cost 2 GB and 35 s)
FAR_XFD = workbook({(0, 0): OFFICE_HEADER[1], (1, 0): OFFICE_ROW[1], (1048575, 16383): "x"})
FAR_A = workbook({(0, 0): OFFICE_HEADER[1], (1, 0): OFFICE_ROW[1], (1048575, 0): "x"})
# an invalid workbook whose errors are on its second sheet only (issue J: passed, only the first sheet was read)
_second = io.BytesIO()
with xlsxwriter.Workbook(_second, {"in_memory": True}) as _book:
    _book.add_worksheet("封面").write(0, 0, "计划生育技术服务介绍信登记表")
    _data = _book.add_worksheet("数据")
    for _j, _h in enumerate(OFFICE_HEADER):
        _data.write_string(0, _j, _h)
    for _j, _v in enumerate(OFFICE_ROW):
        _data.write_string(1, _j, _v if _j != 1 else "110105199003070000")
SECOND_SHEET = _second.getvalue()
# a data row whose ID cell is an Excel error (#N/A): a finding, not an empty cell
_errors = io.BytesIO()
with xlsxwriter.Workbook(_errors, {"in_memory": True}) as _book:
    _sheet = _book.add_worksheet()
    for _j, (_h, _v) in enumerate(zip(OFFICE_HEADER, OFFICE_ROW, strict=True)):
        _sheet.write_string(0, _j, _h)
        _sheet.write_string(1, _j, _v)
    _sheet.write_formula(1, 1, "=NA()", None, "#N/A")
ERROR_CELLS = _errors.getvalue()


def damaged_deflate(book: bytes, member: str = "xl/worksheets/sheet1.xml") -> bytes:
    """``book`` with the first byte of ``member``'s compressed data overwritten (a broken deflate stream)."""
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        info = z.getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    return book[:start] + b"\xff" + book[start + 1:]


BROKEN_DEFLATE = damaged_deflate(ERROR_CELLS)


# ------------------------------------------------------------------------------------------------ JSON

SERVICE_FIELDS = [f.name for f in contract.fields("service_record")]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(10**60), 10**60),
                         st.floats(), st.text(max_size=20), st.sampled_from(CELL_WORDS),
                         st.from_regex(r"\A[1-6][0-9]{16}[0-9X]\Z"))
json_keys = st.sampled_from(SERVICE_FIELDS) | st.sampled_from(HEADERS) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(json_keys, kids, max_size=5), max_leaves=20)
records = st.dictionaries(json_keys, json_values, max_size=8)
record_lists = st.lists(records | json_values, max_size=6)


def deep(depth: int, opener: str = "[") -> bytes:
    closer = {"[": "]", "{\"a\":": "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


json_texts = st.one_of(
    record_lists.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),  # NaN and Infinity included
    json_values.map(lambda v: json.dumps(v).encode()),  # not a list
    st.builds(deep, st.integers(1, 100_000), st.sampled_from(["[", "{\"a\":"])),
    st.integers(4_000, 20_000).map(lambda n: b'[{"client_id": ' + b"9" * n + b"}]"),  # past int() digits limit
    st.builds(mutate, record_lists.map(lambda v: json.dumps(v).encode()),
              byte_ops((b"\\ud800", b'"\\u0000"', b"NaN", b"-Infinity", b"1e999", b"[", b"{", b"}", b",",
                        b'"key" : 1', b"\xef\xbb\xbf"), long=False)),
)


@st.composite
def jsonl_texts(draw: st.DrawFn) -> bytes:
    """JSON lines: records, values that are not objects, garbage, blank lines, spaced keys, BOM, GB18030."""
    line = st.one_of(records.map(json.dumps), records.map(lambda r: json.dumps(r, separators=(" , ", " : "))),
                     json_values.map(json.dumps), st.sampled_from(("", "   ", "{", "]", "null", "[1,2]", "合计")),
                     st.text(max_size=20))
    lines = draw(st.lists(line, max_size=12))
    text = draw(st.sampled_from(("\n", "\r\n"))).join(lines)
    data = text.encode(draw(st.sampled_from(("utf-8", "utf-8-sig", "gb18030"))), errors="surrogatepass")
    return mutate(data, draw(byte_ops(BYTES, long=False, max_ops=2)))


jsonl_files = jsonl_texts() | st.builds(mutate, st.just(JSONL_SEED), byte_ops(BYTES))


HUGE_INT_JSON = b'[{"client_id": ' + b"9" * 5000 + b"}]"  # past Python's 4300-digit int() limit
BOM_EMPTY_OBJECTS = b"\xef\xbb\xbf{}\n{}\n"  # JSONL: a BOM, then objects with no keys


def many_lines_late_key() -> bytes:
    """1001 clean JSONL lines, then one whose key is first seen there and written ``"key" : value`` (issue J:
    the key was dropped)."""
    line = JSONL_SEED.splitlines()[1].decode()
    late = line[:-1] + ', "iud_history" : "不是布尔值"}'
    return ("\n".join([line] * 1001 + [late]) + "\n").encode()


# ------------------------------------------------------------------------------------------------ library


@fuzz(examples=200, deadline_seconds=60)
@given(case=st.tuples(st.sampled_from((".csv", ".csv", ".csv", ".tsv", ".txt")), csv_files,
                      st.sampled_from((None, "service_record")), st.booleans()))
@example(case=(".csv", with_cell(SEED_20, 2, 5, "[/x]"), None, False))
@example(case=(".csv", with_cell(SEED_20, 2, 5, "\x1b[31m\x1b]0;x\x07"), None, False))
@example(case=(".csv", with_cell(SEED_20, 3, 0, "合计"), None, False))
@example(case=(".csv", with_cell(SEED_20, 20, 0, "说明"), None, True))
@example(case=(".csv", SEED_20.replace(b",", b",\x00", 3), None, False))
@example(case=(".csv", b"\xef\xbb\xbf" + SEED_20, "service_record", True))
@example(case=(".csv", SEED_OFFICE.replace(b"\r\n", b"\r"), None, False))
def test_csv_library(worker, spool, case):
    """Mutated CSV through the library: a report whose rows add up, or an InputError; nothing else."""
    suffix, content, kind, streamed = case
    library_contract(worker, spool, suffix, content, kind, streamed)


@fuzz(examples=100, deadline_seconds=60)
@given(case=st.tuples(st.sampled_from((".xlsx", ".xlsx", ".xlsx", ".xlsm", ".xls")), workbooks(),
                      st.sampled_from((None, "service_record"))))
@example(case=(".xlsx", SECOND_SHEET, None))
@example(case=(".xlsx", SECOND_SHEET, "service_record"))
@example(case=(".xlsx", ERROR_CELLS, None))
@example(case=(".xlsx", BROKEN_DEFLATE, None))
def test_xlsx_library(worker, spool, case):
    """Drawn and corrupted workbooks through the library (cells within A1:CW3000)."""
    suffix, content, kind = case
    library_contract(worker, spool, suffix, content, kind)


@fuzz(examples=120, deadline_seconds=60)
@given(case=st.tuples(st.just(".json"), json_texts, st.sampled_from((None, "service_record"))))
@example(case=(".json", deep(50_000), None))
@example(case=(".json", HUGE_INT_JSON, "service_record"))
@example(case=(".json", b'[{"client_id": NaN, "sex": Infinity}]', "service_record"))
@example(case=(".json", b'[{"client_id": "\\ud800"}]', "service_record"))
def test_json_library(worker, spool, case):
    """JSON files: drawn values, deep nesting, huge numbers, NaN, lone surrogates."""
    suffix, content, kind = case
    library_contract(worker, spool, suffix, content, kind)


@fuzz(examples=120, deadline_seconds=60)
@given(case=st.tuples(st.sampled_from((".jsonl", ".ndjson")), jsonl_files, st.sampled_from((None, "service_record"))))
@example(case=(".jsonl", many_lines_late_key(), None))
@example(case=(".jsonl", BOM_EMPTY_OBJECTS, None))
@example(case=(".jsonl", b'{"client_id": 1}\n[1, 2]\n"x"\n', "service_record"))
@example(case=(".jsonl", deep(50_000) + b"\n", "service_record"))
def test_jsonl_library(worker, spool, case):
    """JSONL files: drawn lines, lines that are not objects, spaced keys, encodings."""
    suffix, content, kind = case
    library_contract(worker, spool, suffix, content, kind)


@fuzz(examples=150, deadline_seconds=60)
@given(value=record_lists | json_values, kind=st.sampled_from((*KINDS, "service_record", "no_such_kind")))
@example(value=[{}], kind="adverse_event")
@example(value={"not a field": 1}, kind="staff")
@example(value=[{"client_id": 110105199003070026}], kind="service_record")
@example(value=[{"client_id": ["110105199003070026"], "sex": {"a": [None]}}], kind="service_record")
@example(value=[{"client_id": 10**40, "fee": float("nan")}], kind="service_record")
def test_records_library(worker, spool, value, kind):
    """Python values through validate_records / validate_record (which never raise) and validate(list)."""
    path = spool / "records.pickle"
    path.write_bytes(pickle.dumps(value))
    out = worker.ask({"op": "records", "path": str(path), "kind": kind})
    assert out["outcome"] != "crash", f"{out['error']} (not an InputError):\n{out['traceback']}"
    if out["outcome"] == "report" and "rows_total" in out["summary"]:
        check_rows(out["summary"])


# ------------------------------------------------------------------------------------------------ CLI

CLI_ARGS = ((), (), ("--kind", "service_record"), ("--lang", "en"), ("--max-findings", "1"),
            ("--encoding", "gb18030"), ("--encoding", "rot13"))
ESCAPES = re.compile("[\x1b\x9b]")  # ESC and the 8-bit CSI: nothing from a cell may drive the terminal


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "fpschema", *args], cwd=cwd, env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=CALL_SECONDS, preexec_fn=_cap_memory)


any_file = st.one_of(
    st.tuples(st.just(".csv"), csv_files), st.tuples(st.just(".csv"), csv_files),
    st.tuples(st.just(".xlsx"), workbooks()), st.tuples(st.just(".json"), json_texts),
    st.tuples(st.just(".jsonl"), jsonl_files),
)


@fuzz(examples=25, deadline_seconds=90)  # each run starts a Python: about 1 s
@given(case=st.one_of(st.tuples(st.just("validate"), any_file, st.sampled_from(CLI_ARGS)),
                      st.tuples(st.just("check-records"), st.tuples(st.sampled_from((".jsonl", ".json")),
                                                                    jsonl_files | json_texts), st.just(()))))
@example(case=("validate", (".csv", with_cell(SEED_20, 2, 5, "[/x]")), ()))
@example(case=("validate", (".csv", with_cell(SEED_20, 2, 5, "\x1b[31m\x1b]0;x\x07")), ()))
@example(case=("validate", (".xlsx", FAR_XFD), ()))
@example(case=("validate", (".xlsx", FAR_A), ()))
@example(case=("validate", (".csv", SEED_20), ("--encoding", "rot13")))
@example(case=("check-records", (".json", deep(50_000)), ()))
@example(case=("check-records", (".json", HUGE_INT_JSON), ()))
@example(case=("check-records", (".json", b'[{"sex": "[/x]", "client_id": "\\u001b[31mx"}]'), ()))
@example(case=("validate", (".jsonl", BOM_EMPTY_OBJECTS), ()))
@example(case=("validate", (".xlsx", BROKEN_DEFLATE), ()))
def test_cli(spool, case):
    """The CLI on drawn files: exit 0, 1 or 2, no traceback, no escape sequence, the report written."""
    command, (suffix, content), extra = case
    folder = spool / "cli"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / f"input{suffix}"
    path.write_bytes(content)
    report = folder / "report.json"
    if command == "validate":
        args = ["validate", str(path), "--reference-date", REF.isoformat(), "--format", "json", "--output",
                str(report), *extra]
    else:
        args = ["check-records", "service_record", str(path), "--reference-date", REF.isoformat()]
    try:
        done = run_cli(args, folder)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hang: {command} did not finish within {CALL_SECONDS} s") from None
    said = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    assert done.returncode in (0, 1, 2), f"exit {done.returncode}:\n{said[-3000:]}"
    assert "Traceback" not in said, said[-3000:]
    assert not ESCAPES.search(said), f"a raw escape sequence reached the terminal: {said[-500:]!r}"
    if command == "validate" and done.returncode in (0, 1):
        check_rows(json.loads(report.read_text(encoding="utf-8")))


# ------------------------------------------------------------------------------------------------ service

UPLOAD_LIMIT = 4_000_000  # max_upload_bytes of the fuzzed server (the longest drawn field is 1.1 MB)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz-server"), reference_date=REF.isoformat(), read_timeout=2.0,
                     max_upload_bytes=UPLOAD_LIMIT, max_concurrent=2, time_limit=CALL_SECONDS) as live:
        yield live


def service_contract(response: httpx.Response, fmt: str, *, busy_ok: bool = False) -> None:
    """A report in the format asked for, or a coded JSON error that is not a crash."""
    status = response.status_code
    if status == 200:
        media = response.headers["content-type"]
        if fmt == "json" and media.startswith("application/json"):
            doc = response.json()
            assert "ok" in doc, doc
            check_rows(doc)
        else:
            assert media.startswith({"html": "text/html", "csv": "text/csv"}.get(fmt, "?")), media
        return
    code = error_of(response)
    assert status != 500 and code != "internal.error", f"internal error: {response.text[:500]}"
    assert code != "input.unprocessable", f"the reader or engine crashed (422): {response.text[:500]}"
    assert status != 504, f"a validation took over {CALL_SECONDS} s: {response.text[:300]}"
    assert busy_ok or status != 503, f"a validation slot leaked: {response.text[:300]}"


BOUNDARY = "fpschemaFuzzBoundary"
ENVELOPE_BYTES = (f"\r\n--{BOUNDARY}\r\n".encode(), f"--{BOUNDARY}--".encode(), b"\r\n\r\n", b"\r\n", b"\n",
                  b'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n', b"\x00", b'"', b";",
                  b"Content-Type: text/csv\r\n")
FILE_NAMES = ("data", "数据 (1)", "../etc/passwd", "a\r\nX-Injected: 1", "a\x00b", "\u202egpj", "[/x]", "a" * 300,
              "%2e%2e%2f", "C:\\x\\y")
params = st.fixed_dictionaries({}, optional={"kind": st.sampled_from(("service_record", "institution", "no_such")),
                                             "format": st.sampled_from(("json", "json", "html", "csv", "xml")),
                                             "lang": st.sampled_from(("zh", "en", "fr")),
                                             "max_findings": st.sampled_from(("0", "5", "-1", "x", "99999999999"))})


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[dict[str, str], str, bytes]:
    """(query, content type, body): a drawn file in a multipart envelope, the envelope maybe damaged."""
    suffix, content = draw(any_file)
    name = draw(st.sampled_from(FILE_NAMES) | st.just("upload")) + draw(st.sampled_from((suffix, suffix, "", ".exe")))
    field = draw(st.sampled_from(("file", "file", "file", "files", "")))
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
    head += draw(st.sampled_from(("Content-Type: application/octet-stream\r\n", "", "Content-Type: text/csv\r\n")))
    body = head.encode("utf-8", errors="surrogatepass") + b"\r\n" + content + f"\r\n--{BOUNDARY}--\r\n".encode()
    if draw(st.integers(0, 3)) == 0:
        body = mutate(body, draw(byte_ops(ENVELOPE_BYTES, long=False, max_ops=3)))
    ctype = draw(st.sampled_from((f"multipart/form-data; boundary={BOUNDARY}",) * 4 + (
        f'multipart/form-data; boundary="{BOUNDARY}"', "multipart/form-data", f"multipart/form-data; boundary={BOUNDARY}x",
        "multipart/form-data; boundary=", f"multipart/mixed; boundary={BOUNDARY}", "text/csv")))
    return draw(params), ctype, body


json_bodies = st.tuples(params, st.sampled_from(("application/json",) * 4 + ("application/json; charset=gb18030",
                                                                              "application/x-ndjson")),
                        json_texts | record_lists.map(lambda v: json.dumps(v).encode()))


def _upload(name: str, content: bytes) -> tuple[str, bytes]:
    """(content type, body) of a plain upload of ``content`` as ``name``."""
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + content + f"\r\n--{BOUNDARY}--\r\n".encode())
    return f"multipart/form-data; boundary={BOUNDARY}", body


def post(server: LiveServer, query: dict[str, str], ctype: str, body: bytes) -> httpx.Response:
    try:
        return httpx.post(f"{server.url}/v1/validate", params=query, content=body, headers={"content-type": ctype},
                          timeout=CALL_SECONDS)
    except httpx.TimeoutException:
        raise AssertionError(f"hang: no answer within {CALL_SECONDS} s") from None


def assert_up(server: LiveServer) -> None:
    assert server.process.poll() is None, f"the service died (exit {server.process.returncode})"
    health = httpx.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    server.wait_idle()


def test_service_multipart(fuzz_server):
    """Drawn files in drawn multipart envelopes, posted one after another; then /healthz answers."""

    @fuzz(examples=70, deadline_seconds=60)
    @given(case=multipart_bodies())
    @example(case=({}, *_upload("a.json", HUGE_INT_JSON)))
    @example(case=({}, *_upload("a.jsonl", BOM_EMPTY_OBJECTS)))
    @example(case=({}, *_upload("a.xlsx", BROKEN_DEFLATE)))
    @example(case=({}, f"multipart/form-data; boundary={BOUNDARY}",
                   f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'.encode()
                   + with_cell(SEED_20, 2, 5, "[/x]") + f"\r\n--{BOUNDARY}--\r\n".encode()))
    @example(case=({"format": "html"}, f"multipart/form-data; boundary={BOUNDARY}",
                   f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.xlsx"\r\n\r\n'.encode()
                   + SECOND_SHEET + f"\r\n--{BOUNDARY}--\r\n".encode()))
    def one(case):
        query, ctype, body = case
        service_contract(post(fuzz_server, query, ctype, body), query.get("format", "json"))

    one()
    assert_up(fuzz_server)


def test_service_json(fuzz_server):
    """Drawn JSON bodies (deep, huge numbers, not lists, damaged); then /healthz answers."""

    @fuzz(examples=70, deadline_seconds=60)
    @given(case=json_bodies)
    @example(case=({}, "application/json", deep(100_000)))
    @example(case=({"format": "html"}, "application/json", HUGE_INT_JSON))
    @example(case=({"kind": "service_record"}, "application/json", b'[{"client_id": 110105199003070026}, 1, "x"]'))
    def one(case):
        query, ctype, body = case
        service_contract(post(fuzz_server, query, ctype, body), query.get("format", "json"))

    one()
    assert_up(fuzz_server)


def test_service_burst_of_hostile_uploads(tmp_path):
    """The explicit hostile inputs, one after another (each one validated), then all of them twice, four at a
    time, on a server of two slots: every answer a report or a coded error (503 busy allowed in the burst), the
    service still up, no spool file left behind."""
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    corpus = [_upload("far.xlsx", FAR_XFD), _upload("markup.csv", with_cell(SEED_20, 2, 5, "[/x]")),
              _upload("second.xlsx", SECOND_SHEET), _upload("errors.xlsx", ERROR_CELLS),
              _upload("nul.csv", SEED_20.replace(b",", b",\x00", 3)), _upload("late.jsonl", many_lines_late_key()),
              _upload("deep.json", deep(50_000)), ("application/json", deep(100_000)),
              ("application/json", HUGE_INT_JSON),
              _upload("long.csv", mutate(SEED_20, [("long", 300, 1_100_000, b"")]))]
    with live_server(tmp_path / "server", reference_date=REF.isoformat(), read_timeout=2.0,
                     max_upload_bytes=UPLOAD_LIMIT, max_concurrent=2, time_limit=CALL_SECONDS,
                     tmp_dir=str(spool_dir)) as server:
        for ctype, body in corpus:
            service_contract(post(server, {}, ctype, body), "json")
        lock = threading.Lock()
        answers: list[tuple[str, httpx.Response | BaseException]] = []

        def send(item: tuple[str, bytes]) -> None:
            try:
                answer: httpx.Response | BaseException = post(server, {}, *item)
            except (AssertionError, httpx.TransportError) as exc:
                answer = exc
            with lock:
                answers.append((item[1][:80].decode(errors="replace"), answer))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, corpus * 2))
        for head, answer in answers:
            assert isinstance(answer, httpx.Response), f"no answer to {head!r}: {answer!r}"
            service_contract(answer, "json", busy_ok=True)
        assert_up(server)
        assert not list(spool_dir.iterdir()), f"spool files left behind: {list(spool_dir.iterdir())}"
