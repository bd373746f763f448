"""The polars engine's rules on Apache Spark: a PySpark SQL DataFrame in, a :class:`~fpschema.report.Report`
out.

No rule is written twice. Row rules: each partition's Arrow batches (``DataFrame.mapInArrow``) become polars
frames, converted to text exactly as :func:`fpschema.validate` converts a DataFrame; :func:`engine.prepare`
and :func:`engine.findings_of` then run :func:`engine.all_checks` (``cross_row=False``) on them. Spark casts
nothing but unusual types, and those only to string (a cast that never fails), so ANSI mode cannot abort the
job: every real conversion is polars' ``strict=False``.

Cross-row rules: the same pass emits each row's keys (:func:`dataset_checks.key_frame`: the hashes
``service#dup_key`` and ``service#person``, the sex, the birth date), computed row by row by polars, so they
do not depend on partitioning. Spark groups on them over all partitions (:func:`dataset_checks.cross_row`: a key
occurring more than once; two different values for one key) and joins the failing keys back to their rows.

The data are read once: the pass's output (findings and key rows, about 80 bytes a row) is persisted while
the cross-row aggregations and the counts run; the failing keys, usually few, are broadcast. Aggregate
reports (``indicator_report``, ``procedure_report``: one row per division, small) are collected to the
driver and validated there by the polars engine, table rules included.

pyspark is imported inside functions only; ``import fpschema`` never loads it.

May import: every layer below it (contract, reference, rules, io, report, engine) and ``fpschema.errors``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.check import Check
from fpschema.contract.mask import mask_findings, mask_nested
from fpschema.engine import coverage
from fpschema.engine import validation as engine
from fpschema.errors import InputError
from fpschema.io import reader, truth
from fpschema.io.frames import text_frame
from fpschema.io.header import null_blank
from fpschema.report.report import FINDING_SCHEMA, Report
from fpschema.rules import aggregates, dataset_checks

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

DRIVER_KINDS = aggregates.TABLE_KINDS  # small tables with table rules: polars on the driver
CHUNK_ROWS = 50_000  # rows the polars engine holds at a time in a Python worker (≈2.4 KB each at the peak)
BROADCAST_KEYS = 2_000_000  # at most this many failing cross-row keys are broadcast instead of shuffled
FINDING_COLUMNS = ("row", "record_id", "column", "rule", "severity", "value")

# internal columns of the projection handed to the partitions (contract fields never start with "__")
_UID, _IDENT, _ID = "__uid__", "__ident__", "__id__"
_FILE, _BLOCK = "__file__", "__block__"  # where a file source's partition starts (Spark's _metadata)
LOCAL_BITS = 33  # monotonically_increasing_id(): the partition number above these bits, the row within it below
# rows the partition pass emits: a finding, a row's cross-row keys, a chunk's row count
FINDING, KEY, COUNT = 0, 1, 2


def cross_row_plan(kind: str) -> list[tuple[Check, dataset_checks.CrossRow]]:
    """The kind's cross-row rules (:func:`dataset_checks.cross_row`) with their polars checks."""
    return [(c.check(), c) for c in dataset_checks.cross_row(kind)]


def _safe(name: str) -> str:
    return name.replace("#", "_")


# ---------------------------------------------------------------------------------- the partition pass


@dataclass(frozen=True)
class _Pass:
    """Everything a partition needs (pickled to the executors with the function)."""

    kind: str
    reference_date: date
    unmask: bool
    fields: tuple[str, ...]
    chunk_rows: int
    keys: tuple[str, ...]  # hash columns (dataset_checks.DUP, PERSON)
    compares: tuple[tuple[str, str], ...]  # (typed column, Spark type name)
    values: tuple[str, ...]  # columns whose text a cross-row finding reports
    groups: contract.Groups = ()  # code groups overriding the contract's (contract.load_free_services)
    plan: coverage.Plan | None = None  # the layout, the derived fields, the rules that apply (engine.map_headers)


def _spark_type_name(dtype: pl.DataType) -> str:
    """The Spark type (DDL name) holding a typed polars column."""
    if dtype == pl.Date:
        return "date"
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    return "boolean" if dtype == pl.Boolean else "string"


