"""What every part of the service shares: its logger, limits and allow-lists, its error vocabulary
(``SERVICE_ERRORS``, ``PUBLIC_CODE``) and :class:`ServiceError` with the JSON answer it gives.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

try:
    from fastapi import Request
    from fastapi.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc

from fpschema.contract.mask import mask_text

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


def log_refusal(request: Request, code: str) -> None:
    """Log the code of an error answer (never its message: it may quote a header or a cell)."""
    log.info("%s refused: %s", getattr(request.state, "request_id", "-"), code)


def lang_of(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh"
