"""fpschema.spark on a real local Spark session: the polars engine's findings, row for row, across partitions,
with ANSI mode on; findings written to Parquet; CSV read through validate_path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import fpschema
from fpschema import spark as fs
from fpschema.io import writer
from fpschema.rules import dataset_checks
from fpschema.testdata import generator

from .conftest import REF, spark_session

KIND = "service_record"
COLUMNS = ["record_id", "column", "rule", "severity", "value"]

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]


@pytest.fixture(scope="module")
def spark():
    yield from spark_session("fpschema-tests", 4)


def _spark_frame(spark, frame: pl.DataFrame):
    """A Spark DataFrame of a polars one: from Arrow on pyspark 4, through pandas on 3.5."""
    import pyspark
    from pyspark.sql import types as T

    if int(pyspark.__version__.split(".")[0]) >= 4:
        return spark.createDataFrame(frame.to_arrow())
    types = {pl.Utf8: T.StringType(), pl.Int32: T.IntegerType(), pl.Int64: T.LongType()}
    schema = T.StructType([T.StructField(n, types[t], True) for n, t in frame.schema.items()])
    return spark.createDataFrame(frame.to_pandas(), schema)


def _by_record_id(report: fpschema.Report, frame: pl.DataFrame) -> pl.DataFrame:
    """Polars findings keyed by record_id instead of the row index."""
    ids = frame.select(pl.int_range(0, frame.height, dtype=pl.Int64).alias("row"), "record_id")
    return report.findings_all.join(ids, on="row", how="left").select(COLUMNS).sort(COLUMNS, nulls_last=True)


def _spark_side(report: fpschema.Report) -> pl.DataFrame:
    return report.findings_all.select(COLUMNS).sort(COLUMNS, nulls_last=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    frame, _ = generator.generate(KIND, 100_000, seed=11, defects="all", defect_rate=0.3, reference_date=REF)
    path = tmp_path_factory.mktemp("corpus") / "records.parquet"
    frame.write_parquet(path)
    return frame, path, fpschema.validate(frame, KIND, reference_date=REF)


def test_100k_records_equal_the_polars_engine_across_partitions(spark, corpus):
    from pyspark.sql import functions as F

    frame, path, polars_report = corpus
    df = spark.read.parquet(str(path)).repartition(4, "record_id")
    # small chunks, so that partitions are cut into several polars frames too
    report = fs.validate(df, KIND, reference_date=REF, max_findings=None, chunk_rows=9_000)
    assert df.rdd.getNumPartitions() == 4
    assert report.rows_total == frame.height
    assert report.rows_invalid == polars_report.rows_invalid
    expected, got = _by_record_id(polars_report, frame), _spark_side(report)
    assert got.height == expected.height > 30_000
    assert got.equals(expected)
    assert report.counts == polars_report.counts
    assert set(report.counts["by_rule"]) == set(polars_report.counts["by_rule"]) >= {
        "dataset.duplicate_record", "dataset.id_conflict", "id.checksum", "field.date"}
    # the cross-row findings really join rows of different partitions
    part = fs.to_polars(df.select("record_id", F.spark_partition_id().alias("p")))
    pairs = (got.filter(pl.col("rule").str.starts_with("dataset."))
             .join(frame.select("record_id", "client_id"), on="record_id").join(part, on="record_id")
             .group_by("client_id").agg(pl.col("p").n_unique().alias("parts")))
    assert pairs.filter(pl.col("parts") > 1).height > 100
    # the report is the usual structure, row identity on every finding
    assert report.ok is False and report.truncated is False
    assert report.findings_all.get_column("row").null_count() == 0
    assert report.findings_all.get_column("record_id").null_count() == 0


def test_ansi_mode_and_junk_cells_never_abort_the_job(spark):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    frame, _ = generator.generate(KIND, 400, seed=3, reference_date=REF)
    junk = {"child_count": ["abc", "1e400", "１２", "-3", "2.5"], "fee": ["NaN", "12,5", "--1", "1e999", ""],
            "birth_date": ["2023-13-45", "19990230", "yesterday", "0000-00-00", "  "],
            "service_date": ["2023-02-30", "2023/01/01", "x", "99999-01-01", "2023-1-1"],
            "is_rural": ["maybe", "2", "true", "否", "NULL"],
            "client_id": ["1.10101199001011E+17", "X", "", "1", "ÿ"]}
    frame = frame.with_columns(frame[c].clone().scatter(list(range(0, 50, 10)), v) for c, v in junk.items())
    df = _spark_frame(spark, frame).repartition(3)
    with pytest.raises(Exception, match="CAST_INVALID_INPUT"):  # the session really is in ANSI mode
        df.select(F.col("child_count").cast("int")).collect()
    report = fs.validate(df, KIND, reference_date=REF, max_findings=None)
    reference = fpschema.validate(frame, KIND, reference_date=REF)
    assert _spark_side(report).equals(_by_record_id(reference, frame))
    assert {"field.type", "field.date"} <= set(report.counts["by_rule"])

    # typed Spark columns (double, bigint, date, boolean) are converted to text as the polars engine does
    replaced = ("fee", "child_count", "service_date", "is_rural", "client_id")
    typed = df.select(*[F.col(c) for c in df.columns if c not in replaced],
                      F.expr("try_cast(fee as double)").alias("fee"),
                      F.expr("try_cast(child_count as bigint)").alias("child_count"),
                      F.expr("try_cast(service_date as date)").alias("service_date"),
                      F.expr("try_cast(client_id as double)").alias("client_id"),
                      F.when(F.col("is_rural") == "是", True).when(F.col("is_rural") == "否", False)
                      .alias("is_rural"),
                      F.lit(float("nan")).cast(T.DoubleType()).alias("unknown_float"))
    local = fs.to_polars(typed)
    report = fs.validate(typed, KIND, reference_date=REF, max_findings=None)
    reference = fpschema.validate(local, KIND, reference_date=REF)
    assert _spark_side(report).equals(_by_record_id(reference, local))
    assert report.counts == reference.counts
    assert "id.excel_scientific" in report.counts["by_rule"]  # a double ID reads as 1.1E+17, as in Excel
    assert report.findings_all.filter(pl.col("row").is_null()).select("column", "rule").to_dicts() == [
        {"column": "unknown_float", "rule": "file.unknown_column"}]


@pytest.mark.parametrize("broadcast_keys", [fs.BROADCAST_KEYS, 0], ids=["broadcast", "shuffle-join"])
def test_sex_and_birth_conflicts_across_partitions(spark, monkeypatch, broadcast_keys):
    """Two rows of one ID in different partitions: different sexes, then different birth dates."""
    monkeypatch.setattr(fs, "BROADCAST_KEYS", broadcast_keys)
    from pyspark.sql import functions as F

    frame, _ = generator.generate(KIND, 8, seed=5, reference_date=REF)
    client, sex, birth = frame["client_id"].clone(), frame["sex"].clone(), frame["birth_date"].clone()
    client.scatter([4, 7], [client[0], client[3]])
    sex.scatter([4, 7], ["1" if sex[0] == "2" else "2", sex[3]])
    birth.scatter([4, 7], [birth[0], "1970-01-01"])
    frame = frame.with_columns(client, sex, birth)
    rdd = spark.sparkContext.parallelize(frame.rows(), 2)  # rows 0-3 in one partition, 4-7 in the other
    df = spark.createDataFrame(rdd, frame.columns).withColumn("p", F.spark_partition_id())
    assert df.select("record_id", "p").collect()[0].p != df.select("record_id", "p").collect()[4].p
    report = fs.validate(df.drop("p"), KIND, reference_date=REF, max_findings=None)
    got = report.findings_all.filter(pl.col("rule") == "dataset.id_conflict").select("record_id", "column")
    ids = frame["record_id"]
    assert sorted(got.rows()) == sorted([(ids[0], "sex"), (ids[4], "sex"), (ids[3], "birth_date"),
                                         (ids[7], "birth_date")])
    reference = fpschema.validate(frame, KIND, reference_date=REF)
    assert _spark_side(report).equals(_by_record_id(reference, frame))
    lazy = fs.findings_frame(df.drop("p"), KIND, reference_date=REF)  # the same findings, lazily
    assert lazy.columns == list(fs.FINDING_COLUMNS) and lazy.count() == report.findings_total


def test_findings_written_to_parquet(spark, corpus, tmp_path):
    frame, path, polars_report = corpus
    df = spark.read.parquet(str(path)).limit(20_000).repartition(2)
    small = frame.head(20_000)
    target = tmp_path / "findings.parquet"
    report = fs.validate(df, KIND, reference_date=REF, max_findings=100, findings_path=target)
    written = spark.read.parquet(str(target))
    assert written.columns == ["row", "record_id", "column", "rule", "severity", "value"]
    assert written.count() == report.findings_total == pl.read_parquet(target / "*.parquet").height
    reference = fpschema.validate(small, KIND, reference_date=REF)
    assert report.findings_total == reference.findings_all.height
    assert report.counts == reference.counts  # computed in Spark over all findings
    assert report.findings_all.height == 100 and report.truncated
    assert report.source["findings_path"] == str(target)
    # the reported head is the first findings in row order
    assert report.findings_all.get_column("row").is_sorted()
    assert pl.read_parquet(target / "*.parquet").select(COLUMNS).sort(COLUMNS, nulls_last=True).equals(
        _by_record_id(reference, small))


def test_csv_through_validate_path(spark, tmp_path):
    frame, _ = generator.generate(KIND, 3_000, seed=8, defects="all", defect_rate=0.3, reference_date=REF)
    path = writer.write(frame, tmp_path / "records.csv", KIND)  # UTF-8 with BOM, as the package writes it
    report = fs.validate_path(spark, path, KIND, reference_date=REF, max_findings=None)
    assert report.source["format"] == "csv" and report.rows_total == frame.height
    (entry,) = report.source["sheets"]  # row accounting: every record read is judged
    assert entry["rows_in"] == entry["rows_judged"] == frame.height and entry["skipped_rows"] == []
    reference = fpschema.validate(path, KIND, reference_date=REF)  # rows are file lines here: map them
    ids = frame.select(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias("row"), "record_id")
    expected = reference.findings_all.join(ids, on="row").select(COLUMNS).sort(COLUMNS, nulls_last=True)
    assert _spark_side(report).equals(expected)
    assert report.counts == reference.counts
    assert fs.validate_path(spark, path, reference_date=REF).kind == KIND  # the kind inferred from the header
    # Spark 4 reads GB18030 text only with the legacy Java charsets switched on
    gb = writer.write(frame, tmp_path / "records-gb.csv", KIND, encoding="gb18030")
    spark.conf.set("spark.sql.legacy.javaCharsets", "true")
    try:
        gb_report = fs.validate_path(spark, gb, KIND, encoding="gb18030", reference_date=REF,
                                     max_findings=None)
    finally:
        spark.conf.unset("spark.sql.legacy.javaCharsets")
    assert _spark_side(gb_report).equals(expected)
    with pytest.raises(fpschema.InputError, match="input.not_found"):
        fs.validate_path(spark, tmp_path / "missing.csv", KIND)
    # a URI is Spark's to resolve, also in the form pathlib leaves it (file:/… for file:///…)
    assert fs.validate_path(spark, Path(path.as_uri()), KIND, reference_date=REF).rows_total == frame.height
    with pytest.raises(fpschema.InputError, match="input.not_found"):
        fs.validate_path(spark, Path((tmp_path / "missing.csv").as_uri()), KIND)


def test_spark_table_without_id_column(spark):
    frame, _ = generator.generate(KIND, 2_000, seed=4, defects="all", defect_rate=0.3, reference_date=REF)
    bare = frame.drop("record_id")
    _spark_frame(spark, bare).repartition(2).createOrReplaceTempView("fp_records")
    report = fs.validate_path(spark, "table:fp_records", KIND, reference_date=REF, max_findings=None)
    reference = fpschema.validate(bare, KIND, reference_date=REF)
    assert "record_id" not in report.findings_all.columns
    assert report.counts == reference.counts and report.rows_invalid == reference.rows_invalid
    # rows are monotonically_increasing_id numbers: unique per row, not positions
    rows = report.findings_all.get_column("row")
    assert rows.n_unique() == reference.findings_all.get_column("row").n_unique()
    keys = ["column", "rule", "value"]
    assert report.findings_all.select(keys).sort(keys, nulls_last=True).equals(
        reference.findings_all.select(keys).sort(keys, nulls_last=True))
    with pytest.raises(fpschema.InputError, match="input.not_found"):
        fs.validate_path(spark, "table:no_such_table", KIND)


def test_integer_id_column_is_the_row_and_empty_input(spark):
    frame, _ = generator.generate(KIND, 500, seed=6, defects="all", defect_rate=0.3, reference_date=REF)
    numbered = frame.with_columns(pl.int_range(1000, 1500, dtype=pl.Int32).alias("seq.no"))  # a dotted name
    report = fs.validate(_spark_frame(spark, numbered).repartition(2), KIND, id_column="seq.no",
                         reference_date=REF, max_findings=None)
    reference = fpschema.validate(frame, KIND, reference_date=REF).findings_all
    expected = reference.with_columns(pl.col("row") + 1000, pl.col("row").add(1000).cast(pl.Utf8)
                                      .alias("record_id"))
    keys = ["row", "record_id", "column", "rule", "value"]
    assert report.findings_all.select(keys).sort(keys, nulls_last=True).equals(
        expected.select(keys).sort(keys, nulls_last=True))  # and no unknown-column finding for seq.no

    empty = fs.validate(_spark_frame(spark, frame.head(0)), KIND, reference_date=REF)
    polars_empty = fpschema.validate(frame.head(0), KIND, reference_date=REF)
    assert empty.rows_total == 0 and empty.counts == polars_empty.counts
    assert "file.no_rows" in empty.counts["by_rule"]


def test_aggregate_reports_run_on_the_driver(spark):
    frame, _ = generator.generate("indicator_report", 300, seed=2, defects="all", defect_rate=0.2,
                                  reference_date=REF)
    report = fs.validate(_spark_frame(spark, frame), "indicator_report", reference_date=REF)
    reference = fpschema.validate(frame, "indicator_report", reference_date=REF)
    assert report.source["collected_to_driver"] is True
    assert report.source["sheets"] == reference.source["sheets"]
    assert report.counts == reference.counts and reference.findings_all.height > 0
    assert report.findings_all.drop("record_id", strict=False).equals(reference.findings_all)


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fpschema", *args], capture_output=True, text=True, cwd=cwd)


def test_command_line_engine_spark(spark, tmp_path):
    frame, _ = generator.generate(KIND, 1_000, seed=9, defects="all", defect_rate=0.3, reference_date=REF)
    path = writer.write(frame, tmp_path / "records.csv", KIND)
    done = _cli("validate", "--engine", "spark", "--kind", KIND, "--reference-date", "2024-06-30", "--format",
                "json", "--max-findings", "10", "--findings-out", str(tmp_path / "findings"), str(path),
                cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    reference = fpschema.validate(path, KIND, reference_date=REF)
    assert doc["counts"] == reference.counts and doc["truncated"] is True and len(doc["findings"]) == 10
    assert pl.read_parquet(tmp_path / "findings" / "*.parquet").height == reference.findings_all.height


# --- no Spark needed ---------------------------------------------------------------------------------------


def test_the_spark_plan_reads_the_one_cross_row_table():
    """Spark and polars read dataset_checks.cross_row; the polars checks are the table's own."""
    assert {c.column for c, _ in fs.cross_row_plan(KIND)} == {"client_id", "sex", "birth_date"}
    assert [(c.rule, s.key, s.compare) for c, s in fs.cross_row_plan(KIND)] == [
        ("dataset.duplicate_record", dataset_checks.DUP, None), ("dataset.id_conflict", dataset_checks.PERSON, "sex"),
        ("dataset.id_conflict", dataset_checks.PERSON, "birth_date")]
    assert [c.rule for c in dataset_checks.dataset_checks(KIND)] == [c.rule for c, _ in fs.cross_row_plan(KIND)]


