"""HTTP service: ``fpschema serve`` — validate uploads over HTTP and in a web page (FastAPI + uvicorn).

``POST /v1/validate`` takes a multipart upload (field ``file``) or a JSON list of records and answers the
same report as the command line (JSON, HTML or CSV). ``GET /v1/schemas``, ``/v1/schemas/{kind}``,
``/v1/rules`` and ``/healthz`` describe the contract and the service; ``GET /`` is the upload page.

Validate-only: an upload is streamed to a temporary file that is deleted as soon as its validation ends;
nothing is kept. ID numbers are masked in every answer. The log gets one line per request (request id,
method, route, status, duration) and one per validation (kind, format, row and finding counts): never a
value, a file name or a query string. Needs the ``service`` extra: ``pip install 'fpschema[service]'``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import logging.config
import os
import re
import secrets
import tempfile
import threading
import time
import traceback
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

try:
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, Field
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc

from fpschema import __version__, contract
from fpschema.contract.catalogue import RULES
from fpschema.contract.mask import mask_text
from fpschema.errors import InputError
from fpschema.service.settings import MB, Settings

log = logging.getLogger("fpschema.service")

ALLOWED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".json", ".jsonl", ".ndjson", ".parquet")
PAGE_FINDINGS = 1000  # findings the upload page asks for (the counts always cover all of them)
MAX_NAME_CHARS = 255
MAX_PART_HEAD_BYTES = 16 * 1024  # one multipart part's headers (names and values together); beyond: bad_multipart
EVICT_MIN_AGE = 1.0  # seconds a transfer is safe from eviction (a newcomer has had no time to be fast)
SLOT_POLL = 0.05  # seconds between looks for a free validation slot while waiting for one
MAX_PARTS = 64  # parts in one multipart body; beyond: bad_multipart
MAX_HEAD_BYTES = 16 * 1024  # a request's line and headers (h11's buffer); beyond: request.bad_http
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")  # always in the default Host allow-list
TOKEN_FREE_PATHS = frozenset({"/", "/healthz"})  # answered without a token: the page (it asks for one) and health
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # methods a cross-origin page may send (and cannot read)

# ------------------------------------------------------------------------------------------------ errors

# code → (status, 中文, English); InputError codes of the reader answer 400 with their own messages.
SERVICE_ERRORS: dict[str, tuple[int, str, str]] = {
    "request.not_multipart": (415, "请求须为 multipart/form-data 文件上传（字段 file）或 JSON 记录列表（application/json）",
                              "send a multipart/form-data upload (field file) or a JSON list of records "
                              "(application/json)"),
    "request.no_file": (400, "上传中没有名为 file 的文件", "the upload has no file in a field named file"),
    "request.bad_multipart": (400, "multipart 请求格式错误：{detail}", "malformed multipart request: {detail}"),
    "request.bad_filename": (400, "文件名不可接受（含路径分隔符、..、控制字符或格式字符）",
                             "the file name is not acceptable (path separators, .., control or format "
                             "characters)"),
    "request.too_large": (413, "请求体超过 {limit} 字节的上限", "the request body exceeds the limit of {limit} bytes"),
    "request.incomplete": (400, "请求体不完整（客户端断开或数据被截断）",
                           "the request body is incomplete (the client went away or the data is truncated)"),
    "request.timeout": (408, "上传太慢：{seconds} 秒内没有收到数据", "the upload is too slow: no data for {seconds} s"),
    "request.slow_upload": (408, "上传太慢：低于每秒 {rate} 字节，或超过 {seconds} 秒",
                            "the upload is too slow: under {rate} bytes/s, or over {seconds} s"),
    "request.header_timeout": (408, "请求头未在 {seconds} 秒内到齐", "the request head did not arrive within {seconds} s"),
    "request.bad_http": (400, "请求不是有效的 HTTP（或请求头过大）", "the request is not valid HTTP (or its head is too large)"),
    "request.host_not_allowed": (403, "不接受此 Host（见 allowed_hosts 设置）",
                                 "this Host is not accepted (see the allowed_hosts setting)"),
    "request.origin_not_allowed": (403, "不接受来自其他网页（跨源）的请求", "requests from other web pages (cross-origin) are refused"),
    "request.unauthorized": (401, "需要有效的访问令牌（Authorization: Bearer …）",
                             "a valid access token is needed (Authorization: Bearer …)"),
    "request.validation_timeout": (504, "校验超过 {seconds} 秒的时间上限", "the validation took longer than {seconds} s"),
    "request.busy": (503, "服务繁忙（已有 {n} 个校验在进行），请 {retry} 秒后重试",
                     "the service is busy ({n} validations running); retry in {retry} s"),
    "request.uploads_busy": (503, "服务繁忙（已有 {n} 个上传在进行），请 {retry} 秒后重试",
                             "the service is busy ({n} uploads arriving); retry in {retry} s"),
    "request.client_uploads_busy": (503, "这个客户端已有 {n} 个上传在进行，请 {retry} 秒后重试",
                                    "this client already has {n} uploads arriving; retry in {retry} s"),
    "request.connections_busy": (503, "服务繁忙（连接数已达 {n}），请稍后重试",
                                 "the service is busy ({n} connections open); retry later"),
    "request.invalid_json": (400, "请求体不是 JSON 记录列表：{detail}", "the body is not a JSON list of records: {detail}"),
    "request.invalid_parameter": (400, "参数无效：{names}", "invalid parameter: {names}"),
    "request.not_found": (404, "没有这个地址", "no such address"),
    "request.method_not_allowed": (405, "该地址不支持此请求方法", "this method is not allowed here"),
    "request.http_error": (400, "请求无效", "invalid request"),
    "schema.not_found": (404, "没有这个记录类型的契约：{kind}", "no contract for the record kind: {kind}"),
    "input.unprocessable": (422, "数据无法处理（{error}），请检查文件中的特殊字符；请求编号 {request_id}",
                            "the data could not be processed ({error}); check it for unusual characters; "
                            "request id {request_id}"),
    "internal.error": (500, "服务内部错误（请求编号 {request_id}）", "internal error (request id {request_id})"),
}
# Slow heads, slow bodies and slow validations all answer the code request.timeout (408, 408 and 504); every
# kind of busy (validations, uploads, connections) answers request.busy (503).
PUBLIC_CODE = {"request.validation_timeout": "request.timeout", "request.slow_upload": "request.timeout",
               "request.header_timeout": "request.timeout", "request.uploads_busy": "request.busy",
               "request.client_uploads_busy": "request.busy",
               "request.connections_busy": "request.busy"}


class ServiceError(Exception):
    """An answer other than a report: a status, a stable code and a message in the request's language."""

    def __init__(self, code: str, *, status: int | None = None, headers: dict[str, str] | None = None,
                 **details: Any):
        self.code = code
        self.status = status or SERVICE_ERRORS[code][0]
        self.headers = headers or {}
        self.details = details
        super().__init__(code)

    def message(self, lang: str) -> str:
        _, zh, en = SERVICE_ERRORS[self.code]
        try:
            return (zh if lang == "zh" else en).format(**{k: mask_text(v) for k, v in self.details.items()})
        except (KeyError, IndexError):
            return zh if lang == "zh" else en

    def response(self, lang: str) -> JSONResponse:
        return error_response(PUBLIC_CODE.get(self.code, self.code), self.message(lang), self.status, self.headers)


