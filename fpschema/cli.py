"""命令行 / command line: a thin layer over the library.

Exit codes (docs/cli.md): 0 valid (warnings allowed), 1 findings of severity error, 2 input or usage error
(unreadable input, wrong option, unwritable output, interrupted), 3 internal error. Every failure is caught at
the top (:class:`MainGroup`) and shown as a coded message in the chosen language; a traceback only with ``--debug``.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from fpschema import __version__, contract
from fpschema.console import (
    DEBUG_FLAG,
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    MainGroup,
    debug_wanted,
    exit_code_of,
    fail_input,
    json_visible,
    plain,
    say,
    shown_text,
    table_cell,
    visible,
)
from fpschema.contract.catalogue import RULES
from fpschema.errors import InputError, output_error
from fpschema.io import truth
from fpschema.service.settings import MB, Settings

REFERENCE_HELP = ("判断“未来日期”和年龄的参考日；缺省时用文件旁缺陷清单（X.manifest.json）记录的参考日，没有则用今天 / "
                  "the day future dates and ages are judged against; default the one in the manifest beside the "
                  "file (X.manifest.json), else today")
LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                    help="输出语言 / output language")


def text_row(path: Path, offset: int) -> int:
    """Line number of a byte offset."""
    from fpschema.io.reader import newlines_before

    return newlines_before(path, offset) + 1


def _read_records(path: Path) -> list[tuple[int, Any]]:
    """(line number or index, record) from a JSON array/object or a JSONL file."""
    if not path.is_file():
        raise InputError("input.not_found", path=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError("input.encoding", encoding="utf-8", row=text_row(path, e.start), detected="?") from e
    except OSError as e:
        raise InputError("input.unreadable", path=path, reason=e.strerror or type(e).__name__) from e
    try:
        return _parse_records(path, text)
    except RecursionError:
        raise InputError("input.too_deep", path=path) from None


def _parse_records(path: Path, text: str) -> list[tuple[int, Any]]:
    from fpschema.io.reader import json_loads

    if not text.strip():
        raise InputError("input.empty", path=path)
    if path.suffix.lower() == ".jsonl":
        out = []
        for number, line in enumerate(text.split("\n"), start=1):  # as the file reader numbers lines
            if line.strip():
                try:
                    out.append((number, json_loads(line)))
                except json.JSONDecodeError as e:
                    raise InputError("input.json", row=number, detail=e.msg) from e
        return out
    try:
        doc = json_loads(text)
    except json.JSONDecodeError as e:
        raise InputError("input.json", row=e.lineno, detail=e.msg) from e
    items = doc if isinstance(doc, list) else [doc]
    return list(enumerate(items, start=1))


@click.group(cls=MainGroup, help="fpschema：计划生育技术服务统计报表数据校验。\n\nfpschema: validate Chinese "
                             "family-planning service statistics.\n\n退出码 / exit codes: 0 通过 valid, 1 有错误 "
                             "findings of severity error, 2 输入或命令有误 input or usage error, 3 内部错误 internal error.")
@click.version_option(__version__, prog_name="fpschema")
@click.option(DEBUG_FLAG, is_flag=True, help="出错时显示 Python 回溯（可放在命令行任意位置）/ show the Python traceback of a "
                                           "failure (anywhere on the command line)")
def main(debug: bool) -> None:
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
              help=REFERENCE_HELP)
def check_records_cmd(kind: str, path: Path, fmt: str, lang: str, unmask: bool, reference_date) -> None:
    from fpschema.engine.record import validate_records

    try:
        records = _read_records(path)
    except InputError as err:
        fail_input(err, lang, unmask=unmask)
    ref, how = truth.resolve(path, reference_date.date() if reference_date else None)
    rows = []
    try:
        found = validate_records([record for _, record in records], kind, reference_date=ref, unmask=unmask)
    except RecursionError:
        fail_input(InputError("input.too_deep", path=path), lang, unmask=unmask)
    for (number, _), findings in zip(records, found, strict=True):
        for f in findings:
            rows.append({"record": number, "pointer": f.pointer, "rule": f.rule, "severity": f.severity,
                         "value": f.value, "message": f.message(lang)})
    errors = sum(r["severity"] == "error" for r in rows)
    bad = len({r["record"] for r in rows if r["severity"] == "error"})
    if fmt == "json":
        click.echo(json_visible(json.dumps({"kind": kind, "records": len(records), "records_invalid": bad,
                                            "reference_date": ref.isoformat(), "reference_date_source": how,
                                            "findings": rows}, ensure_ascii=False, indent=2, default=str)))
    else:
        _print_table(rows, lang)
        summary = (f"共 {len(records)} 条记录，{bad} 条有错误，{errors} 个错误，{len(rows) - errors} 个警告"
                   if lang == "zh" else
                   f"{len(records)} records, {bad} with errors, {errors} errors, {len(rows) - errors} warnings")
        click.echo(summary)
        click.echo(visible(truth.describe(ref, how, path.name, lang)))
    sys.exit(EXIT_FINDINGS if errors else EXIT_OK)


FORMATS = ("text", "json", "csv", "html", "junit")
SUFFIX = {"json": ".json", "csv": ".csv", "html": ".html", "junit": ".xml", "text": ".txt"}


@main.command("validate", help="校验数据文件（CSV、XLSX、XLS、JSON、JSONL、Parquet）。\n\n"
                               "Validate data files (CSV, XLSX, XLS, JSON, JSONL, Parquet).\n\n"
                               "退出码 / exit codes: 0 通过 valid, 1 有错误 findings of severity error, "
                               "2 输入或命令有误（含输出无法写入、中断）input or usage error (an unwritable output "
                               "and an interrupt included), 3 内部错误 internal error.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--kind", type=click.Choice(contract.kinds()), default=None,
              help="记录类型，缺省时由表头判断 / record kind, inferred from the header when omitted")
@click.option("--layout", type=click.Choice(sorted({lay.name for k in contract.kinds() for lay in contract.layouts(k)})),
              default=None, help="文件的版式（full 完整记录、referral 介绍信），缺省时由表头判断 / the form the file is "
                                 "laid out as (full record, referral form), found from the header when omitted")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="报告格式 / report format")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="报告写入的文件（多个输入时为目录）/ report file (a folder for several inputs)")
@LANG
@click.option("--max-findings", type=click.IntRange(min=0), default=None,
              help="报告中最多列出的问题数 / most findings listed in the report")
@click.option("--unmask", is_flag=True, help="显示完整身份证号（默认脱敏）/ show full ID numbers (masked by default)")
@click.option("--valid-out", type=click.Path(path_type=Path), default=None,
              help="合格行写入此文件（CSV/Parquet/JSONL）/ write the valid rows here")
@click.option("--invalid-out", type=click.Path(path_type=Path), default=None,
              help="不合格行写入此文件 / write the invalid rows here")
@click.option("--encoding", default=None, help="文本文件编码，缺省自动识别 / text encoding, detected when omitted")
@click.option("--reference-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help=REFERENCE_HELP)
@click.option("--batch-rows", type=click.IntRange(min=1000), default=None,
              help="超大 CSV（UTF-8 或 GB18030）分批校验，每批行数（需 --kind）/ validate a very large CSV "
                   "(UTF-8 or GB18030) in batches of this many rows (needs --kind)")
@click.option("--records", type=click.Path(path_type=Path), default=None,
              help="与卫统45表核对的个案服务记录文件（表间审核）/ service records to reconcile a 卫统45表 with")
@click.option("--targets", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="考核目标文件（JSON），覆盖默认目标 / a targets file overriding the default targets")
@click.option("--explanations", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="核实说明表（CSV：division_code,rule,explanation）/ explanations for warnings (CSV)")
@click.option("--free-services", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="农村育龄夫妻免费项目清单（JSON），覆盖默认清单 / a file of the services rural couples get free, "
                   "overriding the contract's list")
@click.option("--zscore", type=click.FloatRange(min=0.5), default=3.5, show_default=True,
              help="与上期比较的稳健 z 分数阈值 / robust z-score threshold for year-on-year changes")
@click.option("--engine", type=click.Choice(["polars", "spark"]), default="polars", show_default=True,
              help="校验引擎；spark 需要 spark 附加依赖，可读 Parquet、CSV 或表名 / validation engine; spark reads "
                   "Parquet, CSV or a table name (needs the spark extra)")
@click.option("--findings-out", type=click.Path(path_type=str), default=None,
              help="（spark）把全部问题写成 Parquet 目录 / (spark) write every finding to this Parquet folder")
@click.option("--sheet", default=None, help="只校验工作簿中此工作表（缺省校验每个有数据的工作表）/ validate only this "
              "worksheet of a workbook (default: every sheet with data)")
@click.option("--limit", "limits", multiple=True, metavar="NAME=N",
              help="读取上限，如 max_cells=50000000（见 docs/limits.md）/ a reading limit, e.g. max_cells=50000000 "
                   "(see docs/limits.md)")
def validate_cmd(files: tuple[str, ...], kind: str | None, layout: str | None, fmt: str, output: Path | None, lang: str,
                 max_findings: int | None, unmask: bool, valid_out: Path | None, invalid_out: Path | None,
                 encoding: str | None, reference_date, batch_rows: int | None, records: Path | None,
                 targets: Path | None, explanations: Path | None, free_services: Path | None, zscore: float,
                 engine: str, findings_out: str | None, sheet: str | None = None,
                 limits: tuple[str, ...] = ()) -> None:
    from fpschema.engine.validation import validate, validate_batched

    read_limits = _limits(limits)

    if batch_rows and (kind is None or valid_out or invalid_out):
        click.echo("错误 [usage.option]: --batch-rows 需要 --kind，且不能与 --valid-out/--invalid-out 同用 / --batch-rows needs "
                   "--kind and cannot be combined with --valid-out/--invalid-out", err=True)
        sys.exit(EXIT_USAGE)

    if engine == "spark" and (batch_rows or valid_out or invalid_out or records or explanations):
        click.echo("错误 [usage.option]: --engine spark 不能与 --batch-rows、--valid-out、--invalid-out、--records、--explanations "
                   "同用 / --engine spark cannot be combined with those options", err=True)
        sys.exit(EXIT_USAGE)
    from fpschema.io.writer import write_bytes

    if encoding is not None:
        _check_encoding(encoding, lang)
    several = len(files) > 1
    plan = []
    for raw in files:
        path = Path(raw)  # Spark gets the text as given: pathlib would turn s3a://b/x into s3a:/b/x
        plan.append((raw, path, _target(output, path, SUFFIX[fmt], several),
                     (_target(valid_out, path, ".valid.csv", several), _target(invalid_out, path, ".invalid.csv",
                                                                               several))))
    options = {"--output": output, "--valid-out": valid_out, "--invalid-out": invalid_out}
    _check_outputs(plan, options, [records, targets, explanations, free_services], several, lang)
    worst = EXIT_OK
    for raw, path, target, quarantine in plan:
        try:
            ref = reference_date.date() if reference_date else None
            with _progress(path, lang) as bar:
                if engine == "spark":
                    out = (f"{findings_out.rstrip('/')}/{path.stem}.findings" if findings_out and several
                           else findings_out)
                    limit = {} if max_findings is None else {"max_findings": max_findings}  # else Spark's default
                    report = _spark_report(raw, kind, encoding=encoding, reference_date=ref, lang=lang,
                                           unmask=unmask, findings_path=out, free_services=free_services, layout=layout,
                                           **limit)
                elif batch_rows:
                    report = validate_batched(path, kind, batch_rows=batch_rows, reference_date=ref, lang=lang,
                                              max_findings=max_findings, unmask=unmask, progress=bar.update,
                                              encoding=encoding, layout=layout, free_services=free_services)
                else:
                    report = validate(path, kind, encoding=encoding, lang=lang, max_findings=max_findings,
                                      unmask=unmask, reference_date=ref, valid_out=quarantine[0],
                                      invalid_out=quarantine[1], records=records, targets=targets,
                                      explanations=explanations, zscore=zscore, progress=bar.update,
                                      layout=layout, free_services=free_services, sheet=sheet, limits=read_limits)
        except InputError as err:  # an unreadable input, an unwritable --valid-out / --invalid-out
            say(err, lang, path, unmask)
            worst = max(worst, EXIT_USAGE)
            continue
        except RecursionError:
            say(InputError("input.too_deep", path=path), lang, path, unmask)
            worst = max(worst, EXIT_USAGE)
            continue
        except OSError as err:  # an option's file that cannot be read (outputs raise OutputError, above)
            say(InputError("input.unreadable", path=err.filename or path, reason=err.strerror or type(err).__name__),
                lang, path, unmask)
            worst = max(worst, EXIT_USAGE)
            continue
        except ValueError as err:  # a targets or free-services file naming unknown codes, and the like
            say(InputError("usage.option", detail=str(err)), lang, path, unmask)
            worst = max(worst, EXIT_USAGE)
            continue
        except Exception as err:  # noqa: BLE001 - unexpected: said (3), and the other files still validated
            worst = max(worst, exit_code_of(err, lang, debug_wanted(), path))
            continue
        if target is not None:  # the report first and whole: printing the summary may fail, the report must not
            try:
                if fmt == "text":
                    write_bytes(target, _summary_text(report, lang).encode("utf-8"))
                else:
                    report.write(target, fmt)
            except InputError as err:
                say(err, lang, path, unmask)
                worst = max(worst, EXIT_USAGE)
                continue
            click.echo(visible(("报告已写入：" if lang == "zh" else "report written: ") + shown_text(target, unmask)), err=True)
        if fmt == "text" or target is not None:  # the summary shows whenever stdout is free
            _print_summary(report, lang)
        if fmt == "json" and target is None:
            click.echo(json_visible(report.to_json()))
        elif fmt != "text" and target is None:  # a machine format as it is (docs/cli.md: Terminal output)
            click.echo({"csv": report.to_csv, "html": report.to_html, "junit": report.to_junit}[fmt]())
        if not report.ok:
            worst = max(worst, EXIT_FINDINGS)
    sys.exit(worst)


def _limits(items: tuple[str, ...]):
    """Reading limits (:class:`fpschema.reader.Limits`) from ``NAME=N`` options; a bad one is a usage error."""
    from dataclasses import fields

    from fpschema.io.reader import Limits

    if not items:
        return None
    names = {f.name for f in fields(Limits)}
    values = {}
    for item in items:
        name, _, number = item.partition("=")
        if name.strip() not in names or not number.strip().isdigit():
            click.echo(f"错误 [usage]: --limit {item}：应为 NAME=N，NAME 为 {', '.join(sorted(names))} / expected NAME=N",
                       err=True)
            sys.exit(EXIT_USAGE)
        values[name.strip()] = int(number)
    return Limits(**values)


def _spark_report(path: str, kind: str | None, **options):
    """Validate with fpschema.spark (a local session unless spark-submit set one up)."""
    try:
        from fpschema import spark as fs

        session = fs.session()
    except ImportError as err:
        click.echo(f"错误 [usage.option]: --engine spark 需要 pyspark / needs pyspark: pip install 'fpschema[spark]' ({err})",
                   err=True)
        sys.exit(EXIT_USAGE)
    return fs.validate_path(session, path, kind, **options)


def _target(option: Path | None, source: Path, suffix: str, several: bool) -> Path | None:
    """Where an output of ``source`` goes: the file named, or with several inputs ``folder/stem + suffix``."""
    if option is None:
        return None
    return option / (source.stem + suffix) if several else option


def _check_encoding(name: str, lang: str) -> None:
    """A text encoding Python knows (rot13 and other transforms are not): else usage error 2."""
    try:
        "".encode(name)
        b"".decode(name)
    except LookupError:
        fail_input(InputError("input.unknown_encoding", path=f"encoding={name}"), lang)


def _identity(path: Path) -> tuple:
    """What makes two names one file: device and inode when it exists (hard links, symlinks, other spellings),
    else the path with every symlink resolved."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return (os.path.realpath(path),)
    return (st.st_dev, st.st_ino)


