"""Header finding and the shaping of a grid into a table: title rows, merged headers, footers and totals rows,
blank rows, column naming.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.text import (
    BLANK_RE,
    FIELDS,
    FILL_IN,
    FOOTER_RE,
    HEADER_SCAN,
    MAX_HEADER_DEPTH,
    ROW,
    SPECIAL,
    TOTAL_RE,
    Limits,
    Table,
    blank,
    normalize_header,
)

# --------------------------------------------------------------------------------------- header finding


@dataclass
class Header:
    first: int            # index (in the grid) of the first header row
    last: int             # index of the last header row; data starts after it
    names: list[str]      # one name per column ("" for a column without a header)


def clean_cells(cells: Sequence[Any]) -> list[str | None]:
    """Cell texts with empty and whitespace-only cells as None."""
    return [c if isinstance(c, str) and not blank(c) else None for c in cells]


def find_header(grid: list[list[str | None]], known: frozenset[str],
                 filled: Callable[[int, int], list[list[str | None]]] | None = None) -> Header:
    """Pick the header row (and merged rows above it) that matches the most known headers.

    ``grid`` holds the first rows (None for empty cells). ``filled(first, last)`` returns those rows with
    merged cells filled in (spreadsheets); by default the rows as they are.
    """
    filled = filled or (lambda a, b: grid[a:b + 1])
    nonempty = list(itertools.islice((i for i, row in enumerate(grid) if any(row)), HEADER_SCAN))
    best: tuple[tuple[int, int, int], Header] | None = None
    if known:
        for i in nonempty:
            for depth in range(MAX_HEADER_DEPTH + 1):
                if depth and (i - depth < 0 or not any(grid[i - depth])):
                    break
                names, score = _combine(filled(i - depth, i), len(grid[i]), known)
                key = (score, -i, -depth)
                if score and (best is None or key > best[0]):
                    best = (key, Header(i - depth, i, names))
    if best is None:
        return _fallback_header(grid, nonempty)
    return _extend_upward(grid, best[1], best[0][0], known, filled)


def _extend_upward(grid: list[list[str | None]], header: Header, score: int, known: frozenset[str],
                   filled: Callable[[int, int], list[list[str | None]]]) -> Header:
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
        header, score = Header(header.first - 1, header.last, names), new_score
    return header


def _fallback_header(grid: list[list[str | None]], nonempty: list[int]) -> Header:
    """Without known headers: the first row with ≥2 cells, at least half as many as the widest row,
    that is not a fill-in line (填报单位：…); a one-column table's first row."""
    counts = {i: sum(c is not None for c in grid[i]) for i in nonempty}
    widest = max(counts.values(), default=0)
    for i in nonempty:
        fill_in = any(c is not None and FILL_IN.match(normalize_header(c)) for c in grid[i])
        if counts[i] >= 2 and 2 * counts[i] >= widest and not fill_in:
            return Header(i, i, [normalize_header(c) if c else "" for c in grid[i]])
    if nonempty and widest == 1 and all(len(grid[i]) == 1 for i in nonempty):
        i = nonempty[0]
        return Header(i, i, [normalize_header(grid[i][0] or "")])
    raise InputError("input.no_header")


def _combine(rows: list[list[str | None]], width: int, known: frozenset[str]) -> tuple[list[str], int]:
    """Column names for a header made of ``rows`` (upper rows first) and how many are known headers.

    Upper rows are forward-filled to the right (merged cells), within the groups of the rows above
    them; per column the first known of upper+…+lower, middle+lower, top+lower, lower is used,
    otherwise the lower cell (or the combination when the lower cell is empty).
    """
    *uppers, lower = [[normalize_header(c) if c else "" for c in pad(r, width)] for r in rows]
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


def pad(row: list[str | None], width: int) -> list[str | None]:
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


def null_blank(frame: pl.DataFrame, maybe: pl.Series | None = None) -> pl.DataFrame:
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


def finish_grid(body: pl.DataFrame, header: Header, grid: list[list[str | None]], *, name: str,
                 fmt: str, encoding: str | None, limits: Limits, check_width: int | None,
                 numbers: Sequence[int] | None = None, columns: Sequence[int] | None = None) -> Table:
    """Classify body rows (blank, footer, totals), check widths, name the columns, build the Table.
    ``numbers``: the row number of each grid row (default: its position + 1); ``columns``: the column number of
    each grid column (default: its position + 1)."""
    number = (lambda i: numbers[i]) if numbers is not None else (lambda i: i + 1)
    data, dropped, totals = split_body(body, len(header.names), check_width)
    skipped = [(number(i), "title" if any(grid[i]) else "blank") for i in range(header.first)] + dropped
    frame = name_columns(data, header.names, columns)
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


def name_columns(data: pl.DataFrame, names: list[str], numbers: Sequence[int] | None = None) -> pl.DataFrame:
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


def finish_flat(frame: pl.DataFrame, base: int, name: str, fmt: str, limits: Limits,
                 encoding: str | None = None, rows: Sequence[int] | None = None) -> Table:
    """A table without header detection: rows numbered from ``base`` (or given), names normalised."""
    names = [normalize_header(c) for c in frame.columns]
    seen: set[str] = {ROW}
    for n in names:
        if n in seen:
            raise InputError("input.duplicate_column", column=n)
        seen.add(n)
    frame = null_blank(frame.rename(dict(zip(frame.columns, names, strict=True))))
    numbers = pl.Series(ROW, rows, dtype=pl.Int64) if rows is not None else \
        pl.int_range(base, base + frame.height, dtype=pl.Int64, eager=True).alias(ROW)
    # records without any key ({}) make a frame without columns, whose height polars counts as 0: the rows stay
    table = Table(frame.insert_column(0, numbers) if frame.width else numbers.to_frame(), name, fmt, encoding)
    _check_rows(table.frame, limits)
    return table