def error_response(code: str, message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _log_refusal(request: Request, code: str) -> None:
    """Log the code of an error answer (never its message: it may quote a header or a cell)."""
    log.info("%s refused: %s", getattr(request.state, "request_id", "-"), code)


def _lang_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh"


# ------------------------------------------------------------------------------------------------ models


class ErrorDetail(BaseModel):
    code: str = Field(description="稳定的错误代码 / stable error code, e.g. input.empty")
    message: str = Field(description="请求语言的说明 / message in the request's language")


class ErrorBody(BaseModel):
    error: ErrorDetail


class FindingModel(BaseModel):
    row: int | None = Field(description="表格软件中的行号；文件级问题为 null / spreadsheet row, null for file findings")
    column: str | None
    rule: str
    severity: Literal["error", "warning"]
    value: str | None = Field(description="单元格原文（身份证号脱敏）/ the cell as written (ID numbers masked)")
    message: str | None


class CountsModel(BaseModel):
    by_rule: dict[str, int]
    by_column: dict[str, int]
    by_severity: dict[str, int]


class ReportModel(BaseModel):
    """The validation report (docs/report.md)."""

    fpschema_version: str
    kind: str
    source: dict[str, Any]
    ok: bool
    rows_total: int
    rows_valid: int
    rows_invalid: int
    counts: CountsModel
    findings: list[FindingModel]
    truncated: bool


class KindInfo(BaseModel):
    kind: str
    title: str
    description: str
    id: str = Field(description="契约的 $id / the contract's $id")
    url: str = Field(description="本服务上的契约地址 / the contract on this service")


class RuleInfo(BaseModel):
    code: str
    severity: Literal["error", "warning"]
    scope: str
    zh: str
    en: str
    source: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    active: int = Field(description="正在进行的校验数 / validations in progress")
    max_concurrent: int
    uploads: int = Field(description="正在接收的上传数 / request bodies being received")
    max_uploads: int


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "请求或文件无法处理 / bad request or unreadable file (request.*, input.*)"),
        (401, "缺少或错误的访问令牌 / no or a wrong access token (request.unauthorized)"),
        (403, "Host 或来源不被接受 / Host or origin refused (request.host_not_allowed, "
              "request.origin_not_allowed)"),
        (408, "上传太慢 / the body arrives too slowly (request.timeout)"),
        (413, "请求体过大 / body too large (request.too_large)"),
        (415, "既不是文件上传也不是 JSON / neither multipart nor JSON (request.not_multipart)"),
        (422, "数据触发了读取缺陷 / the data could not be processed (input.unprocessable)"),
        (500, "服务内部错误 / internal error (internal.error)"),
        (503, "服务繁忙，见 Retry-After / busy, see Retry-After (request.busy)"),
        (504, "校验超时 / validation over the time limit (request.timeout)"),
    ]
}
ERROR_RESPONSES[503]["headers"] = {"Retry-After": {"description": "重试前等待的秒数 / seconds to wait",
                                                   "schema": {"type": "integer"}}}

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary",
                                        "description": "CSV/TSV/TXT、XLSX、XLS、JSON、JSONL/NDJSON、Parquet；"
                                                       "格式由文件名后缀决定 / the format comes from the "
                                                       "file name's suffix"}},
            },
            "encoding": {"file": {"headers": {"Content-Disposition": {
                "description": "文件名只取其后缀 / only the file name's suffix is used",
                "schema": {"type": "string", "example": 'form-data; name="file"; filename="upload.csv"'}}}}},
        },
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object", "additionalProperties": True},
                       "description": "记录列表 / a list of records"}
        },
    },
}

