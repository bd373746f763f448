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
import json
import logging
import logging.config
import secrets
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import cache
from typing import Any, Literal

try:
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from python_multipart.multipart import parse_options_header
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc

from fpschema import __version__, contract
from fpschema.contract.catalogue import RULES
from fpschema.errors import InputError
from fpschema.service.base import (
    LOOPBACK_HOSTS,
    MAX_HEAD_BYTES,
    PAGE_FINDINGS,
    PUBLIC_CODE,
    SLOT_POLL,
    ServiceError,
    error_response,
    lang_of,
    log,
    log_refusal,
)
from fpschema.service.jobs import Job, run_job
from fpschema.service.logs import (
    PAGE_LABELS,
    SECURITY_HEADERS,
    RequestLog,
    log_config,
    traceback_without_values,
)
from fpschema.service.models import (
    ERROR_RESPONSES,
    UPLOAD_BODY,
    ErrorBody,
    ErrorDetail,
    Health,
    KindInfo,
    ReportModel,
    RuleInfo,
)
from fpschema.service.settings import MB, Settings
from fpschema.service.upload import JsonSpool, Slots, Transfers, UploadSpool, read_body


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
        log_refusal(request, exc.code)
        return exc.response(lang_of(request))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        log_refusal(request, exc.code)
        return error_response(exc.code, exc.message(lang_of(request)), 400)

    @app.exception_handler(RequestValidationError)
    async def _invalid_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        names = sorted({str(e.get("loc", ("?",))[-1]) for e in exc.errors()})
        return ServiceError("request.invalid_parameter", names=", ".join(names)).response(lang_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "request.not_found", 405: "request.method_not_allowed"}.get(exc.status_code,
                                                                                 "request.http_error")
        return ServiceError(code, status=exc.status_code, headers=exc.headers).response(lang_of(request))

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
        return HTMLResponse(render_page(lang_of(request), settings, nonce),
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
        job = Job(kind, lang, format, cap, layout=layout, sheet=sheet)
        upload: UploadSpool | JsonSpool | None = None
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
                upload = UploadSpool(options[b"boundary"], settings.tmp_dir)
                async for chunk in read_body(request, settings, limit, transfer):
                    upload.write(chunk)
                upload.finish()
                job.path, job.name, job.size = upload.path, upload.name, upload.size
            else:  # spooled too: a body being received holds no memory, whatever its size
                upload = JsonSpool(settings.tmp_dir)
                async for chunk in read_body(request, settings, limit, transfer):
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
            future = executor.submit(run_job, job, settings, rid)
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
        log.warning("warm-up failed: %s", traceback_without_values(exc))


def _cleanup(slots: Slots, upload: UploadSpool | JsonSpool | None) -> Callable[[Future[Any]], None]:
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