def _make_pass(kind: str, reference_date: date, unmask: bool, fields: Iterable[str],
               chunk_rows: int, groups: contract.Groups = (), plan: coverage.Plan | None = None) -> _Pass:
    """The partition pass's parameters, with the columns the cross-row checks need."""
    cross = cross_row_plan(kind)
    compares: dict[str, str] = {}
    if cross:  # the dtypes of the compared columns: an empty frame through the real pipeline
        empty = pl.DataFrame(schema={"__row__": pl.Int64, **{f.name: pl.Utf8 for f in contract.fields(kind)}})
        keyed = dataset_checks.key_frame(engine.prepare(empty, kind, reference_date, plan=plan), kind)
        compares = {s.compare: _spark_type_name(keyed.schema[s.compare]) for _, s in cross if s.compare}
    return _Pass(kind, reference_date, unmask, tuple(fields), chunk_rows,
                 tuple(dict.fromkeys(s.key for _, s in cross)), tuple(compares.items()),
                 tuple(dict.fromkeys(c.column for c, _ in cross)), groups, plan)


def _out_schema(p: _Pass) -> StructType:
    from pyspark.sql import types as T

    def f(name: str, dtype: DataType) -> T.StructField:
        return T.StructField(name, dtype, True)

    types = {"date": T.DateType(), "long": T.LongType(), "double": T.DoubleType(), "boolean": T.BooleanType(),
             "string": T.StringType()}
    return T.StructType([
        f("_k", T.ByteType()), f("_uid", T.LongType()), f("row", T.LongType()),
        *[f(c, T.StringType()) for c in ("record_id", "column", "rule", "severity", "value")],
        f("_order", T.IntegerType()), f("_n", T.LongType()), f("_file", T.StringType()), f("_block", T.LongType()),
        *[f("k_" + _safe(k), T.LongType()) for k in p.keys],
        *[f("t_" + c, types[t]) for c, t in p.compares],
        *[f("v_" + c, T.StringType()) for c in p.values],
    ])


def _arrow_schema(schema: StructType) -> pa.Schema:
    import pyarrow as pa

    arrow = {"ByteType": pa.int8(), "LongType": pa.int64(), "IntegerType": pa.int32(),
             "StringType": pa.string(), "DateType": pa.date32(), "DoubleType": pa.float64(),
             "BooleanType": pa.bool_()}
    return pa.schema([pa.field(f.name, arrow[type(f.dataType).__name__]) for f in schema.fields])


