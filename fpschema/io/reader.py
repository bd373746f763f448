"""Read the files people really upload (CSV/TSV, XLSX, XLS, JSON, JSONL, Parquet, data frames, lists of
dicts) into an all-text polars table.

The result is a :class:`Table`: a frame whose first column ``__row__`` is the row number a person sees
(the spreadsheet row for CSV/XLSX/XLS, the line for JSONL, the element for JSON), followed by one
``pl.String`` column per header, named by the header text after :func:`normalize_header`. Title rows
above the header, blank rows, footers (填表人/审核人…) and totals rows (合计/总计/小计) are recorded and kept
out of the frame. Every way a file can be unreadable becomes an :class:`~fpschema.errors.InputError`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import itertools
import json
import math
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError

ROW = "__row__"
FIELDS = "__fields__"  # internal: number of fields a CSV record had
SPECIAL = "__special__"  # internal: the CSV line may be blank, a footer or a totals row (else it surely is not)

SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls",
    ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
}
FORMATS: dict[str, str] = {"csv": "csv", "tsv": "csv", "txt": "csv", "xlsx": "xlsx", "xlsm": "xlsx", "xls": "xls",
                           "json": "json", "jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}

TOTAL_WORDS = ("合计", "总计", "小计")
_SP = r"[\s\u200b]*"
# A footer line starts with one of these; 注 only as a note (注：, 注1, 注释), not as in 注射避孕针.
FOOTER_WORDS = ("填表人", "审核人", "单位负责人", "填报人", "制表", "说明")
FOOTER_RE = ("^" + _SP + "(?:" + "|".join(_SP.join(w) for w in FOOTER_WORDS)
             + "|注(?:" + _SP + "[:：]|释|意|[0-9０-９①-⑨]))")
TOTAL_RE = "^" + _SP + "(?:" + "|".join(_SP.join(w) for w in TOTAL_WORDS) + ")" + _SP + "[:：]?" + _SP + "$"
BLANK_CHARS = "\t\n\x0b\x0c\r \xa0\u3000"   # what a "whitespace-only" cell may consist of
BLANK_RE = f"^[{BLANK_CHARS}]*$"
FILL_IN = re.compile(r"^(?:填报单位|填报日期|填表日期|报告单位|报送单位|报告日期|报送日期|统计时间|统计日期|报告期"
                     r"|表号|制表机关|批准机关|批准文号|有效期至|单位)[:：]")
HEADER_SCAN = 15          # non-empty rows examined when looking for the header
MAX_HEADER_DEPTH = 2      # rows above the header row that may belong to a merged header
DELIMITERS = (",", "\t", ";", "|")
SAMPLE_LINES_BYTES = 4 << 20   # CSV bytes looked at to find the delimiter and the header
HEAD = 64 << 10                # bytes examined for NULs / encoding
CHUNK = 1 << 20
ZIP_MEMBER_CHECK = 1_000_000   # members smaller than this are not checked for their compression ratio
BIG_INTEGRAL = 1e15
JSON_KEY_RE = r'"((?:[^"\\]|\\.)*)"\s*:'  # a JSON object key and its colon (spaces allowed before it)
_WS_CLASS = r"[\s\u200b\u200c\u200d\u2060\ufeff]"
_WS = re.compile(_WS_CLASS + "+")
_NON_WS = re.compile(rb"[^ \t\r\n\x0b\x0c]")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


@dataclass
class Limits:
    """Guards against files that are not tables or would exhaust memory."""

    max_bytes_line: int = 1_048_576          # longest CSV/JSONL line accepted
    max_unzipped_bytes: int = 500_000_000    # xlsx: total uncompressed size of the zip members
    max_zip_ratio: int = 200                 # xlsx: uncompressed/compressed ratio of any member
    max_rows: int | None = None
    stream_bytes: int = 32 << 20             # UTF-8 or GB18030 CSV files at least this big are read in blocks
    block_bytes: int = 24 << 20              # ... in blocks of about this many bytes
    max_cells: int = 20_000_000              # spreadsheet: cells holding a value in one sheet
    max_columns: int = 4_096                 # spreadsheet: columns holding a value in one sheet
    max_area: int = 30_000_000               # spreadsheet: rows × columns holding values (the grid read at once)
    max_findings_total: int | None = None    # findings one validation (one sheet) may hold, counted before they are
    #                                          built (a few hundred bytes each); more: input.too_many_findings


DENSE_SLACK = 1_000_000  # a sheet whose grid from A1 has at most this many cells is read as it is ...
DENSE_FACTOR = 4         # ... or one at most this many times its value cells; a sparser one is compacted first


@dataclass
class Table:
    """An all-text table read from one source, with the rows that were left out and why."""

    frame: pl.DataFrame
    name: str
    format: str
    encoding: str | None = None
    sha256: str | None = None
    header_rows: list[int] = field(default_factory=list)
    skipped_rows: list[tuple[int, str]] = field(default_factory=list)
    totals_rows: list[int] = field(default_factory=list)
    sheet: str | None = None                 # the worksheet this table was read from
    blank_rows: int = 0                      # blank rows among the data rows (not rows in)
    cell_errors: list[tuple[int, str, str]] = field(default_factory=list)  # Excel error cells: (row, column, text)
    sheets: list[Table] = field(default_factory=list)  # a workbook: every sheet read (this one first)
    sheet_notes: list[dict[str, Any]] = field(default_factory=list)  # sheets not read: name, status, reason
    sheet_order: list[str] = field(default_factory=list)  # a workbook: its sheet names in order

    @property
    def columns(self) -> list[str]:
        """The data columns (without ``__row__``)."""
        return self.frame.columns[1:]


def normalize_header(text: str) -> str:
    """NFKC-normalise a header and remove every whitespace character (also newlines inside merged cells)."""
    return _WS.sub("", unicodedata.normalize("NFKC", str(text)))


def read(source: Any, *, fmt: str | None = None, encoding: str | None = None,
         known_headers: Collection[str] = (), limits: Limits | None = None, sheet: str | None = None) -> Table:
    """Read ``source`` (a path, a polars or pandas DataFrame, or a list of dicts) into a :class:`Table`.

    A workbook gives every worksheet with data (``Table.sheets``), or only the one named ``sheet``.

    ``known_headers`` are header spellings the caller can map (normalised); they locate the header row
    and resolve multi-row merged headers. Bad input raises :class:`InputError`, never anything else.
    """
    limits = limits or Limits()
    known = frozenset(normalize_header(h) for h in known_headers)
    if isinstance(source, pl.DataFrame):
        return _finish_flat(_text_frame(source), 0, "<dataframe>", "dataframe", limits)
    if _is_pandas(source):
        return _finish_flat(_pandas_text_frame(source), 0, "<dataframe>", "dataframe", limits)
    if isinstance(source, list | tuple) and not isinstance(source, str):
        records = list(source)
        return _finish_flat(_records_frame(records, base=0), 0, "<records>", "records", limits,
                            rows=range(len(records)))
    if isinstance(source, str | Path):
        return _read_path(Path(source), fmt, encoding, known, limits, sheet)
    raise TypeError(f"cannot read a {type(source).__name__}; give a path, a DataFrame or a list of dicts")


# ----------------------------------------------------------------------------------------------- paths


def _read_path(path: Path, fmt: str | None, encoding: str | None, known: frozenset[str],
               limits: Limits, sheet: str | None = None) -> Table:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError("input.not_found", path=str(path)) from None
    except OSError as exc:
        raise InputError("input.not_found", path=f"{path} ({exc.strerror})") from None
    if path.is_dir():
        raise InputError("input.is_directory", path=str(path))
    kind = _format_of(path, fmt)
    if sheet is not None and kind not in ("xlsx", "xls"):
        raise InputError("input.sheet_not_found", sheet=sheet, sheets=f"{kind}: -")
    if st.st_size == 0:
        raise InputError("input.empty", path=str(path))
    try:
        if kind in ("csv", "jsonl"):
            digest = _scan_lines(path, limits.max_bytes_line)
        else:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if kind == "csv":
            table = _read_csv(path, encoding, known, limits, prefer_tab=path.suffix.lower() == ".tsv")
        elif kind == "json":
            table = _read_json(path.read_bytes(), path, encoding, limits)
        elif kind == "jsonl":
            table = _read_jsonl(path.read_bytes(), path, encoding, limits)
        elif kind == "parquet":
            table = _read_parquet(path, limits)
        else:
            table = _read_spreadsheet(path, kind, known, limits, sheet)
    except IsADirectoryError:
        raise InputError("input.is_directory", path=str(path)) from None
    except OSError as exc:
        raise InputError("input.not_found", path=f"{path} ({exc.strerror})") from None
    for part in table.sheets or [table]:
        part.sha256 = digest
    return table


def _format_of(path: Path, fmt: str | None) -> str:
    """The format from ``fmt`` or the file suffix; anything else is input.format."""
    kind = FORMATS.get(fmt.lower().lstrip(".")) if fmt else SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError("input.format", path=f"{path}" + (f" ({fmt})" if fmt else ""))
    return kind


def _scan_lines(path: Path, limit: int) -> str:
    """Hash the file and reject a line longer than ``limit`` bytes, reading 1 MiB at a time."""
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    run = 0      # bytes since the last newline, carried over from earlier chunks
    offset = 0   # file offset of buf[0]
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(view):
            digest.update(view[:n])
            first = buf.find(b"\n", 0, n)
            if first < 0:
                run += n
                if run > limit:
                    _line_too_long(path, offset + n - run, limit)
            else:
                if run + first > limit:
                    _line_too_long(path, offset - run, limit)
                last = buf.rfind(b"\n", 0, n)
                if limit < CHUNK and last > first:
                    _check_inner_lines(path, buf, first, last, offset, limit)
                run = n - last - 1
            offset += n
    return digest.hexdigest()


def _check_inner_lines(path: Path, buf: bytearray, first: int, last: int, offset: int, limit: int) -> None:
    """Lines wholly inside one chunk, only checked when the limit is below the chunk size."""
    if max(map(len, buf[first + 1:last].split(b"\n"))) <= limit:
        return
    pos = first + 1
    while (nxt := buf.find(b"\n", pos, last + 1)) >= 0:
        if nxt - pos > limit:
            _line_too_long(path, offset + pos, limit)
        pos = nxt + 1


def _line_too_long(path: Path, at: int, limit: int) -> None:
    """Raise input.line_too_long for the line running through byte ``at`` (its row: the newlines before it)."""
    raise InputError("input.line_too_long", row=newlines_before(path, at) + 1, limit=limit)


def newlines_before(path: Path, at: int) -> int:
    """Line ends in the file before byte ``at`` (read in chunks)."""
    newlines, done = 0, 0
    with path.open("rb") as fh:
        while done < at and (chunk := fh.read(min(CHUNK, at - done))):
            newlines += chunk.count(b"\n")
            done += len(chunk)
    return newlines


# -------------------------------------------------------------------------------------------- encoding


def _codec(name: str) -> str:
    """Canonical codec name; GBK and GB2312 are read as their superset GB18030."""
    try:
        info = codecs.lookup(name)
    except (LookupError, TypeError, ValueError):
        raise InputError("input.unknown_encoding", path=f"encoding={name}") from None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib…: codecs, but not of text
        raise InputError("input.unknown_encoding", path=f"encoding={name}")
    canon = info.name
    return "gb18030" if canon in ("gbk", "gb2312", "cp936", "euc_cn", "hz") else canon


def _detect_encoding(head: bytes, size: int, requested: str | None, path: Path) -> str:
    """BOM → utf-8-sig (or utf-16); else UTF-8 if the head decodes; else GB18030; else binary/unknown.

    ``head`` is the start of the file (at least HEAD bytes unless the file is shorter), ``size`` its size.
    """
    if requested:
        enc = _codec(requested)
        return "utf-8-sig" if enc == "utf-8" and head.startswith(codecs.BOM_UTF8) else enc
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    head = head[:HEAD]
    whole = size <= len(head)
    if b"\x00" in head:
        raise InputError("input.binary", path=str(path))
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
        return "utf-8"
    except UnicodeDecodeError as exc:
        if _utf8_evidence(head[:exc.start]):
            return "utf-8"  # UTF-8 text with a bad stretch: reading it reports where
    try:
        head.decode("gb18030")
    except UnicodeDecodeError as exc:
        if whole or exc.start < len(head) - 4:  # not just a character cut off by the end of the head
            raise _undecodable(head, path) from None
    return "gb18030"


def _utf8_evidence(prefix: bytes) -> bool:
    """Whether valid UTF-8 before a bad byte shows the file is UTF-8: at least two non-ASCII characters
    (one could be a GB18030 pair that happens to be valid UTF-8)."""
    if prefix.isascii():
        return False
    text = prefix.decode("utf-8", "ignore")
    return len(text) - len(text.encode("ascii", "ignore")) >= 2


def _undecodable(raw: bytes, path: Path) -> InputError:
    """Neither UTF-8 nor GB18030: binary if it has control bytes, else an encoding we do not read."""
    head = raw[:HEAD]
    if len(_CONTROL.findall(head)) > max(1, len(head) // 100):
        return InputError("input.binary", path=str(path))
    return InputError("input.unknown_encoding", path=str(path))


def _guess(raw: bytes) -> str:
    """What the bytes look like, for the message of input.encoding."""
    for enc in ("utf-8", "gb18030"):
        try:
            raw.decode(enc)
            return enc
        except UnicodeDecodeError:
            pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:HEAD]).best()
    except Exception:  # noqa: BLE001 - an opinion only
        best = None
    return best.encoding if best is not None else "unknown"


def _decode_error(raw: bytes, enc: str, exc: UnicodeDecodeError) -> InputError:
    """input.encoding for a decoding failure, with the line where it happens."""
    row = raw.count(b"\n", 0, exc.start) + 1
    return InputError("input.encoding", encoding=enc, row=row, detected=_guess(raw))


def _text_of(raw: bytes, requested: str | None, path: Path) -> tuple[str, str]:
    """The decoded text and its encoding (for JSON and JSONL)."""
    enc = _detect_encoding(raw[:HEAD], len(raw), requested, path)
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        if requested or (enc == "utf-8" and _utf8_evidence(raw[:exc.start])):
            raise _decode_error(raw, enc, exc) from None
        if enc == "utf-8" and _gb18030_ok(raw):
            return _text_of(raw, "gb18030", path)
        raise _undecodable(raw, path) from None
    if not text.strip("\ufeff" + BLANK_CHARS):
        raise InputError("input.empty", path=str(path))
    return text.lstrip("\ufeff"), enc


def _gb18030_ok(raw: bytes) -> bool:
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def _check_not_blank(raw: bytes, path: Path) -> None:
    """input.empty for a file of only whitespace (and a UTF-8 BOM)."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    if _NON_WS.search(raw, start) is None:
        raise InputError("input.empty", path=str(path))


