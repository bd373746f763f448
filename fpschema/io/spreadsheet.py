"""XLSX/XLSM (calamine, :mod:`fpschema.io.sheetscan`) and XLS workbooks: sheets, merged cells, error cells,
the 1904 date system, zip-bomb checks and cell text.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.frames import text_frame
from fpschema.io.header import Header, find_header, finish_grid, null_blank, pad
from fpschema.io.text import (
    DENSE_FACTOR,
    DENSE_SLACK,
    HEAD,
    HEADER_SCAN,
    ROW,
    ZIP_MEMBER_CHECK,
    Limits,
    Table,
    cell_text,
)

# -------------------------------------------------------------------------------------- spreadsheets


def read_spreadsheet(path: Path, kind: str, known: frozenset[str], limits: Limits, sheet: str | None = None
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
    header = find_header(grid, known, _merged_filler(grid, merges))
    body_rows = cells[header.last + 1:]
    series = [_cells_series(f"c{j}", [row[j] if j < len(row) else None for row in body_rows]) for j in range(width)]
    first_row = header.last + 2
    body = null_blank(pl.DataFrame(series, schema={f"c{j}": pl.String for j in range(width)}))
    if rows is None:
        body = body.with_columns(pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW))
    else:
        body = body.with_columns(pl.Series(ROW, rows[header.last + 1:header.last + 1 + body.height], dtype=pl.Int64))
    table = finish_grid(body, header, grid, name=name, fmt=fmt, encoding=None, limits=limits, check_width=None,
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


def _error_cells(errors: list[tuple[int, int, str]], header: Header, table: Table, rows: list[int] | None,
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
        grid.append(pad([cell_text(v) for v in row], width))
        nonempty += any(grid[-1])
        if nonempty >= HEADER_SCAN:
            break
    return grid


def strings_series(name: str, values: list[Any]) -> pl.Series:
    """A column of strings (and nulls) as one polars call; lone surrogates from JSON "\ud800" escapes, which
    polars cannot encode, are replaced value by value."""
    try:
        return pl.Series(name, values, dtype=pl.String)
    except UnicodeEncodeError:
        return pl.Series(name, [cell_text(v) for v in values], dtype=pl.String)


def _cells_series(name: str, values: list[Any]) -> pl.Series:
    """A column of spreadsheet cells as text: strings and floats converted by polars, other types
    (int, bool, date, datetime, time) one by one."""
    kinds = set(map(type, values)) - {type(None)}
    if kinds <= {str}:
        return strings_series(name, values)
    parts = []
    if str in kinds:
        parts.append(pl.Series([v if type(v) is str else None for v in values], dtype=pl.String))
    if float in kinds:
        floats = pl.DataFrame({name: [v if type(v) is float else None for v in values]}, schema={name: pl.Float64})
        parts.append(text_frame(floats).to_series())
    if rest := kinds - {str, float}:
        parts.append(pl.Series([cell_text(v) if type(v) in rest else None for v in values], dtype=pl.String))
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
