"""Text cells to typed columns, cell by cell, as column expressions.

Every value is read as text; each field is converted on its own with non-strict casts, so one bad
cell never hides another (pandera's coercion stops checking a column after a failed cast; this does
not). Cells that do not convert become null in the typed column and get a ``field.type`` (or
``field.date``) finding; dates written in office formats convert with a ``field.date_nonstandard``
warning. The spellings accepted (code labels and aliases, yes/no words) come from the contract.
"""

from __future__ import annotations

from datetime import date
from functools import cache, lru_cache
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.check import SMALL_SET, Check, one_of
from fpschema.rules import checks

ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
EXCEL_EPOCH = date(1899, 12, 30)
EPOCH = date(1970, 1, 1)
# Excel serial day numbers from 1954-10-03 to 2118-12-23 are taken for dates; others are not dates.
EXCEL_SERIAL = r"^[2-7][0-9]{4}(\.0+)?$"
ITEM_SEPARATORS = r"[,，、;；\s]+"
# A JSON array of strings and numbers (how JSON, JSON Lines, Parquet and DataFrame list columns give a list, and a
# cell may spell one): read as that list, items as JSON gives them. Other texts are items between separators.
_JSON_ITEM = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
_JSON_WS = "[ \t\n\r]*"
JSON_ARRAY = rf"^\[{_JSON_WS}(?:(?:{_JSON_ITEM}){_JSON_WS}(?:,{_JSON_WS}(?:{_JSON_ITEM}){_JSON_WS})*)?\]$"


def _text(name: str) -> pl.Expr:
    """The cell's text without surrounding white space; empty cells are null."""
    text = pl.col(name).cast(pl.Utf8).str.strip_chars()
    return pl.when(text != "").then(text)


def _date(text: pl.Expr) -> pl.Expr:
    head = text.str.split(" ").list.first()
    parsed = [head.str.to_date(fmt, strict=False, cache=False) for fmt in DATE_FORMATS]
    serial = pl.when(text.str.contains(EXCEL_SERIAL)).then(
        pl.lit(EXCEL_EPOCH) + pl.duration(days=text.cast(pl.Float64, strict=False).cast(pl.Int64))
    )
    return pl.coalesce(*parsed, serial.cast(pl.Date))


def _integer(text: pl.Expr) -> pl.Expr:
    as_float = text.cast(pl.Float64, strict=False)
    integral = pl.when((as_float == as_float.floor()) & (as_float.abs() < 2**53)).then(as_float.cast(pl.Int64))
    return pl.coalesce(text.cast(pl.Int64, strict=False), integral)


def _boolean(f: contract.Field, text: pl.Expr) -> pl.Expr:
    lower = text.str.to_lowercase()
    trues = [t.lower() for t in f.true_labels] or ["true"]
    falses = [t.lower() for t in f.false_labels] or ["false"]
    return pl.when(lower.is_in(trues)).then(True).when(lower.is_in(falses)).then(False)


def _items(text: pl.Expr) -> pl.Expr:
    """A list cell: a JSON array (``JSON_ARRAY``) as its items, any other text split at ``ITEM_SEPARATORS``."""
    listed = pl.when(text.str.contains(JSON_ARRAY)).then(text).str.json_decode(pl.List(pl.Utf8))
    return pl.coalesce(listed, text.str.replace_all(ITEM_SEPARATORS, ",").str.strip_chars(",").str.split(","))


def _code(table: contract.CodeTable, text: pl.Expr) -> pl.Expr:
    lookup = table.lookup()
    nfkc = text.str.normalize("NFKC")
    return nfkc.replace_strict(lookup, default=nfkc, return_dtype=pl.Utf8)


