"""XLSX sheets measured before anything allocates their grid, and sparse sheets compacted.

A spreadsheet reader (python-calamine) holds a sheet as a dense grid from its first to its last cell: one value
at XFD1048576 in a 6 KB file asks for 512 GiB. So each sheet's XML is first scanned as a stream, in chunks, for
the cells that hold a value (their references, with polars' regex engine: no Python work per cell): how many,
in how many rows and columns, and where the farthest one is. The reader checks the named limits
(:class:`fpschema.reader.Limits`) on these figures; a sheet much larger than its cells (real data plus a stray
far cell) is rewritten without its empty rows and columns (:func:`compact`) and read from that, its rows
keeping their numbers. Excel error cells (#N/A, #DIV/0!…), which the reader would read as empty, are collected
too, and the workbook's 1904 date system is read from ``workbookPr``.
"""

from __future__ import annotations

import codecs
import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import polars as pl

SCAN_CHUNK = 4 << 20  # sheet XML bytes decoded and scanned at a time
_REF = r"""\br=["']([A-Z]{1,3})([0-9]{1,7})["']"""
_FORMULA = r"(?:<(?:\w+:)?f\b[^>]*/>|<(?:\w+:)?f\b[^>]*>[^<]*</(?:\w+:)?f>)?"
# a cell element holding a value: <c r="B7" ...>[<f>…</f>]<v>… or <is>… (a self-closed <c r="B7" s="1"/> holds none)
VALUE_CELL = r"<(?:\w+:)?c\b[^>]*?" + _REF + r"[^>/]*>" + _FORMULA + r"<(?:\w+:)?(?:v|is)\b"
ANY_VALUE_CELL = r"<(?:\w+:)?c\b[^>]*>" + _FORMULA + r"<(?:\w+:)?(?:v|is)\b"  # with or without a reference
ERROR_CELL = (r"<(?:\w+:)?c\b[^>]*?\bt=[\"']e[\"'][^>/]*>" + _FORMULA + r"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
WHOLE_CELL = r"(?s)<(?:\w+:)?c\b[^>]*?" + _REF + r"[^>/]*>.*?</(?:\w+:)?c>"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def column_number(letters: str) -> int:
    """A1-style column letters → 1-based number (A → 1, XFD → 16384)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def column_letters(number: int) -> str:
    """1-based column number → letters."""
    out = ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


@dataclass
class SheetScan:
    """What a sheet's XML holds: cells with a value, their distinct rows and columns (1-based, sorted), the
    farthest reference, error cells as (row, column, text), and cells written without a reference."""

    cells: int = 0
    rows: list[int] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    errors: list[tuple[int, int, str]] = field(default_factory=list)
    unreferenced: int = 0

    @property
    def max_row(self) -> int:
        return (self.rows[-1] if self.rows else 0) + self.unreferenced

    @property
    def max_column(self) -> int:
        return (self.columns[-1] if self.columns else 0) + self.unreferenced

    @property
    def far_cell(self) -> str:
        """The used range's far corner, e.g. XFD1048576."""
        return f"{column_letters(max(self.max_column, 1))}{max(self.max_row, 1)}"

    @property
    def grid_area(self) -> int:
        """Cells of the grid from A1 to the far corner (what a dense reader materialises)."""
        return self.max_row * self.max_column

    @property
    def compact_area(self) -> int:
        """Cells of the grid of only the rows and columns that hold a value."""
        return (len(self.rows) + self.unreferenced) * (len(self.columns) + self.unreferenced)


@dataclass
class SheetPart:
    name: str
    member: str | None  # the zip member of a worksheet; None for a chart sheet or a missing part


def workbook_parts(zf: zipfile.ZipFile) -> tuple[list[SheetPart], bool]:
    """The workbook's sheets in order (name and worksheet member) and whether it uses the 1904 date system."""
    book = ET.fromstring(zf.read("xl/workbook.xml"))
    pr = book.find(f"{_MAIN}workbookPr")
    date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
    targets: dict[str, str] = {}
    with _suppress_missing():
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        for rel in rels.iter(f"{_RELS}Relationship"):
            if rel.get("Type", "").endswith("/worksheet"):
                target = rel.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
                targets[rel.get("Id", "")] = path
    names = set(zf.namelist())
    parts = []
    for sheet in book.iter(f"{_MAIN}sheet"):
        member = targets.get(sheet.get(_DOC_REL, ""))
        parts.append(SheetPart(sheet.get("name", ""), member if member in names else None))
    return parts, date1904


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *_: object) -> bool:
        return kind is KeyError


def _chunks(zf: zipfile.ZipFile, member: str, prefix: str) -> Iterator[str]:
    """The member's text in pieces that each end before the start of a cell element (never inside one)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    starts = (f"<{prefix}c ", f"<{prefix}c>")
    carry = ""
    with zf.open(member) as fh:
        while raw := fh.read(SCAN_CHUNK):
            text = carry + decoder.decode(raw)
            cut = max(text.rfind(s) for s in starts)
            if cut <= 0:
                carry = text
                continue
            carry = text[cut:]
            yield text[:cut]
    text = carry + decoder.decode(b"", final=True)
    if text:
        yield text


def _prefix(zf: zipfile.ZipFile, member: str) -> str:
    """The namespace prefix of the sheet's elements ("" or e.g. "x:")."""
    with zf.open(member) as fh:
        head = fh.read(1 << 16).decode("utf-8", "replace")
    found = re.search(r"<(\w+:)?worksheet\b", head)
    return (found.group(1) or "") if found else ""


