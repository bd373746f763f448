"""命令行 / command line: a thin layer over the library.

Exit codes: 0 valid (warnings allowed), 1 findings of severity error, 2 input unreadable or the
command is wrong.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from . import __version__, contract
from .catalogue import RULES

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                    help="输出语言 / output language")


class InputError(Exception):
    """A file that cannot be read as records; carries a code and bilingual text."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(code)
        self.code, self.zh, self.en = code, zh, en


def _fail(err: InputError, lang: str) -> None:
    click.echo(f"错误 [{err.code}]: {err.zh}" if lang == "zh" else f"error [{err.code}]: {err.en}", err=True)
    sys.exit(EXIT_USAGE)


def _read_records(path: Path) -> list[tuple[int, Any]]:
    """(line number or index, record) from a JSON array/object or a JSONL file."""
    if not path.is_file():
        raise InputError("input.not_found", f"找不到文件：{path}", f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError("input.encoding", f"文件不是 UTF-8 编码：{path}", f"not UTF-8: {path}") from e
    if not text.strip():
        raise InputError("input.empty", f"文件为空：{path}", f"empty file: {path}")
    if path.suffix.lower() == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    out.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise InputError("input.json", f"第 {number} 行不是合法 JSON：{e.msg}",
                                     f"line {number} is not valid JSON: {e.msg}") from e
        return out
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError("input.json", f"不是合法 JSON（第 {e.lineno} 行）：{e.msg}",
                         f"not valid JSON (line {e.lineno}): {e.msg}") from e
    items = doc if isinstance(doc, list) else [doc]
    return list(enumerate(items, start=1))


@click.group(help="fpschema：计划生育技术服务统计报表数据校验。\n\nfpschema: validate Chinese family-planning "
                  "service statistics.")
@click.version_option(__version__, prog_name="fpschema")
def main() -> None:
    pass


@main.command("kinds", help="列出记录类型。/ List the record kinds.")
def kinds_cmd() -> None:
    for kind in contract.kinds():
        click.echo(f"{kind}\t{contract.schema(kind)['title']}")


@main.command("schema", help="输出某类记录的 JSON Schema。/ Print the JSON Schema of a record kind.")
@click.argument("kind", type=click.Choice(contract.kinds()))
def schema_cmd(kind: str) -> None:
    click.echo(json.dumps(contract.schema(kind), ensure_ascii=False, indent=2))


@main.command("rules", help="列出规则目录。/ List the rule catalogue.")
@LANG
def rules_cmd(lang: str) -> None:
    for r in RULES.values():
        click.echo(f"{r.code}\t{r.severity}\t{r.message(lang)}")


@main.command("check-records",
              help="逐条校验 JSON 或 JSONL 文件中的记录。/ Validate the records of a JSON or JSONL file one by one.")
@click.argument("kind", type=click.Choice(contract.kinds()))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="输出格式 / output format")
@LANG
@click.option("--unmask", is_flag=True, help="显示完整身份证号（默认脱敏）/ show full ID numbers (masked by default)")
@click.option("--reference-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="判断“未来日期”的参考日，默认今天 / reference date for future dates, default today")
def check_records_cmd(kind: str, path: Path, fmt: str, lang: str, unmask: bool, reference_date) -> None:
    from .record import validate_record

    try:
        records = _read_records(path)
    except InputError as err:
        _fail(err, lang)
    ref = reference_date.date() if reference_date else date.today()
    rows = []
    for number, record in records:
        for f in validate_record(record, kind, reference_date=ref, unmask=unmask):
            rows.append({"record": number, "pointer": f.pointer, "rule": f.rule, "severity": f.severity,
                         "value": f.value, "message": f.message(lang)})
    errors = sum(r["severity"] == "error" for r in rows)
    bad = len({r["record"] for r in rows if r["severity"] == "error"})
    if fmt == "json":
        click.echo(json.dumps({"kind": kind, "records": len(records), "records_invalid": bad, "findings": rows},
                              ensure_ascii=False, indent=2, default=str))
    else:
        _print_table(rows, lang)
        summary = (f"共 {len(records)} 条记录，{bad} 条有错误，{errors} 个错误，{len(rows) - errors} 个警告"
                   if lang == "zh" else
                   f"{len(records)} records, {bad} with errors, {errors} errors, {len(rows) - errors} warnings")
        click.echo(summary)
    sys.exit(EXIT_FINDINGS if errors else EXIT_OK)


def _print_table(rows: list[dict[str, Any]], lang: str) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    heads = ("记录", "字段", "规则", "级别", "值", "说明") if lang == "zh" else (
        "record", "field", "rule", "severity", "value", "message")
    table = Table(*heads[:-1])
    table.add_column(heads[-1], overflow="fold")
    for r in rows:
        table.add_row(str(r["record"]), r["pointer"], r["rule"], r["severity"],
                      "" if r["value"] is None else str(r["value"]), r["message"])
    Console(width=160).print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
