"""Write generated records as the files people upload: CSV (UTF-8 or GB18030), XLSX, JSONL, Parquet.

``office=True`` makes the file look like a statistics office's export: Chinese column titles (a layout's own
headers where the contract gives them: the 介绍信's 计划生育服务站(医院、保健中心)编号, 日期, ...), a table
title and a 填报单位/填报日期 line above the header, and a 合计 row at the bottom. Row numbers in the
manifest are those the validator reports (spreadsheet rows for CSV/XLSX, lines for JSONL, 1-based
rows for Parquet). Same input, same bytes: no timestamps are written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import polars as pl

from fpschema import contract
from fpschema.errors import os_errno, output_error

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
ENCODINGS = ("utf-8", "gb18030")
FIXED_TIME = datetime(2024, 1, 1)


TMP_SUFFIX = ".fpschema-tmp"  # a write in progress: hidden, beside its target, removed when the write fails
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import (os.umask can only be read by setting it)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write to, renamed onto ``path`` (:func:`os.replace`) when the block
    ends without error and removed otherwise (an interrupt included): readers see the old file or the new one
    whole, never a part, and concurrent writers never interleave (the last rename wins). A failure is raised as
    a coded :class:`fpschema.errors.OutputError` naming ``path``."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name[:80]}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise output_error(err, path) from err
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:  # on the disk before the rename
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777  # an overwritten file keeps its permissions
        except OSError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) or os_errno(err) is not None:  # polars says "(os error 28)" in a ComputeError
            raise output_error(err, path) from err
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (:func:`atomic_path`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _title_rows(kind: str) -> list[str]:
    return [contract.schema(kind)["title"], "填报单位：示例县卫生健康局    填报日期：2023-10-08"]


def first_data_row(fmt: str, office: bool) -> int:
    """The row number of the first record in a file of this format."""
    if fmt in ("csv", "xlsx"):
        return 2 + (2 if office else 0)
    return 1


def _headers(frame: pl.DataFrame, kind: str, office: bool, layout: str = "full") -> list[str]:
    if not office:
        return frame.columns
    lay = next(lay for lay in contract.layouts(kind) if lay.name == layout)
    fields = contract.field_map(kind)
    return [lay.header(c, kind) if c in fields else c for c in frame.columns]


def _csv(frame: pl.DataFrame, path: Path, kind: str, encoding: str, office: bool, layout: str) -> None:
    if encoding == "utf-8" and not office:
        frame.write_csv(path)  # straight to disk
        return
    body = frame.rename(dict(zip(frame.columns, _headers(frame, kind, office, layout), strict=True))).write_csv()
    if office:
        width = frame.width
        pad = "," * (width - 1)
        titles = "".join(f"{t}{pad}\n" for t in _title_rows(kind))
        total = f"合计,{frame.height}" + "," * (width - 2) + "\n"
        body = titles + body + total
    path.write_bytes(body.encode(encoding))


def _xlsx(frame: pl.DataFrame, path: Path, kind: str, office: bool, layout: str) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "constant_memory": True})
    book.set_properties({"created": FIXED_TIME, "author": "fpschema"})
    sheet = book.add_worksheet("数据")
    row = 0
    if office:
        for title in _title_rows(kind):
            sheet.write_string(row, 0, title)
            row += 1
    for col, header in enumerate(_headers(frame, kind, office, layout)):
        sheet.write_string(row, col, header)
    for values in frame.iter_rows():
        row += 1
        for col, value in enumerate(values):
            if value is not None:
                sheet.write_string(row, col, value)
    if office:
        sheet.write_string(row + 1, 0, "合计")
        sheet.write_number(row + 1, 1, frame.height)
    book.close()


def _typed_value(f: contract.Field | None, value: str | None):
    """JSON value for a text cell: numbers and yes/no as JSON types when they convert, else the text."""
    if value is None or f is None:
        return value
    try:
        if f.json_type == "integer":
            return int(value)
        if f.json_type == "number":
            number = float(value)
            return int(number) if number.is_integer() else number
    except ValueError:
        return value
    if f.json_type == "boolean":
        return True if value in f.true_labels else False if value in f.false_labels else value
    if f.json_type == "array":
        return [v for v in value.split(",") if v]
    return value


def _jsonl(frame: pl.DataFrame, path: Path, kind: str) -> None:
    fields = contract.field_map(kind)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for record in frame.iter_rows(named=True):
            typed = {k: _typed_value(fields.get(k), v) for k, v in record.items() if v is not None}
            fh.write(json.dumps(typed, ensure_ascii=False) + "\n")


def write(frame: pl.DataFrame, path: str | Path, kind: str, *, fmt: str = "csv", encoding: str = "utf-8",
          office: bool = False, layout: str = "full") -> Path:
    """Write text records (the columns of ``frame``: :func:`fpschema.generator.generate` gives those of its
    layout); ``layout`` names the form whose headers an office file prints. Returns the path."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    with atomic_path(path) as tmp:
        if fmt == "csv":
            _csv(frame, tmp, kind, encoding, office, layout)
        elif fmt == "xlsx":
            _xlsx(frame, tmp, kind, office, layout)
        elif fmt == "jsonl":
            _jsonl(frame, tmp, kind)
        else:
            frame.write_parquet(tmp, statistics=False)
    return path


def manifest_rows(manifest: pl.DataFrame, fmt: str, office: bool) -> pl.DataFrame:
    """The manifest with ``row`` numbered as the validator reports it."""
    return manifest.select((pl.col("index") + first_data_row(fmt, office)).alias("row"), "column", "rule")
