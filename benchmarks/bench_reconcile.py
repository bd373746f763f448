"""Reconcile a county-level 卫统45表 with 1M service records (表间审核), timed in one run.

    .venv/bin/python benchmarks/bench_reconcile.py [ROWS]

Prints the time to validate the report with ``records=`` (reading the 1M-row CSV included) next to the time
to validate the report alone, and polars reading the records file for scale. Not a test.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

import fpschema
from fpschema.io import writer
from fpschema.testdata import linked


def main(rows: int) -> None:
    parts, manifest = linked.report_set(rows=rows, seed=1, defects=True)
    with tempfile.TemporaryDirectory() as tmp:
        ws45 = writer.write(parts["procedure_report"], Path(tmp) / "ws45.csv", "procedure_report")
        services = writer.write(parts["service_record"], Path(tmp) / "services.csv", "service_record")
        ref = date(2024, 6, 30)
        start = time.perf_counter()
        alone = fpschema.validate(ws45, "procedure_report", reference_date=ref)
        t_alone = time.perf_counter() - start
        start = time.perf_counter()
        report = fpschema.validate(ws45, "procedure_report", records=services, reference_date=ref)
        t_recon = time.perf_counter() - start
        start = time.perf_counter()
        pl.read_csv(services, infer_schema=False)
        t_read = time.perf_counter() - start
        size = services.stat().st_size / 1e6
    recon = report.extras["reconciliation"]
    print(f"records: {rows:,} rows ({size:.0f} MB); report: {alone.rows_total} rows")
    print(f"validate report alone                 {t_alone:6.2f} s")
    print(f"validate report + reconcile records   {t_recon:6.2f} s   (goal < 2 s)")
    print(f"polars.read_csv of the records        {t_read:6.2f} s")
    print(f"cells compared {recon['cells']}, mismatches {recon['mismatches']} (2 injected), "
          f"findings {report.findings_all.height} (manifest {manifest.height})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
