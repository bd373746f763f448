"""Logging: one line per request (:class:`RequestLog`), tracebacks without values, the logging configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import traceback
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

try:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc

from fpschema.service.base import LOOPBACK_HOSTS, SAFE_METHODS, TOKEN_FREE_PATHS, ServiceError, log
from fpschema.service.settings import Settings

# ------------------------------------------------------------------------------------------------ logging


def log_exception(what: str, exc: BaseException, debug: bool) -> None:
    """Log an unexpected exception: its type and where it happened; the whole traceback (whose messages may
    quote data) only with the ``debug`` setting."""
    if debug:
        log.error("%s: %s", what, traceback_without_values(exc), exc_info=exc)
    else:
        log.error("%s: %s", what, traceback_without_values(exc))


def traceback_without_values(exc: BaseException) -> str:
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
            log_exception(f"{rid} internal error", exc, self.settings.debug)
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