def _check_outputs(plan: list, options: dict[str, Path | None], others: list[Path | None], several: bool,
                   lang: str) -> None:
    """Before anything is read or written: no output is an input (also through another path, a link or a
    symlink), no two outputs are one file (same-stem inputs such as a/x.csv and b/x.csv into one folder are a
    usage error), no output is a directory or in a missing one. Then the folders of several inputs' outputs are
    made. Any problem: a coded message and exit 2."""
    inputs = {_identity(path): path for _, path, _, _ in plan}
    inputs.update({_identity(p): p for p in others if p is not None})
    claimed: dict[tuple, str] = {}
    for _, path, target, (valid, invalid) in plan:
        for option, out in (("--output", target), ("--valid-out", valid), ("--invalid-out", invalid)):
            if out is None:
                continue
            ident = _identity(out)
            if ident in inputs:
                fail_input(InputError("output.same_as_input", option=option, path=inputs[ident]), lang)
            who = f"{option} ({path})" if several else option
            if ident in claimed:
                fail_input(InputError("output.collision", first=claimed[ident], second=who, path=out), lang)
            claimed[ident] = who
            if out.is_dir():
                fail_input(InputError("output.is_directory", path=out), lang)
            if not several and not out.parent.is_dir():
                fail_input(InputError("output.not_found", path=out), lang)
    if several:
        for option, folder in options.items():
            if folder is None:
                continue
            if folder.exists() and not folder.is_dir():
                fail_input(InputError("output.not_a_directory", option=option, path=folder), lang)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                fail_input(output_error(err, folder), lang)


