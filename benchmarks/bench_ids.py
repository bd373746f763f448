"""ID-number check on a whole column versus python-stdnum called per value, in one run.

Run: ``.venv/bin/python benchmarks/bench_ids.py [ROWS]`` (default 1,000,000). Prints rows/s and the ratio.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date

import polars as pl
from stdnum.cn import ric

from fpschema.reference import divisions, gb11643


def corpus(rows: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    regions = sorted(divisions.valid_codes())
    out = []
    for _ in range(rows):
        body = f"{rng.choice(regions)}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body += f"{rng.randint(0, 999):03d}"
        check = "10X98765432"[sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11]
        out.append(body + (check if rng.random() < 0.95 else "0"))
    return out


def main(rows: int) -> None:
    values = corpus(rows)
    frame = pl.DataFrame({"id": values})
    ref = date(2024, 6, 30)

    start = time.perf_counter()
    staged = frame
    for stage in gb11643.stages("id", ref):
        staged = staged.with_columns(**stage)
    bad = staged["id#status"].is_not_null().sum()
    ours = time.perf_counter() - start

    sample = values[: min(rows, 200_000)]
    start = time.perf_counter()
    stdnum_bad = sum(not ric.is_valid(v) for v in sample)
    theirs = (time.perf_counter() - start) * rows / len(sample)

    print(f"rows                      {rows:>12,}")
    print(f"fpschema column stages    {ours:>10.3f} s  {rows / ours:>14,.0f} rows/s  ({bad:,} flagged)")
    print(f"stdnum per value (scaled) {theirs:>10.3f} s  {rows / theirs:>14,.0f} rows/s  "
          f"({stdnum_bad:,} of {len(sample):,} flagged; stdnum also rejects codes younger than the person)")
    print(f"ratio                     {theirs / ours:>10.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