# ------------------------------------------------------------------------------------------------- CSV


class _BadUtf8(Exception):
    """Raised inside CSV parsing when the bytes are not UTF-8; ``offset`` is where (in the file)."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


@dataclass
class _Utf8:
    """CSV content as UTF-8: in memory (transcoded), or the file itself when it already is UTF-8."""

    path: Path
    data: bytes | None      # None: polars reads (memory-maps) the file, Python reads it only if needed
    head: bytes             # the first SAMPLE_LINES_BYTES
    size: int

    def source(self) -> bytes | Path:
        return self.path if self.data is None else self.data

    def all(self) -> bytes:
        if self.data is None:
            self.data = self.path.read_bytes()
        return self.data


def _read_csv(path: Path, requested: str | None, known: frozenset[str], limits: Limits,
              *, prefer_tab: bool = False) -> Table:
    """CSV/TSV: detect encoding and delimiter, find the header, parse the body with polars."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_LINES_BYTES)
    _check_not_blank(head if size <= len(head) or _NON_WS.search(head) else path.read_bytes(), path)
    enc = _detect_encoding(head, size, requested, path)
    mac = b"\n" not in head and b"\r" in head  # lines end in CR alone
    if enc in ("utf-8", "utf-8-sig") and not mac:
        content = _Utf8(path, None, head, size)
    else:
        raw = path.read_bytes()
        raw = raw.replace(b"\r", b"\n") if mac else raw
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            raise (_decode_error(raw, enc, exc) if requested else _undecodable(raw, path)) from None
        if not text.strip("\ufeff" + BLANK_CHARS):
            raise InputError("input.empty", path=str(path))
        data = text.lstrip("\ufeff").encode("utf-8")
        content = _Utf8(path, data, data[:SAMPLE_LINES_BYTES], len(data))
    try:
        return _parse_csv(content, enc, known, limits, prefer_tab)
    except _BadUtf8 as bad:
        raw = content.all()
        # Without evidence for UTF-8 before the first bad byte, try GB18030.
        if not requested and not _utf8_evidence(raw[:bad.offset]) and _gb18030_ok(raw):
            return _read_csv(path, "gb18030", known, limits, prefer_tab=prefer_tab)
        row = raw.count(b"\n", 0, bad.offset) + 1
        raise InputError("input.encoding", encoding=enc, row=row, detected=_guess(raw)) from None


def _utf8_error(buf: bytes, start: int = 0) -> _BadUtf8:
    """Where the first invalid UTF-8 byte at or after ``start`` is."""
    try:
        buf[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return _BadUtf8(start + exc.start)
    return _BadUtf8(start)


def _parse_csv(content: _Utf8, enc: str, known: frozenset[str], limits: Limits, prefer_tab: bool) -> Table:
    delim = _sniff_delimiter(list(itertools.islice(_iter_lines(content), 50)), prefer_tab)
    records, ends = _head_records(content, delim)
    grid = [_clean_cells(rec) for rec in records]
    header = _find_header(grid, known)
    width = len(records[header.last])
    skip_lines, skip_bytes = ends[header.last]
    first_row = header.last + 2
    body = _csv_body_fast(content, delim, width, skip_lines)
    if body is None:
        data = content.all()
        try:
            tail = data[skip_bytes:].decode("utf-8")
        except UnicodeDecodeError:
            raise _utf8_error(data, skip_bytes) from None
        body = _csv_body_slow(tail, delim, width, first_row)
    body = body.with_columns(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW))
    return _finish_grid(body, header, grid, name=content.path.name, fmt="csv", encoding=enc, limits=limits,
                        check_width=width)