def scan(zf: zipfile.ZipFile, member: str) -> SheetScan:
    """Count the value cells of a sheet and where they are, reading its XML in chunks."""
    out = SheetScan()
    rows: list[pl.Series] = []
    columns: list[pl.Series] = []
    for text in _chunks(zf, member, _prefix(zf, member)):
        one = pl.Series("x", [text])
        refs = one.str.extract_all(VALUE_CELL).explode().drop_nulls()
        total = one.str.count_matches(ANY_VALUE_CELL).item() or 0
        out.unreferenced += total - len(refs)
        if len(refs):
            parts = refs.str.extract_groups(_REF).struct.unnest()
            out.cells += len(refs)
            rows.append(parts.get_column(parts.columns[1]).cast(pl.Int64).unique())
            columns.append(parts.get_column(parts.columns[0]).unique())
        if "t=\"e\"" in text or "t='e'" in text:
            for cell in one.str.extract_all(ERROR_CELL).explode().drop_nulls().to_list():
                ref = re.search(_REF, cell)
                value = re.search(r"<(?:\w+:)?v>([^<]*)<", cell)
                if ref and value:
                    out.errors.append((int(ref.group(2)), column_number(ref.group(1)), _unescape(value.group(1))))
    if rows:
        out.rows = pl.concat(rows).unique().sort().to_list()
        letters = pl.concat(columns).unique().to_list()
        out.columns = sorted(column_number(c) for c in letters)
    return out


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'") \
        .replace("&amp;", "&")


def compact(zf: zipfile.ZipFile, member: str, found: SheetScan) -> bytes:
    """A workbook (zip bytes) whose sheet ``member`` holds only the value cells of the original, moved up and
    left past every empty row and column: compact row i is original row ``found.rows[i - 1]``, compact column j
    original column ``found.columns[j - 1]``. Merged ranges move with them; the other worksheets are left out."""
    prefix = _prefix(zf, member)
    row_map = pl.DataFrame({"r": found.rows, "nr": range(1, len(found.rows) + 1)},
                           schema={"r": pl.Int64, "nr": pl.Int64})
    col_map = pl.DataFrame({"c": [column_letters(c) for c in found.columns],
                            "nc": [column_letters(j) for j in range(1, len(found.columns) + 1)],
                            "order": range(1, len(found.columns) + 1)},
                           schema={"c": pl.String, "nc": pl.String, "order": pl.Int64})
    pieces = []
    head, tail = "", ""
    for text in _chunks(zf, member, prefix):
        if not head:
            head = text
        tail = (tail + text)[-(1 << 20):]
        cells = pl.Series("x", [text]).str.extract_all(WHOLE_CELL).explode().drop_nulls().to_frame("x")
        cells = cells.filter(pl.col("x").str.contains(r"^<[^>]*>" + _FORMULA + r"<(?:\w+:)?(?:v|is)\b"))
        if cells.height:
            refs = cells.get_column("x").str.extract_groups(_REF).struct.unnest()
            pieces.append(pl.concat([cells, refs.select(pl.col(refs.columns[0]).alias("c"),
                                                        pl.col(refs.columns[1]).cast(pl.Int64).alias("r"))],
                                    how="horizontal"))
    root = re.search(r"<(?:\w+:)?worksheet\b[^>]*>", head)
    start = root.group(0) if root else f'<worksheet xmlns="{_MAIN[1:-1]}">'
    body = ""
    if pieces:
        cells = (pl.concat(pieces).join(row_map, on="r").join(col_map, on="c").sort("nr", "order")
                 .with_columns(pl.concat_str(
                     pl.col("x").str.extract(r"""^(<[^>]*?\br=["'])"""), pl.col("nc"), pl.col("nr").cast(pl.String),
                     pl.col("x").str.extract(r"""^<[^>]*?\br=["'][A-Z]+[0-9]+(["'](?s:.*))$""")).alias("x")))
        rows = cells.group_by("nr", maintain_order=True).agg(pl.col("x").str.join(""))
        body = rows.select(pl.concat_str(pl.lit(f'<{prefix}row r="'), pl.col("nr").cast(pl.String), pl.lit('">'),
                                         pl.col("x"), pl.lit(f"</{prefix}row>")).str.join("")).item()
    merges = "".join(f'<{prefix}mergeCell ref="{ref}"/>' for ref in _moved_merges(tail, found))
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{start}<{prefix}sheetData>{body}'
           f"</{prefix}sheetData>" + (f"<{prefix}mergeCells>{merges}</{prefix}mergeCells>" if merges else "")
           + f"</{prefix}worksheet>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as new:
        for info in zf.infolist():
            name = info.filename
            if name == member:
                new.writestr(name, xml.encode("utf-8"))
            elif not name.startswith(("xl/worksheets/", "xl/drawings/", "xl/media/", "xl/charts/")):
                new.writestr(name, zf.read(info))
    return out.getvalue()


def _moved_merges(text: str, found: SheetScan) -> list[str]:
    """The merged ranges (from the end of the sheet XML) in compact coordinates; ranges over no kept cell drop."""
    import bisect

    out = []
    for a, r0, b, r1 in re.findall(r"""<(?:\w+:)?mergeCell\b[^>]*\bref=["']([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)["']""",
                                   text):
        c0, c1 = column_number(a), column_number(b)
        rows = (bisect.bisect_left(found.rows, int(r0)), bisect.bisect_right(found.rows, int(r1)) - 1)
        cols = (bisect.bisect_left(found.columns, c0), bisect.bisect_right(found.columns, c1) - 1)
        if rows[0] <= rows[1] and cols[0] <= cols[1]:
            out.append(f"{column_letters(cols[0] + 1)}{rows[0] + 1}:{column_letters(cols[1] + 1)}{rows[1] + 1}")
    return out

