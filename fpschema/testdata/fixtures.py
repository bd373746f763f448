"""Build the committed sample files in ``fixtures/`` (``make fixtures``): each data file with its manifest of
expected findings. A test rebuilds them and compares bytes, so they always match the generator."""

from __future__ import annotations

import sys
from pathlib import Path

from fpschema import contract
from fpschema.io import truth, writer
from fpschema.testdata import generator

SEED = 20231001
RATE = 0.25
# (file name, kind, rows, defects, format, encoding, office)
FILES = [
    ("valid_service_records.csv", "service_record", 200, None, "csv", "utf-8", False),
    ("invalid_service_records.csv", "service_record", 400, "all", "csv", "utf-8", False),
    ("service_records_gb18030.csv", "service_record", 300, "all", "csv", "gb18030", True),
    ("service_records_office.xlsx", "service_record", 300, "all", "xlsx", "utf-8", True),
    ("service_records.jsonl", "service_record", 300, "all", "jsonl", "utf-8", False),
    *[(f"invalid_{kind}.csv", kind, 200, "all", "csv", "utf-8", False)
      for kind in contract.kinds() if kind != "service_record"],
]


def build(folder: str | Path) -> list[Path]:
    """Write every fixture, its ``.manifest.csv`` and the manifest's sidecar into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    reference = generator.reference_for()
    for name, kind, rows, defects, fmt, encoding, office in FILES:
        frame, manifest = generator.generate(kind, rows, seed=SEED, defects=defects, defect_rate=RATE,
                                             reference_date=reference)
        path = writer.write(frame, folder / name, kind, fmt=fmt, encoding=encoding, office=office)
        written += [path, *truth.write(path, writer.manifest_rows(manifest, fmt, office), kind=kind, records=rows,
                                       seed=SEED, defects=defects, defect_rate=RATE, reference_date=reference,
                                       fmt=fmt, encoding=encoding, office=office)]
    return written


if __name__ == "__main__":
    for path in build(sys.argv[1] if len(sys.argv) > 1 else "fixtures"):
        print(path)
