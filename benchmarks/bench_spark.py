"""fpschema.spark on a local Spark session: time to validate 1M, 2M and 4M generated service records.

    .venv/bin/python benchmarks/bench_spark.py                  # 1M / 2M / 4M rows, local[2]
    .venv/bin/python benchmarks/bench_spark.py --rows 1000000 --rows 8000000 --master 'local[4]'

The records are generated (every defect kind, 30 % of rows broken) in parts of 1M rows and written as
Parquet (row groups of 100k rows, so Spark can split them) before any timing; a part's record_ids follow
on from the previous part's. A warm-up run on the smallest size starts the Python workers first. Each
timed run is one ``fpschema.spark.validate`` with the findings written to Parquet (the report keeps the
first 1000); the fastest of ``--repeat`` runs is shown, since other load on a small machine only ever adds
time. The polars engine on the first 1M rows is timed too, for scale. "worker MB" is the peak resident
memory of the largest Python worker, "JVM MB" that of the local JVM (driver and executor in one), sampled
with psutil. Needs the ``spark`` extra, psutil and Java. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl

CACHE = Path(os.environ.get("FPSCHEMA_BENCH_DIR", "/tmp/fpschema-bench")) / "spark"
KIND = "service_record"
REF = date(2024, 6, 30)
PART = 1_000_000


def parts(total: int) -> list[Path]:
    """Parquet files of PART rows each (the last may be shorter), generated once and cached."""
    from fpschema.testdata import generator

    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for i, start in enumerate(range(0, total, PART)):
        rows = min(PART, total - start)
        path = CACHE / f"records-{i:03d}-{rows}.parquet"
        if not path.exists():
            frame, _ = generator.generate(KIND, rows, seed=[2026, i], defects="all", defect_rate=0.3,
                                          reference_date=REF)
            frame = frame.with_columns(
                ("SR" + pl.int_range(start + 1, start + rows + 1, eager=True).cast(pl.Utf8).str.zfill(9))
                .alias("record_id"))
            frame.write_parquet(path, row_group_size=100_000)
        out.append(path)
    return out


class PeakMemory:
    """Peak resident memory of one Python worker and of the JVM, sampled every 50 ms (needs psutil)."""

    def __init__(self) -> None:
        import threading

        self.worker = self.jvm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.05):
            for proc in me.children(recursive=True):
                try:
                    rss, cmd = proc.memory_info().rss, " ".join(proc.cmdline())
                except psutil.Error:
                    continue
                if "pyspark" in cmd and "python" in proc.name():
                    self.worker = max(self.worker, rss)
                elif "java" in proc.name():
                    self.jvm = max(self.jvm, rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="rows per run (repeatable); 1M, 2M, 4M by default")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the fastest is shown")
    args = parser.parse_args()
    sizes = sorted(args.rows or [1_000_000, 2_000_000, 4_000_000])

    import fpschema
    from fpschema import spark as fs

    files = parts(max(sizes))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = fs.session("fpschema-bench", args.master, **{
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8",
        "spark.driver.memory": args.driver_memory})
    spark.sparkContext.setLogLevel("ERROR")
    print(f"Spark {spark.version}, {args.master}, Python {sys.version.split()[0]}, polars {pl.__version__}")

    def run(n: int) -> tuple[float, object, int]:
        df = spark.read.parquet(*[str(f) for f in files[: -(-n // PART)]])
        if n % PART:
            df = df.limit(n)
        target = CACHE / f"findings-{n}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        report = fs.validate(df, KIND, reference_date=REF, findings_path=target)
        return time.perf_counter() - start, report, df.rdd.getNumPartitions()

    run(sizes[0])  # warm-up: Python workers, imports, the JVM's JIT
    start = time.perf_counter()
    local = fpschema.validate(pl.read_parquet(files[0]), KIND, reference_date=REF)
    print(f"polars engine, {PART:,} rows in one process: {time.perf_counter() - start:.1f} s "
          f"({local.findings_all.height:,} findings)")
    print(f"{'rows':>10} {'partitions':>10} {'seconds':>8} {'ratio':>6} {'rows/s':>9} {'findings':>10} "
          f"{'invalid':>9} {'worker MB':>9} {'JVM MB':>7}")
    first = None
    for n in sizes:
        with PeakMemory() as peak:
            seconds, report, partitions = min((run(n) for _ in range(args.repeat)), key=lambda r: r[0])
        first = first or seconds
        assert report.rows_total == n
        print(f"{n:>10,} {partitions:>10} {seconds:>8.1f} {seconds / first:>6.2f} {n / seconds:>9,.0f} "
              f"{report.findings_total:>10,} {report.rows_invalid:>9,} {peak.worker / 2**20:>9,.0f} "
              f"{peak.jvm / 2**20:>7,.0f}")
    spark.stop()


if __name__ == "__main__":
    main()
