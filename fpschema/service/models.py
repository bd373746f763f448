"""The JSON shapes of the service's answers (pydantic models, for the OpenAPI schema) and of an upload body.
"""

from __future__ import annotations

from typing import Any, Literal

try:
    from pydantic import BaseModel, Field
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc



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
