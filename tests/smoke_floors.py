"""Smoke test of the declared dependency floors (`make floors`): one pass over every use of every runtime
dependency, run in a virtual environment holding exactly the lowest versions pyproject.toml allows.

依赖下限冒烟测试：在只装有 pyproject.toml 所声明最低版本的虚拟环境中，把每个运行时依赖的每种用法走一遍。

Not collected by pytest (its name does not start with ``test_``); run it as ``python tests/smoke_floors.py``.
It goes through the package's public face only (``fpschema.validate``, ``validate_record``, ``generate``, the
report's renderers, the command line and the HTTP service), so moving modules inside the package does not
break it. Each step prints one line; the first failure ends the run with exit 1.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROWS = 200  # rows of every generated file: enough for every defect of service_record to appear
SEED = 7  # fixed seed: the same files on every run
DEFECT_RATE = 0.2  # share of rows with a defect
REF = date(2024, 6, 30)  # the generator's default reference date, written in each manifest
SERVICE_START_SECONDS = 60.0  # longest wait for the service to answer /healthz
KIND = "service_record"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m fpschema ARGS --debug`` in this interpreter; exit 0 or 1 (findings) is success."""
    done = subprocess.run([sys.executable, "-m", "fpschema", *args, "--debug"], capture_output=True, text=True,
                          encoding="utf-8", check=False)
    if done.returncode not in (0, 1):
        raise AssertionError(f"fpschema {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def manifest_keys(path: Path) -> set[tuple[int, str, str]]:
    """(row, column, rule) of every defect the generator wrote beside ``path``."""
    import csv

    with open(f"{path}.manifest.csv", encoding="utf-8", newline="") as fh:
        return {(int(r["row"]), r["column"], r["rule"]) for r in csv.DictReader(fh)}


def check_report(report: Any, path: Path) -> None:
    """Every defect found, nothing else; and the four renderers give well-formed documents."""
    found = {(int(r["row"]), r["column"], r["rule"]) for r in report.findings_all.iter_rows(named=True)}
    expected = manifest_keys(path)
    if found != expected:
        raise AssertionError(f"{path.name}: findings differ from the manifest: missed "
                             f"{sorted(expected - found)[:5]}, extra {sorted(found - expected)[:5]}")
    assert report.rows_total == ROWS, (path.name, report.rows_total)
    doc = json.loads(report.to_json())
    assert doc["rows_total"] == ROWS and doc["ok"] is False
    csv_text = report.to_csv()
    assert csv_text.count("\n") >= len(expected), "CSV report is short"
    html = report.to_html()
    assert "<html" in html.lower() and "service_record" in html
    ET.fromstring(report.to_junit())


def step_files(folder: Path) -> Path:
    """Generate (faker, numpy, xlsxwriter, polars writers) and validate (polars, charset-normalizer, calamine,
    referencing) a file of each format through the library and the command line (click, rich)."""
    import fpschema

    cases = [("services_utf8.csv", ["--format", "csv"]),
             ("services_gb18030.csv", ["--format", "csv", "--encoding", "gb18030", "--office"]),
             ("services.xlsx", ["--format", "xlsx", "--office"]),
             ("services.jsonl", ["--format", "jsonl"]),
             ("services.parquet", ["--format", "parquet"])]
    for name, extra in cases:
        path = folder / name
        run_cli("generate", KIND, "--rows", str(ROWS), "--seed", str(SEED), "--defects", "all",
                "--defect-rate", str(DEFECT_RATE), *extra, "--output", str(path))
        report = fpschema.validate(path)
        check_report(report, path)
        if name == "services_gb18030.csv":
            assert report.source["encoding"] == "gb18030", report.source["encoding"]
        out = folder / f"{name}.report.json"
        run_cli("validate", str(path), "--format", "json", "--output", str(out))
        assert json.loads(out.read_text(encoding="utf-8"))["rows_total"] == ROWS
        print(f"ok  {name}: {len(manifest_keys(path))} defects found, 4 renderers")
    shown = run_cli("validate", str(folder / "services_utf8.csv"))  # the rich tables on a terminal-less stdout
    assert "service_record" in shown.stdout
    return folder / "services_utf8.csv"


def step_records() -> None:
    """One record (referencing's JSON Schema registry, the identifier checks, iso3166)."""
    import fpschema

    record = {"station_code": "110105001", "client_id": "110105199003070025", "sex": "1", "birth_status": "一胎",
              "child_count": 1, "service_reason": "结扎失败", "sterilisation_history": False,
              "service_date": "2023-04-19", "city_code": "110105", "procedure": "03", "is_rural": True, "fee": 80}
    rules = [f.rule for f in fpschema.validate_record(record, KIND, reference_date=date(2024, 1, 1))]
    assert rules == ["service.sex_mismatch", "service.reason_needs_sterilisation", "service.rural_fee"], rules
    fpr = {**record, "client_id": "911398199003070029", "id_type": "91"}
    found = {f.rule for f in fpschema.validate_record(fpr, KIND, reference_date=date(2024, 1, 1))}
    assert any(r.startswith("fpr.") for r in found), found
    print(f"ok  validate_record: {rules}")


def find_module(attribute: str, hint: str) -> Any:
    """The fpschema module (top level or in a subpackage) whose name contains ``hint`` and that has
    ``attribute``: the smoke test does not depend on where a module sits."""
    import fpschema

    names = [m.name for m in pkgutil.walk_packages(fpschema.__path__, "fpschema.") if hint in m.name]
    for name in names:
        module = importlib.import_module(name)
        if hasattr(module, attribute):
            return module
    raise AssertionError(f"no fpschema module named like {hint!r} has {attribute!r} (looked at {names})")


def step_pandera() -> None:
    """The pandera adapter flags the rows the generator spoiled."""
    import pandera.polars as pa
    import polars as pl

    import fpschema

    adapter = find_module("pandera_schema", "pandera")
    frame, manifest = fpschema.generate(KIND, ROWS, seed=SEED, defects=["id.checksum", "service.rural_fee"],
                                        defect_rate=DEFECT_RATE, reference_date=REF)
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    prepared = adapter.prepare(text, KIND, REF)
    try:
        adapter.pandera_schema(KIND, REF).validate(prepared, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        flagged = {(int(i), c.split("|")[0]) for i, c in zip(cases["index"], cases["check"], strict=True)}
    else:
        raise AssertionError("the pandera schema passed a frame with defects")
    expected = {(r["index"], r["rule"]) for r in manifest.iter_rows(named=True)}
    assert flagged == expected, (sorted(flagged ^ expected)[:5])
    print(f"ok  pandera adapter: {len(flagged)} defects flagged")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
        return answer.status, answer.read()


def step_service(upload: Path, folder: Path) -> None:
    """``fpschema serve`` (uvicorn, FastAPI, python-multipart, jinja2) on loopback: the page, one upload."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(folder / "service.log", "w+", encoding="utf-8")  # noqa: SIM115 - closed below
    env = {**os.environ, "FPSCHEMA_REFERENCE_DATE": REF.isoformat()}
    server = subprocess.Popen([sys.executable, "-m", "fpschema", "serve", "--host", "127.0.0.1", "--port",
                               str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + SERVICE_START_SECONDS
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise AssertionError(f"the service exited {server.returncode}:\n{log.read()[-3000:]}")
            try:
                status, body = http(f"{base}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, page = http(f"{base}/")
        assert status == 200 and b"<html" in page.lower()
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{upload.name}\"\r\n"
                f"Content-Type: text/csv\r\n\r\n").encode() + upload.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        status, answer = http(f"{base}/v1/validate?kind={KIND}", body,
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        doc = json.loads(answer)
        found = {(f["row"], f["column"], f["rule"]) for f in doc["findings"]}
        assert status == 200 and doc["rows_total"] == ROWS, (status, doc.get("rows_total"))
        assert found == manifest_keys(upload), sorted(found ^ manifest_keys(upload))[:5]
        print(f"ok  service on {base}: page, upload of {upload.name}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> int:
    import fpschema

    print(f"fpschema {fpschema.__version__} from {Path(fpschema.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="fpschema-floors-") as tmp:
        folder = Path(tmp)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("files", lambda: step_files(folder)),
            ("records", step_records),
            ("pandera", step_pandera),
            ("service", lambda: step_service(folder / "services_utf8.csv", folder)),
        ]
        for number, (name, step) in enumerate(steps):
            try:
                step()
            except Exception as exc:  # report the step, then the traceback, and fail
                import traceback

                traceback.print_exc()
                print(f"FAIL {name}: {type(exc).__name__}: {str(exc)[:2000]}")
                print(f"floors: {number} passed, 1 failed")
                return 1
    print(f"floors: {len(steps)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
