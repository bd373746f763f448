"""Input errors: a file that cannot be read as a table, and the command line's usage, output and internal
errors. Each has a stable code and a Chinese and English message; the command line prints it and exits with 2
(3 for ``internal.error``), the service answers 4xx."""

from __future__ import annotations

import errno as _errno
import os
import re

# code → (中文, English); messages may use {placeholders} filled from InputError's details.
CODES: dict[str, tuple[str, str]] = {
    "input.not_found": ("找不到文件：{path}", "no such file: {path}"),
    "input.is_directory": ("这是一个目录，不是文件：{path}", "this is a directory, not a file: {path}"),
    "input.empty": ("文件为空：{path}", "the file is empty: {path}"),
    "input.binary": ("文件不是文本表格（含二进制内容）：{path}", "the file is not a text table (binary content): {path}"),
    "input.encoding": ("无法按 {encoding} 解码（第 {row} 行附近）；文件可能是 {detected} 编码",
                       "cannot decode as {encoding} (near row {row}); the file may be {detected}"),
    "input.unknown_encoding": ("无法识别文件编码（支持 UTF-8、UTF-8 BOM、GB18030/GBK）：{path}",
                               "cannot tell the file's encoding (UTF-8, UTF-8 with BOM, GB18030/GBK supported): {path}"),
    "input.ragged": ("第 {row} 行有 {found} 列，表头有 {expected} 列", "row {row} has {found} fields, the header has {expected}"),
    "input.unclosed_quote": ("第 {row} 行的引号没有闭合", "row {row} opens a quote that is never closed"),
    "input.line_too_long": ("第 {row} 行超过 {limit} 字节，不像表格数据", "row {row} is longer than {limit} bytes; not table data"),
    "input.duplicate_column": ("表头重复：{column}", "duplicated column header: {column}"),
    "input.no_header": ("找不到表头行", "no header row found"),
    "input.format": ("不支持的文件格式：{path}", "unsupported file format: {path}"),
    "input.json": ("不是合法的 JSON（第 {row} 行）：{detail}", "not valid JSON (line {row}): {detail}"),
    "input.spreadsheet": ("无法读取表格文件：{detail}", "cannot read the spreadsheet: {detail}"),
    "input.zip_bomb": ("表格文件解压后过大（{size} 字节，上限 {limit}），拒绝读取",
                       "the spreadsheet expands to {size} bytes (limit {limit}); refused"),
    "input.xml_entity": ("表格文件含 XML 实体定义（DOCTYPE/ENTITY），拒绝读取",
                         "the spreadsheet declares XML entities (DOCTYPE/ENTITY); refused"),
    "input.sheet_too_large": ("工作表“{sheet}”超过读取上限 {limit}（{value} > {maximum}；最远的单元格在 {cell}）；"
                              "可用 Limits({limit}=…) 或命令行 --limit {limit}=… 调高",
                              "sheet “{sheet}” is over the reading limit {limit} ({value} > {maximum}; the farthest "
                              "cell is {cell}); raise it with Limits({limit}=…) or --limit {limit}=… on the command line"),
    "input.sheet_not_found": ("工作簿中没有名为“{sheet}”的工作表（有：{sheets}）",
                              "the workbook has no sheet named “{sheet}” (it has: {sheets})"),
    "input.too_many_rows": ("文件超过 {limit} 行的上限", "the file has more than {limit} rows"),
    "input.too_many_findings": ("文件的问题超过 {limit} 个（内存上限），已停止校验：请先按文件的前几行找出成批的错误（如整列格式、"
                                "列错位）修正后再校验，或分批上传",
                                "the file has more than {limit} findings (the memory bound); validation stopped: fix the "
                                "errors that repeat (a whole column's format, shifted columns) seen in its first rows, "
                                "or upload it in parts"),
    "input.parquet": ("无法读取 Parquet 文件：{detail}", "cannot read the Parquet file: {detail}"),
    "input.unknown_kind": ("未知的记录类型：{kind}", "unknown record kind: {kind}"),
    "input.unknown_layout": ("未知的版式：{layout}（可用：{layouts}）", "unknown layout: {layout} (known: {layouts})"),
    "input.kind_not_inferred": ("无法从表头判断记录类型，请用 --kind 指定", "cannot infer the record kind from the header; give --kind"),
    "input.too_deep": ("嵌套过深，不像记录数据：{path}", "nested too deeply to be records: {path}"),
    "input.unreadable": ("无法读取 {path}：{reason}", "cannot read {path}: {reason}"),
    # the command line: usage, outputs, interruption, internal errors (exit 2, except internal.error: 3)
    "usage.option": ("命令有误：{detail}（见 --help）", "wrong command: {detail} (see --help)"),
    "output.is_directory": ("输出 {path} 是一个目录，不是文件", "the output {path} is a directory, not a file"),
    "output.not_found": ("输出 {path} 所在的目录不存在", "the folder of the output {path} does not exist"),
    "output.not_a_directory": ("有多个输入时 {option} 须是目录，而 {path} 是文件",
                               "with several inputs {option} must name a folder; {path} is a file"),
    "output.permission": ("没有权限写入 {path}", "no permission to write {path}"),
    "output.read_only": ("{path} 位于只读文件系统，无法写入", "{path} is on a read-only file system; cannot write"),
    "output.no_space": ("磁盘已满，无法写入 {path}", "the disk is full; cannot write {path}"),
    "output.unwritable": ("无法写入 {path}：{reason}", "cannot write {path}: {reason}"),
    "output.same_as_input": ("{option} 指向输入文件 {path}，会覆盖输入；请换一个输出位置",
                             "{option} names the input {path} and would overwrite it; choose another output"),
    "output.collision": ("{first} 与 {second} 会写入同一个文件 {path}；请分开运行或改名",
                         "{first} and {second} would write the same file {path}; run them separately or rename"),
    "interrupted": ("已中断，未完成的输出已删除", "interrupted; unfinished outputs removed"),
    "internal.error": ("内部错误（{error}），这是 fpschema 的缺陷；请加 --debug 重新运行查看详情并报告",
                       "internal error ({error}), a defect of fpschema; rerun with --debug for the details and report it"),
}


