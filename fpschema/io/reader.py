"""Read the files people really upload (CSV/TSV, XLSX, XLS, JSON, JSONL, Parquet, data frames, lists of
dicts) into an all-text polars table.

The result is a :class:`Table`: a frame whose first column ``__row__`` is the row number a person sees
(the spreadsheet row for CSV/XLSX/XLS, the line for JSONL, the element for JSON), followed by one
``pl.String`` column per header, named by the header text after :func:`normalize_header`. Title rows
above the header, blank rows, footers (填表人/审核人…) and totals rows (合计/总计/小计) are recorded and kept
out of the frame. Every way a file can be unreadable becomes an :class:`~fpschema.errors.InputError`.

This module dispatches on the format; the work is done beside it: :mod:`~fpschema.io.text` (limits, the table,
encodings), :mod:`~fpschema.io.header` (header finding, shaping), :mod:`~fpschema.io.delimited` (CSV),
:mod:`~fpschema.io.spreadsheet` (XLSX, XLS), :mod:`~fpschema.io.jsonfile` (JSON, JSONL) and
:mod:`~fpschema.io.frames` (Parquet, data frames).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.delimited import read_csv
from fpschema.io.frames import is_pandas, pandas_text_frame, read_parquet, text_frame
from fpschema.io.header import finish_flat
from fpschema.io.jsonfile import json_loads, json_texts, read_json, read_jsonl, records_frame
from fpschema.io.spreadsheet import read_spreadsheet
from fpschema.io.text import (
    BLANK_CHARS,
    FORMATS,
    ROW,
    SUFFIXES,
    Limits,
    Table,
    blank,
    newlines_before,
    normalize_header,
    scan_lines,
)

# what other modules take from the reader (the rest lives in the io modules that define it)
__all__ = ["BLANK_CHARS", "ROW", "Limits", "Table", "blank", "json_loads", "json_texts", "newlines_before",
           "normalize_header", "read"]


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
        return finish_flat(text_frame(source), 0, "<dataframe>", "dataframe", limits)
    if is_pandas(source):
        return finish_flat(pandas_text_frame(source), 0, "<dataframe>", "dataframe", limits)
    if isinstance(source, list | tuple) and not isinstance(source, str):
        records = list(source)
        return finish_flat(records_frame(records, base=0), 0, "<records>", "records", limits,
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
            digest = scan_lines(path, limits.max_bytes_line)
        else:
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if kind == "csv":
            table = read_csv(path, encoding, known, limits, prefer_tab=path.suffix.lower() == ".tsv")
        elif kind == "json":
            table = read_json(path.read_bytes(), path, encoding, limits)
        elif kind == "jsonl":
            table = read_jsonl(path.read_bytes(), path, encoding, limits)
        elif kind == "parquet":
            table = read_parquet(path, limits)
        else:
            table = read_spreadsheet(path, kind, known, limits, sheet)
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