def test_importing_fpschema_does_not_import_pyspark():
    code = ("import sys, fpschema, fpschema.engine.validation, fpschema.cli, fpschema.spark; "
            "assert not [m for m in sys.modules if m.startswith('pyspark')]")
    subprocess.run([sys.executable, "-c", code], check=True)



def test_rollups_run_as_spark_aggregations_and_equal_the_polars_engine(spark):
    from fpschema.testdata import linked

    parts, manifest = linked.report_set(seed=2, defects=True)
    ws45 = parts["procedure_report"]
    text = ws45.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    typed = fpschema.engine.validation.prepare(text, "procedure_report", REF)
    ours = fs.rollup_findings(spark, typed, "procedure_report").sort("row", "column", "rule")
    polars_side = aggregates_rollups(typed).sort("row", "column", "rule")
    assert ours.equals(polars_side) and set(ours["rule"]) == {"report.rollup_mismatch", "report.rollup_incomplete"}
    report = fs.validate(spark.createDataFrame(ws45.to_arrow()), "procedure_report",
                         reference_date=REF, id_column=None)
    reference = fpschema.validate(ws45, "procedure_report", reference_date=REF)
    key = ["row", "column", "rule"]
    assert report.findings_all.select(key).sort(key).equals(reference.findings_all.select(key).sort(key))