class InputError(Exception):
    """A source that cannot be read; ``code`` is stable, ``message(lang)`` is for people.

    Details may echo what the file holds (a header, a path, a reader's message): every message and detail shown
    has its ID-number-like tokens masked (:func:`fpschema.mask.mask_text`) unless ``unmask``; ``details`` keeps
    them as given."""

    def __init__(self, code: str, **details: object):
        if code not in CODES:
            raise ValueError(f"unknown input error code {code}")
        self.code = code
        self.details = details
        super().__init__(f"{code}: {self.message('en')}")

    def shown_details(self, unmask: bool = False) -> dict[str, object]:
        """The details as shown: numbers as given, anything else as text masked unless ``unmask`` (a header, as a
        data row read as the header may hold a birth date, also has a date's digits hidden)."""
        from fpschema.contract.mask import mask_header, mask_text

        def shown(key: str, value: object) -> object:
            if unmask or isinstance(value, (int, float)):
                return value
            return mask_header(str(value)) if key == "column" else mask_text(str(value))

        return {k: shown(k, v) for k, v in self.details.items()}

    def message(self, lang: str = "zh", unmask: bool = False) -> str:
        zh, en = CODES[self.code]
        template = zh if lang == "zh" else en
        try:
            return template.format(**self.shown_details(unmask))
        except (KeyError, IndexError):
            return template

    def to_dict(self, lang: str = "zh", unmask: bool = False) -> dict[str, object]:
        return {"code": self.code, "message": self.message(lang, unmask),
                "details": {k: str(v) for k, v in self.shown_details(unmask).items()}}


class OutputError(InputError, OSError):
    """An output that cannot be written (exit 2 on the command line); an :class:`OSError` too, for callers that
    catch those. ``errno`` is the system's when there was one."""

    def __init__(self, code: str, *, errno: int | None = None, **details: object):
        super().__init__(code, **details)
        self.errno = errno


# what a failed write's errno means for the person who asked for the output
_ERRNO_CODES = {
    _errno.ENOSPC: "output.no_space", _errno.EDQUOT: "output.no_space", _errno.EFBIG: "output.no_space",
    _errno.EACCES: "output.permission", _errno.EPERM: "output.permission",
    _errno.EROFS: "output.read_only",
    _errno.EISDIR: "output.is_directory",
    _errno.ENOENT: "output.not_found", _errno.ENOTDIR: "output.not_found",
}


_OS_ERROR = re.compile(r"\(os error (\d+)\)")  # how polars (Rust) reports a system error in its message


def os_errno(err: BaseException) -> int | None:
    """The system error number behind ``err``: an OSError's, or the one polars writes into its message."""
    if isinstance(err, OSError) and err.errno:
        return err.errno
    found = _OS_ERROR.search(str(err)) if isinstance(err, Exception) else None
    return int(found.group(1)) if found else None


def output_error(err: BaseException, path: object) -> OutputError:
    """The coded error for a failed write of ``path`` (the output the user named, not a temporary file)."""
    if isinstance(err, OutputError):
        return err
    number = os_errno(err)
    code = _ERRNO_CODES.get(number or 0, "output.unwritable")
    reason = os.strerror(number) if number else getattr(err, "strerror", None) or type(err).__name__
    return OutputError(code, errno=number, path=path, reason=reason)