def _iter_lines(content: _Utf8, consumed: list[int] | None = None) -> Iterator[str]:
    """The first lines (with their newline) decoded, from the head; a line cut off by the end of the
    head is not given. ``consumed`` counts [lines, bytes] handed out."""
    buf, pos = content.head, 0
    while pos < len(buf):
        nxt = buf.find(b"\n", pos)
        if nxt < 0:
            if len(buf) < content.size:
                return
            nxt = len(buf) - 1
        try:
            text = buf[pos:nxt + 1].decode("utf-8")
        except UnicodeDecodeError:
            raise _utf8_error(buf, pos) from None
        if consumed is not None:
            consumed[0] += 1
            consumed[1] += nxt + 1 - pos
        body = text.rstrip("\r\n")
        if "\r" in body:  # a lone CR inside a line would stop the csv module
            text = body.replace("\r", " ") + text[len(body):]
        yield text.lstrip("\ufeff") if pos == 0 else text
        pos = nxt + 1


def _sniff_delimiter(lines: Sequence[str], prefer_tab: bool) -> str:
    """The candidate delimiter that splits the most lines into the same (≥2) number of fields."""
    best, best_score = ("\t" if prefer_tab else ","), (0, 0)
    for delim in DELIMITERS:
        counts = [c for c in (_count_outside_quotes(line, delim) for line in lines) if c > 0]
        if not counts:
            continue
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (counts.count(mode), int((delim == "\t") == prefer_tab))
        if score > best_score:
            best, best_score = delim, score
    return best


def _count_outside_quotes(line: str, delim: str) -> int:
    return sum(part.count(delim) for part in line.split('"')[::2])


def _head_records(content: _Utf8, delim: str) -> tuple[list[list[str]], list[tuple[int, int]]]:
    """The first records (blank lines included) and where each ends: (lines, bytes) consumed.

    Stops after HEADER_SCAN non-empty records or at the end of the head. A quote still open at the end
    of the file is input.unclosed_quote.
    """
    for strict in (True, False):
        consumed = [0, 0]
        records: list[list[str]] = []
        ends: list[tuple[int, int]] = []
        nonempty = 0
        _allow_long_fields()
        try:
            for rec in csv.reader(_iter_lines(content, consumed), delimiter=delim, strict=strict):
                records.append(rec)
                ends.append((consumed[0], consumed[1]))
                nonempty += not all(map(_blank, rec))
                if nonempty >= HEADER_SCAN:
                    break
        except csv.Error as exc:
            if "end of data" not in str(exc):
                if strict:
                    continue  # malformed quoting: read it leniently
                raise InputError("input.binary", path=str(content.path)) from None
            if consumed[1] >= content.size:
                raise InputError("input.unclosed_quote", row=len(records) + 1) from None
        if not strict and records and consumed[1] < content.size and ends[-1][1] == consumed[1]:
            records.pop()  # the lenient reader may have cut the last record at the end of the head
            ends.pop()
        return records, ends
    raise AssertionError("unreachable")


def _allow_long_fields() -> None:
    """Let the csv module accept fields as long as a line may be (the line limit already guards memory).
    Only ever raised, never restored, so concurrent readers cannot trip over each other."""
    if csv.field_size_limit() < 1 << 30:
        csv.field_size_limit(1 << 30)


def _polars_csv(content: _Utf8, **options: Any) -> pl.DataFrame:
    return pl.read_csv(content.source(), has_header=False, raise_if_empty=False, glob=False, **options)


_BLANK_BYTES = tuple(c.encode() for c in BLANK_CHARS if c not in "\r\n")


def _any_blank(data: bytes) -> bool:
    """True when the bytes hold a blank character other than a line end (a CR only before a LF is one).
    Single bytes are looked for first (memchr); a longer character only when its first byte occurs."""
    if any(b in data for b in _BLANK_BYTES if len(b) == 1):
        return True
    if any(b[:1] in data and b in data for b in _BLANK_BYTES if len(b) > 1):
        return True
    return b"\r" in data and _lone_cr(data)


_LONE_CR = re.compile(rb"\r(?!\n)")


def _lone_cr(data: bytes) -> bool:
    """True when a CR is not followed by a LF (one regex scan: CRLF files have a CR on every line). Not numpy:
    importing it starts OpenBLAS threads that spin for a while, on the cores the validation needs."""
    return _LONE_CR.search(data) is not None


def _csv_body_plain(content: _Utf8, delim: str, width: int) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(the finished body, None) of in-memory CSV lines that need no closer look: no quote, no blank character
    (a CR only before a line end) and every line's last cell filled. Their fields, line lengths and footer
    candidates then come from the parsed cells: no second pass over the lines. Else (None, the body if it was
    parsed, to reuse)."""
    data = content.data
    if data is None or b'"' in data or delim in BLANK_CHARS or _any_blank(data):
        return None, None
    try:
        body = _polars_csv(content, separator=delim, quote_char='"',
                           schema={f"c{j}": pl.String for j in range(width)}, missing_columns="insert")
    except pl.exceptions.PolarsError:  # a line with more fields, or bad UTF-8: the lines say which
        return None, None
    if body.get_column(f"c{width - 1}").null_count():  # a short line or an empty last cell: count the fields
        return None, body
    first = pl.col("c0")
    # the flag computed on its own and added as a column: with the constant in one with_columns it took twice as long
    special = body.select((first.is_null() | first.str.contains(_special_cell())).alias(SPECIAL)).to_series()
    return body.with_columns(pl.lit(width, dtype=pl.Int64).alias(FIELDS), special), None


def _longest_plain(body: pl.DataFrame, delim: str, width: int) -> int:
    """An upper bound of the longest line (bytes) of a body :func:`_csv_body_plain` finished: its cells, the
    delimiters and a CR."""
    return (body.select(_line_bytes(delim, width).max()).item() or 0) + 1


def _line_bytes(delim: str, width: int) -> pl.Expr:
    """The bytes of a line of ``width`` unquoted fields, from its parsed cells: the cells and the delimiters."""
    return (pl.sum_horizontal(pl.col(f"c{j}").str.len_bytes().fill_null(0) for j in range(width))
            + (width - 1) * len(delim.encode()))


def _csv_body_fast(content: _Utf8, delim: str, width: int, skip: int,
                   max_line: tuple[int, int] | None = None) -> pl.DataFrame | None:
    """Parse the body with polars, counting fields per line without a Python loop.

    Returns None (→ the slow path) when a record spans lines or quotes are unbalanced on a line.
    ``max_line`` (limit, row of the first line): input.line_too_long for a longer line.
    """
    parsed = None
    if skip == 0:
        plain, parsed = _csv_body_plain(content, delim, width)
        if plain is not None and (max_line is None or _longest_plain(plain, delim, width) <= max_line[0]):
            return plain
        parsed = parsed if plain is None else plain.drop(FIELDS, SPECIAL)
    try:
        lines = _polars_csv(content, separator="\x1f", quote_char=None, schema={"l": pl.String},
                            skip_lines=skip, empty_string_is_null=False)
    except pl.exceptions.PolarsError:
        return None  # e.g. a \x1f in the data, or invalid UTF-8 (the slow path says where)
    line = pl.col("l")
    if max_line is not None:
        longest = lines.select(line.str.len_bytes().arg_max()).item()
        if longest is not None and len(lines["l"][longest].encode()) > max_line[0]:
            raise InputError("input.line_too_long", row=max_line[1] + longest, limit=max_line[0])
    any_quote = (b'"' in content.data if content.data is not None
                 else lines.select(line.str.contains('"', literal=True).any()).item())
    if any_quote and lines.select((line.str.count_matches('"', literal=True) % 2 == 1).any()).item():
        return None
    schema = {f"c{j}": pl.String for j in range(width)}
    body = fields = None
    if not any_quote:  # polars refuses a line with more fields than the schema: then none has more
        body = parsed
        with contextlib.suppress(pl.exceptions.PolarsError):
            body = body if body is not None else _polars_csv(content, separator=delim, quote_char='"',
                                                             skip_lines=skip, schema=schema, missing_columns="insert")
        if body is not None and body.height == lines.height:
            fields = _field_counts_short(lines, body, delim, width)
    if fields is None:
        try:
            body = _polars_csv(content, separator=delim, quote_char='"', skip_lines=skip, schema=schema,
                               truncate_ragged_lines=True, extra_columns="ignore", missing_columns="insert")
        except pl.exceptions.PolarsError:
            return None
        if body.height != lines.height:
            return None
        fields = _field_counts(lines, body, delim, width, any_quote)
    maybe, special = lines.select(line.str.contains(f"[{BLANK_CHARS}]").alias("m"),
                                  line.str.contains(_special_line(delim)).alias(SPECIAL)).get_columns()
    return _null_blank(body, maybe).with_columns(fields, special)


def _field_counts_short(lines: pl.DataFrame, body: pl.DataFrame, delim: str, width: int) -> pl.Series:
    """Fields per line of an unquoted body that no line has more than ``width`` of (polars parsed it without
    truncating). A line whose last cell has text has all ``width``; the others (an empty last cell, a short
    line) are counted one by one."""
    return _counted(lines, body.get_column(f"c{width - 1}").is_null(), delim, width, any_quote=False)


def _field_counts(lines: pl.DataFrame, body: pl.DataFrame, delim: str, width: int, any_quote: bool) -> pl.Series:
    """Fields per line. A line of exactly ``width`` unquoted fields is as long as its fields and delimiters
    (and a CR); only the lines where that sum is off are counted (ragged lines, quoted fields)."""
    line = pl.col("l")
    off = _line_bytes(delim, width) + line.str.ends_with("\r").cast(pl.UInt32) != line.str.len_bytes()
    if any_quote:  # a quoted delimiter can make a short line look complete: count every line with a quote
        off = off | line.str.contains('"', literal=True)
    return _counted(lines, pl.concat([lines, body], how="horizontal").select(off.alias("off")).to_series(),
                    delim, width, any_quote)


def _counted(lines: pl.DataFrame, odd: pl.Series, delim: str, width: int, any_quote: bool) -> pl.Series:
    """``width`` fields per line, but the ``odd`` lines counted (quoted text left out when ``any_quote``)."""
    fields = pl.repeat(width, lines.height, dtype=pl.Int64, eager=True).alias(FIELDS)
    if not odd.any():
        return fields
    where = odd.arg_true()
    line = pl.col("l")
    unquoted = line.str.replace_all(r'"[^"]*"', "") if any_quote else line
    counts = lines.select(line.gather(where)).select(
        (unquoted.str.count_matches(delim, literal=True) + 1).cast(pl.Int64)).to_series()
    return fields.scatter(where, counts)


def _special_cell() -> str:
    """:func:`_special_line` for a line's first cell (an empty first cell is null)."""
    return rf"^[\s\u200b]*(?:[{_footer_starts()}]|$)"