def _chunks(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """Arrow batches regrouped into lists of at least ``rows`` rows (the last one smaller); a list handed
    out is no longer referenced here, so the consumer can free it."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            chunk, held, count = held, [], 0
            yield chunk
    if held:
        chunk, held = held, []
        yield chunk


def _run_partition(batches: Iterable[pa.RecordBatch], p: _Pass,
                   schema: StructType) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function: findings and key rows of each chunk of a partition, as Arrow batches."""
    import pyarrow as pa

    arrow = _arrow_schema(schema)
    checks = engine.all_checks(p.kind, p.reference_date, cross_row=False, groups=p.groups, plan=p.plan)
    for chunk in _chunks(batches, p.chunk_rows):
        frame = pl.from_arrow(pa.Table.from_batches(chunk))
        del chunk  # no reference to the Arrow input beyond polars' own while the rules run
        out = _validate_chunk(frame, p, checks)
        del frame
        out = out.with_columns(pl.lit(None).alias(c) for c in arrow.names if c not in out.columns)
        yield from out.select(arrow.names).to_arrow().cast(arrow).to_batches()


def _validate_chunk(frame: pl.DataFrame, p: _Pass, checks: list[Check]) -> pl.DataFrame:
    """One chunk through the polars engine: text conversion as for a DataFrame, row rules, per-row keys."""
    ids = frame.select(pl.col(_UID).alias("_uid"), pl.col(_IDENT).alias("row"),
                       pl.col(_ID).alias("record_id"))
    text = null_blank(text_frame(frame.select(p.fields)))
    text = text.insert_column(0, pl.int_range(0, frame.height, dtype=pl.Int64, eager=True).alias("__row__"))
    distinct: dict[str, pl.Series] = {}
    typed = engine.prepare(text, p.kind, p.reference_date, distinct, plan=p.plan)
    found = engine.findings_of(typed, checks, text, p.kind, p.unmask, distinct=distinct)
    if not p.unmask:  # by value, as a report masks itself: the findings may be written out by Spark
        found = mask_findings(found, p.kind)
    # the chunk's row count, and where it lies: its partition (in its first _uid) and, for a file, the block
    counted = {"_k": [COUNT], "_n": [frame.height], "_uid": [frame.get_column(_UID).min()],
               "_file": [frame.get_column(_FILE)[0] if _FILE in frame.columns and frame.height else None],
               "_block": [frame.get_column(_BLOCK)[0] if _BLOCK in frame.columns and frame.height else None]}
    parts = [pl.DataFrame(counted, schema={"_k": pl.Int8, "_n": pl.Int64, "_uid": pl.Int64, "_file": pl.Utf8,
                                           "_block": pl.Int64})]
    if found.height:
        hits = pl.concat([ids.select(pl.all().gather(found["row"])), found.drop("row")], how="horizontal")
        parts.append(hits.with_columns(pl.lit(FINDING, dtype=pl.Int8).alias("_k"), engine.order_expr(p.kind)))
    if p.keys:
        keyed = dataset_checks.key_frame(typed, p.kind, text)
        compared = [pl.col(c).cast(pl.Utf8 if t == "string" else keyed.schema[c]).alias("t_" + c)
                    for c, t in p.compares]
        values = [dataset_checks.reported_value(c, p.kind, p.unmask).alias("v_" + c) for c in p.values]
        rows = pl.concat([ids, keyed.select(*[pl.col(k).alias("k_" + _safe(k)) for k in p.keys], *compared,
                                            *values)], how="horizontal")
        rows = rows.filter(pl.any_horizontal(pl.col("k_" + _safe(k)).is_not_null() for k in p.keys))
        parts.append(rows.with_columns(pl.lit(KEY, dtype=pl.Int8).alias("_k")))
    return pl.concat(parts, how="diagonal_relaxed")


# ------------------------------------------------------------------------------------------ the driver


@dataclass
class SparkReport(Report):
    """A :class:`Report` whose counts were computed in Spark over every finding.

    ``findings_all`` holds every finding, or only the first ``max_findings`` when the findings were written
    to ``findings_path``; ``counts``, ``ok`` and ``truncated`` always speak of all of them."""

    findings_total: int = 0
    spark_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return self.spark_counts

    def _mask(self) -> None:
        """As a report masks itself, and the counts Spark made (a header read as a column may hold an ID)."""
        from fpschema.contract.mask import mask_text

        super()._mask()
        self.spark_counts = {by: {mask_text(k): n for k, n in c.items()} for by, c in self.spark_counts.items()}

    @property
    def ok(self) -> bool:
        return not self.spark_counts.get("by_severity", {}).get("error")

    @property
    def truncated(self) -> bool:
        return self.max_findings is not None and self.findings_total > self.max_findings


def _tally(pairs: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    """Counts by key, ordered as :attr:`Report.counts` orders them (most first, then by name)."""
    total: dict[str, int] = {}
    for key, n in pairs:
        if key is not None:
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def to_polars(df: DataFrame) -> pl.DataFrame:
    """A (small) Spark DataFrame collected to the driver as polars, through Arrow."""
    if hasattr(df, "toArrow"):  # pyspark >= 4.0
        return pl.from_arrow(df.toArrow())
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    return pl.from_arrow(pa.Table.from_batches(df._collect_as_arrow(), schema=to_arrow_schema(df.schema)))


_PASS_THROUGH = ("StringType", "VarcharType", "CharType", "BooleanType", "ByteType", "ShortType",
                 "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType", "DateType",
                 "TimestampType", "TimestampNTZType")


def _as_input(col: Column, dtype: DataType) -> Column:
    """Types that polars turns into text as the polars engine does pass through; any other is cast to string
    in Spark (a cast to string never fails, ANSI mode or not)."""
    from pyspark.sql import types as T

    inner = dtype.elementType if isinstance(dtype, T.ArrayType) else dtype
    return col if type(inner).__name__ in _PASS_THROUGH else col.cast("string")


@dataclass(frozen=True)
class _Columns:
    mapping: engine.Mapping
    raw: dict[str, str]  # field → column name in the Spark DataFrame
    id_raw: str | None


def _map_columns(spark_df: DataFrame, kind: str | None, id_column: str | None, layout: str | None = None
                 ) -> tuple[str, _Columns]:
    """The kind (inferred from the headers when None) and how the DataFrame's columns map to its fields; the
    id column is not reported as unknown when it is no contract field."""
    names = spark_df.columns
    normal = [reader.normalize_header(c) for c in names]
    seen: set[str] = set()
    for n in normal:
        if n in seen:
            raise InputError("input.duplicate_column", column=n)
        seen.add(n)
    back = dict(zip(normal, names, strict=True))
    if kind is None:
        kind = engine.infer_kind(normal)
    elif kind not in contract.kinds():
        raise InputError("input.unknown_kind", kind=kind)
    mapping = engine.map_headers(normal, kind, layout)
    id_raw = id_column if id_column in names else None
    if id_raw is None and id_column in mapping.columns:  # e.g. a Chinese header for record_id
        id_raw = back[mapping.columns[id_column]]
    if id_raw is not None and reader.normalize_header(id_raw) not in mapping.columns.values():
        header = reader.normalize_header(id_raw)
        unknown = (pl.col("rule") == "file.unknown_column") & (pl.col("column") == header)
        mapping = replace(mapping, findings=mapping.findings.filter(~unknown))
    return kind, _Columns(mapping, {f: back[h] for f, h in mapping.columns.items()}, id_raw)


def _col(name: str) -> Column:
    """A column by its exact name (dots and backticks in headers are not paths)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _projection(spark_df: DataFrame, cols: _Columns, file_rows: bool = False) -> DataFrame:
    """Row identity and the mapped fields (under their field names) for the partition pass; with ``file_rows``
    (a file read by Spark), where each partition lies in its file."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    dtypes = {f.name: f.dataType for f in spark_df.schema.fields}
    uid = F.monotonically_increasing_id()
    if cols.id_raw is None:
        ident, text_id = uid, F.lit(None).cast("string")
    else:
        idc = _col(cols.id_raw)
        integral = isinstance(dtypes[cols.id_raw], T.ByteType | T.ShortType | T.IntegerType | T.LongType)
        ident, text_id = (idc.cast("long") if integral else uid), idc.cast("string")
    where = [F.col("_metadata.file_path").alias(_FILE), F.col("_metadata.file_block_start").alias(_BLOCK)] \
        if file_rows else []
    return spark_df.select(uid.alias(_UID), ident.alias(_IDENT), text_id.alias(_ID), *where,
                           *[_as_input(_col(raw), dtypes[raw]).alias(f) for f, raw in cols.raw.items()])


FIRST_ROW = 2  # a CSV read by Spark: the header is line 1, records follow


def _file_rows(out: DataFrame) -> Column:
    """Each finding's row number in its file (from its ``_uid``), as the command line numbers a CSV's rows: the
    partitions' row counts (the pass's count rows, from the persisted output) added up in file order (by file
    and block start). Spark skips blank lines and reads one record a line, so this holds for a CSV without blank
    lines or line breaks inside cells."""
    from pyspark.sql import functions as F

    counts: dict[int, list[Any]] = {}
    for r in out.where((F.col("_k") == COUNT) & (F.col("_n") > 0)).select("_uid", "_n", "_file", "_block").collect():
        part = counts.setdefault(r["_uid"] >> LOCAL_BITS, [r["_file"] or "", r["_block"] or 0, 0])
        part[2] += r["_n"]
    offsets, done = [], dict[str, int]()
    for pid, (file, _, n) in sorted(counts.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0])):
        offsets += [F.lit(pid), F.lit(done.get(file, 0))]
        done[file] = done.get(file, 0) + n
    if not offsets:
        return F.col("row")
    local = F.col("_uid").bitwiseAND((1 << LOCAL_BITS) - 1)
    return F.try_element_at(F.create_map(*offsets), F.shiftright("_uid", LOCAL_BITS)) + local + F.lit(FIRST_ROW)