def aggregates_rollups(typed: pl.DataFrame) -> pl.DataFrame:
    from fpschema.rules import aggregates

    return aggregates.rollup_findings(typed, "procedure_report")


def test_counts_written_as_floats_roll_up_as_in_the_polars_engine(spark):
    """Counts in a float column (as pandas leaves them after a NaN) read "12.0": the roll-ups in Spark take
    them as the polars engine converts them."""
    from fpschema.testdata import linked

    parts, _ = linked.report_set(seed=2, defects=True)
    ws45 = parts["procedure_report"]
    from fpschema.rules import aggregates

    floats = ws45.with_columns(pl.col(c).cast(pl.Float64, strict=False)
                               for c in aggregates.additive_columns("procedure_report"))
    report = fs.validate(spark.createDataFrame(floats.to_arrow()), "procedure_report", reference_date=REF,
                         id_column=None)
    reference = fpschema.validate(floats, "procedure_report", reference_date=REF)
    key = ["row", "column", "rule"]
    assert report.findings_all.select(key).sort(key).equals(reference.findings_all.select(key).sort(key))
    assert "report.rollup_mismatch" in report.counts["by_rule"]
    assert report.rows_invalid == reference.rows_invalid


def test_a_frame_without_the_optional_birth_date_column(spark, corpus):
    """birth_date is optional: a frame without it validates (cross-row values of an absent column are empty)
    with the findings of the polars engine."""
    frame = corpus[0].head(20_000).drop("birth_date")
    report = fs.validate(_spark_frame(spark, frame), KIND, reference_date=REF, max_findings=None)
    reference = fpschema.validate(frame, KIND, reference_date=REF)
    assert _spark_side(report).equals(_by_record_id(reference, frame))
    assert "dataset.duplicate_record" in report.counts["by_rule"]