def _footer_starts() -> str:
    """The first characters of footer and totals words (and 注)."""
    return "".join(sorted({w[0] for w in (*TOTAL_WORDS, *FOOTER_WORDS, "注")}))


def _special_line(delim: str) -> str:
    """A line whose first non-blank cell starts like a footer or totals word, or that has no text at all:
    the only lines :func:`split_body` may leave out (the others need no closer look)."""
    return rf'^[\s\u200b"{re.escape(delim)}]*(?:[{_footer_starts()}]|$)'


def _csv_body_slow(text: str, delim: str, width: int, first_row: int) -> pl.DataFrame:
    """The csv module's reading of the body, for records spanning lines and odd quoting."""
    records: list[list[str]] = []
    _allow_long_fields()
    for strict in (True, False):
        records = []
        try:
            for rec in csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=strict):
                records.append(rec)
            break
        except csv.Error as exc:
            if "end of data" in str(exc):
                raise InputError("input.unclosed_quote", row=first_row + len(records)) from None
            if not strict:  # the lenient reader has nothing left to object to but bytes that are no text
                raise InputError("input.binary", path="<csv>") from None
    columns = {f"c{j}": [(rec[j] or None) if j < len(rec) else None for rec in records] for j in range(width)}
    body = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    return _null_blank(body).with_columns(pl.Series(FIELDS, [len(rec) for rec in records], dtype=pl.Int64))


# --------------------------------------------------------------------------------------- header finding


@dataclass
class _Header:
    first: int            # index (in the grid) of the first header row
    last: int             # index of the last header row; data starts after it
    names: list[str]      # one name per column ("" for a column without a header)


def _clean_cells(cells: Sequence[Any]) -> list[str | None]:
    """Cell texts with empty and whitespace-only cells as None."""
    return [c if isinstance(c, str) and not _blank(c) else None for c in cells]


def blank(text: str) -> bool:
    """Whether a text cell is empty or white space only (read as missing)."""
    return not text.strip(BLANK_CHARS)


_blank = blank


def _find_header(grid: list[list[str | None]], known: frozenset[str],
                 filled: Callable[[int, int], list[list[str | None]]] | None = None) -> _Header:
    """Pick the header row (and merged rows above it) that matches the most known headers.

    ``grid`` holds the first rows (None for empty cells). ``filled(first, last)`` returns those rows with
    merged cells filled in (spreadsheets); by default the rows as they are.
    """
    filled = filled or (lambda a, b: grid[a:b + 1])
    nonempty = list(itertools.islice((i for i, row in enumerate(grid) if any(row)), HEADER_SCAN))
    best: tuple[tuple[int, int, int], _Header] | None = None
    if known:
        for i in nonempty:
            for depth in range(MAX_HEADER_DEPTH + 1):
                if depth and (i - depth < 0 or not any(grid[i - depth])):
                    break
                names, score = _combine(filled(i - depth, i), len(grid[i]), known)
                key = (score, -i, -depth)
                if score and (best is None or key > best[0]):
                    best = (key, _Header(i - depth, i, names))
    if best is None:
        return _fallback_header(grid, nonempty)
    return _extend_upward(grid, best[1], best[0][0], known, filled)


def _extend_upward(grid: list[list[str | None]], header: _Header, score: int, known: frozenset[str],
                   filled: Callable[[int, int], list[list[str | None]]]) -> _Header:
    """Take in the row just above the header (up to three rows in all) when it is part of a merged
    header: it raises the number of known headers, or it alone labels a column (a vertically merged
    cell such as 单位名称 over empty cells). A fill-in line (填报单位：…) or a one-cell title never is."""
    while header.last - header.first < MAX_HEADER_DEPTH and header.first > 0:
        above = grid[header.first - 1]
        cells = [c for c in above if c is not None]
        if len(cells) < 2 or any(FILL_IN.match(normalize_header(c)) for c in cells):
            break
        names, new_score = _combine(filled(header.first - 1, header.last), len(grid[header.last]), known)
        below = grid[header.first:header.last + 1]
        labels_alone = any(c is not None and all(j >= len(r) or r[j] is None for r in below)
                           for j, c in enumerate(above[:len(grid[header.last])]))
        if new_score < score or (new_score == score and not labels_alone):
            break
        header, score = _Header(header.first - 1, header.last, names), new_score
    return header


def _fallback_header(grid: list[list[str | None]], nonempty: list[int]) -> _Header:
    """Without known headers: the first row with ≥2 cells, at least half as many as the widest row,
    that is not a fill-in line (填报单位：…); a one-column table's first row."""
    counts = {i: sum(c is not None for c in grid[i]) for i in nonempty}
    widest = max(counts.values(), default=0)
    for i in nonempty:
        fill_in = any(c is not None and FILL_IN.match(normalize_header(c)) for c in grid[i])
        if counts[i] >= 2 and 2 * counts[i] >= widest and not fill_in:
            return _Header(i, i, [normalize_header(c) if c else "" for c in grid[i]])
    if nonempty and widest == 1 and all(len(grid[i]) == 1 for i in nonempty):
        i = nonempty[0]
        return _Header(i, i, [normalize_header(grid[i][0] or "")])
    raise InputError("input.no_header")


def _combine(rows: list[list[str | None]], width: int, known: frozenset[str]) -> tuple[list[str], int]:
    """Column names for a header made of ``rows`` (upper rows first) and how many are known headers.

    Upper rows are forward-filled to the right (merged cells), within the groups of the rows above
    them; per column the first known of upper+…+lower, middle+lower, top+lower, lower is used,
    otherwise the lower cell (or the combination when the lower cell is empty).
    """
    *uppers, lower = [[normalize_header(c) if c else "" for c in _pad(r, width)] for r in rows]
    filled_uppers: list[list[str]] = []
    bounds: set[int] = set()
    for row in uppers:
        filled_uppers.append(_fill_right(row, bounds))
        bounds |= {j for j, c in enumerate(row) if c}
    names, score = [], 0
    for j in range(width):
        parts = [row[j] for row in filled_uppers]
        options = [_join(*parts, lower[j])]
        if len(parts) == 2:
            options += [_join(parts[1], lower[j]), _join(parts[0], lower[j])]
        options.append(lower[j])
        match = next((o for o in options if o and o in known), None)
        score += match is not None
        names.append(match or lower[j] or options[0])
    return names, score


def _pad(row: list[str | None], width: int) -> list[str | None]:
    return (row + [None] * width)[:width]


def _fill_right(row: list[str], bounds: set[int]) -> list[str]:
    """Empty cells take the nearest non-empty cell to their left, not across a group boundary."""
    out, last = [], ""
    for j, cell in enumerate(row):
        if j in bounds:
            last = ""
        last = cell or last
        out.append(cell or last)
    return out


def _join(*parts: str) -> str:
    """Concatenate header parts, skipping empty ones and repeats of the part just before."""
    kept: list[str] = []
    for part in parts:
        if part and (not kept or kept[-1] != part):
            kept.append(part)
    return normalize_header("".join(kept))


# ------------------------------------------------------------------------------------- body → Table


def _null_blank(frame: pl.DataFrame, maybe: pl.Series | None = None) -> pl.DataFrame:
    """Empty and whitespace-only text cells become null.

    Only columns that have such cells are rewritten. ``maybe`` (CSV fast path, where "" is already null)
    marks the rows whose raw line contains a blank character at all; only those are searched.
    """
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    if not texts or frame.height == 0:
        return frame
    if maybe is not None and not maybe.any():
        return frame
    probe = frame if maybe is None else frame.filter(maybe)
    # Series, not pl.col: a column may be named "*" or "^…$", which pl.col reads as a pattern
    # (Series methods also go through pl.col(name) inside polars: give each a fixed name first)
    touched = [c for c in texts if probe.get_column(c).alias("v").str.contains(BLANK_RE).any()]
    for c in touched:
        column = frame.get_column(c).alias("v")
        frame = frame.with_columns(column.set(column.str.contains(BLANK_RE).fill_null(False), None).alias(c))
    return frame


# a number as a totals row holds it: digits (at most 14 before the point: an ID number is no total), separators,
# a sign, a decimal part, a percent sign
NUMBER_RE = r"^[\s\u3000]*[-+]?(?:\d{1,14}(?:[,，]\d{3})*|\d{0,14})(?:\.\d+)?[%％]?[\s\u3000]*$"
# a cell a footer may hold besides its first: another footer word, a fill-in line (填报日期：…) or a short label with
# a colon and what follows it (日期：2024年7月1日)
NOTE_CELL_RE = FOOTER_RE + "|" + FILL_IN.pattern + r"|^[^\d:：]{1,12}[:：]"
LONG_DIGITS_RE = r"\d{6}"  # a lone cell after a footer line is a note unless it holds an ID-like run of digits