# ------------------------------------------------------------------------------------------------ slots


class Slots:
    """A non-blocking counter of validations in progress: ``try_acquire`` never waits."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.active = max(0, self.active - 1)


@dataclass(eq=False)
class _Transfer:
    """One request body being received: who sends it, since when, how much so far, and whether it was evicted
    to make room for another."""

    client: str
    started: float
    received: int = 0
    evicted: asyncio.Future[None] | None = None

    def rate(self, now: float) -> float:
        return self.received / max(now - self.started, EVICT_MIN_AGE)


class Transfers:
    """The request bodies being received (event-loop side only, so no lock): at most ``limit`` at once and
    ``per_client`` from one address. When all places are taken, a newcomer evicts the slowest transfer whose
    average rate is under ``min_rate`` (it answers ``request.timeout``): slow clients that reconnect as soon
    as they are cut cannot keep every place for themselves; only clients at or above the minimum rate can."""

    def __init__(self, limit: int, per_client: int, min_rate: int):
        self.limit, self.per_client, self.min_rate = limit, per_client, min_rate
        self.current: list[_Transfer] = []
        self.evictions = 0

    @property
    def active(self) -> int:
        return len(self.current)

    def admit(self, client: str) -> _Transfer | str:
        """A transfer for this client, or the code of the refusal."""
        loop = asyncio.get_running_loop()
        if sum(1 for t in self.current if t.client == client) >= self.per_client:
            return "request.client_uploads_busy"
        if len(self.current) >= self.limit:
            now = loop.time()
            slow = [t for t in self.current
                    if self.min_rate and now - t.started >= EVICT_MIN_AGE and t.rate(now) < self.min_rate]
            if not slow:
                return "request.uploads_busy"
            victim = min(slow, key=lambda t: t.rate(now))
            self.current.remove(victim)
            self.evictions += 1
            if victim.evicted is not None and not victim.evicted.done():
                victim.evicted.set_result(None)
        transfer = _Transfer(client, loop.time(), evicted=loop.create_future())
        self.current.append(transfer)
        return transfer

    def release(self, transfer: _Transfer) -> None:
        with suppress(ValueError):
            self.current.remove(transfer)


# ------------------------------------------------------------------------------------------------ uploads


def client_file_name(raw: bytes | None) -> tuple[str, str]:
    """(name to show, whitelisted suffix) of an uploaded file's name. The name is never used as a path:
    names with separators, ``..``, NUL, control or format characters (e.g. U+202E) are refused with
    ``request.bad_filename``; a suffix outside :data:`ALLOWED_SUFFIXES` is ``input.format``."""
    if raw is None or not raw.strip():
        raise ServiceError("request.no_file")
    try:
        name = unicodedata.normalize("NFC", raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ServiceError("request.bad_filename") from None
    bad_chars = any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in name)
    if (bad_chars or "/" in name or "\\" in name or name.startswith("..") or not name.strip(". ")
            or len(name) > MAX_NAME_CHARS):
        raise ServiceError("request.bad_filename")
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise InputError("input.format", path=name)
    return name, suffix


class _Upload:
    """Feeds a multipart body to python-multipart and spools the ``file`` part to a temporary file."""

    def __init__(self, boundary: bytes, tmp_dir: str | None):
        self.tmp_dir = tmp_dir
        self.path: Path | None = None
        self.name = ""
        self.size = 0
        self.ended = False
        self._fh: Any = None
        self._in_file = False
        self._seen_file = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._head_bytes = 0
        self._parts = 0
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
            "on_header_end": self._hend, "on_headers_finished": self._headers_done, "on_part_data": self._data,
            "on_part_end": self._part_end, "on_end": self._end,
        })

    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False
        self._head_bytes = 0
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise ServiceError("request.bad_multipart", detail=f"more than {MAX_PARTS} parts")

    def _count_head(self, n: int) -> None:
        """Part headers are held in memory: a bounded amount of them (a huge field name is refused)."""
        self._head_bytes += n
        if self._head_bytes > MAX_PART_HEAD_BYTES:
            raise ServiceError("request.bad_multipart", detail=f"part headers over {MAX_PART_HEAD_BYTES} bytes")

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._count_head(end - start)
        self._header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._count_head(end - start)
        self._header_value += data[start:end]

    def _hend(self) -> None:
        self._headers[bytes(self._header_field).lower().strip()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or self._seen_file:
            return  # other fields (and a second file) are read past and dropped
        self._seen_file = True
        self.name, suffix = client_file_name(options.get(b"filename"))
        fd, path = tempfile.mkstemp(prefix="fpschema-", suffix=suffix, dir=self.tmp_dir)
        self.path = Path(path)
        self._fh = os.fdopen(fd, "wb")
        self._in_file = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._fh.write(data[start:end])
            self.size += end - start

    def _part_end(self) -> None:
        if self._in_file:
            self._fh.close()
            self._in_file = False

    def _end(self) -> None:
        self.ended = True

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise ServiceError("request.bad_multipart", detail=type(exc).__name__) from None

    def finish(self) -> None:
        with suppress(MultipartParseError):
            self.parser.finalize()
        self.close()
        if not self.ended:
            raise ServiceError("request.incomplete")
        if self.path is None:
            raise ServiceError("request.no_file")

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _JsonSpool:
    """A JSON body spooled to a temporary file while it arrives (parsed only once it is whole, in a worker)."""

    def __init__(self, tmp_dir: str | None):
        fd, path = tempfile.mkstemp(prefix="fpschema-", suffix=".json", dir=tmp_dir)
        self.path = Path(path)
        self.size = 0
        self._fh = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


async def _body(request: Request, settings: Settings, limit: int,
                transfer: _Transfer | None = None) -> AsyncIterator[bytes]:
    """The request body in chunks, with deadlines a slow client cannot stretch and a running size check (so a
    chunked or lying request is stopped as well as one whose Content-Length is too large).

    Each wait for data is bounded by the earliest of: ``read_timeout`` (no data at all), the whole body's
    ``upload_timeout``, and the rate deadline ``start + read_timeout + received / min_upload_rate`` (each byte
    buys ``1 / min_upload_rate`` seconds after a grace of ``read_timeout``): trickling one byte now and then
    does not keep a connection. A transfer evicted by :class:`Transfers` ends at once as too slow."""
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + settings.upload_timeout
    total = 0
    while True:
        now = loop.time()
        rate_deadline = (start + settings.read_timeout + total / settings.min_upload_rate
                         if settings.min_upload_rate else deadline)
        wait = min(settings.read_timeout, deadline - now, rate_deadline - now)
        if wait <= 0:
            raise _slow(settings)
        next_chunk = asyncio.ensure_future(stream.__anext__())
        waiting: set[asyncio.Future[Any]] = {next_chunk}
        if transfer is not None and transfer.evicted is not None:
            waiting.add(transfer.evicted)
        await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if transfer is not None and transfer.evicted is not None and transfer.evicted.done():
            next_chunk.cancel()
            log.info("%s evicted: a slow upload made room for another", request.state.request_id)
            raise _slow(settings)
        if not next_chunk.done():
            next_chunk.cancel()
            if wait < settings.read_timeout:  # a deadline, not a silent client, ran out
                raise _slow(settings)
            raise ServiceError("request.timeout", headers={"Connection": "close"}, seconds=round(wait, 3))
        try:
            chunk = next_chunk.result()
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            raise ServiceError("request.incomplete") from None
        total += len(chunk)
        if transfer is not None:
            transfer.received = total
        if total > limit:
            raise ServiceError("request.too_large", headers={"Connection": "close"}, limit=limit)
        if chunk:
            yield chunk


def _slow(settings: Settings) -> ServiceError:
    return ServiceError("request.slow_upload", headers={"Connection": "close"}, rate=settings.min_upload_rate,
                        seconds=settings.upload_timeout)


# ------------------------------------------------------------------------------------------------ validation


@dataclass
class _Job:
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


def _run(job: _Job, settings: Settings, request_id: str) -> _Outcome:
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
        _log_exception(f"{request_id} unprocessable input", exc, settings.debug)
        raise ServiceError("input.unprocessable", error=type(exc).__name__, request_id=request_id) from None
    report.source["name"] = mask_text(job.name) if job.name else "<records>"  # the file's name may hold an ID
    summary = {"kind": report.kind, "format": report.source.get("format"), "rows": report.rows_total,
               "invalid": report.rows_invalid, **report.counts["by_severity"]}
    try:
        return _render(report, job, summary)
    except Exception as exc:  # a renderer's defect (or memory running out): a coded 500, not a crash
        _log_exception(f"{request_id} internal error while rendering {job.fmt}", exc, settings.debug)
        raise ServiceError("internal.error", request_id=request_id) from None


def _render(report: Any, job: _Job, summary: dict[str, Any]) -> _Outcome:
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

# ------------------------------------------------------------------------------------------------ logging


def _log_exception(what: str, exc: BaseException, debug: bool) -> None:
    """Log an unexpected exception: its type and where it happened; the whole traceback (whose messages may
    quote data) only with the ``debug`` setting."""
    if debug:
        log.error("%s: %s", what, _traceback_without_values(exc), exc_info=exc)
    else:
        log.error("%s: %s", what, _traceback_without_values(exc))


def _traceback_without_values(exc: BaseException) -> str:
    """Where an exception happened (type, files, lines, functions) but not its message, which may quote data."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-8:]))
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where}"


