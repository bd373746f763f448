"""Validate a service-record CSV with fpschema and with the tools people would otherwise use, in one run.

    .venv/bin/python benchmarks/bench_validate.py                 # 1M rows: fpschema vs polars read and peers
    .venv/bin/python benchmarks/bench_validate.py --growth        # and 1M / 2M / 4M rows
    .venv/bin/python benchmarks/bench_validate.py --big 10000000  # and 10M rows (read block by block)

Each measurement runs in its own process, so its peak memory (ru_maxrss) is its own; "peak" is printed
both whole and above the process's memory after imports. Frictionless and per-record jsonschema are
measured on a sample (``--sample`` rows) and scaled to the full file, since they run at 10^3-10^4 rows/s.
Needs the ``bench`` extra (frictionless, pandas). Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

CACHE = Path(os.environ.get("FPSCHEMA_BENCH_DIR", "/tmp/fpschema-bench"))
KIND = "service_record"
REF = "2024-06-30"

# VmHWM (the peak resident size of this process image) rather than ru_maxrss, which Linux carries
# over from the parent across fork and exec.
MEASURE = """
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
{imports}
base = hwm()
start = time.perf_counter()
{work}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "peak_mb": hwm(), "base_mb": base, "note": str(note)}}))
"""


def measure(imports: str, work: str) -> dict:
    code = MEASURE.format(imports=textwrap.dedent(imports), work=textwrap.dedent(work))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def data_file(rows: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"services_{rows}.csv"
    if not path.exists():
        from fpschema.io import writer
        from fpschema.testdata import generator

        chunk = 1_000_000
        with open(path, "wb") as out:
            for i, start in enumerate(range(0, rows, chunk)):
                frame, _ = generator.generate(KIND, min(chunk, rows - start), seed=100 + i, defects="all",
                                              defect_rate=0.05)
                part = CACHE / "part.csv"
                writer.write(frame, part, KIND)
                data = part.read_bytes()
                out.write(data if i == 0 else data.split(b"\n", 1)[1])
        (CACHE / "part.csv").unlink(missing_ok=True)
    return path


def sample_file(path: Path, rows: int) -> Path:
    sample = path.with_name(f"{path.stem}_sample{rows}.csv")
    if not sample.exists():
        with open(path, encoding="utf-8") as src, open(sample, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i > rows:
                    break
                dst.write(line)
    return sample


def polars_read(path: Path) -> dict:
    return measure("import polars as pl", f"df = pl.read_csv({str(path)!r}, infer_schema=False); note = df.height")


def fpschema_validate(path: Path, batch_rows: int | None = None) -> dict:
    out = path.with_suffix(".report.json")
    call = (f"fpschema.engine.validation.validate_batched({str(path)!r}, {KIND!r}, batch_rows={batch_rows}, "
            f"reference_date=date.fromisoformat({REF!r}))" if batch_rows else
            f"fpschema.validate({str(path)!r}, {KIND!r}, reference_date=date.fromisoformat({REF!r}))")
    return measure("import fpschema, fpschema.engine.validation, fpschema.report.render; from datetime import date",
                   f"r = {call}; r.write({str(out)!r}, 'json'); note = (r.rows_total, r.rows_invalid)")


def frictionless_validate(sample: Path) -> dict:
    return measure(
        "import frictionless, json; from benchmarks.peers import table_schema",
        f"""
        # frictionless refuses absolute paths ("not safe"): give it the folder as basepath
        resource = frictionless.Resource(path={sample.name!r}, basepath={str(sample.parent)!r},
                                         schema=frictionless.Schema.from_descriptor(table_schema()))
        report = resource.validate(limit_errors=10**9)
        assert report.stats["errors"] > 0 and report.flatten(["type"])[0] != ["resource-error"], report.flatten(["note"])
        note = len(report.flatten(["rowNumber"]))
        """,
    )


def jsonschema_validate(sample: Path) -> dict:
    return measure(
        "from benchmarks.peers import json_records, json_validator",
        f"""
        records = json_records({str(sample)!r})
        start = time.perf_counter()
        v = json_validator()
        note = sum(1 for r in records if not v.is_valid(r))
        """,
    )


def pandera_pandas_validate(path: Path) -> dict:
    return measure("from benchmarks.peers import pandera_pandas_run", f"note = pandera_pandas_run({str(path)!r})")


def line(label: str, m: dict, rows: int, scale: float = 1.0) -> str:
    seconds = m["seconds"] * scale
    extra = f"  peak {m['peak_mb']:8.0f} MB (+{m['peak_mb'] - m['base_mb']:.0f} after imports)"
    scaled = "  (scaled from a sample)" if scale != 1.0 else ""
    return f"{label:34s} {seconds:9.2f} s  {rows / seconds:>12,.0f} rows/s{extra}{scaled}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--growth", action="store_true")
    parser.add_argument("--big", type=int, default=0, help="also validate this many rows in batches")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of polars and fpschema (best taken)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)

    path = data_file(args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({args.rows:,} rows, {size_mb:.0f} MB)\n")
    # alternate the two, several times: on a shared machine one run of either can be off by a third
    runs = [(polars_read(path), fpschema_validate(path)) for _ in range(args.repeat)]
    read = min((r for r, _ in runs), key=lambda m: m["seconds"])
    ours = min((o for _, o in runs), key=lambda m: m["seconds"])
    print(f"(best of {args.repeat} alternating runs; all: polars "
          + ", ".join(f"{r['seconds']:.2f}" for r, _ in runs) + " s; fpschema "
          + ", ".join(f"{o['seconds']:.2f}" for _, o in runs) + " s)")
    print(line("polars.read_csv (read only)", read, args.rows))
    print(line("fpschema validate + JSON report", ours, args.rows))
    print(f"{'':34s} rows, invalid: {ours['note']}")
    print(f"\nratio fpschema / polars read time    {ours['seconds'] / read['seconds']:6.2f}x   (goal <= 3x)")
    peak = max(o["peak_mb"] for _, o in runs)
    print(f"ratio fpschema peak memory / file     {peak / size_mb:6.2f}x   (goal <= 3x, highest of the runs; "
          f"{(peak - ours['base_mb']) / size_mb:.2f}x above imports)")

    if not args.no_peers:
        sample = sample_file(path, args.sample)
        scale = args.rows / args.sample
        fr = frictionless_validate(sample)
        js = jsonschema_validate(sample)
        pa = pandera_pandas_validate(path)
        print()
        print(line("frictionless (Table Schema)", fr, args.rows, scale))
        print(line("jsonschema per record", js, args.rows, scale))
        print(line("pandera on pandas (read+validate)", pa, args.rows))
        print(f"\nfpschema is {fr['seconds'] * scale / ours['seconds']:8.1f}x faster than frictionless  (goal >= 20x)")
        print(f"fpschema is {js['seconds'] * scale / ours['seconds']:8.1f}x faster than jsonschema    (goal >= 50x)")
        print(f"fpschema is {pa['seconds'] / ours['seconds']:8.1f}x faster than pandera/pandas (goal > 1x)")

    if args.growth:
        print("\ngrowth:")
        base = None
        for n in (1_000_000, 2_000_000, 4_000_000):
            m = fpschema_validate(data_file(n))
            base = base or m["seconds"]
            print(line(f"  {n:,} rows", m, n) + f"  time x{m['seconds'] / base:.2f} for rows x{n / 1_000_000:.0f}")

    if args.big:
        print("\nlarge file (fpschema.validate reads a CSV this big block by block):")
        big = data_file(args.big)
        m = fpschema_validate(big)
        print(line(f"  {args.big:,} rows", m, args.big))
        print(f"  file {big.stat().st_size / 1e6:.0f} MB; peak memory {m['peak_mb']:.0f} MB "
              f"({m['peak_mb'] / (big.stat().st_size / 1e6):.2f}x the file); rows, invalid: {m['note']}")


if __name__ == "__main__":
    main()
