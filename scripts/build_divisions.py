"""Build fpschema's division table (``fpschema/data/divisions.csv``) and its provenance from the shared data.

Inputs (``../shared/data/gb2260/`` by default, CC0, from the public yescallop/areacodes data set):
``areacodes.csv`` (every GB/T 2260 code of the year-end lists 1981-2024: 代码, 一级行政区, 二级行政区, 名称, 级别,
状态, 启用时间, 变更/弃用时间, 新代码) and ``gb2260_2024.txt`` (the 2024 list, used as a cross-check).

Output, one row per code and period (a code renamed or reused has several), sorted by code and start:
``code,name,level,province,prefecture,start,end,successors,transfers``

- ``level``: province, prefecture or county (省级, 地级, 县级; always the code's own structure: xx0000, xxyy00);
- ``province``: the province code; ``prefecture``: the prefecture-level code a county belonged to (empty when the
  county was directly administered, 直辖, and for provinces and prefectures);
- ``start``: the first year-end list that has the code with this name; ``end``: the first one that no longer has
  it (the year it was changed or abolished; empty while in use). The period is [start, end) in year-end lists, so
  the code was in use during the years start to end, both included (part of the end year);
- ``successors``: the codes the area went to at ``end`` (``;``-separated; the code itself for a rename);
  ``transfers``: ``code[year]`` entries, parts of the area handed to other codes in earlier years.

Run from the repository root: ``python scripts/build_divisions.py`` (``--source DIR``, ``--out DIR``). The output
is a pure function of the inputs (tested: the shipped file is rebuilt byte for byte); the provenance carries the
date it was built and the inputs' sha256.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "gb2260"
OUT = ROOT / "fpschema" / "data"
COLUMNS = ("code", "name", "level", "province", "prefecture", "start", "end", "successors", "transfers")
LEVELS = {"省级": "province", "地级": "prefecture", "县级": "county"}
_ENTRY = re.compile(r"^(\d{6})(?:\[(\d{4})\])?$")


def level_of(code: str) -> str:
    return "province" if code.endswith("0000") else "prefecture" if code.endswith("00") else "county"


def _new_codes(text: str, end: str) -> tuple[list[str], list[str]]:
    """(successors at ``end``, ``code[year]`` transfers of other years) of a 新代码 cell."""
    successors, transfers = [], []
    for part in filter(None, text.split(";")):
        m = _ENTRY.match(part.strip())
        if m is None:
            raise ValueError(f"新代码 entry {part!r} is not a code or code[year]")
        code, year = m.groups()
        if year is None or (end and year == end):
            successors.append(code)
        else:
            transfers.append(f"{code}[{year}]")
    return successors, transfers


def read_rows(source: Path) -> list[dict[str, str]]:
    """The table's rows from ``areacodes.csv``, checked (levels, periods, the 2024 list)."""
    with open(source / "areacodes.csv", encoding="utf-8-sig", newline="") as fh:
        records = list(csv.DictReader(fh))
    out = []
    for r in records:
        code, level = r["代码"], LEVELS[r["级别"]]
        if not re.fullmatch(r"[1-9]\d{5}", code) or level != level_of(code):
            raise ValueError(f"{code}: level {r['级别']} does not fit the code")
        end = r["变更/弃用时间"]
        if (r["状态"] == "在用") != (end == ""):
            raise ValueError(f"{code}: status {r['状态']} with end year {end!r}")
        successors, transfers = _new_codes(r["新代码"], end)
        out.append({
            "code": code, "name": r["名称"], "level": level, "province": code[:2] + "0000",
            "prefecture": code[:4] + "00" if level == "county" and r["二级行政区"] != "直辖" else "",
            "start": r["启用时间"], "end": end,
            "successors": ";".join(successors), "transfers": ";".join(transfers)})
    out.sort(key=lambda row: (row["code"], int(row["start"])))
    for a, b in zip(out, out[1:], strict=False):
        if a["code"] == b["code"] and (a["end"] == "" or int(a["end"]) > int(b["start"])):
            raise ValueError(f"{a['code']}: overlapping periods")
    in_use = {row["code"]: row["name"] for row in out if row["end"] == ""}
    if in_use != read_2024(source):
        raise ValueError("the codes in use in areacodes.csv differ from gb2260_2024.txt")
    return out


def read_2024(source: Path) -> dict[str, str]:
    lines = (source / "gb2260_2024.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split(maxsplit=1) for line in lines if line.strip())


def table_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def provenance_md(source: Path, rows: list[dict[str, str]], built: date) -> str:
    digests = {name: hashlib.sha256((source / name).read_bytes()).hexdigest()
               for name in ("areacodes.csv", "gb2260_2024.txt")}
    levels = Counter(row["level"] for row in rows)
    codes = {row["code"] for row in rows}
    in_use = [row for row in rows if row["end"] == ""]
    first = min(int(row["start"]) for row in rows)
    last = max(max(int(row["start"]), int(row["end"] or 0)) for row in rows)
    lines = [
        "# divisions.csv — 来源与构建 / provenance",
        "",
        "- 数据 / data: `fpschema/data/divisions.csv`，由 `scripts/build_divisions.py` 生成，勿手改 / "
        "built by `scripts/build_divisions.py`; do not edit by hand.",
        "- 来源 / source: yescallop/areacodes（GitHub，CC0 1.0 公有领域），经 `../shared/data/gb2260/` 提供："
        "民政部公布的各年 GB/T 2260 县级以上行政区划代码（年末数）及新旧代码对应关系 / the public yescallop/areacodes "
        "data set (CC0 1.0), via `../shared/data/gb2260/`: the year-end GB/T 2260 lists published by the Ministry of "
        "Civil Affairs, with old-to-new code correspondences.",
        f"- 构建日期 / built: {built.isoformat()}",
        "- 输入 / inputs (sha256):",
        *(f"  - `{name}`: `{digest}`" for name, digest in digests.items()),
        f"- 年份 / years: {first}–{last}（年末代码表 / year-end lists）",
        f"- 行数 / rows: {len(rows)}（代码 / codes: {len(codes)}；省级 province {levels['province']}，"
        f"地级 prefecture {levels['prefecture']}，县级 county {levels['county']}）",
        f"- {last} 年在用 / in use in {last}: {len(in_use)}（与 `gb2260_2024.txt` 逐条一致 / equal to it, code and name）",
        "",
        "重建 / rebuild: `python scripts/build_divisions.py`（`tests/test_divisions.py` 检查逐字节一致 / checks the "
        "shipped file is rebuilt byte for byte）。",
        "",
    ]
    return "\n".join(lines)


def build(source: Path = SOURCE, out: Path = OUT, built: date | None = None) -> Path:
    """Write ``divisions.csv`` and ``divisions.PROVENANCE.md`` into ``out``; returns the table's path."""
    rows = read_rows(source)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "divisions.csv"
    target.write_text(table_csv(rows), encoding="utf-8", newline="")
    (out / "divisions.PROVENANCE.md").write_text(provenance_md(source, rows, built or date.today()),
                                                 encoding="utf-8", newline="")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="folder of areacodes.csv and gb2260_2024.txt")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write divisions.csv into")
    args = parser.parse_args(argv)
    print(build(args.source, args.out))


if __name__ == "__main__":
    main(sys.argv[1:])