class _progress:
    """On a terminal: a spinner while a file is read and validated, and a bar with the bytes checked once a large
    CSV is validated block by block. Silent when stderr is not a terminal."""

    def __init__(self, path: Path, lang: str):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.text = ("正在校验 " if lang == "zh" else "validating ") + plain(path)  # the description is markup
        self.bar = None

    def __enter__(self):
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.task = self.bar.add_task(self.text, total=None)
            self.bar.start()
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, refresh=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _summary_text(report, lang: str) -> str:
    from rich.console import Console

    console = Console(record=True, width=140, file=io.StringIO())
    _render_summary(console, report, lang)
    return console.export_text()


def _print_summary(report, lang: str) -> None:
    from rich.console import Console

    _render_summary(Console(width=160), report, lang)


def _render_summary(console, report, lang: str) -> None:
    import polars as pl
    from rich.table import Table

    zh = lang == "zh"
    src = report.source
    verdict = ("[green]通过[/green]" if zh else "[green]passed[/green]") if report.ok else (
        "[red]未通过[/red]" if zh else "[red]failed[/red]")
    console.print(f"[bold]{plain(src['name'])}[/bold]  {report.kind}  {verdict}")
    line = (f"共 {report.rows_total} 行：合格 {report.rows_valid} 行，不合格 {report.rows_invalid} 行"
            if zh else f"{report.rows_total} rows: {report.rows_valid} valid, {report.rows_invalid} invalid")
    console.print(line)
    if report.reference_date is not None:
        console.print(plain(truth.describe(report.reference_date, report.reference_date_source, src.get("name"), lang)))
    from fpschema.report.render import coverage_lines, skipped_lines

    for text in coverage_lines(report) + skipped_lines(report):
        console.print(visible(text), markup=False, highlight=False)
    recon = report.extras.get("reconciliation")
    if recon:
        console.print(f"与个案记录核对：{recon['cells']} 个单元格，{recon['mismatches']} 个不一致" if zh else
                       f"reconciled with records: {recon['cells']} cells, {recon['mismatches']} differ")
    notes = report.extras.get("explanations")
    if notes and notes["warnings"]:
        console.print(f"核实性问题 {notes['warnings']} 个：已说明 {notes['explained']}，未说明 {notes['unexplained']}"
                       if zh else f"warnings: {notes['explained']} explained, {notes['unexplained']} not")
    counts = report.counts
    if counts["by_rule"]:
        table = Table(*(("规则", "级别", "数量", "说明") if zh else ("rule", "severity", "count", "message")),
                      title="问题汇总" if zh else "findings by rule")
        for code, n in counts["by_rule"].items():
            r = RULES[code]
            table.add_row(table_cell(code), table_cell(r.severity), table_cell(n), table_cell(r.message(lang)))
        console.print(table)
        titles = {f.name: f"{f.title} {f.name}" if zh else f.name for f in contract.fields(report.kind)}
        shown = report.findings.head(30).with_columns(pl.col("column").replace(titles))
        heads = ("行号", "列", "规则", "级别", "值", "说明") if zh else ("row", "column", "rule", "severity", "value",
                                                                     "message")
        detail = Table(*heads[:-1], title=("前 30 个问题" if zh else "first 30 findings"))
        detail.add_column(heads[-1], overflow="fold")
        for r in shown.iter_rows(named=True):
            if r.get("sheet") is not None:  # a workbook's finding: sheet!row
                r["row"] = f"{r['sheet']}!{'' if r['row'] is None else r['row']}"
            detail.add_row(*(table_cell(r[k]) for k in ("row", "column", "rule", "severity", "value", "message")))
        console.print(detail)


