"""The fuzz tests' library process: reads one JSON request a line on standard input, calls the library, answers
one JSON line on standard output. A separate process so that an input which aborts the process, eats the memory
or hangs fails one example (the parent sees the exit signal or kills it after a timeout) instead of the test run.

Requests: ``{"op": "validate", "path", "kind", "streamed"}`` (:func:`fpschema.validate` on a file, then every
renderer) and ``{"op": "records", "path", "kind"}`` (the pickled Python value at ``path`` through
:func:`fpschema.validate_records`, :func:`fpschema.validate_record` and, for a list, :func:`fpschema.validate`).
Answers: ``{"outcome": "report", "summary": {...}}``, ``{"outcome": "input_error", "code", "zh", "en"}`` or
``{"outcome": "crash", "error", "traceback"}`` (any other exception: a defect)."""

from __future__ import annotations

import json
import pickle
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

REF = date(2024, 6, 30)
STREAM_BLOCK_BYTES = 2048  # "streamed" requests read the CSV in blocks this small, so a 2 KB file has several


def _validate(request: dict[str, Any]) -> dict[str, Any]:
    import fpschema
    from fpschema.io.reader import Limits

    limits = Limits(stream_bytes=1, block_bytes=STREAM_BLOCK_BYTES) if request.get("streamed") else None
    report = fpschema.validate(Path(request["path"]), request.get("kind"), reference_date=REF, limits=limits)
    doc = json.loads(report.to_json())
    for render in (report.to_csv, report.to_html, report.to_junit):
        render()
    summary = {k: doc[k] for k in ("ok", "rows_total", "rows_valid", "rows_invalid", "source")}
    summary["findings"] = len(doc["findings"])
    return summary


def _records(request: dict[str, Any]) -> dict[str, Any]:
    import fpschema

    value = pickle.loads(Path(request["path"]).read_bytes())
    kind = request["kind"]
    records = value if isinstance(value, list) else [value]
    found = fpschema.validate_records(records, kind, reference_date=REF)
    assert len(found) == len(records), "validate_records: one list of findings per record"
    for record in records[:3]:
        fpschema.validate_record(record, kind, reference_date=REF)
    summary: dict[str, Any] = {"records": len(records), "findings": sum(map(len, found))}
    if isinstance(value, list):  # the service's JSON path: the list as a table
        summary.update(_table_summary(fpschema.validate(value, kind if kind in fpschema.kinds() else None,
                                                        reference_date=REF)))
    return summary


def _table_summary(report: Any) -> dict[str, Any]:
    doc = json.loads(report.to_json())
    report.to_html()
    return {k: doc[k] for k in ("ok", "rows_total", "rows_valid", "rows_invalid", "source")}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The outcome of one request; never raises."""
    from fpschema.errors import InputError

    try:
        summary = _validate(request) if request["op"] == "validate" else _records(request)
    except InputError as err:
        return {"outcome": "input_error", "code": err.code, "zh": err.message("zh"), "en": err.message("en")}
    except BaseException as exc:  # the point: anything but InputError is a finding (pyo3 panics included)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        name = type(exc).__qualname__
        module = type(exc).__module__
        return {"outcome": "crash", "error": name if module == "builtins" else f"{module}.{name}",
                "traceback": "".join(traceback.format_exception(exc))[-4000:]}
    return {"outcome": "report", "summary": summary}


def main() -> None:
    for line in sys.stdin:
        out = answer(json.loads(line))
        sys.stdout.write(json.dumps(out, ensure_ascii=True, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