def typed_expr(f: contract.Field) -> pl.Expr:
    """The field's column converted from text to its contract type (null where it does not convert).

    Text fields keep the value as given (like a JSON record: stray spaces are the rules' business)."""
    text = _text(f.name)
    if f.json_type == "string" and f.fmt is None and not f.codetable:
        out = pl.col(f.name).cast(pl.Utf8)
    elif f.fmt == "date":
        out = _date(text)
    elif f.json_type == "integer":
        out = _integer(text)
    elif f.json_type == "number":
        out = text.cast(pl.Float64, strict=False)
    elif f.json_type == "boolean":
        out = _boolean(f, text)
    elif f.json_type == "array":
        items = _items(text)
        if f.item_codetable:
            lookup = f.item_codetable.lookup()
            items = items.list.eval(pl.element().replace_strict(lookup, default=pl.element(), return_dtype=pl.Utf8))
        out = items
    else:
        out = _code(f.codetable, text)
    return out.cast(checks.polars_type(f)).alias(f.name)


def conversion_checks(kind: str) -> list[Check]:
    """Findings of the conversion itself; they compare the text column ``{field}#text`` with the typed one."""
    out = []
    for f in contract.fields(kind):
        text, typed = pl.col(f"{f.name}#text"), pl.col(f.name)
        if f.json_type == "string" and f.fmt is None:
            continue
        failed = text.is_not_null() & typed.is_null()  # text is stripped, so blank cells count as empty
        out.append(Check("field.date" if f.fmt == "date" else "field.type", f.name, failed))
        if f.fmt == "date":  # a date that converts, written otherwise than YYYY-MM-DD: see nonstandard_expr
            out.append(Check("field.date_nonstandard", f.name, pl.col(f"{f.name}#nonstandard")))
    return out


def nonstandard_expr(typed: pl.Expr, text: pl.Expr) -> pl.Expr:
    """True where a cell converted to a date but is not written YYYY-MM-DD (``{field}#nonstandard``, which
    :func:`convert_frame` computes alongside the conversion)."""
    return typed.is_not_null() & ~text.str.contains(ISO_DATE)


def _few_values(f: contract.Field) -> bool:
    """Columns with few distinct values (codes, dates, numbers, yes/no): convert each distinct text once."""
    if f.check or f.json_type == "array":
        return False
    return bool(f.codetable) or f.fmt == "date" or f.json_type in ("integer", "number", "boolean")


@cache
def _typed_exprs(kind: str) -> dict[str, pl.Expr]:
    return {f.name: typed_expr(f) for f in contract.fields(kind)}


FEW_ROWS = 16  # frames up to this many rows (single records) are converted cell by cell, without the lookups