@main.command("generate", help="生成带已知缺陷的合成数据，并在旁边写出缺陷清单（manifest）。\n\n"
                               "Generate synthetic records with labelled defects, and a manifest beside them.")
@click.argument("kind", type=click.Choice(contract.kinds()))
@click.option("--rows", type=click.IntRange(min=0), required=True, help="行数 / number of rows")
@click.option("--seed", type=int, default=0, show_default=True, help="随机种子 / random seed")
@click.option("--defects", default=None, help="all 或逗号分隔的规则代码 / all, or comma-separated rule codes")
@click.option("--defect-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="带缺陷行的比例 / share of rows with a defect")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "jsonl", "parquet"]), default="csv",
              show_default=True, help="文件格式 / file format")
@click.option("--encoding", type=click.Choice(["utf-8", "gb18030"]), default="utf-8", show_default=True,
              help="CSV 编码 / CSV encoding")
@click.option("--office", is_flag=True, help="中文列名、标题行和合计行 / Chinese headers, title rows and a totals row")
@click.option("--layout", default="full", show_default=True,
              help="版式：full（完整记录）或 referral（介绍信：八栏，区县写名称）/ layout: full, or referral (the 介绍信's "
                   "eight columns, the county by name)")
@click.option("--profile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="分布配置文件（JSON）/ distributions (JSON file)")
@click.option("--reference-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="数据所处的参考日，缺陷（未来日期等）据此构造并写入缺陷清单；默认统计期结束后的 6 月 30 日（默认 "
                   "2024-06-30）/ the day the data are as of, defects such as future dates are made against it and "
                   "it is written in the manifest; default 30 June after the period ends (2024-06-30)")
@click.option("--output", type=click.Path(path_type=Path), required=True, help="输出文件 / output file")
def generate_cmd(kind: str, rows: int, seed: int, defects: str | None, defect_rate: float, fmt: str, encoding: str,
                 office: bool, layout: str, profile: Path | None, reference_date, output: Path) -> None:
    from fpschema.io import truth
    from fpschema.testdata import generator

    if kind not in generator.generators():
        click.echo(f"错误 [generate.kind]: 暂不支持生成 {kind} / generating {kind} is not supported yet", err=True)
        sys.exit(EXIT_USAGE)
    names = [lay.name for lay in contract.layouts(kind)]
    if layout not in names:
        click.echo(f"错误 [generate.layout]: {kind} 没有版式 {layout}，可选 {'、'.join(names)} / {kind} has no layout "
                   f"{layout!r}: {', '.join(names)}", err=True)
        sys.exit(EXIT_USAGE)
    codes = None if defects is None else ("all" if defects == "all" else [c.strip() for c in defects.split(",")])
    known = set(generator.defect_codes(kind, layout))
    if isinstance(codes, list) and set(codes) - known:
        bad = ", ".join(sorted(set(codes) - known))
        click.echo(f"错误 [generate.defect]: 该版式不能生成的缺陷代码 {bad} / defect code(s) unknown or not applicable "
                   f"in the {layout} layout: {bad}", err=True)
        sys.exit(EXIT_USAGE)
    if profile is not None and _identity(output) == _identity(profile):
        fail_input(InputError("output.same_as_input", option="--output", path=profile), "zh")
    try:
        prof = generator.load_profile(profile) if profile else None
    except (ValueError, KeyError, TypeError) as err:
        click.echo(f"错误 [generate.profile]: 配置文件无效 / invalid profile: {err}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        ref = generator.reference_for(prof, reference_date.date() if reference_date else None)
    except ValueError as err:
        click.echo(f"错误 [generate.reference_date]: 参考日早于统计期结束日 / {err}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        _, manifest = generator.write_generated(output, kind, rows, seed=seed, defects=codes, defect_rate=defect_rate,
                                             profile=prof, fmt=fmt, encoding=encoding, office=office,
                                             reference_date=ref, layout=layout)
        truth_path, _ = truth.write(output, manifest, kind=kind, records=rows, seed=seed, defects=codes,
                                    defect_rate=defect_rate, reference_date=ref, fmt=fmt, encoding=encoding,
                                    office=office, profile=profile, layout=layout)
    except OSError as err:  # writer.OutputError: coded by what failed
        fail_input(output_error(err, output), "zh")  # generate has no --lang
    click.echo(f"{output}\t{rows} rows\t{manifest.height} defects\t{truth_path}\treference date {ref}")


@main.command("generate-set", help="用一个种子生成互相关联的一套数据：服务记录、机构、人员、不良事件、卫统45表与指标。\n\n"
                                   "Generate one linked set from one seed: service records, the institutions and staff "
                                   "they name, adverse events, and the 卫统45表 rows and indicators that sum to them.")
@click.option("--rows", type=click.IntRange(min=1), required=True, help="服务记录行数 / service records")
@click.option("--seed", type=int, default=0, show_default=True, help="随机种子 / random seed")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "jsonl", "parquet"]), default="csv",
              show_default=True, help="文件格式 / file format")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="输出目录 / output folder")