# Headers on every answer (a route's own value wins): no sniffing, no framing, no referrer, no caching, no
# use by other sites' pages, and a deny-all CSP for everything that sets none (the page and HTML reports do).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
)


def _host_name(value: str) -> str:
    """The host of a ``Host`` header or an origin's authority, lower case, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestLog:
    """The outermost ASGI wrapper (outside Starlette's own error middleware): a request id (``X-Request-ID``),
    one log line per request with method, route template, status and duration only; the gate (Host allow-list,
    same-origin check for unsafe methods, bearer tokens); security headers on every answer; ``Connection:
    close`` on an answer sent before the request body was read; and a coded JSON 500 for anything
    unexpected, never a traceback (unless ``debug``, and then only in the log)."""

    def __init__(self, app: ASGIApp, routes: list[Any] | None = None, settings: Settings | None = None):
        self.app = app
        self.routes = routes or []
        self.settings = settings or Settings()
        self.hosts = frozenset(self.settings.allowed_hosts or LOOPBACK_HOSTS)

    def _template(self, scope: Scope) -> str:
        """The matched route's path template (``/v1/schemas/{name}``), never the path as sent."""
        route = scope.get("route")
        if route is None:  # frameworks that do not record the route: match again
            from starlette.routing import Match

            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or "<unmatched>"

    def gate(self, scope: Scope) -> ServiceError | None:
        """Why this request is refused before any route sees it, or None."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if "*" not in self.hosts and _host_name(host) not in self.hosts:
            return ServiceError("request.host_not_allowed")
        if scope.get("method") not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None:
                scheme, _, authority = origin.partition("://")
                if origin == "null" or scheme not in ("http", "https") or authority.lower() != host.lower():
                    return ServiceError("request.origin_not_allowed")
            elif headers.get("sec-fetch-site") in ("cross-site", "same-site"):
                return ServiceError("request.origin_not_allowed")
        if self.settings.token_sha256 and scope.get("path") not in TOKEN_FREE_PATHS:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            digest = hashlib.sha256(token.strip().encode("utf-8", "replace")).hexdigest()
            matched = False
            for known in self.settings.token_sha256:  # compare with every one, in constant time
                matched |= hmac.compare_digest(digest, known)
            if scheme.lower() != "bearer" or not token.strip() or not matched:
                return ServiceError("request.unauthorized", headers={"WWW-Authenticate": 'Bearer realm="fpschema"'})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:12]
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 0
        request_headers = dict(scope.get("headers", []))
        has_body = (request_headers.get(b"content-length", b"0").strip() not in (b"0", b"")
                    or b"transfer-encoding" in request_headers)
        body_read = not has_body

        async def receive_tracked() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(b"x-request-id", rid.encode())]
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                if not body_read and b"connection" not in present:  # the rest of the body is not read: close
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        lang = "en" if b"lang=en" in scope.get("query_string", b"") else "zh"
        try:
            refusal = self.gate(scope)
            if refusal is not None:
                log.info("%s refused: %s", rid, refusal.code)
                await refusal.response(lang)(scope, receive_tracked, send_with_id)
                return
            await self.app(scope, receive_tracked, send_with_id)
        except Exception as exc:  # the app's own handlers answer every expected error
            _log_exception(f"{rid} internal error", exc, self.settings.debug)
            if status == 0:
                err = ServiceError("internal.error", request_id=rid)
                with suppress(Exception):
                    await err.response(lang)(scope, receive_tracked, send_with_id)
        finally:
            log.info("%s %s %s %d %.1fms", rid, scope.get("method", "-"), self._template(scope), status,
                     (time.perf_counter() - started) * 1000)


def log_config(log_file: str | None = None, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the service: one handler (a file or standard
    error); uvicorn's access log is off (it would print query strings) — the service logs its own line."""
    handler: dict[str, Any] = (
        {"class": "logging.FileHandler", "filename": log_file, "encoding": "utf-8", "formatter": "plain"}
        if log_file else {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "fpschema.service": {"handlers": ["main"], "level": level, "propagate": False},
        },
    }


# ------------------------------------------------------------------------------------------------ the page

PAGE_LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "fpschema 数据校验", "subtitle": "计划生育技术服务统计数据：上传文件，按数据契约校验。文件只用于本次校验，不会保存。",
        "drop": "把文件拖到这里，或", "choose": "选择文件", "formats": "支持 CSV（UTF-8/GB18030）、XLSX、XLS、JSON、JSONL、Parquet，最大 {size}",
        "kind": "记录类型", "auto": "自动识别", "validating": "正在校验…", "summary": "概要", "file": "文件",
        "verdict": "结论", "passed": "通过", "failed": "未通过", "rows_total": "总行数", "rows_valid": "有效行",
        "rows_invalid": "无效行", "errors": "错误", "warnings": "警告", "by_rule": "按规则统计", "by_column": "按字段统计",
        "findings": "问题明细", "row": "行号", "column": "字段", "rule": "规则", "severity": "级别", "value": "值",
        "message": "说明", "error": "错误", "warning": "警告", "none": "没有发现问题。",
        "shown": "显示前 {shown} 条，共 {total} 条；完整清单请下载 CSV。", "download_csv": "下载问题清单（CSV）",
        "download_html": "下载 HTML 报告", "failed_request": "无法校验", "too_big": "文件超过 {size} 的上限",
        "language": "English", "masked": "身份证号、姓名和出生日期已脱敏显示。", "file_level": "文件", "token": "访问令牌",
    },
    "en": {
        "title": "fpschema data validation",
        "subtitle": "Family-planning service statistics: upload a file and check it against the data contract. "
                    "The file is used for this check only and is not kept.",
        "drop": "Drop a file here, or", "choose": "choose a file",
        "formats": "CSV (UTF-8/GB18030), XLSX, XLS, JSON, JSONL, Parquet; at most {size}",
        "kind": "Record kind", "auto": "Detect automatically", "validating": "Validating…", "summary": "Summary",
        "file": "File", "verdict": "Verdict", "passed": "Passed", "failed": "Failed", "rows_total": "Rows",
        "rows_valid": "Valid rows", "rows_invalid": "Invalid rows", "errors": "Errors", "warnings": "Warnings",
        "by_rule": "Findings by rule", "by_column": "Findings by column", "findings": "Findings", "row": "Row",
        "column": "Column", "rule": "Rule", "severity": "Severity", "value": "Value", "message": "Message",
        "error": "error", "warning": "warning", "none": "No findings.",
        "shown": "Showing the first {shown} of {total}; download the CSV for the full list.",
        "download_csv": "Download findings (CSV)", "download_html": "Download HTML report",
        "failed_request": "Cannot validate", "too_big": "The file is larger than the limit of {size}",
        "language": "中文", "masked": "ID numbers, names and birth dates are shown masked.", "file_level": "file",
        "token": "Access token",
    },
}