def _first_cell_flags(width: int) -> list[pl.Expr]:
    """Per body row: blank, footer word first, totals word first, a lone note cell, the count of cells."""
    cells = [pl.col(f"c{j}") for j in range(width)]
    first = pl.coalesce(cells)
    count = pl.sum_horizontal(c.is_not_null() for c in cells)
    return [
        (count == 0).alias("blank"),
        first.str.contains(FOOTER_RE).fill_null(False).alias("footer"),
        first.str.contains(TOTAL_RE).fill_null(False).alias("total"),
        ((count == 1) & ~first.str.contains(LONG_DIGITS_RE).fill_null(False)).alias("few"),
        count.alias("count"),
    ]


def _looks_like(body: pl.DataFrame, flags: pl.DataFrame, width: int) -> pl.DataFrame:
    """``flags`` with footer and totals kept only where the row looks like one: a footer line's other cells are
    empty or read as a footer too (审核人：…, 填报日期：…); a totals line's other cells are empty or numbers. Any
    other row starting with such a word is data, and is judged. Only the few rows starting with such a word are
    looked at cell by cell (columnar)."""
    at = flags.select(pl.arg_where(pl.col("footer") | pl.col("total"))).to_series()
    if at.is_empty():
        return flags
    cells = [pl.col(f"c{j}") for j in range(width)]
    some = body.select(pl.col(f"c{j}").gather(at) for j in range(width))
    notes, numbers = some.select(
        pl.sum_horizontal(c.str.contains(NOTE_CELL_RE).fill_null(False) for c in cells).alias("n"),
        pl.sum_horizontal(c.str.contains(NUMBER_RE).fill_null(False) for c in cells).alias("d")).get_columns()
    count = flags.get_column("count").gather(at)
    footer = flags.get_column("footer").gather(at) & (notes == count)
    total = flags.get_column("total").gather(at) & (numbers == count - 1)
    return flags.with_columns(flags.get_column("footer").scatter(at, footer),
                              flags.get_column("total").scatter(at, total))


def _finish_grid(body: pl.DataFrame, header: _Header, grid: list[list[str | None]], *, name: str,
                 fmt: str, encoding: str | None, limits: Limits, check_width: int | None,
                 numbers: Sequence[int] | None = None, columns: Sequence[int] | None = None) -> Table:
    """Classify body rows (blank, footer, totals), check widths, name the columns, build the Table.
    ``numbers``: the row number of each grid row (default: its position + 1); ``columns``: the column number of
    each grid column (default: its position + 1)."""
    number = (lambda i: numbers[i]) if numbers is not None else (lambda i: i + 1)
    data, dropped, totals = split_body(body, len(header.names), check_width)
    skipped = [(number(i), "title" if any(grid[i]) else "blank") for i in range(header.first)] + dropped
    frame = _name_columns(data, header.names, columns)
    _check_rows(frame, limits)
    blanks = sum(why == "blank" for _, why in dropped)
    return Table(frame, name, fmt, encoding, None, [number(i) for i in range(header.first, header.last + 1)],
                 skipped, totals, blank_rows=blanks)


def split_body(body: pl.DataFrame, width: int, check_width: int | None, *, footer: bool = True
               ) -> tuple[pl.DataFrame, list[tuple[int, str]], list[int]]:
    """(the data rows, the rows left out as (row, "blank" | "footer"), the totals rows) of a body with
    ``__row__``; ``footer`` False when more rows follow (a footer only ends a file)."""
    if SPECIAL in body.columns and not body.get_column(SPECIAL).any():  # no line can be left out: widths only
        if check_width is not None and (body.get_column(FIELDS) != check_width).any():
            _check_ragged(body.select(ROW, FIELDS, blank=pl.lit(False), in_footer=pl.lit(False)), check_width)
        return body, [], []
    flags = _looks_like(body, body.select(pl.col(ROW), *_first_cell_flags(width),
                                          *([pl.col(FIELDS)] if FIELDS in body.columns else [])), width)
    start = None
    if footer:
        # The footer starts at the first footer line after which every row is blank, a footer or one cell.
        bad_after = (~(pl.col("blank") | pl.col("footer") | pl.col("few"))).cast(pl.Int64).cum_sum(reverse=True)
        start = flags.select(pl.arg_where(pl.col("footer") & (bad_after == 0)).first()).item()
    flags = flags.with_columns(in_footer=pl.int_range(pl.len()) >= (body.height if start is None else start))
    if check_width is not None:
        _check_ragged(flags, check_width)
    dropped = flags.filter(pl.col("blank") | pl.col("in_footer"))
    skipped = [(row, "blank" if blank else "footer") for row, blank in dropped.select(ROW, "blank").iter_rows()]
    totals = flags.filter(pl.col("total") & ~pl.col("blank") & ~pl.col("in_footer"))[ROW].to_list()
    drop = flags["blank"] | flags["in_footer"] | flags["total"]
    return _drop_rows(body, drop), skipped, totals


def _drop_rows(body: pl.DataFrame, drop: pl.Series) -> pl.DataFrame:
    """``body`` without the rows flagged in ``drop``; a slice (no copy) when they all sit at the end."""
    n = int(drop.sum())
    if n == 0:
        return body
    if not drop.head(body.height - n).any():
        return body.head(body.height - n)
    return body.filter(~drop)


def _check_ragged(flags: pl.DataFrame, width: int) -> None:
    """input.ragged for the first record (not blank, not footer) with another number of fields."""
    bad = flags.filter(~pl.col("blank") & ~pl.col("in_footer") & (pl.col(FIELDS) != width)).head(1)
    if bad.height:
        row, found = bad.select(ROW, FIELDS).row(0)
        raise InputError("input.ragged", row=row, found=found, expected=width)


def _name_columns(data: pl.DataFrame, names: list[str], numbers: Sequence[int] | None = None) -> pl.DataFrame:
    """Rename c0… to the header names; unnamed columns are dropped if empty, else called column_N (N: the
    column's number, ``numbers[j]`` when given)."""
    has_data = data.select(pl.col(f"c{j}").is_not_null().any() for j in range(len(names))).row(0) \
        if data.height and not all(names) else (False,) * len(names)
    columns: dict[str, str] = {}
    taken: set[str] = set()  # the names so far (a set: a header of 100,000 columns is checked in linear time)
    for j, name in enumerate(names):
        if not name:
            if not has_data[j]:
                continue
            name = f"column_{(numbers[j] if numbers is not None else j + 1)}"
        if name in taken or name == ROW:
            raise InputError("input.duplicate_column", column=name)
        columns[f"c{j}"] = name
        taken.add(name)
    kept = data.drop([c for c in data.columns if c != ROW and c not in columns])
    if kept.columns == [ROW, *columns] and kept.schema[ROW] == pl.Int64:  # renaming only: no column copied
        return kept.rename(columns)
    return data.select(pl.col(ROW).cast(pl.Int64), *(pl.col(c).alias(n) for c, n in columns.items()))


def _check_rows(frame: pl.DataFrame, limits: Limits) -> None:
    if limits.max_rows is not None and frame.height > limits.max_rows:
        raise InputError("input.too_many_rows", limit=limits.max_rows)


def _finish_flat(frame: pl.DataFrame, base: int, name: str, fmt: str, limits: Limits,
                 encoding: str | None = None, rows: Sequence[int] | None = None) -> Table:
    """A table without header detection: rows numbered from ``base`` (or given), names normalised."""
    names = [normalize_header(c) for c in frame.columns]
    seen: set[str] = {ROW}
    for n in names:
        if n in seen:
            raise InputError("input.duplicate_column", column=n)
        seen.add(n)
    frame = _null_blank(frame.rename(dict(zip(frame.columns, names, strict=True))))
    numbers = pl.Series(ROW, rows, dtype=pl.Int64) if rows is not None else \
        pl.int_range(base, base + frame.height, dtype=pl.Int64, eager=True).alias(ROW)
    # records without any key ({}) make a frame without columns, whose height polars counts as 0: the rows stay
    table = Table(frame.insert_column(0, numbers) if frame.width else numbers.to_frame(), name, fmt, encoding)
    _check_rows(table.frame, limits)
    return table


# -------------------------------------------------------------------------------------- spreadsheets


def _read_spreadsheet(path: Path, kind: str, known: frozenset[str], limits: Limits, sheet: str | None = None
                      ) -> Table:
    """XLSX/XLS through python-calamine, every worksheet with data (or the one named ``sheet``): the first
    sheet read is the Table, all of them are in its ``sheets``, the others (empty, not selected, unreadable) in
    its ``sheet_notes``. An XLSX is checked for zip bombs and XML entities, and each sheet is measured from its
    XML before anything allocates its grid (:mod:`fpschema.sheetscan`)."""
    from python_calamine import CalamineWorkbook

    if kind == "xlsx":
        _check_zip(path, limits)
    try:
        with path.open("rb") as fh:
            book = CalamineWorkbook.from_filelike(fh)
        names = list(book.sheet_names)
    except Exception as exc:  # noqa: BLE001 - calamine reports a broken file in many ways
        raise InputError("input.spreadsheet", detail=f"{type(exc).__name__}: {exc}") from None
    if sheet is not None and sheet not in names:
        raise InputError("input.sheet_not_found", sheet=sheet, sheets=", ".join(names))
    if kind == "xlsx":
        tables, notes = _xlsx_sheets(path, book, known, limits, sheet)
    else:
        tables, notes = _xls_sheets(book, names, path.name, known, limits, sheet)
    if not tables:
        order = {"error": 0, "ignored": 1, "empty": 2}  # the worst reason a sheet gave no table
        failed = min((n for n in notes if n["status"] == "error" or "error" in n),
                     key=lambda n: order.get(n["status"], 3), default=None)
        if failed is not None and "error" in failed:
            raise failed["error"]
        if failed is not None:
            raise InputError("input.spreadsheet", detail=f"{failed['name']}: {failed['reason']}")
        raise InputError("input.empty", path=str(path))
    for note in notes:
        note.pop("error", None)
    first = tables[0]
    first.sheets = tables
    first.sheet_notes = notes
    first.sheet_order = names
    return first


