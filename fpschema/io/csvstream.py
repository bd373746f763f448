"""Large CSV files (UTF-8 or GB18030) read block by block, so memory stays with the block, not the file.

The header is found as :func:`fpschema.reader.read` finds it (title rows, merged headers, known header
spellings); the body is then parsed in blocks of whole lines with the same fast parser, each block a frame
like :attr:`Table.frame` with real row numbers. A GB18030 block is converted to UTF-8 first (a line end is
never part of a GB18030 character, so blocks cut at line ends decode on their own). Blank rows and totals
rows are left out and recorded as the reader does; a footer (填表人…) is recognised in the last block, which
holds at least the last 64 KiB of the file. The file is hashed as it is read.

Files this cannot stream (another encoding, unnamed columns, records spanning lines) give None at opening
or raise :class:`NotStreamable` while streaming: read them whole instead.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from fpschema.errors import InputError
from fpschema.io.delimited import csv_body_fast, head_records, iter_lines, sniff_delimiter
from fpschema.io.header import clean_cells, find_header, name_columns, split_body
from fpschema.io.text import (
    FIELDS,
    HEAD,
    NON_WS,
    ROW,
    SAMPLE_LINES_BYTES,
    SUFFIXES,
    BadUtf8,
    Limits,
    Utf8,
    detect_encoding,
    guess,
    line_too_long,
    newlines_before,
    normalize_header,
    undecodable,
)

FIRST_BLOCK = 4 << 20
LAST_BLOCK_MIN = 64 << 10  # a footer (填表人…) is recognised in the last block: it never starts a block this near the end
STREAMED_ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")


class NotStreamable(Exception):
    """The file turned out to need the whole-file reader (e.g. a quoted record spanning lines)."""


@dataclass
class CsvStream:
    """An opened CSV: its header, and :meth:`frames` to iterate over the body block by block."""

    path: Path
    encoding: str
    delimiter: str
    names: list[str]                # column names as the reader names them
    header_rows: list[int]
    first_row: int                  # row number of the first line after the header
    start: int                      # byte offset of that line
    limits: Limits
    skipped_rows: list[tuple[int, str]] = field(default_factory=list)
    totals_rows: list[int] = field(default_factory=list)
    rows: int = 0                   # data rows handed out so far
    ends: deque[int] = field(default_factory=deque)  # file offset where each block handed out ends (consumers pop)
    sha256: str | None = None       # set once the last block has been read
    requested: bool = False         # the caller named the encoding (a decoding error then gives the row)
    head: bytes = b""               # the file's first bytes (what a decoding error is judged by)

    format: ClassVar[str] = "csv"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def frames(self) -> Iterator[pl.DataFrame]:
        """Frames of ``__row__`` and the named text columns, one per block, in file order."""
        digest = _Hasher()
        row = self.first_row
        width = len(self.names)
        done = self.start
        for data, last in _blocks(self.path, self.start, self.limits, digest):
            done += len(data)
            if self.encoding == "gb18030":
                data = self._utf8(data, done - len(data))
            content = Utf8(self.path, data, data[:SAMPLE_LINES_BYTES], len(data))
            body = (csv_body_fast(content, self.delimiter, width, 0, (self.limits.max_bytes_line, row)) if data
                    else pl.DataFrame(schema={**{f"c{j}": pl.String for j in range(width)}, FIELDS: pl.Int64}))
            if body is None:
                raise NotStreamable(self.path)
            body.insert_column(0, pl.int_range(row, row + body.height, dtype=pl.Int64, eager=True).alias(ROW))
            row += body.height
            kept, skipped, totals = split_body(body, width, width, footer=last)
            self.skipped_rows += skipped
            self.totals_rows += totals
            frame = name_columns(kept, self.names)
            self.rows += frame.height
            if self.limits.max_rows is not None and self.rows > self.limits.max_rows:
                raise InputError("input.too_many_rows", limit=self.limits.max_rows)
            del data, content, body, kept
            self.ends.append(done)
            if last:  # after the end is recorded: a consumer seeing the digest knows the last block is out
                self.sha256 = digest.hexdigest()
            yield frame
            del frame  # the caller has it; hold nothing while the next block is read

    def _utf8(self, data: bytes, offset: int) -> bytes:
        """A GB18030 block (starting at file ``offset``) as UTF-8; bytes that do not decode get the coded
        error the whole-file reader gives."""
        try:
            return data.decode(self.encoding).encode("utf-8")
        except UnicodeDecodeError as exc:
            if not self.requested:
                raise undecodable(self.head, self.path) from None
            row = newlines_before(self.path, offset + exc.start) + 1
            raise InputError("input.encoding", encoding=self.encoding, row=row, detected=guess(data)) from None


class _Hasher:
    """SHA-256 of bytes given in order, computed in a thread of its own (beside the parsing)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._pool = ThreadPoolExecutor(1)
        self._last: Future[None] | None = None

    def update(self, data: bytes) -> None:
        self._last = self._pool.submit(self._digest.update, data)

    def hexdigest(self) -> str:
        if self._last is not None:
            self._last.result()
        self._pool.shutdown()
        return self._digest.hexdigest()