def convert_frame(frame: pl.DataFrame, kind: str, only: tuple[str, ...] | None = None,
                  distinct: dict[str, pl.Series] | None = None,
                  seen: dict[str, tuple[str, ...]] | None = None) -> pl.DataFrame:
    """Text frame (one column per field, named by field; absent fields as nulls) → typed frame that keeps each
    field's text as ``{field}#text`` and marks dates written otherwise than YYYY-MM-DD in
    ``{field}#nonstandard``. Each cell converts as :func:`typed_expr` says; low-cardinality columns are
    converted once per distinct text and mapped back (a lookup per cell instead of a parse per cell). ``only``
    limits the fields; ``distinct``, when given, receives each such column's typed values (every value it
    holds, and null; with ``seen``, perhaps some more). ``seen``, when given, holds the distinct texts of earlier
    blocks of the same file, and receives this block's (:func:`_distinct_texts`).

    A fixed handful of frame operations whatever the number of fields: all distinct texts in one pass,
    converted together in one frame (each column padded to the longest), mapped back in one pass. Dates
    written YYYY-MM-DD are parsed as such; only the texts in other layouts go through the full conversion. A frame
    of at most ``FEW_ROWS`` rows is converted by :func:`typed_expr` directly (the same values, fewer operations)."""
    fields = [f for f in contract.fields(kind) if only is None or f.name in only]
    exprs = _typed_exprs(kind)
    types = {f.name: checks.polars_type(f) for f in fields}
    dates = [f.name for f in fields if f.fmt == "date" and _few_values(f)]
    few = [f.name for f in fields if _few_values(f) and f.name not in dates]
    # blank cells arrive as null (the reader's contract), so the text column is the cell itself
    out = frame.with_columns(pl.col(f.name).alias(f"{f.name}#text") for f in fields)
    if frame.height <= FEW_ROWS:  # a few records: each cell converted in one pass, nothing looked up
        out = out.with_columns(exprs[f.name] for f in fields)
        return out.with_columns(nonstandard_expr(pl.col(f.name), pl.col(f"{f.name}#text")).alias(f"{f.name}#nonstandard")
                                for f in fields if f.fmt == "date")
    out = out.with_columns(exprs[f.name] for f in fields if not _few_values(f))
    if few:
        texts = _distinct_texts(frame, few, seen)
        # the blocks of a large file mostly hold the same distinct texts: converted once
        table = _converted_once(kind, tuple(few), tuple(texts))
        out = out.with_columns(_mapping(pl.col(n), table.get_column(f"{n}#in").head(len(d)),
                                        table.get_column(n).head(len(d)), types[n]).alias(n)
                               for n, d in zip(few, texts, strict=True))
        if distinct is not None:  # the padded columns: every value, and null (at least one row of padding)
            distinct.update({n: table.get_column(n) for n in few})
    for n in dates:
        text = out.get_column(f"{n}#text").cast(pl.Utf8)
        parsed = text.str.to_date("%Y-%m-%d", strict=False, cache=False)  # polars' cache only slows this
        iso = _iso_dates(text, parsed)
        out = out.with_columns(pl.when(pl.lit(iso)).then(pl.lit(parsed)).alias(n))
        left = (out.get_column(n).is_null() & text.is_not_null()).arg_true()
        if len(left):  # other layouts (and impossible dates): their distinct texts converted in full
            cells = text.gather(left)
            table = _converted([cells.unique()], [n], exprs)
            fixed = cells.replace_strict(table.get_column(f"{n}#in"), table.get_column(n), default=None,
                                         return_dtype=types[n])
            out = out.with_columns(out.get_column(n).clone().scatter(left, fixed))
        out = out.with_columns((pl.col(n).is_not_null() & ~pl.lit(iso)).alias(f"{n}#nonstandard"))
    return out


ISO_TABLE = (date(1900, 1, 1), date(2099, 12, 31))  # the dates whose YYYY-MM-DD texts are looked up


@cache
def _iso_texts() -> pl.Series:
    """Each date of ``ISO_TABLE`` written YYYY-MM-DD, at its day number from the first."""
    return pl.date_range(*ISO_TABLE, eager=True).dt.to_string("%Y-%m-%d")


def _iso_dates(text: pl.Series, parsed: pl.Series) -> pl.Series:
    """Where ``text`` is a real date written YYYY-MM-DD (``ISO_DATE``; false for null), given ``parsed``, its
    lenient ``%Y-%m-%d`` parse. A date has one way of being written so, so the test is whether the text equals
    the YYYY-MM-DD text of the date it parses to, looked up by day number (no regular expression per cell); a
    date outside ``ISO_TABLE`` (rare) is tested with the pattern."""
    table = _iso_texts()
    first = (ISO_TABLE[0] - EPOCH).days
    day = pl.lit(parsed).cast(pl.Int32) - first
    inside = (day >= 0) & (day < len(table))
    canonical = pl.lit(table).gather(pl.when(inside).then(day))
    flags = pl.select((pl.lit(text) == canonical).fill_null(False).alias("iso"),
                      (pl.lit(parsed).is_not_null() & ~inside).alias("outside"))
    iso, outside = flags.get_column("iso"), flags.get_column("outside")
    if not outside.any():
        return iso
    where = outside.arg_true()
    return iso.scatter(where, text.gather(where).str.contains(ISO_DATE).fill_null(False))  # parsed: a real date