@cache
def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("fpschema", "templates"),
                       autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True))


def _kind_infos(request: Request | None = None) -> list[dict[str, str]]:
    out = []
    for kind in contract.kinds():
        doc = contract.schema(kind)
        url = str(request.url_for("get_schema", name=kind)) if request is not None else f"/v1/schemas/{kind}"
        out.append({"kind": kind, "title": doc.get("title", kind), "description": doc.get("description", ""),
                    "id": doc.get("$id", ""), "url": url})
    return out


def _size_text(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n / 1024:.0f} KB"


def render_page(lang: str, settings: Settings, nonce: str) -> str:
    kinds = [{"kind": k["kind"], "title": k["title"]} for k in _kind_infos()]
    rules = {code: {"zh": r.zh, "en": r.en, "severity": r.severity} for code, r in RULES.items()}
    return _templates().get_template("upload.html.j2").render(
        lang=lang, t=PAGE_LABELS[lang], labels=PAGE_LABELS, kinds=kinds, rules=rules, nonce=nonce,
        max_bytes=settings.max_upload_bytes, max_size=_size_text(settings.max_upload_bytes),
        page_findings=PAGE_FINDINGS, version=__version__, token_required=bool(settings.token_sha256))


def _page_csp(nonce: str) -> str:
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