def _blocks(path: Path, start: int, limits: Limits, digest: Any) -> Iterator[tuple[bytes, bool]]:
    """(bytes of whole lines, whether they are the last) from ``start`` on, hashing the whole file.

    Each block is read with one call, up to the first line end at or after ``block_bytes``, so no byte is
    copied twice; a line longer than ``max_bytes_line`` is input.line_too_long."""
    size = path.stat().st_size
    step = max(1 << 16, limits.block_bytes)
    _prime_allocator(step + (1 << 20))
    with path.open("rb", buffering=0) as fh:
        digest.update(fh.read(start))
        pos = start
        if pos >= size:
            yield b"", True  # a header and nothing after it
            return
        want = min(step, FIRST_BLOCK)
        while pos < size:
            # small blocks first, each twice the last: the rules start early, and each block is checked in
            # about the time the next one takes to read
            end = _line_end(fh, pos + want, size, limits.max_bytes_line, path)
            if size - end < LAST_BLOCK_MIN:  # the few lines left join this block: a footer is never split
                end = size
            want = min(step, want * 2)
            fh.seek(pos)
            data = fh.read(end - pos)
            digest.update(data)
            pos = end
            yield data, pos >= size


def _prime_allocator(size: int) -> None:
    """Let the blocks' bytes reuse memory already faulted in. glibc's malloc serves a request above its mmap
    threshold with a fresh mapping, faulted in page by page and unmapped again when freed, and raises the
    threshold to the size of a mapping it frees. So one block-sized buffer, allocated (calloc: no page touched)
    and freed before the first block, lets every block come from the heap: about 18,000 fewer page faults per
    million rows. With another allocator this is one short-lived allocation."""
    bytes(size)


def _line_end(fh: Any, at: int, size: int, limit: int, path: Path) -> int:
    """The offset just after the first line end at or after ``at`` (or the end of the file)."""
    if at >= size:
        return size
    fh.seek(at)
    seen = 0
    while seen <= limit:
        window = fh.read(1 << 16)
        if not window:
            return size
        nl = window.find(b"\n")
        if nl >= 0:
            return at + seen + nl + 1
        seen += len(window)
    line_too_long(path, at, limit)
    raise AssertionError("unreachable")


def open_stream(path: Path, *, encoding: str | None = None, known_headers: Collection[str] = (),
                limits: Limits | None = None) -> CsvStream | None:
    """A :class:`CsvStream` for a UTF-8 CSV of at least ``limits.stream_bytes`` bytes with a header whose
    columns are all named; None for anything else (read it with :func:`fpschema.reader.read`)."""
    limits = limits or Limits()
    path = Path(path)
    if SUFFIXES.get(path.suffix.lower()) != "csv" or not path.is_file():
        return None
    size = path.stat().st_size
    if size == 0 or size < limits.stream_bytes:
        return None
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_LINES_BYTES)
    if NON_WS.search(head) is None:
        return None
    enc = detect_encoding(head, size, encoding, path)
    if enc not in STREAMED_ENCODINGS or b"\n" not in head:
        return None
    raw_head = head
    if enc == "gb18030":  # the head's whole lines as UTF-8, to find the header as in a UTF-8 file
        cut = head.rfind(b"\n") + 1
        try:
            text = head[:cut].decode(enc)
        except UnicodeDecodeError as exc:  # bad bytes further down: the blocks report them
            cut = head.rfind(b"\n", 0, exc.start) + 1
            text = head[:cut].decode(enc)
            if text.count("\n") < 100:  # too near the header to look for it: read whole, which says what is wrong
                return None
        head = text.encode("utf-8")
    content = Utf8(path, None, head, size)
    known = frozenset(normalize_header(h) for h in known_headers)
    try:
        delim = sniff_delimiter(list(itertools.islice(iter_lines(content), 50)),
                                 prefer_tab=path.suffix.lower() == ".tsv")
        records, ends = head_records(content, delim)
    except BadUtf8:
        return None
    if not records:
        return None
    grid = [clean_cells(rec) for rec in records]
    header = find_header(grid, known)
    width = len(records[header.last])
    if len(header.names) != width or not all(header.names):
        return None
    longest = max(map(len, head[:ends[header.last][1]].split(b"\n")))
    if longest > limits.max_bytes_line:
        return None  # the whole-file reader says which line
    lines, start = ends[header.last]
    if enc == "gb18030":  # where the body starts in the file: after as many line ends as in the UTF-8 head
        start = 0
        for _ in range(lines):
            start = raw_head.index(b"\n", start) + 1
    name_columns(pl.DataFrame({f"c{j}": [] for j in range(width)}, schema=dict.fromkeys(
        [f"c{j}" for j in range(width)], pl.String)).with_columns(pl.lit(0, dtype=pl.Int64).alias(ROW)),
        header.names)  # duplicated names: input.duplicate_column
    titles = [(i + 1, "title" if any(grid[i]) else "blank") for i in range(header.first)]
    return CsvStream(path, enc, delim, header.names, list(range(header.first + 1, header.last + 2)),
                     header.last + 2, start, limits, skipped_rows=titles, requested=encoding is not None,
                     head=raw_head[:HEAD])
