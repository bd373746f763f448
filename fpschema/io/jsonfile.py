"""JSON and JSON Lines: exact integers, nested values as JSON text, records into a frame.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.header import finish_flat
from fpschema.io.spreadsheet import strings_series
from fpschema.io.text import (
    HEAD,
    JSON_KEY_RE,
    ROW,
    Limits,
    Table,
    cell_text,
    check_not_blank,
    detect_encoding,
    text_of,
    unicode,
)

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
        return value if value is None else unicode(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return unicode(json.dumps(value, ensure_ascii=False, default=str))
    return cell_text(value)


def records_frame(records: list[Any], base: int, rows: Sequence[int] | None = None) -> pl.DataFrame:
    """Objects → a text frame whose columns are the union of keys in first-seen order."""
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            row = rows[i] if rows is not None else base + i
            raise InputError("input.json", row=row, detail=f"expected an object, got {type(rec).__name__}")
    shapes = dict.fromkeys(map(tuple, records))  # the distinct key sequences, first seen first
    keys = list(dict.fromkeys(itertools.chain.from_iterable(shapes)))
    names = [unicode(str(k)) for k in keys]
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
        return strings_series(name, values)
    if kinds in ({int}, {bool}):
        with contextlib.suppress(OverflowError, TypeError, ValueError, pl.exceptions.PolarsError):
            return pl.Series(name, values, dtype=pl.Int64 if kinds == {int} else pl.Boolean).cast(pl.String)
    if kinds <= {int, float}:
        return pl.Series(name, [None if v is None else repr(v) for v in values], dtype=pl.String)
    return pl.Series(name, [_json_text(v) for v in values], dtype=pl.String)


def read_json(raw: bytes, path: Path, requested: str | None, limits: Limits) -> Table:
    """A JSON array of objects (or one object); rows are the 1-based element numbers."""
    check_not_blank(raw, path)
    text, enc = text_of(raw, requested, path)
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
    return finish_flat(records_frame(data, base=1), 1, path.name, "json", limits, encoding=enc,
                        rows=range(1, len(data) + 1))  # numbered from the elements: also [{}, {}] has two rows


def read_jsonl(raw: bytes, path: Path, requested: str | None, limits: Limits) -> Table:
    """One object per line; rows are line numbers, blank lines count but give no row."""
    check_not_blank(raw, path)
    enc = detect_encoding(raw[:HEAD], len(raw), requested, path)
    frame = _jsonl_fast(raw) if enc == "utf-8" else None
    if frame is not None:
        return finish_flat(frame.drop(ROW), 0, path.name, "jsonl", limits, encoding=enc, rows=frame[ROW])
    text, enc = text_of(raw, requested, path)
    lines = text.split("\n")
    rows = [number for number, line in enumerate(lines, start=1) if not line.isspace() and line]
    records = _jsonl_records(lines, rows)
    return finish_flat(records_frame(records, base=1, rows=rows), 0, path.name, "jsonl", limits,
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