def _xlsx_sheets(path: Path, book: Any, known: frozenset[str], limits: Limits, chosen: str | None
                 ) -> tuple[list[Table], list[dict[str, Any]]]:
    """Each worksheet of an XLSX measured, then read whole (dense) or compacted (sparse), within the limits."""
    from python_calamine import CalamineWorkbook

    from fpschema.io import sheetscan

    tables: list[Table] = []
    notes: list[dict[str, Any]] = []
    try:
        zf = zipfile.ZipFile(path)
        parts, date1904 = sheetscan.workbook_parts(zf)
    except Exception as exc:  # noqa: BLE001 - a broken zip or workbook part fails in many ways
        raise InputError("input.spreadsheet", detail=f"{type(exc).__name__}: {exc}") from None
    with zf:
        for part in parts:
            if chosen is not None and part.name != chosen:
                notes.append({"name": part.name, "status": "ignored", "reason": "not_selected"})
                continue
            if part.member is None:  # a chart sheet, or a sheet whose part is missing
                notes.append({"name": part.name, "status": "empty", "reason": "not_a_worksheet"})
                continue
            try:
                found = sheetscan.scan(zf, part.member)
            except Exception as exc:  # noqa: BLE001 - a broken member (bad deflate data, CRC) fails in many ways
                notes.append(_sheet_error(part.name, f"{type(exc).__name__}: {exc}"))
                continue
            if found.cells == 0:
                notes.append({"name": part.name, "status": "empty", "reason": "no_cells"})
                continue
            _check_sheet(found, limits, part.name)
            rows = columns = None
            source = book
            try:
                if found.unreferenced == 0 and found.grid_area > max(DENSE_SLACK, DENSE_FACTOR * found.cells):
                    rows, columns = found.rows, found.columns
                    source = CalamineWorkbook.from_filelike(io.BytesIO(sheetscan.compact(zf, part.member, found)))
                sh = source.get_sheet_by_name(part.name)
                cells = sh.to_python(skip_empty_area=False)
                merges = list(sh.merged_cell_ranges or [])
            except Exception as exc:  # noqa: BLE001 - calamine reports a broken sheet in many ways
                notes.append(_sheet_error(part.name, f"{type(exc).__name__}: {exc}"))
                continue
            _sheet_into(tables, notes, part.name, cells, merges, path.name, "xlsx", known, limits, rows, columns,
                        found.errors, date1904)
    return tables, notes


def _xls_sheets(book: Any, names: list[str], name: str, known: frozenset[str], limits: Limits, chosen: str | None
                ) -> tuple[list[Table], list[dict[str, Any]]]:
    """Each sheet of an XLS (BIFF): its grid is at most 65,536 × 256 cells, checked against ``max_area``
    before it is turned into Python values."""
    tables: list[Table] = []
    notes: list[dict[str, Any]] = []
    for sheet_name in names:
        if chosen is not None and sheet_name != chosen:
            notes.append({"name": sheet_name, "status": "ignored", "reason": "not_selected"})
            continue
        try:
            sh = book.get_sheet_by_name(sheet_name)
            if not (sh.height and sh.width):
                notes.append({"name": sheet_name, "status": "empty", "reason": "no_cells"})
                continue
            (r1, c1) = sh.end or (0, 0)
            area = (r1 + 1) * (c1 + 1)
            if area > limits.max_area:
                raise InputError("input.sheet_too_large", sheet=sheet_name, limit="max_area", value=area,
                                 maximum=limits.max_area, cell=f"{_letters(c1 + 1)}{r1 + 1}")
            cells, rows, columns = _xls_compact(sh)
            merges = _moved_ranges(list(sh.merged_cell_ranges or []), rows, columns)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a chart sheet, a broken record
            notes.append(_sheet_error(sheet_name, f"{type(exc).__name__}: {exc}"))
            continue
        _sheet_into(tables, notes, sheet_name, cells, merges, name, "xls", known, limits, rows, columns, [], False)
    return tables, notes


def _xls_compact(sh: Any) -> tuple[list[list[Any]], list[int], list[int]]:
    """An XLS sheet's rows and columns that hold a value (empty ones left out without a Python step per cell:
    list.count and a transposition), with their 1-based numbers: a stray far cell costs no 16-million-cell list."""
    r0, c0 = sh.start or (0, 0)
    rows, kept = [], []
    for i, row in enumerate(sh.iter_rows()):
        if row.count("") < len(row):
            rows.append(r0 + i + 1)
            kept.append(row)
    width = max(map(len, kept), default=0)
    padded = (r + [""] * (width - len(r)) for r in kept)
    used = [j for j, col in enumerate(zip(*padded, strict=True)) if col.count("") < len(col)]
    if len(used) < width:
        kept = [[r[j] if j < len(r) else "" for j in used] for r in kept]
    return kept, rows, [c0 + j + 1 for j in used]


def _moved_ranges(merges: list[Any], rows: list[int], columns: list[int]) -> list[Any]:
    """Merged ranges ((r0, c0), (r1, c1), 0-based) in the coordinates of the kept ``rows`` and ``columns``."""
    import bisect

    out = []
    for (a, b), (c, d) in merges:
        top, bottom = bisect.bisect_left(rows, a + 1), bisect.bisect_right(rows, c + 1) - 1
        left, right = bisect.bisect_left(columns, b + 1), bisect.bisect_right(columns, d + 1) - 1
        if top <= bottom and left <= right:
            out.append(((top, left), (bottom, right)))
    return out


def _letters(number: int) -> str:
    from fpschema.io.sheetscan import column_letters

    return column_letters(number)


def _sheet_error(name: str, detail: str) -> dict[str, Any]:
    return {"name": name, "status": "error", "reason": detail[:500]}


def _check_sheet(found: Any, limits: Limits, name: str) -> None:
    """input.sheet_too_large for a sheet over a limit (before anything allocates its grid)."""
    for limit, value in (("max_cells", found.cells), ("max_columns", len(found.columns) + found.unreferenced),
                         ("max_area", found.compact_area)):
        if value > getattr(limits, limit):
            raise InputError("input.sheet_too_large", sheet=name, limit=limit, value=value,
                             maximum=getattr(limits, limit), cell=found.far_cell)
    if found.unreferenced and found.grid_area > limits.max_area:  # cells without a reference: read as they are
        raise InputError("input.sheet_too_large", sheet=name, limit="max_area", value=found.grid_area,
                         maximum=limits.max_area, cell=found.far_cell)


def _sheet_into(tables: list[Table], notes: list[dict[str, Any]], sheet: str, cells: list[list[Any]],
                merges: list[Any], name: str, fmt: str, known: frozenset[str], limits: Limits,
                rows: list[int] | None, columns: list[int] | None, errors: list[tuple[int, int, str]],
                date1904: bool) -> None:
    """Read one sheet's cells into ``tables``, or note why it holds no table."""
    try:
        table = _sheet_table(cells, merges, name, fmt, known, limits, rows, columns, errors, date1904)
    except InputError as exc:
        if exc.code in ("input.too_many_rows", "input.sheet_too_large"):
            raise
        # no header: a sheet of notes, not a table (ignored, with a warning); else the sheet is broken
        status = {"input.empty": "empty", "input.no_header": "ignored"}.get(exc.code, "error")
        reason = exc.code if status != "error" else f"{exc.code}: {exc.message('en')}"
        notes.append({"name": sheet, "status": status, "reason": reason, "error": exc})
        return
    table.sheet = sheet
    tables.append(table)


DATE1904_SHIFT = timedelta(days=1462)  # a 1904-system serial is this much later than the same serial in 1900


def _shift_1904(cells: list[list[Any]]) -> list[list[Any]]:
    """Dates of a workbook in the 1904 date system, read as if in the 1900 system, moved to their real day."""
    def fix(v: Any) -> Any:
        return v + DATE1904_SHIFT if isinstance(v, date) else v  # datetime is a date too

    return [[fix(v) for v in row] if any(isinstance(v, date) for v in row) else row for row in cells]


