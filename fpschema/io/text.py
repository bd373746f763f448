"""The text layer of the reader: names of internal columns, limits (:class:`Limits`), the :class:`Table` read, line
scanning, encodings and UTF-8 checks.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
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
NON_WS = re.compile(rb"[^ \t\r\n\x0b\x0c]")
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


def scan_lines(path: Path, limit: int) -> str:
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
                    line_too_long(path, offset + n - run, limit)
            else:
                if run + first > limit:
                    line_too_long(path, offset - run, limit)
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
            line_too_long(path, offset + pos, limit)
        pos = nxt + 1


def line_too_long(path: Path, at: int, limit: int) -> None:
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


def detect_encoding(head: bytes, size: int, requested: str | None, path: Path) -> str:
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
        if utf8_evidence(head[:exc.start]):
            return "utf-8"  # UTF-8 text with a bad stretch: reading it reports where
    try:
        head.decode("gb18030")
    except UnicodeDecodeError as exc:
        if whole or exc.start < len(head) - 4:  # not just a character cut off by the end of the head
            raise undecodable(head, path) from None
    return "gb18030"


def utf8_evidence(prefix: bytes) -> bool:
    """Whether valid UTF-8 before a bad byte shows the file is UTF-8: at least two non-ASCII characters
    (one could be a GB18030 pair that happens to be valid UTF-8)."""
    if prefix.isascii():
        return False
    text = prefix.decode("utf-8", "ignore")
    return len(text) - len(text.encode("ascii", "ignore")) >= 2


def undecodable(raw: bytes, path: Path) -> InputError:
    """Neither UTF-8 nor GB18030: binary if it has control bytes, else an encoding we do not read."""
    head = raw[:HEAD]
    if len(_CONTROL.findall(head)) > max(1, len(head) // 100):
        return InputError("input.binary", path=str(path))
    return InputError("input.unknown_encoding", path=str(path))


def guess(raw: bytes) -> str:
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


def decode_error(raw: bytes, enc: str, exc: UnicodeDecodeError) -> InputError:
    """input.encoding for a decoding failure, with the line where it happens."""
    row = raw.count(b"\n", 0, exc.start) + 1
    return InputError("input.encoding", encoding=enc, row=row, detected=guess(raw))


def text_of(raw: bytes, requested: str | None, path: Path) -> tuple[str, str]:
    """The decoded text and its encoding (for JSON and JSONL)."""
    enc = detect_encoding(raw[:HEAD], len(raw), requested, path)
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        if requested or (enc == "utf-8" and utf8_evidence(raw[:exc.start])):
            raise decode_error(raw, enc, exc) from None
        if enc == "utf-8" and gb18030_ok(raw):
            return text_of(raw, "gb18030", path)
        raise undecodable(raw, path) from None
    if not text.strip("\ufeff" + BLANK_CHARS):
        raise InputError("input.empty", path=str(path))
    return text.lstrip("\ufeff"), enc


def gb18030_ok(raw: bytes) -> bool:
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def check_not_blank(raw: bytes, path: Path) -> None:
    """input.empty for a file of only whitespace (and a UTF-8 BOM)."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    if NON_WS.search(raw, start) is None:
        raise InputError("input.empty", path=str(path))


# ------------------------------------------------------------------------------------------------- CSV


class BadUtf8(Exception):
    """Raised inside CSV parsing when the bytes are not UTF-8; ``offset`` is where (in the file)."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


@dataclass
class Utf8:
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


def blank(text: str) -> bool:
    """Whether a text cell is empty or white space only (read as missing)."""
    return not text.strip(BLANK_CHARS)




_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD: JSON "\ud800" escapes decode to them, and they are
    not text (polars and UTF-8 refuse them)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if _SURROGATE.search(text) else text


def cell_text(value: Any) -> str | None:
    """A spreadsheet/frame cell as text: integral floats without .0, dates ISO, booleans true/false."""
    if value is None:
        return None
    if isinstance(value, str):
        value = unicode(value)
        return None if blank(value) else value
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