# ------------------------------------------------------------------------------------------------ the app


def _is_json(content_type: bytes) -> bool:
    return content_type == b"application/json" or (content_type.startswith(b"application/")
                                                   and content_type.endswith(b"+json"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application; ``settings`` default to :meth:`Settings.from_env`."""
    settings = settings or Settings.from_env()
    slots = Slots(settings.max_concurrent)
    uploads = Transfers(settings.max_uploads, settings.max_uploads_per_client, settings.min_upload_rate)
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrent, thread_name_prefix="fpschema-validate")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(executor, _warm_up)
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="fpschema",
        version=__version__,
        description="计划生育技术服务统计数据校验服务 / validation service for Chinese family-planning service "
                    "statistics. Errors answer `{\"error\": {\"code\", \"message\"}}`; see docs/service.md.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN; the service refers to nothing outside
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.slots = slots
    app.state.uploads = uploads
    build_stack = app.build_middleware_stack  # RequestLog goes outside Starlette's ServerErrorMiddleware
    app.build_middleware_stack = lambda: RequestLog(build_stack(), routes=app.router.routes,  # type: ignore
                                                    settings=settings)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _log_refusal(request, exc.code)
        return exc.response(_lang_of(request))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        _log_refusal(request, exc.code)
        return error_response(exc.code, exc.message(_lang_of(request)), 400)

    @app.exception_handler(RequestValidationError)
    async def _invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        names = sorted({str(e.get("loc", ("?",))[-1]) for e in exc.errors()})
        return ServiceError("request.invalid_parameter", names=", ".join(names)).response(_lang_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "request.not_found", 405: "request.method_not_allowed"}.get(exc.status_code,
                                                                                 "request.http_error")
        return ServiceError(code, status=exc.status_code, headers=exc.headers).response(_lang_of(request))

    @app.get("/healthz", response_model=Health, tags=["service"], summary="健康检查 / health check")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "active": slots.active,
                "max_concurrent": settings.max_concurrent, "uploads": uploads.active,
                "max_uploads": settings.max_uploads}

    @app.get("/v1/schemas", response_model=list[KindInfo], tags=["contract"],
             summary="记录类型及其契约 / the record kinds and their contracts")
    async def list_schemas(request: Request) -> list[dict[str, str]]:
        return _kind_infos(request)

    @app.get("/v1/schemas/{name}", name="get_schema", tags=["contract"],
             summary="一个记录类型的 JSON Schema（原样发布）/ the JSON Schema of one kind, as published",
             responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}},
                              "description": "JSON Schema 2020-12"},
                        404: {"model": ErrorBody, "description": "schema.not_found"}},
             response_class=Response)
    async def get_schema(name: str) -> Response:
        stem = name.removesuffix(".json")
        if stem not in (*contract.kinds(), contract.DEFS_FILE.removesuffix(".json")):
            raise ServiceError("schema.not_found", kind=name[:80])
        body = (contract.schema_dir() / f"{stem}.json").read_bytes()
        return Response(body, media_type="application/schema+json")

    @app.get("/v1/rules", response_model=list[RuleInfo], tags=["contract"],
             summary="规则目录 / the rule catalogue")
    async def list_rules() -> list[dict[str, str]]:
        return [{"code": r.code, "severity": r.severity, "scope": r.scope, "zh": r.zh, "en": r.en,
                 "source": r.source} for r in RULES.values()]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(render_page(_lang_of(request), settings, nonce),
                            headers={"Content-Security-Policy": _page_csp(nonce), "Cache-Control": "no-store"})

    @app.post(
        "/v1/validate", tags=["validate"], response_class=Response,
        summary="校验一个文件或一组记录 / validate a file or a list of records",
        description="multipart/form-data（字段 file）或 application/json 记录列表。无论有无问题均返回 200，"
                    "以报告的 ok 表示结论。/ A multipart upload (field file) or a JSON list of records. 200 "
                    "whether or not the data has findings; the report's ok says.",
        openapi_extra={"requestBody": UPLOAD_BODY},
        responses={200: {"model": ReportModel, "description": "校验报告 / the report",
                         "content": {"text/html": {"schema": {"type": "string"}},
                                     "text/csv": {"schema": {"type": "string"}}}},
                   **ERROR_RESPONSES},
    )
    async def validate_upload(
        request: Request,
        kind: str | None = Query(None, max_length=64,
                                 description="记录类型，缺省时由表头判断 / record kind, inferred when omitted"),
        lang: Literal["zh", "en"] = Query("zh", description="说明的语言 / language of the messages"),
        format: Literal["json", "html", "csv"] = Query("json", description="报告格式 / report format"),
        max_findings: int | None = Query(None, ge=0, le=10_000_000,
                                         description="报告中最多列出的问题数，不超过服务的 max_findings 设置 / most "
                                                     "findings listed, at most the service's max_findings"),
        layout: str | None = Query(None, max_length=64, description="文件的版式（full 完整记录、referral 介绍信），"
                                   "缺省时由表头判断 / the form the file is laid out as, found when omitted"),
        sheet: str | None = Query(None, max_length=255, description="只校验工作簿中此工作表，其余列为未校验；缺省时校验每个"
                                  "有数据的工作表 / validate only this worksheet of a workbook (the others are listed "
                                  "as ignored); every sheet with data when omitted"),
    ) -> Response:
        content_type, options = parse_options_header(request.headers.get("content-type", "").encode("latin-1"))
        is_multipart = content_type == b"multipart/form-data"
        if not is_multipart and not _is_json(content_type):
            raise ServiceError("request.not_multipart")
        limit = settings.max_upload_bytes if is_multipart else min(settings.max_json_bytes, settings.max_upload_bytes)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ServiceError("request.too_large", limit=limit)
        if kind is not None and kind not in contract.kinds():
            raise InputError("input.unknown_kind", kind=kind)
        if is_multipart and not options.get(b"boundary"):
            raise ServiceError("request.bad_multipart", detail="no boundary")
        cap = settings.max_findings if max_findings is None else min(max_findings, settings.max_findings)
        job = _Job(kind, lang, format, cap, layout=layout, sheet=sheet)
        upload: _Upload | _JsonSpool | None = None
        handed_over = False
        rid = request.state.request_id
        # 1. the body, under its own bound: a slow upload holds an upload place, never a validation slot
        transfer = uploads.admit(request.client.host if request.client else "")
        if isinstance(transfer, str):
            mine = transfer == "request.client_uploads_busy"
            raise ServiceError(transfer, headers={"Retry-After": str(settings.retry_after)},
                               n=settings.max_uploads_per_client if mine else settings.max_uploads,
                               retry=settings.retry_after)
        try:
            if is_multipart:
                upload = _Upload(options[b"boundary"], settings.tmp_dir)
                async for chunk in _body(request, settings, limit, transfer):
                    upload.write(chunk)
                upload.finish()
                job.path, job.name, job.size = upload.path, upload.name, upload.size
            else:  # spooled too: a body being received holds no memory, whatever its size
                upload = _JsonSpool(settings.tmp_dir)
                async for chunk in _body(request, settings, limit, transfer):
                    upload.write(chunk)
                upload.close()
                job.json_path, job.size = upload.path, upload.size
        except BaseException:
            if upload is not None:
                upload.discard()
            raise
        finally:
            uploads.release(transfer)
        # 2. a validation slot, only now that the whole body is here (waiting up to slot_wait seconds for one)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + settings.slot_wait
        acquired = slots.try_acquire()
        while not acquired and loop.time() < give_up:
            await asyncio.sleep(SLOT_POLL)
            acquired = slots.try_acquire()
        if not acquired:
            if upload is not None:
                upload.discard()
            raise ServiceError("request.busy", headers={"Retry-After": str(settings.retry_after)},
                               n=settings.max_concurrent, retry=settings.retry_after)
        try:
            started = time.perf_counter()
            future = executor.submit(_run, job, settings, rid)
            future.add_done_callback(_cleanup(slots, upload))
            handed_over = True
            try:
                outcome = await asyncio.wait_for(asyncio.wrap_future(future), settings.time_limit)
            except TimeoutError:
                log.warning("%s validation over the time limit (%.0f s)", rid, settings.time_limit)
                raise ServiceError("request.validation_timeout", seconds=settings.time_limit) from None
        finally:
            if not handed_over:
                if upload is not None:
                    upload.discard()
                slots.release()
        s = outcome.summary
        log.info("%s validated kind=%s format=%s lang=%s out=%s bytes=%d rows=%d invalid=%d errors=%d warnings=%d "
                 "%.2fs", rid, s["kind"], s["format"], lang, format, job.size, s["rows"], s["invalid"],
                 s.get("error", 0), s.get("warning", 0), time.perf_counter() - started)
        return Response(outcome.body, media_type=outcome.media_type, headers=outcome.headers)

    def openapi() -> dict[str, Any]:
        """FastAPI's document without its own 422 (parameter validation) answers: parameter errors answer 400
        here. The service's 422 (input.unprocessable) stays documented."""
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                if "HTTPValidationError" in json.dumps(operation.get("responses", {}).get("422", {})):
                    operation["responses"].pop("422")
                if operation.get("parameters") and "400" not in operation.get("responses", {}):
                    operation["responses"]["400"] = {"description": "request.invalid_parameter",
                                                     "content": {"application/json": {"schema": {
                                                         "$ref": "#/components/schemas/ErrorBody"}}}}
        schemas = doc.get("components", {}).get("schemas", {})
        named = doc["paths"].get("/v1/schemas/{name}", {}).get("get", {})
        for parameter in named.get("parameters", []):
            if parameter.get("name") == "name":
                parameter["schema"]["enum"] = [*contract.kinds(), contract.DEFS_FILE.removesuffix(".json")]
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas.setdefault("ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}"))
        schemas.setdefault("ErrorDetail", ErrorDetail.model_json_schema())
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _warm_up() -> None:
    """Import the engine and run tiny validations at start-up, so the first upload is not the slow one."""
    try:
        from fpschema.engine.validation import validate

        for kind in contract.kinds():  # one empty record of each kind: every kind's rules built once
            validate([dict.fromkeys(f.name for f in contract.fields(kind))], kind)
    except Exception as exc:  # a failed warm-up only costs the first request its speed
        log.warning("warm-up failed: %s", _traceback_without_values(exc))


def _cleanup(slots: Slots, upload: _Upload | _JsonSpool | None) -> Callable[[Future[Any]], None]:
    """Done-callback of a validation: delete the spooled upload and free the slot, also after a timeout
    (the worker thread keeps its slot until it really ends, so timed-out work cannot pile up)."""

    def done(_: Future[Any]) -> None:
        try:
            if upload is not None:
                upload.discard()
        finally:
            slots.release()

    return done


# ------------------------------------------------------------------------------------------------ serve


def raw_error(err: ServiceError, lang: str = "zh") -> bytes:
    """A whole HTTP/1.1 answer (coded JSON, security headers, ``Connection: close``) written straight to a
    socket, for what is refused before there is a request to answer (a head too slow, too large or invalid)."""
    body = json.dumps({"error": {"code": PUBLIC_CODE.get(err.code, err.code), "message": err.message(lang)}},
                      ensure_ascii=False).encode()
    reason = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}.get(err.status, "Error")
    head = [f"HTTP/1.1 {err.status} {reason}".encode(), b"content-type: application/json",
            b"content-length: %d" % len(body), b"connection: close"]
    head += [name + b": " + value for name, value in SECURITY_HEADERS]
    head += [f"{k.lower()}: {v}".encode("latin-1") for k, v in err.headers.items()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def guarded_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with what it lacks against slow and greedy clients: a connection must send a
    whole request head within ``header_timeout`` seconds of opening or of its previous answer (h11 has no
    such timeout: a head trickled byte by byte held a connection for ever); at most ``max_connections``
    connections are open at once (``max_connections_per_client`` from one address); and h11's own refusals (bad or oversized heads) answer coded JSON."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0  # bytes of the head being received (h11 checks its size only while it is incomplete)
        _tail = b""  # the last bytes seen, for a head end split across reads

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > settings.max_connections:
                self._refuse(ServiceError("request.connections_busy", n=settings.max_connections))
                return
            peer = self.client[0] if self.client else None
            if peer is not None and sum(1 for c in self.connections
                                        if c.client and c.client[0] == peer) > settings.max_connections_per_client:
                self._refuse(ServiceError("request.connections_busy", n=settings.max_connections_per_client))
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_bytes, self._tail = 0, b""
            if not self.transport.is_closing():
                self._head_timer = self.loop.call_later(settings.header_timeout, self._head_timeout)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request is being answered: its body has the app's own deadlines
            self._refuse(ServiceError("request.header_timeout", seconds=settings.header_timeout))

        def _refuse(self, err: ServiceError) -> None:
            log.info("- refused: %s", err.code)
            if not self.transport.is_closing():
                self.transport.write(raw_error(err))
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:  # a head is arriving: count it up to its blank line
                joined = self._tail + data
                end = joined.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
                self._tail = joined[-3:]
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._refuse(ServiceError("request.bad_http"))
                    return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is in: the request has begun
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE or self.conn.our_state is h11.DONE:
                self._arm()  # the next head (or the rest of an unread body) has header_timeout to come

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self.logger.info("- refused: request.bad_http")
            self._refuse(ServiceError("request.bad_http"))

    return GuardedH11Protocol


def serve(host: str = "127.0.0.1", port: int = 8000, **settings: Any) -> None:
    """Run the service with uvicorn (blocking). Keyword arguments are :class:`Settings` fields and win over
    the ``FPSCHEMA_*`` environment variables."""
    import uvicorn

    resolved = Settings.from_env(**settings)
    if not resolved.allowed_hosts:  # default allow-list: the host listened on, and loopback
        resolved = replace(resolved, allowed_hosts=(host.strip("[]"), *LOOPBACK_HOSTS))
    config = log_config(resolved.log_file)
    logging.config.dictConfig(config)
    log.info("fpschema %s serving on %s:%d (max_upload_bytes=%d max_json_bytes=%d max_rows=%d max_findings=%d "
             "max_concurrent=%d max_uploads=%d max_connections=%d time_limit=%s header_timeout=%s tokens=%d)",
             __version__, host, port, resolved.max_upload_bytes, resolved.max_json_bytes, resolved.max_rows,
             resolved.max_findings, resolved.max_concurrent, resolved.max_uploads, resolved.max_connections,
             resolved.time_limit, resolved.header_timeout, len(resolved.token_sha256))
    uvicorn.run(create_app(resolved), host=host, port=port, log_config=config, access_log=False,
                http=guarded_protocol(resolved), server_header=False, proxy_headers=False,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES)


def main(argv: list[str] | None = None) -> None:
    """``python -m fpschema.service --host 127.0.0.1 --port 8000`` (settings from ``FPSCHEMA_*``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fpschema.service", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
