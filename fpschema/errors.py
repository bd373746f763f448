"""Input errors: a file that cannot be read as a table. Each has a stable code and a Chinese and
English message; the command line prints it and exits with 2, the service answers 4xx."""

from __future__ import annotations

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
    "input.too_many_rows": ("文件超过 {limit} 行的上限", "the file has more than {limit} rows"),
    "input.parquet": ("无法读取 Parquet 文件：{detail}", "cannot read the Parquet file: {detail}"),
    "input.unknown_kind": ("未知的记录类型：{kind}", "unknown record kind: {kind}"),
    "input.unknown_layout": ("未知的版式：{layout}（可用：{layouts}）", "unknown layout: {layout} (known: {layouts})"),
    "input.kind_not_inferred": ("无法从表头判断记录类型，请用 --kind 指定", "cannot infer the record kind from the header; give --kind"),
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
        from .mask import mask_header, mask_text

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