def _distinct_texts(frame: pl.DataFrame, names: list[str], seen: dict[str, tuple[str, ...]] | None
                    ) -> list[tuple[str, ...]]:
    """The distinct texts of each column (sorted, nulls left out), all columns in one pass. A column whose
    earlier blocks held a few texts (``seen``, at most ``SMALL_SET``) gets those and any others its cells hold: a
    few comparisons a cell find the others, instead of a hash-table insert a cell. So it may get a text it no
    longer holds, which converts as before and matches no cell. ``seen`` receives each column's texts."""
    seen = {} if seen is None else seen
    few = {n: seen[n] for n in names if 0 < len(seen.get(n, ())) <= SMALL_SET}
    lists = frame.select(
        (pl.col(n).cast(pl.Utf8).filter(~one_of(pl.col(n), few[n]).fill_null(True)) if n in few
         else pl.col(n).cast(pl.Utf8)).drop_nulls().unique().sort().implode().alias(n) for n in names)
    texts = [tuple(sorted({*few.get(n, ()), *lists.get_column(n)[0].to_list()})) for n in names]
    seen.update(zip(names, texts, strict=True))
    return texts


@lru_cache(maxsize=32)
def _converted_once(kind: str, names: tuple[str, ...], texts: tuple[tuple[str, ...], ...]) -> pl.DataFrame:
    """:func:`_converted` of the distinct texts of the columns ``names`` (the same texts: the same frame)."""
    return _converted([pl.Series(n, t, dtype=pl.Utf8) for n, t in zip(names, texts, strict=True)], list(names),
                      _typed_exprs(kind))


def _converted(distinct: list[pl.Series], names: list[str], exprs: dict[str, pl.Expr]) -> pl.DataFrame:
    """Distinct texts (``{name}#in``) and their conversions (``name``), columns padded with nulls to one more
    than the longest."""
    table = padded([d.alias(n) for n, d in zip(names, distinct, strict=True)])
    return table.select(pl.col(n).alias(f"{n}#in") for n in names).hstack(table.select(exprs[n] for n in names))


def padded(columns: list[pl.Series]) -> pl.DataFrame:
    """Columns of any lengths side by side, each padded with nulls to one more than the longest (so each holds a
    null)."""
    frames = [c.to_frame() for c in columns]
    frames.append(pl.DataFrame({"#pad": [None] * (max(len(c) for c in columns) + 1)}))
    try:
        return pl.concat(frames, how="horizontal_extend").drop("#pad")  # polars 2
    except ValueError:
        return pl.concat(frames, how="horizontal").drop("#pad")  # polars 1 pads with "horizontal"


SMALL_MAPPING = 10  # distinct texts up to which a column is mapped by comparisons rather than a hash lookup


def _mapping(col: pl.Expr, texts: pl.Series, values: pl.Series, dtype: pl.DataType) -> pl.Expr:
    """The typed column from the conversion of its distinct texts, by the cheapest route: the column itself
    when every text converts to itself; a plain cast when it reads every text as the conversion does; a chain
    of comparisons for a few texts; else a hash lookup per cell."""
    if dtype == pl.Utf8 and values.cast(pl.Utf8).eq_missing(texts).all():
        return col
    if dtype.is_numeric() and texts.cast(dtype, strict=False).eq_missing(values).all():
        return col.cast(dtype, strict=False)  # every text is read as a plain cast reads it: parse, no lookup
    if len(texts) <= SMALL_MAPPING:
        chain: Any = pl
        for text, value in zip(texts, values, strict=True):
            chain = chain.when(col == text).then(pl.lit(value, dtype=dtype))
        return chain.otherwise(pl.lit(None, dtype=dtype)) if len(texts) else pl.lit(None, dtype=dtype)
    return col.replace_strict(texts, values, default=None, return_dtype=dtype)