def generate_set_cmd(rows: int, seed: int, fmt: str, output: Path) -> None:
    from fpschema.io import writer
    from fpschema.testdata import linked

    try:
        output.mkdir(parents=True, exist_ok=True)
        for kind, frame in linked.linked_set(rows, seed).items():
            path = writer.write(frame, output / f"{kind}.{fmt}", kind, fmt=fmt)
            click.echo(f"{path}\t{frame.height} rows")
    except OSError as err:
        fail_input(output_error(err, output), "zh")  # generate has no --lang


@main.command("score", help="按缺陷清单为校验结果打分：每条规则的精确率和召回率。\n\n"
                            "Score findings against a manifest: precision and recall per rule.")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="缺陷清单（CSV）/ the manifest (CSV)")
@click.option("--findings", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="校验结果（fpschema 的 JSON 报告，或含 row,column,rule 的 CSV/JSON）/ the findings")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
def score_cmd(truth: Path, findings: Path, fmt: str) -> None:
    from fpschema.testdata import scorer

    try:
        table = scorer.score(scorer.load(truth), scorer.load(findings))
        expected, used = scorer.reference_dates(truth, findings)
    except (ValueError, OSError, json.JSONDecodeError) as err:
        click.echo(f"错误 [score.input]: {err}", err=True)
        sys.exit(EXIT_USAGE)
    _reference_warning(expected, used)
    if fmt == "json":
        click.echo(json.dumps(table.to_dicts(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        click.echo(table.write_csv(), nl=False)
    else:
        with pl_config():
            click.echo(table)


def _reference_warning(expected: str | None, used: str | None) -> None:
    """On stderr: the findings' reference date differs from the manifest's, or is not said."""
    if expected is None:
        return
    if used is None:
        click.echo(f"提示 [score.reference_date]: 校验结果未说明所用参考日；缺陷清单的参考日为 {expected}，与日期有关的规则"
                   f"（date.future、id.birth_future 等）须按该日校验才能命中 / note: the findings do not say which "
                   f"reference date they used; the manifest's is {expected}, and the rules that depend on the day "
                   f"(date.future, id.birth_future, ...) only match when validated against it", err=True)
    elif used != expected:
        click.echo(f"警告 [score.reference_date]: 校验报告的参考日 {used} 与缺陷清单的参考日 {expected} 不同，与日期有关的"
                   f"规则（date.future、id.birth_future 等）会漏报或误报；请用 --reference-date {expected} 重新校验 / "
                   f"warning: the report's reference date {used} differs from the manifest's {expected}, so the "
                   f"rules that depend on the day (date.future, id.birth_future, ...) are missed or misfire; "
                   f"validate again with --reference-date {expected}", err=True)


@main.command("serve", help="启动上传校验服务：HTTP 接口与网页（需要 service 附加依赖）。\n\n"
                            "Start the upload service: HTTP API and web page (needs the service extra). "
                            "Limits also come from FPSCHEMA_* environment variables; see docs/service.md.")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / address to listen on")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="端口 / port")
@click.option("--max-upload-bytes", type=click.IntRange(min=1), default=None,
              help=f"请求体上限，默认 {Settings.max_upload_bytes // MB} MB / largest request body, default "
                   f"{Settings.max_upload_bytes // MB} MB")
@click.option("--max-rows", type=click.IntRange(min=1), default=None,
              help=f"每个文件的行数上限，默认 {Settings.max_rows} / most rows per upload, default {Settings.max_rows}")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"每次校验的秒数上限，默认 {Settings.time_limit:g} / seconds per validation, default "
                   f"{Settings.time_limit:g}")
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None,
              help=f"同时进行的校验数，默认 {Settings.max_concurrent} / validations at once, default "
                   f"{Settings.max_concurrent}")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="日志文件，默认标准错误 / log file, default standard error")
def serve_cmd(host: str, port: int, max_upload_bytes: int | None, max_rows: int | None, time_limit: float | None,
              max_concurrent: int | None, log_file: Path | None) -> None:
    try:
        from fpschema.service.app import serve
    except ImportError as err:
        click.echo(f"错误 [usage.option]: {err}", err=True)
        sys.exit(EXIT_USAGE)
    serve(host, port, max_upload_bytes=max_upload_bytes, max_rows=max_rows, time_limit=time_limit,
          max_concurrent=max_concurrent, log_file=str(log_file) if log_file else None)


def pl_config():
    import polars as pl

    return pl.Config(tbl_rows=200, tbl_hide_dataframe_shape=True, float_precision=4)


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
        table.add_row(*(table_cell(r[k]) for k in ("record", "pointer", "rule", "severity", "value", "message")))
    Console(width=160).print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