def _sheet_table(cells: list[list[Any]], merges: list[Any], name: str, fmt: str, known: frozenset[str],
                 limits: Limits, rows: list[int] | None, columns: list[int] | None,
                 errors: list[tuple[int, int, str]], date1904: bool) -> Table:
    """One sheet's cells (rows and columns numbered by ``rows``/``columns`` when compacted) into a Table."""
    if date1904 and not _calamine_1904():
        cells = _shift_1904(cells)
    _put_errors(cells, errors, rows, columns)
    width = max(map(len, cells), default=0)
    grid = _head_grid(cells, width)
    if not any(any(row) for row in grid):
        raise InputError("input.empty", path=name)
    header = _find_header(grid, known, _merged_filler(grid, merges))
    body_rows = cells[header.last + 1:]
    series = [_cells_series(f"c{j}", [row[j] if j < len(row) else None for row in body_rows]) for j in range(width)]
    first_row = header.last + 2
    body = _null_blank(pl.DataFrame(series, schema={f"c{j}": pl.String for j in range(width)}))
    if rows is None:
        body = body.with_columns(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW))
    else:
        body = body.with_columns(pl.Series(ROW, rows[header.last + 1:header.last + 1 + body.height], dtype=pl.Int64))
    table = _finish_grid(body, header, grid, name=name, fmt=fmt, encoding=None, limits=limits, check_width=None,
                         numbers=rows, columns=columns)
    if rows is not None and len(rows) > header.last + 1:  # empty rows the compacting left out
        table.blank_rows += (rows[-1] - rows[header.last]) - (len(rows) - 1 - header.last)
    table.cell_errors = _error_cells(errors, header, table, rows, columns)
    return table


def _put_errors(cells: list[list[Any]], errors: list[tuple[int, int, str]], rows: list[int] | None,
                columns: list[int] | None) -> None:
    """Write each error cell's text (#N/A…), which calamine reads as empty, into its place: the row is then a
    row, judged, not a blank one."""
    row_at = {r: i for i, r in enumerate(rows)} if rows is not None else None
    col_at = {c: j for j, c in enumerate(columns)} if columns is not None else None
    for row, col, text in errors:
        i = row_at.get(row) if row_at is not None else row - 1
        j = col_at.get(col) if col_at is not None else col - 1
        if i is not None and j is not None and i < len(cells) and j < len(cells[i]):
            cells[i][j] = text


def _error_cells(errors: list[tuple[int, int, str]], header: _Header, table: Table, rows: list[int] | None,
                 columns: list[int] | None) -> list[tuple[int, str, str]]:
    """(row, column name, text) of each Excel error cell (#N/A, #DIV/0!…); a cell outside the named columns is
    named by its reference (e.g. F7)."""
    if not errors:
        return []
    position = {c: j for j, c in enumerate(columns)} if columns is not None else None
    last_header = rows[header.last] if rows is not None else header.last + 1
    kept = set(table.frame.columns)
    out = []
    for row, col, text in errors:
        j = position.get(col) if position is not None else col - 1
        label = header.names[j] if j is not None and j < len(header.names) and row > last_header else ""
        if not label or label not in kept:
            label = f"{_letters(col)}{row}"
        out.append((row, label, text))
    return sorted(out)


