"""Parquet files, polars and pandas data frames, lists of dicts: every column as text.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import polars as pl

from fpschema.errors import InputError
from fpschema.io.header import finish_flat
from fpschema.io.text import BIG_INTEGRAL, Limits, Table, cell_text

# ------------------------------------------------------------------------------ Parquet and DataFrames


def read_parquet(path: Path, limits: Limits) -> Table:
    try:
        frame = pl.read_parquet(path, glob=False)
    except Exception as exc:  # noqa: BLE001 - polars/arrow raise many kinds for a broken file
        raise InputError("input.parquet", detail=f"{type(exc).__name__}: {exc}") from None
    try:
        text = text_frame(frame)
    except Exception as exc:  # noqa: BLE001 - a column type with no text form
        raise InputError("input.parquet", detail=f"{type(exc).__name__}: {exc}") from None
    return finish_flat(text, 1, path.name, "parquet", limits)


def is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and type(obj).__name__ == "DataFrame"


def pandas_text_frame(df: Any) -> pl.DataFrame:
    """A pandas DataFrame as text; mixed object columns are converted cell by cell."""
    names = [str(c) for c in df.columns]
    if len(set(names)) < len(names):
        raise InputError("input.duplicate_column", column=next(n for n in names if names.count(n) > 1))
    df = df.set_axis(names, axis=1)
    try:
        return text_frame(pl.from_pandas(df, nan_to_null=True))
    except Exception:  # noqa: BLE001 - pyarrow refuses mixed object columns
        columns = {n: [cell_text(None if _is_na(v) else v) for v in df[n].tolist()] for n in names}
        return pl.DataFrame(columns, schema={n: pl.String for n in names})


def _is_na(value: Any) -> bool:
    try:
        return bool(value != value) or value is None  # NaN, NaT, pd.NA compare unequal/unknown
    except (TypeError, ValueError):
        return True


def text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column of a polars frame as text, with the conversions used for spreadsheet cells.

    Columns of nested, binary or object type, and float columns holding integral values beyond 1e15,
    are converted value by value; everything else with polars expressions.
    """
    columns = []
    for i, (name, dtype) in enumerate(frame.schema.items()):
        # work on the column under a fixed name: pl.col reads names such as "*" or "^a$" as patterns
        single = frame.to_series(i).to_frame("v")
        if _vectorised(single, "v", dtype):
            try:
                columns.append(single.select(_text_expr("v", dtype)).to_series().alias(name))
                continue
            except pl.exceptions.PolarsError:  # a type polars cannot write as text: value by value below
                pass
        columns.append(pl.Series(name, [cell_text(v) for v in single["v"].to_list()], dtype=pl.String))
    return pl.DataFrame(columns) if columns else pl.DataFrame()


def _vectorised(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> bool:
    if dtype.is_float():
        col = pl.col(name)
        return not frame.select((col.is_finite() & (col == col.floor()) & (col.abs() >= BIG_INTEGRAL)).any()).item()
    return dtype in (pl.String, pl.Boolean, pl.Date, pl.Time, pl.Null) or dtype.is_numeric() \
        or isinstance(dtype, pl.Datetime | pl.Enum | pl.Categorical | pl.Decimal)


def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """Text for a column of a vectorisable type (see cell_text for the rules)."""
    col = pl.col(name)
    if dtype.is_float():
        whole = col.is_finite() & (col == col.floor())
        return (pl.when(col.is_nan()).then(None)
                .when(whole).then(col.cast(pl.Int64, strict=False).cast(pl.String))
                .otherwise(col.cast(pl.String))).alias(name)
    if isinstance(dtype, pl.Datetime):
        return (pl.when(col.dt.time() == time(0)).then(col.dt.to_string("%Y-%m-%d"))
                .otherwise(col.dt.to_string("%Y-%m-%d %H:%M:%S"))).alias(name)
    if dtype == pl.Date:
        return col.dt.to_string("%Y-%m-%d").alias(name)
    if dtype == pl.Time:
        return col.dt.to_string("%H:%M:%S").alias(name)
    return col.cast(pl.String).alias(name)
