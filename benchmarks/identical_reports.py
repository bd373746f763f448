"""校验 fixtures/ 下每个文件并写出四种报告，用于证明重构前后报告逐字节相同 / validate every file under fixtures/
(and any extra files given) with a fixed reference date and write json, csv, html, junit and text reports to a
folder, so that two runs (before and after a change that must not change behaviour) can be compared with
``diff -r``.

    python -m fpschema generate service_record --rows 50000 --seed 7 --defects all --output /tmp/house/in.csv
    python benchmarks/identical_reports.py /tmp/house/before --extra /tmp/house/in.csv
    diff -r /tmp/house/before /tmp/house/after
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DATE = "2024-06-30"  # fixed so that nothing in a report depends on today
FORMATS = ("json", "csv", "html", "junit", "text")
WORKERS = 2  # the machine is shared: two validations at a time


def _name(path: Path) -> str:
    """A flat, unique file name for an input path."""
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        rel = Path("extra") / path.name
    return str(rel).replace("/", "__")


def _run(path: Path, fmt: str, out: Path) -> None:
    """Validate one file into one report; its exit code, stdout and stderr go beside it."""
    target = out / f"{_name(path)}.{fmt}"
    cmd = [sys.executable, "-m", "fpschema", "validate", str(path), "--format", fmt,
           "--reference-date", REFERENCE_DATE]
    if fmt != "text":
        cmd += ["--output", str(target)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    stdout = done.stdout.replace(str(out), "<out>").replace(str(ROOT), "<root>")
    stderr = done.stderr.replace(str(out), "<out>").replace(str(ROOT), "<root>")
    (out / f"{_name(path)}.{fmt}.run").write_text(f"exit {done.returncode}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                                                  encoding="utf-8")


def main() -> None:
    """Parse the arguments and write every report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder the reports go to")
    ap.add_argument("--extra", type=Path, nargs="*", default=[], help="more files to validate")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = sorted(p for p in (ROOT / "fixtures").rglob("*") if p.is_file()) + list(args.extra)
    jobs = [(p, fmt) for p in inputs for fmt in FORMATS]
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda job: _run(job[0], job[1], args.out), jobs))
    print(f"{len(inputs)} files, {len(jobs)} reports in {args.out}")


if __name__ == "__main__":
    main()