@cache
def _calamine_1904() -> bool:
    """Whether python-calamine already reads dates of a 1904-system workbook right (checked once, on a tiny
    workbook built here)."""
    from python_calamine import CalamineWorkbook

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><workbookPr '
                   'date1904="1"/><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/styles.xml", '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                   '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
                   '</styleSheet>')
        z.writestr("xl/worksheets/sheet1.xml", '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                   '2006/main"><sheetData><row r="1"><c r="A1" s="1"><v>1</v></c></row></sheetData></worksheet>')
    value = CalamineWorkbook.from_filelike(io.BytesIO(buf.getvalue())).get_sheet_by_index(0).to_python()[0][0]
    return isinstance(value, date) and value.year == 1904


def _head_grid(cells: list[list[Any]], width: int) -> list[list[str | None]]:
    """The sheet's rows as text up to the HEADER_SCAN-th non-empty one (where the header must be)."""
    grid: list[list[str | None]] = []
    nonempty = 0
    for row in cells:
        grid.append(_pad([_cell_text(v) for v in row], width))
        nonempty += any(grid[-1])
        if nonempty >= HEADER_SCAN:
            break
    return grid


def _strings_series(name: str, values: list[Any]) -> pl.Series:
    """A column of strings (and nulls) as one polars call; lone surrogates from JSON "\ud800" escapes, which
    polars cannot encode, are replaced value by value."""
    try:
        return pl.Series(name, values, dtype=pl.String)
    except UnicodeEncodeError:
        return pl.Series(name, [_cell_text(v) for v in values], dtype=pl.String)


def _cells_series(name: str, values: list[Any]) -> pl.Series:
    """A column of spreadsheet cells as text: strings and floats converted by polars, other types
    (int, bool, date, datetime, time) one by one."""
    kinds = set(map(type, values)) - {type(None)}
    if kinds <= {str}:
        return _strings_series(name, values)
    parts = []
    if str in kinds:
        parts.append(pl.Series([v if type(v) is str else None for v in values], dtype=pl.String))
    if float in kinds:
        floats = pl.DataFrame({name: [v if type(v) is float else None for v in values]}, schema={name: pl.Float64})
        parts.append(_text_frame(floats).to_series())
    if rest := kinds - {str, float}:
        parts.append(pl.Series([_cell_text(v) if type(v) in rest else None for v in values], dtype=pl.String))
    return pl.select(pl.coalesce(parts)).to_series().alias(name)


def _merged_filler(grid: list[list[str | None]], merges: list[Any]
                   ) -> Callable[[int, int], list[list[str | None]]]:
    """Rows ``first..last`` with merged ranges filled from their top-left cell.

    In the last (lowest) row only merges coming down from above are filled, so a lower cell merged
    sideways does not yield two columns of the same name.
    """
    def filled(first: int, last: int) -> list[list[str | None]]:
        rows = [list(r) for r in grid[first:last + 1]]
        for (r0, c0), (r1, c1) in merges:
            value = grid[r0][c0] if r0 < len(grid) and c0 < len(grid[r0]) else None
            if value is None:
                continue
            for r in range(max(r0, first), min(r1, last) + 1):
                if r == last and r0 == last:
                    continue
                for c in range(c0, min(c1 + 1, len(rows[r - first]))):
                    rows[r - first][c] = rows[r - first][c] or value
        return rows

    return filled


def _check_zip(path: Path, limits: Limits) -> None:
    """Refuse an xlsx that is not a zip, expands too much, or declares XML entities."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            if total > limits.max_unzipped_bytes:
                raise InputError("input.zip_bomb", size=total, limit=limits.max_unzipped_bytes)
            for m in members:
                if m.file_size > ZIP_MEMBER_CHECK and m.file_size > limits.max_zip_ratio * max(m.compress_size, 1):
                    raise InputError("input.zip_bomb", size=m.file_size,
                                     limit=limits.max_zip_ratio * max(m.compress_size, 1))
            for m in members:
                if m.filename.lower().endswith((".xml", ".rels", ".vml")):
                    with zf.open(m) as fh:
                        head = fh.read(HEAD).lower()
                    if b"<!doctype" in head or b"<!entity" in head:
                        raise InputError("input.xml_entity")
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, zlib.error) as exc:
        raise InputError("input.spreadsheet", detail=f"{type(exc).__name__}: {exc}") from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD: JSON "\ud800" escapes decode to them, and they are
    not text (polars and UTF-8 refuse them)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _SURROGATE.search(text) else text


def _cell_text(value: Any) -> str | None:
    """A spreadsheet/frame cell as text: integral floats without .0, dates ISO, booleans true/false."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _unicode(value)
        return None if _blank(value) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    return json.dumps(value, ensure_ascii=False, default=str)


def _float_text(v: float) -> str | None:
    """12.0 → "12"; integral beyond 1e15 → "%.15G" (the spreadsheet's damage stays visible)."""
    if math.isnan(v):
        return None
    if math.isfinite(v) and v.is_integer():
        return str(int(v)) if abs(v) < BIG_INTEGRAL else f"{v:.15g}".upper()
    return repr(v)


# ------------------------------------------------------------------------------------- JSON and JSONL


BIG_INT_DIGITS = 4000  # longer JSON integers stay exact as Decimal (int() refuses more than 4300 digits)


def _json_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= BIG_INT_DIGITS else Decimal(text)


def json_loads(text: str | bytes) -> Any:
    """``json.loads`` that reads integers of any length (as Decimal past BIG_INT_DIGITS), never a ValueError."""
    return json.loads(text, parse_int=_json_int)


def _json_text(value: Any) -> str | None:
    """A JSON value as text: strings as is, numbers as JSON writes them, nested values as JSON text."""
    if value is None or isinstance(value, str):
        return value if value is None else _unicode(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return _unicode(json.dumps(value, ensure_ascii=False, default=str))
    return _cell_text(value)


def _records_frame(records: list[Any], base: int, rows: Sequence[int] | None = None) -> pl.DataFrame:
    """Objects → a text frame whose columns are the union of keys in first-seen order."""
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            row = rows[i] if rows is not None else base + i
            raise InputError("input.json", row=row, detail=f"expected an object, got {type(rec).__name__}")
    shapes = dict.fromkeys(map(tuple, records))  # the distinct key sequences, first seen first
    keys = list(dict.fromkeys(itertools.chain.from_iterable(shapes)))
    names = [_unicode(str(k)) for k in keys]
    if len(set(names)) < len(names):
        raise InputError("input.duplicate_column", column=next(n for n in names if names.count(n) > 1))
    columns = [_json_column(n, list(map(dict.get, records, itertools.repeat(k))))
               for n, k in zip(names, keys, strict=True)]
    return pl.DataFrame(columns) if columns else pl.DataFrame()


def json_texts(name: str, values: list[Any]) -> pl.Series:
    """JSON values (strings, numbers, booleans, lists, objects, None) as the text cells the JSON readers make of
    them (blank text is not yet null)."""
    return _json_column(name, values)


def _json_column(name: str, values: list[Any]) -> pl.Series:
    """One column of JSON values as text; plain string, integer and boolean columns without a Python
    call per value."""
    kinds = set(map(type, values)) - {type(None)}
    if kinds <= {str}:
        return _strings_series(name, values)
    if kinds in ({int}, {bool}):
        with contextlib.suppress(OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
            return pl.Series(name, values, dtype=pl.Int64 if kinds == {int} else pl.Boolean).cast(pl.String)
    if kinds <= {int, float}:
        return pl.Series(name, [None if v is None else repr(v) for v in values], dtype=pl.String)
    return pl.Series(name, [_json_text(v) for v in values], dtype=pl.String)


def _read_json(raw: bytes, path: Path, requested: str | None, limits: Limits) -> Table:
    """A JSON array of objects (or one object); rows are the 1-based element numbers."""
    _check_not_blank(raw, path)
    text, enc = _text_of(raw, requested, path)
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("input.json", row=exc.lineno, detail=exc.msg) from None
    except RecursionError:
        raise InputError("input.json", row=1, detail="nested too deeply") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError("input.json", row=1, detail="expected an array of objects")
    return _finish_flat(_records_frame(data, base=1), 1, path.name, "json", limits, encoding=enc,
                        rows=range(1, len(data) + 1))  # numbered from the elements: also [{}, {}] has two rows


def _read_jsonl(raw: bytes, path: Path, requested: str | None, limits: Limits) -> Table:
    """One object per line; rows are line numbers, blank lines count but give no row."""
    _check_not_blank(raw, path)
    enc = _detect_encoding(raw[:HEAD], len(raw), requested, path)
    frame = _jsonl_fast(raw) if enc == "utf-8" else None
    if frame is not None:
        return _finish_flat(frame.drop(ROW), 0, path.name, "jsonl", limits, encoding=enc, rows=frame[ROW])
    text, enc = _text_of(raw, requested, path)
    lines = text.split("\n")
    rows = [number for number, line in enumerate(lines, start=1) if not line.isspace() and line]
    records = _jsonl_records(lines, rows)
    return _finish_flat(_records_frame(records, base=1, rows=rows), 0, path.name, "jsonl", limits,
                        encoding=enc, rows=rows)


def _jsonl_records(lines: list[str], rows: list[int]) -> list[Any]:
    """Decode the non-blank lines (numbered ``rows``) with the json module: all at once as one array
    (fast), or line by line to say which line is wrong."""
    with contextlib.suppress(ValueError, RecursionError):
        records = json_loads("[" + ",".join([lines[n - 1] for n in rows]) + "]")
        # One element per line, all objects: no line can have held two values or half of one.
        if len(records) == len(rows) and all(type(r) is dict for r in records):
            return records
    records = []
    for number in rows:
        try:
            records.append(json_loads(lines[number - 1]))
        except json.JSONDecodeError as exc:
            raise InputError("input.json", row=number, detail=exc.msg) from None
        except RecursionError:
            raise InputError("input.json", row=number, detail="nested too deeply") from None
    return records


def _jsonl_fast(data: bytes) -> pl.DataFrame | None:
    """JSON Lines of flat objects decoded by polars, or None to let the json module do it.

    Used when every non-blank line is an object and no value is a float (polars would write 12.0 as
    "12") or nested. The keys are those of every line (found by a regex, columnar); each line's count of keys
    must equal its decoded values, else the json module reads the file.
    """
    try:
        lines = pl.read_csv(data, has_header=False, separator="\x1f", quote_char=None, schema={"l": pl.String},
                            empty_string_is_null=False, raise_if_empty=False)
    except pl.exceptions.PolarsError:
        return None
    line = pl.col("l")  # keep polars' chunks: json_decode runs chunks in parallel
    blank = lines.select(line.str.strip_chars() == "").to_series()
    objects, floats, awkward = lines.select(
        (line.str.contains(r"^\s*\{") | blank).all().alias("o"),
        line.str.contains(r"[:,\[]\s*-?\d+[.eE]").any().alias("f"),
        (line.str.contains(r'\": null', literal=True) | line.str.contains(r"\u0000", literal=True)).any().alias("a"),
    ).row(0)
    if not objects or floats or awkward or blank.all():
        return None
    # every key of every line, found by polars (a key first seen on line 100,000, or written "key" : value, too)
    raw_keys = lines.select(line.str.extract_all(JSON_KEY_RE).explode().str.extract(JSON_KEY_RE, 1).drop_nulls()
                            .unique(maintain_order=True)).to_series().to_list()
    try:
        keys = list(dict.fromkeys(json.loads(f'"{k}"') for k in raw_keys))
    except (ValueError, RecursionError):
        return None
    if ROW in keys:
        return None
    marked = lines.select(pl.when(blank).then(pl.lit("{}")).otherwise(
        line.str.replace_all(r'"\s*:\s*null\b', '": "\\u0000"')).alias("l"))
    try:
        decoded = marked.select(line.str.json_decode(pl.Struct({k: pl.String for k in keys}))).unnest("l")
    except pl.exceptions.PolarsError:
        return None
    present = marked.select(line.str.count_matches(JSON_KEY_RE)).to_series()
    found = decoded.select(pl.sum_horizontal(pl.nth(i).is_not_null().cast(pl.UInt32) for i in range(len(keys)))
                           if keys else pl.repeat(0, decoded.height, dtype=pl.UInt32)).to_series()
    if not (present == found).all():
        return None
    rows = pl.int_range(1, decoded.height + 1, dtype=pl.Int64, eager=True).alias(ROW)
    return decoded.with_columns(pl.nth(i).replace("\x00", None) for i in range(len(keys))).insert_column(0, rows) \
        .filter(~blank)


# ------------------------------------------------------------------------------ Parquet and DataFrames


def _read_parquet(path: Path, limits: Limits) -> Table:
    try:
        frame = pl.read_parquet(path, glob=False)
    except Exception as exc:  # noqa: BLE001 - polars/arrow raise many kinds for a broken file
        raise InputError("input.parquet", detail=f"{type(exc).__name__}: {exc}") from None
    try:
        text = _text_frame(frame)
    except Exception as exc:  # noqa: BLE001 - a column type with no text form
        raise InputError("input.parquet", detail=f"{type(exc).__name__}: {exc}") from None
    return _finish_flat(text, 1, path.name, "parquet", limits)


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and type(obj).__name__ == "DataFrame"


def _pandas_text_frame(df: Any) -> pl.DataFrame:
    """A pandas DataFrame as text; mixed object columns are converted cell by cell."""
    names = [str(c) for c in df.columns]
    if len(set(names)) < len(names):
        raise InputError("input.duplicate_column", column=next(n for n in names if names.count(n) > 1))
    df = df.set_axis(names, axis=1)
    try:
        return _text_frame(pl.from_pandas(df, nan_to_null=True))
    except Exception:  # noqa: BLE001 - pyarrow refuses mixed object columns
        columns = {n: [_cell_text(None if _is_na(v) else v) for v in df[n].tolist()] for n in names}
        return pl.DataFrame(columns, schema={n: pl.String for n in names})


def _is_na(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN, NaT, pd.NA compare unequal/unknown
    except (TypeError, ValueError):
        return True


def _text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column of a polars frame as text, with the conversions used for spreadsheet cells.

    Columns of nested, binary or object type, and float columns holding integral values beyond 1e15,
    are converted value by value; everything else with polars expressions.
    """
    columns = []
    for i, (name, dtype) in enumerate(frame.schema.items()):
        # work on the column under a fixed name: pl.col reads names such as "*" or "^a$" as patterns
        single = frame.to_series(i).to_frame("v")
        if _vectorised(single, "v", dtype):
            try:
                columns.append(single.select(_text_expr("v", dtype)).to_series().alias(name))
                continue
            except pl.exceptions.PolarsError:  # a type polars cannot write as text: value by value below
                pass
        columns.append(pl.Series(name, [_cell_text(v) for v in single["v"].to_list()], dtype=pl.String))
    return pl.DataFrame(columns) if columns else pl.DataFrame()


def _vectorised(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> bool:
    if dtype.is_float():
        col = pl.col(name)
        return not frame.select((col.is_finite() & (col == col.floor()) & (col.abs() >= BIG_INTEGRAL)).any()).item()
    return dtype in (pl.String, pl.Boolean, pl.Date, pl.Time, pl.Null) or dtype.is_numeric() \
        or isinstance(dtype, pl.Datetime | pl.Enum | pl.Categorical | pl.Decimal)


def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Text for a column of a vectorisable type (see _cell_text for the rules)."""
    col = pl.col(name)
    if dtype.is_float():
        whole = col.is_finite() & (col == col.floor())
        return (pl.when(col.is_nan()).then(None)
                .when(whole).then(col.cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(col.cast(pl.String))).alias(name)
    if isinstance(dtype, pl.Datetime):
        return (pl.when(col.dt.time() == time(0)).then(col.dt.to_string("%Y-%m-%d"))
                .otherwise(col.dt.to_string("%Y-%m-%d %H:%M:%S"))).alias(name)
    if dtype == pl.Date:
        return col.dt.to_string("%Y-%m-%d").alias(name)
    if dtype == pl.Time:
        return col.dt.to_string("%H:%M:%S").alias(name)
    return col.cast(pl.String).alias(name)
