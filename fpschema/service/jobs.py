"""A validation job run in a worker thread: the records or file validated, the report rendered for the answer.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fpschema.contract.mask import mask_text
from fpschema.errors import InputError
from fpschema.service.base import ServiceError
from fpschema.service.logs import log_exception
from fpschema.service.settings import Settings

# ------------------------------------------------------------------------------------------------ validation


@dataclass
class Job:
    """One validation: a spooled file or JSON bytes, with what the answer should be."""

    kind: str | None
    lang: str
    fmt: str
    max_findings: int | None
    path: Path | None = None
    name: str = ""
    layout: str | None = None
    json_path: Path | None = None  # a JSON list of records, spooled
    size: int = 0
    sheet: str | None = None  # the worksheet to validate (default: every sheet with data)


@dataclass
class _Outcome:
    body: str
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _records(body: bytes) -> list[Any]:
    from fpschema.io.reader import json_loads

    try:
        data = json_loads(body)
    except json.JSONDecodeError as exc:
        raise ServiceError("request.invalid_json", detail=f"{exc.msg} (line {exc.lineno}, column {exc.colno})") \
            from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ServiceError("request.invalid_json", detail=type(exc).__name__) from None
    if not isinstance(data, list):
        raise ServiceError("request.invalid_json", detail=f"expected a list, got {type(data).__name__}")
    if _SURROGATE_ESCAPE.search(body):  # only then: \ud800 escapes may leave lone surrogates (not Unicode)
        try:
            json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise ServiceError("request.invalid_json", detail="lone surrogate escape (\\ud800-\\udfff)") from None
    return data


def run_job(job: Job, settings: Settings, request_id: str) -> _Outcome:
    """Validate and render (in a worker thread). InputError paths name the client's file, not the spool;
    any other failure while reading the data is ``input.unprocessable`` (422), logged for the developers."""
    from fpschema.engine.validation import validate
    from fpschema.io.reader import Limits

    source: Any = _records(job.json_path.read_bytes()) if job.json_path is not None else job.path
    try:
        report = validate(source, job.kind, lang=job.lang, max_findings=job.max_findings,
                          reference_date=settings.reference_date, limits=Limits(max_rows=settings.max_rows, max_findings_total=settings.max_findings_total),
                          layout=job.layout, sheet=job.sheet)
    except InputError as err:
        if job.path is None:
            raise
        spool = str(job.path)
        details = {k: str(v).replace(spool, job.name) for k, v in err.details.items()}
        raise InputError(err.code, **details) from None
    except Exception as exc:  # a defect the data provoked in the reader or engine: 422, never a 500
        log_exception(f"{request_id} unprocessable input", exc, settings.debug)
        raise ServiceError("input.unprocessable", error=type(exc).__name__, request_id=request_id) from None
    report.source["name"] = mask_text(job.name) if job.name else "<records>"  # the file's name may hold an ID
    summary = {"kind": report.kind, "format": report.source.get("format"), "rows": report.rows_total,
               "invalid": report.rows_invalid, **report.counts["by_severity"]}
    try:
        return _render(report, job, summary)
    except Exception as exc:  # a renderer's defect (or memory running out): a coded 500, not a crash
        log_exception(f"{request_id} internal error while rendering {job.fmt}", exc, settings.debug)
        raise ServiceError("internal.error", request_id=request_id) from None


def _render(report: Any, job: Job, summary: dict[str, Any]) -> _Outcome:
    if job.fmt == "html":
        return _Outcome(report.to_html(), "text/html; charset=utf-8", {"Content-Security-Policy": REPORT_CSP},
                        summary)
    if job.fmt == "csv":
        stem = mask_text(os.path.splitext(job.name)[0]) if job.name else "records"
        return _Outcome("\ufeff" + report.to_csv(), "text/csv; charset=utf-8",
                        {"Content-Disposition": _attachment(f"{stem}.findings.csv")}, summary)
    return _Outcome(report.to_json(), "application/json", {}, summary)


def _attachment(name: str) -> str:
    """Content-Disposition with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name) or "findings.csv"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox"