def _cross_row_findings(keys: DataFrame, p: _Pass, plan: list[tuple[Check, dataset_checks.CrossRow]],
                        held: list[DataFrame] | None) -> DataFrame | None:
    """Findings of the cross-row checks: per key, one aggregation over all partitions (the comparisons of
    :class:`dataset_checks.CrossRow`), joined back to the rows of the failing keys.

    With ``held`` (a list collecting what is persisted), the failing keys are computed first and, when there
    are at most :data:`BROADCAST_KEYS`, broadcast: the key rows are then never shuffled."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    order = contract.field_order(p.kind)
    parts = []
    for key in p.keys:
        todo = [(c, s) for c, s in plan if s.key == key]
        kcol = "k_" + _safe(key)
        flags = [(F.count(F.lit(1)) > 1 if s.compare is None
                  else F.min("t_" + s.compare) != F.max("t_" + s.compare)).alias(f"_f{i}")
                 for i, (_, s) in enumerate(todo)]
        failing = functools.reduce(lambda a, b: a | b, [F.col(f"_f{i}") for i in range(len(todo))])
        groups = keys.where(F.col(kcol).isNotNull()).groupBy(kcol).agg(*flags).where(failing)
        if held is not None:
            groups = groups.persist(StorageLevel.MEMORY_AND_DISK)
            held.append(groups)
            if groups.count() <= BROADCAST_KEYS:
                groups = F.broadcast(groups)
        rows = keys.join(groups, on=kcol, how="inner")
        found = F.array(*[F.when(F.col(f"_f{i}"), F.struct(
            F.lit(c.column).alias("column"), F.lit(c.rule).alias("rule"),
            F.lit(RULES[c.rule].severity).alias("severity"), F.col("v_" + c.column).alias("value"),
            F.lit(order.get(c.column, len(order))).alias("_order"))) for i, (c, _) in enumerate(todo)])
        parts.append(rows.select("_uid", "row", "record_id", F.explode(found).alias("_f"))
                     .where(F.col("_f").isNotNull()).select("_uid", "row", "record_id", "_f.*"))
    return functools.reduce(lambda a, b: a.unionByName(b), parts) if parts else None


def _plan(spark_df: DataFrame, kind: str, cols: _Columns, ref: date, unmask: bool, chunk_rows: int,
          held: list[DataFrame] | None = None, groups: contract.Groups = (), file_rows: bool = False
          ) -> tuple[DataFrame, DataFrame]:
    """(the partition pass's output, the findings with _uid and _order). Lazy unless ``held`` is given:
    then the pass's output and the failing keys are persisted (and appended to ``held``) and computed."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if kind in DRIVER_KINDS:
        raise ValueError(f"{kind} is validated on the driver; use validate()")
    p = _make_pass(kind, ref, unmask, cols.raw, chunk_rows, groups, cols.mapping.plan)
    schema = _out_schema(p)
    run = functools.partial(_run_partition, p=p, schema=schema)
    out = _projection(spark_df, cols, file_rows).mapInArrow(run, schema)
    if held is not None:
        out = out.persist(StorageLevel.MEMORY_AND_DISK)
        held.append(out)
    findings = out.where(F.col("_k") == FINDING).select("_uid", *FINDING_COLUMNS, "_order")
    cross = _cross_row_findings(out.where(F.col("_k") == KEY), p, cross_row_plan(kind), held)
    if cross is not None:
        findings = findings.unionByName(cross)
    return out, findings


def findings_frame(spark_df: DataFrame, kind: str | None, *, id_column: str | None = "record_id",
                   reference_date: date | None = None, unmask: bool = False,
                   chunk_rows: int = CHUNK_ROWS, free_services: Any = None, layout: str | None = None) -> DataFrame:
    """Every finding of the row and cross-row rules as a lazy Spark DataFrame (:data:`FINDING_COLUMNS`), for
    kinds validated in Spark (not :data:`DRIVER_KINDS`). File-level findings (unknown or missing columns)
    are not in it. Nothing runs until an action; each action reruns the pass unless the frame is persisted."""
    kind, cols = _map_columns(spark_df, kind, id_column, layout)
    _, findings = _plan(spark_df, kind, cols, reference_date or date.today(), unmask, chunk_rows,
                        groups=contract.load_free_services(free_services))
    return findings.select(*FINDING_COLUMNS)


def _summary(out: DataFrame, findings: DataFrame) -> tuple[int, list[Any], int]:
    """(rows, [Row(rule, column, severity, count)], rows with an error), in one Spark job."""
    from pyspark.sql import functions as F

    error_uid = F.when(F.col("severity") == "error", F.col("_uid"))
    per_rule = (findings.rollup("rule", "column", "severity")
                .agg(F.grouping_id().alias("_g"), F.count(F.lit(1)).alias("count"),
                     F.countDistinct(error_uid).alias("_invalid"))
                .where(F.col("_g").isin(0, 7)).withColumn("_rows", F.lit(None).cast("long")))
    nothing = F.lit(None).cast("string")
    rows = out.where(F.col("_k") == COUNT).agg(F.sum("_n").alias("_rows")).select(
        nothing.alias("rule"), nothing.alias("column"), nothing.alias("severity"), F.lit(-1).alias("_g"),
        F.lit(0).cast("long").alias("count"), F.lit(0).cast("long").alias("_invalid"), "_rows")
    result = per_rule.unionByName(rows).collect()
    total = next((r["_rows"] for r in result if r["_g"] == -1), None) or 0
    invalid = next((r["_invalid"] for r in result if r["_g"] == 7), 0)
    return total, [r for r in result if r["_g"] == 0], invalid


def validate(spark_df: DataFrame, kind: str | None, *, id_column: str | None = "record_id",
             reference_date: date | None = None, lang: str = "zh", max_findings: int | None = None,
             unmask: bool = False, findings_path: str | Path | None = None, chunk_rows: int = CHUNK_ROWS,
             targets: Any = None, source: dict[str, Any] | None = None, free_services: Any = None,
             layout: str | None = None) -> Report:
    """Validate a PySpark DataFrame with the polars engine's rules; the result is the usual :class:`Report`.

    A finding's ``row`` is the file's row number for a CSV read by :func:`read_source` (as the command line
    reports it: :func:`_file_rows`), else the ``id_column`` value when that column holds integers, otherwise a
    unique number from ``monotonically_increasing_id()`` (not a row number); the ``record_id`` column of
    ``findings_all`` holds the ``id_column`` value as text when the column exists. ``findings_path`` writes
    every finding to Parquet and keeps only the first ``max_findings`` in the report (the counts are over
    all; without ``max_findings``, the default, the report keeps every finding, as the command line does).
    ``chunk_rows`` bounds the rows the polars engine holds at once in a Python worker. ``targets``
    applies to aggregate reports, which are collected to the driver; ``free_services`` overrides the services rural
    couples get free (:func:`fpschema.contract.load_free_services`)."""
    from pyspark import StorageLevel

    kind, cols = _map_columns(spark_df, kind, id_column, layout)
    ref, how = truth.resolve(None, reference_date)
    src = {"name": "<spark>", "format": "spark", "encoding": None, "sha256": None, **(source or {}),
           "engine": "spark"}
    file_rows = src["format"] == "csv"
    if kind in DRIVER_KINDS:
        report = _validate_on_driver(spark_df, kind, cols, ref, lang, max_findings, unmask, targets, src,
                                     free_services, layout)
        report.reference_date_source = how
        if file_rows:  # collected in file order
            report.findings_all = report.findings_all.with_columns(pl.col("row") + FIRST_ROW)
        return report
    held: list[DataFrame] = []
    groups_in = contract.load_free_services(free_services)
    try:
        out, findings = _plan(spark_df, kind, cols, ref, unmask, chunk_rows, held, groups_in, file_rows)
        if file_rows:
            findings = findings.withColumn("row", _file_rows(out))
        findings = findings.persist(StorageLevel.MEMORY_AND_DISK)
        held.append(findings)
        rows_total, groups, invalid = _summary(out, findings)
        order = ["row", "record_id", "_order", "rule"]
        if findings_path is not None:
            findings.select(*FINDING_COLUMNS).write.mode("overwrite").parquet(str(findings_path))
            src["findings_path"] = str(findings_path)
        if findings_path is not None and max_findings is not None:  # the first findings, sorted in Spark
            found = to_polars(findings.orderBy(*order).limit(max_findings).select(*FINDING_COLUMNS))
        else:  # all of them: collected, then sorted here
            found = to_polars(findings.select(*FINDING_COLUMNS, "_order")).sort(order, nulls_last=False)
    finally:
        for frame in held:
            frame.unpersist()
    file_findings = cols.mapping.findings
    if rows_total == 0:
        file_findings = pl.concat([file_findings, pl.DataFrame([engine.file_finding("file.no_rows", "")],
                                                               schema=FINDING_SCHEMA)])
    found = found.select(*FINDING_SCHEMA, "record_id").cast({**FINDING_SCHEMA, "record_id": pl.Utf8})
    if cols.id_raw is None:
        findings_all = pl.concat([file_findings, found.drop("record_id")])
    else:
        findings_all = pl.concat([file_findings.with_columns(pl.lit(None, dtype=pl.Utf8).alias("record_id")),
                                  found])
    files = file_findings.to_dicts()
    counts = {by: _tally([(r[col], r["count"]) for r in groups] + [(f[col], 1) for f in files])
              for by, col in (("by_rule", "rule"), ("by_column", "column"), ("by_severity", "severity"))}
    # row accounting (report.py): Spark judges every record it reads; its CSV reader drops blank lines uncounted
    src = {**src, "sheets": [{"name": None, "status": "validated", "rows_in": rows_total, "rows_judged": rows_total,
                              "rows_skipped": 0, "skipped_rows": [], "blank_rows": None}]}
    return SparkReport(
        kind=kind, source=src, rows_total=rows_total, findings_all=findings_all,
        rows_invalid=rows_total if cols.mapping.missing_required else invalid, lang=lang,
        max_findings=max_findings, columns=list(cols.raw), findings_total=sum(counts["by_severity"].values()),
        spark_counts=counts, reference_date=ref, reference_date_source=how, unmask=unmask,
        extras={"coverage": engine.coverage_of(cols.mapping.plan, engine.Options(ref, groups=groups_in))},
    )


def _validate_on_driver(spark_df: DataFrame, kind: str, cols: _Columns, ref: date, lang: str,
                        max_findings: int | None, unmask: bool, targets: Any, src: dict[str, Any],
                        free_services: Any = None, layout: str | None = None) -> Report:
    """Aggregate reports: collected (one row per division and year) and validated by the polars engine; the
    roll-ups run as Spark aggregations (:func:`rollup_findings`). ``row`` counts the collected rows from 0."""
    frame = to_polars(spark_df)
    data = frame.drop(cols.id_raw) if cols.id_raw and cols.id_raw not in cols.raw.values() else frame
    report = engine.validate(data, kind, reference_date=ref, lang=lang, max_findings=max_findings,
                             unmask=unmask, targets=targets, rollups=False, free_services=free_services, layout=layout)
    # the counts as the polars engine reads and converts them (the same table, rows from 0)
    table = reader.read(data, known_headers=engine.known_headers(kind))
    mapping = engine.map_headers([c for c in table.frame.columns if c != reader.ROW], kind, layout)
    typed = engine.prepare(mapping.text(table.frame), kind, ref, plan=mapping.plan)
    rollups = rollup_findings(spark_df.sparkSession, typed, kind)
    if rollups.height:
        merged = engine.with_table_findings(report.findings_all.filter(pl.col("row").is_not_null()), [rollups], kind)
        report.findings_all = pl.concat([report.findings_all.filter(pl.col("row").is_null()), merged])
        errors = merged.filter(pl.col("severity") == "error").get_column("row").n_unique()
        report.rows_invalid = max(report.rows_invalid, errors)
    report.source = {**report.source, **(src if unmask else mask_nested(src)), "collected_to_driver": True}
    if cols.id_raw is not None:
        ids = frame.select(pl.int_range(0, frame.height, dtype=pl.Int64).alias("row"),
                           pl.col(cols.id_raw).cast(pl.Utf8).alias("record_id"))
        report.findings_all = report.findings_all.join(ids, on="row", how="left", maintain_order="left")
        if not unmask:
            report.findings_all = mask_findings(report.findings_all, kind)
    return report


def rollup_findings(spark: SparkSession, typed: pl.DataFrame, kind: str) -> pl.DataFrame:
    """:func:`fpschema.aggregates.rollup_findings` as Spark aggregations over the typed frame of
    :func:`fpschema.engine.prepare`: children summed per parent and year (sentinels and unreadable counts left
    out), parents joined to their sums; the few joined parent rows are then judged on the driver exactly as the
    polars engine judges them."""
    from pyspark.sql import functions as F  # noqa: N812

    if kind not in aggregates.TABLE_KINDS or typed.height == 0:
        return aggregates.empty_findings()
    group, columns = aggregates.group_columns(kind), aggregates.additive_columns(kind)
    sdf = spark.createDataFrame(typed.select("__row__", "division_code", *group, *columns).to_arrow())
    code = F.col("division_code")
    sdf = sdf.where(code.rlike("^[0-9]{6}$")).withColumn(
        "#parent", F.when(code.endswith("0000"), F.lit(None))
        .when(code.endswith("00"), F.concat(code.substr(1, 2), F.lit("0000")))
        .otherwise(F.concat(code.substr(1, 4), F.lit("00"))))
    sums = sdf.where(F.col("#parent").isNotNull()).groupBy("#parent", *group).agg(
        *[F.coalesce(F.sum(F.when(F.col(c) >= 0, F.col(c))), F.lit(0)).alias(f"#sum_{c}") for c in columns],
        *[F.max(F.when(F.col(c) < 0, 1).otherwise(0)).alias(f"#sentinel_{c}") for c in columns],
        F.collect_set("division_code").alias("#children"))
    parents = sdf.where(code.endswith("00")).drop("#parent")
    joined = parents.join(sums, (parents["division_code"] == sums["#parent"]) & _equal_on(parents, sums, group),
                          "inner").select(parents["__row__"], parents["division_code"], parents["report_year"],
                                          *[parents[c] for c in columns],
                                          *[sums[f"#sum_{c}"] for c in columns],
                                          *[sums[f"#sentinel_{c}"] for c in columns], sums["#children"])
    rows = joined.collect()
    found: list[dict[str, Any]] = []
    incomplete = set()
    for r in rows:
        missing = sorted(set(aggregates.expected_children(r["division_code"], r["report_year"])) - set(r["#children"]))
        if missing:
            incomplete.add(r["__row__"])
            found.append({"row": r["__row__"], "column": "division_code", "rule": "report.rollup_incomplete",
                          "value": ",".join(missing[:20]) + (" …" if len(missing) > 20 else "")})
    for c in columns:
        for r in rows:
            value = r[c] if r[c] is not None and r[c] >= 0 else None
            if r["__row__"] in incomplete or value is None or r[f"#sentinel_{c}"]:
                continue
            if value != r[f"#sum_{c}"]:
                found.append({"row": r["__row__"], "column": c, "rule": "report.rollup_mismatch",
                              "value": f"{r[c]} ≠ Σ {r[f'#sum_{c}']}"})
    return pl.DataFrame(found, schema=aggregates.FINDINGS_SCHEMA) if found else aggregates.empty_findings()


def _equal_on(left: DataFrame, right: DataFrame, names: list[str]):
    from pyspark.sql import functions as F  # noqa: N812

    condition = F.lit(True)
    for name in names:
        condition = condition & (left[name] == right[name])
    return condition


# ---------------------------------------------------------------------------------------------- sources


# hdfs://…, s3a://…, file:/… (also as pathlib leaves them: hdfs:/…); a one-letter "scheme" is a Windows drive
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def read_source(spark: SparkSession, path: str | Path, fmt: str | None = None,
                encoding: str | None = None) -> tuple[DataFrame, dict[str, Any]]:
    """A Spark DataFrame from Parquet (a file or folder), CSV (header on the first line, every column read as
    text: no schema inference) or a table (``fmt="table"`` or ``table:db.name``), and its description."""
    text = str(path)
    if fmt is None:
        if text.startswith("table:"):
            fmt, text = "table", text[len("table:"):]
        else:
            fmt = "csv" if Path(text).suffix.lower() in (".csv", ".tsv", ".txt") else "parquet"
    if fmt not in ("csv", "parquet", "table"):
        raise InputError("input.format", path=text)
    if fmt != "table" and not _URI.match(text) and not Path(text).exists():
        raise InputError("input.not_found", path=text)
    from pyspark.errors import AnalysisException

    try:
        if fmt == "table":
            df = spark.table(text)
        elif fmt == "csv":
            sep = "\t" if Path(text).suffix.lower() == ".tsv" else ","
            df = (spark.read.option("header", True).option("sep", sep).option("escape", '"')
                  .option("encoding", encoding or "UTF-8").csv(text))
        else:
            df = spark.read.parquet(text)
    except AnalysisException as exc:  # a table or remote path that is not there
        if "NOT_FOUND" not in str(exc):
            raise
        raise InputError("input.not_found", path=text) from None
    source: dict[str, Any] = {"name": text if fmt == "table" else Path(text).name, "format": fmt,
                              "encoding": encoding, "sha256": None}
    with contextlib.suppress(Exception):  # Spark Connect DataFrames have no RDD
        source["partitions"] = df.rdd.getNumPartitions()
    return df, source


def validate_path(spark: SparkSession, path: str | Path, kind: str | None = None, fmt: str | None = None, *,
                  encoding: str | None = None, **options: Any) -> Report:
    """:func:`read_source` then :func:`validate` (keyword ``options`` are :func:`validate`'s). Without
    ``reference_date``, a local file with a generator's manifest beside it is judged against the manifest's."""
    df, source = read_source(spark, path, fmt, encoding)
    ref, how = truth.resolve(path, options.pop("reference_date", None))
    report = validate(df, kind, source=source, reference_date=ref, **options)
    report.reference_date_source = how
    return report


def session(app_name: str = "fpschema", master: str | None = None, **conf: str) -> SparkSession:
    """The active Spark session, or a new one: ``master`` defaults to what spark-submit (or
    PYSPARK_SUBMIT_ARGS) set, else local[*]. Locally, Python workers run this interpreter unless
    PYSPARK_PYTHON says otherwise; on a cluster, PYSPARK_PYTHON / spark.pyspark.python is left to you."""
    from pyspark.sql import SparkSession

    if master:
        local = master.startswith("local")
    else:  # not under spark-submit, and no master in PYSPARK_SUBMIT_ARGS: getOrCreate starts local[*]
        local = "PYSPARK_GATEWAY_PORT" not in os.environ and "--master" not in os.environ.get(
            "PYSPARK_SUBMIT_ARGS", "")
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
