"""CSV/TSV read whole: delimiter sniffing, the header rows, and the body parsed by polars (a fast form and a
line-by-line form for ragged or quoted files).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.header import clean_cells, find_header, finish_grid, null_blank
from fpschema.io.text import (
    BLANK_CHARS,
    DELIMITERS,
    FIELDS,
    FOOTER_WORDS,
    HEADER_SCAN,
    NON_WS,
    ROW,
    SAMPLE_LINES_BYTES,
    SPECIAL,
    TOTAL_WORDS,
    BadUtf8,
    Limits,
    Table,
    Utf8,
    blank,
    check_not_blank,
    decode_error,
    detect_encoding,
    gb18030_ok,
    guess,
    undecodable,
    utf8_evidence,
)


def read_csv(path: Path, requested: str | None, known: frozenset[str], limits: Limits,
              *, prefer_tab: bool = False) -> Table:
    """CSV/TSV: detect encoding and delimiter, find the header, parse the body with polars."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_LINES_BYTES)
    check_not_blank(head if size <= len(head) or NON_WS.search(head) else path.read_bytes(), path)
    enc = detect_encoding(head, size, requested, path)
    mac = b"\n" not in head and b"\r" in head  # lines end in CR alone
    if enc in ("utf-8", "utf-8-sig") and not mac:
        content = Utf8(path, None, head, size)
    else:
        raw = path.read_bytes()
        raw = raw.replace(b"\r", b"\n") if mac else raw
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            raise (decode_error(raw, enc, exc) if requested else undecodable(raw, path)) from None
        if not text.strip("\ufeff" + BLANK_CHARS):
            raise InputError("input.empty", path=str(path))
        data = text.lstrip("\ufeff").encode("utf-8")
        content = Utf8(path, data, data[:SAMPLE_LINES_BYTES], len(data))
    try:
        return _parse_csv(content, enc, known, limits, prefer_tab)
    except BadUtf8 as bad:
        raw = content.all()
        # Without evidence for UTF-8 before the first bad byte, try GB18030.
        if not requested and not utf8_evidence(raw[:bad.offset]) and gb18030_ok(raw):
            return read_csv(path, "gb18030", known, limits, prefer_tab=prefer_tab)
        row = raw.count(b"\n", 0, bad.offset) + 1
        raise InputError("input.encoding", encoding=enc, row=row, detected=guess(raw)) from None


def _utf8_error(buf: bytes, start: int = 0) -> BadUtf8:
    """Where the first invalid UTF-8 byte at or after ``start`` is."""
    try:
        buf[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadUtf8(start + exc.start)
    return BadUtf8(start)


def _parse_csv(content: Utf8, enc: str, known: frozenset[str], limits: Limits, prefer_tab: bool) -> Table:
    delim = sniff_delimiter(list(itertools.islice(iter_lines(content), 50)), prefer_tab)
    records, ends = head_records(content, delim)
    grid = [clean_cells(rec) for rec in records]
    header = find_header(grid, known)
    width = len(records[header.last])
    skip_lines, skip_bytes = ends[header.last]
    first_row = header.last + 2
    body = csv_body_fast(content, delim, width, skip_lines)
    if body is None:
        data = content.all()
        try:
            tail = data[skip_bytes:].decode("utf-8")
        except UnicodeDecodeError:
            raise _utf8_error(data, skip_bytes) from None
        body = _csv_body_slow(tail, delim, width, first_row)
    body = body.with_columns(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW))
    return finish_grid(body, header, grid, name=content.path.name, fmt="csv", encoding=enc, limits=limits,
                        check_width=width)


def iter_lines(content: Utf8, consumed: list[int] | None = None) -> Iterator[str]:
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


def sniff_delimiter(lines: Sequence[str], prefer_tab: bool) -> str:
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


def head_records(content: Utf8, delim: str) -> tuple[list[list[str]], list[tuple[int, int]]]:
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
            for rec in csv.reader(iter_lines(content, consumed), delimiter=delim, strict=strict):
                records.append(rec)
                ends.append((consumed[0], consumed[1]))
                nonempty += not all(map(blank, rec))
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


def _polars_csv(content: Utf8, **options: Any) -> pl.DataFrame:
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


def _csv_body_plain(content: Utf8, delim: str, width: int) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
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


def csv_body_fast(content: Utf8, delim: str, width: int, skip: int,
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
    return null_blank(body, maybe).with_columns(fields, special)


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
    return null_blank(body).with_columns(pl.Series(FIELDS, [len(rec) for rec in records], dtype=pl.Int64))
