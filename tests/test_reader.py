"""fpschema.io.reader: real files written into tmp_path, read back into all-text tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from fpschema.errors import InputError
from fpschema.io import delimited
from fpschema.io.reader import ROW, Limits, Table, normalize_header, read


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(table: Table) -> list[dict[str, object]]:
    return table.frame.to_dicts()


def raises(code: str, *args: object, **kwargs: object) -> InputError:
    """read(*args, **kwargs) must raise InputError with ``code`` and nothing else."""
    with pytest.raises(InputError) as info:
        read(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


SIMPLE = "单位名称,放置例数,备注\n城关镇,12,\n东乡,7,好\n"


# ------------------------------------------------------------------------------------------- encodings


def test_utf8_csv(tmp_path: Path) -> None:
    t = read(write(tmp_path / "a.csv", SIMPLE))
    assert (t.name, t.format, t.encoding) == ("a.csv", "csv", "utf-8")
    assert t.frame.columns == [ROW, "单位名称", "放置例数", "备注"]
    assert t.frame.schema[ROW] == pl.Int64 and all(t.frame.schema[c] == pl.String for c in t.frame.columns[1:])
    assert rows(t) == [{ROW: 2, "单位名称": "城关镇", "放置例数": "12", "备注": None},
                       {ROW: 3, "单位名称": "东乡", "放置例数": "7", "备注": "好"}]
    assert t.header_rows == [1] and t.skipped_rows == [] and t.totals_rows == []
    assert t.sha256 is not None and len(t.sha256) == 64


def test_utf8_bom_csv(tmp_path: Path) -> None:
    t = read(write(tmp_path / "a.csv", "\ufeff" + SIMPLE.replace("\n", "\r\n")))
    assert t.encoding == "utf-8-sig"
    assert t.frame.columns == [ROW, "单位名称", "放置例数", "备注"]
    assert t.frame["备注"].to_list() == [None, "好"]


def test_gb18030_rare_character(tmp_path: Path) -> None:
    text = "姓名,服务站编号\n刘䶮,110105001\n王五,110105002\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")  # 䶮 is beyond GBK: only GB18030 has it
    t = read(write(tmp_path / "gb.csv", text, "gb18030"))
    assert t.encoding == "gb18030"
    assert t.frame["姓名"].to_list() == ["刘䶮", "王五"]
    assert t.frame[ROW].to_list() == [2, 3]


def test_gbk_spelling_is_read_as_gb18030(tmp_path: Path) -> None:
    t = read(write(tmp_path / "gb.csv", "姓名,数\n刘䶮,1\n", "gb18030"), encoding="gbk")
    assert t.encoding == "gb18030" and t.frame["姓名"].to_list() == ["刘䶮"]


@pytest.mark.parametrize("delim", ["\t", ";", "|"])
def test_other_delimiters(tmp_path: Path, delim: str) -> None:
    text = "\n".join(delim.join(r) for r in [["姓名", "地址", "数量"], ["张三", "北京市,朝阳区", "3"],
                                                ["李四", "天津", "4"]]) + "\n"
    t = read(write(tmp_path / "d.txt", text))
    assert t.frame.columns == [ROW, "姓名", "地址", "数量"]
    assert t.frame["地址"].to_list() == ["北京市,朝阳区", "天津"]


def test_tsv_suffix(tmp_path: Path) -> None:
    t = read(write(tmp_path / "d.tsv", "a\tb\n1\t2\n"))
    assert t.format == "csv" and rows(t) == [{ROW: 2, "a": "1", "b": "2"}]


# ----------------------------------------------------------------------------------- layout of reports


REPORT = """\
某县计划生育技术服务统计报表,,,
填报单位：XX县卫健局,,,填报日期：2023-10-08
单位名称,放置宫内节育器,取出宫内节育器,备注
城关镇,12,3,
,,,
东乡, 7 ,2,  \u3000
合 计,19,5,
填表人：张三,,审核人：李四,
说明：本表按季度报送。,,,
"""


def test_title_header_totals_footer(tmp_path: Path) -> None:
    t = read(write(tmp_path / "r.csv", REPORT))
    assert t.frame.columns == [ROW, "单位名称", "放置宫内节育器", "取出宫内节育器", "备注"]
    assert rows(t) == [
        {ROW: 4, "单位名称": "城关镇", "放置宫内节育器": "12", "取出宫内节育器": "3", "备注": None},
        {ROW: 6, "单位名称": "东乡", "放置宫内节育器": " 7 ", "取出宫内节育器": "2", "备注": None},
    ]
    assert t.header_rows == [3]
    assert t.skipped_rows == [(1, "title"), (2, "title"), (5, "blank"), (8, "footer"), (9, "footer")]
    assert t.totals_rows == [7]


def test_known_headers_pick_the_header_row(tmp_path: Path) -> None:
    text = "表1,,\n序号,说明,\n单位名称,数量,备注\n城关镇,1,x\n"
    t = read(write(tmp_path / "k.csv", text), known_headers=["单位名称", "数量"])
    assert t.header_rows == [3] and t.frame.columns == [ROW, "单位名称", "数量", "备注"]
    assert t.skipped_rows == [(1, "title"), (2, "title")]


def test_subtotals_in_the_middle_and_multiline_cell(tmp_path: Path) -> None:
    text = 'a,b\n1,"two\nlines"\n小计,1\n3,4\n总 计,2\n'
    t = read(write(tmp_path / "m.csv", text))
    assert rows(t) == [{ROW: 2, "a": "1", "b": "two\nlines"}, {ROW: 4, "a": "3", "b": "4"}]
    assert t.totals_rows == [3, 5]


def test_padding_columns_mac_line_ends_and_utf16(tmp_path: Path) -> None:
    t = read(write(tmp_path / "p.csv", "a,b,,\r1,2,,\r3,4,x,\r"))  # Excel for Mac: CR only; padded
    assert rows(t) == [{ROW: 2, "a": "1", "b": "2", "column_3": None}, {ROW: 3, "a": "3", "b": "4", "column_3": "x"}]
    path = tmp_path / "unicode.txt"  # Excel "Unicode text": UTF-16 with BOM, tab-separated
    path.write_bytes("\ufeff姓名\t数量\r\n刘䶮\t1\r\n".encode("utf-16-le"))
    t = read(path)
    assert t.encoding == "utf-16" and rows(t) == [{ROW: 2, "姓名": "刘䶮", "数量": "1"}]


def test_method_names_are_not_footers(tmp_path: Path) -> None:
    t = read(write(tmp_path / "m.csv", "方法,例数\n宫内节育器,3\n注射避孕针,2\n注：本表为季报,\n"))
    assert t.frame["方法"].to_list() == ["宫内节育器", "注射避孕针"]
    assert t.skipped_rows == [(4, "footer")]


def test_normalize_header() -> None:
    assert normalize_header(" 放置宫内\n节育器\u3000例数 ") == "放置宫内节育器例数"
    assert normalize_header("ＡＢＣ（例）") == "ABC(例)"


def test_header_whitespace_is_normalised(tmp_path: Path) -> None:
    t = read(write(tmp_path / "h.csv", '"单位\n名称", 数 量 \nx,1\n'))
    assert t.frame.columns == [ROW, "单位名称", "数量"]


def xlsx_report(path: Path) -> Path:
    """A 卫统45表-style sheet: title, 填报单位 line, three merged header rows, data, 合计, footer."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("卫统45表")
    ws.merge_range("A1:H1", "卫统45表  计划生育技术服务统计")
    ws.merge_range("A2:D2", "填报单位：XX县卫生健康局")
    ws.write("F2", "填报日期：2023-10-08")
    ws.merge_range("A3:A5", "单位\n名称")
    ws.merge_range("B3:G3", "宫内节育器手术")
    ws.merge_range("H3:H5", "备注")
    ws.merge_range("B4:D4", "放置宫内节育器")
    ws.merge_range("E4:G4", "取出宫内节育器")
    ws.write_row("B5", ["例数", "子宫穿孔例数", "感染例数"] * 2)
    ws.write_row("A6", ["城关镇", 12, 0, 1, 3, 0, 0])
    ws.write_row("A7", ["东乡", 7.0, 0, 0, 2, 1, 0, "复核"])
    ws.write_row("A8", ["合计", 19, 0, 1, 5, 1, 0])
    ws.write("A9", "填表人：张三")
    ws.write("E9", "审核人：李四")
    wb.close()
    return path


KNOWN_45 = ["单位名称", "备注"] + [f"{op}宫内节育器{what}" for op in ("放置", "取出")
                                   for what in ("例数", "子宫穿孔例数", "感染例数")]


def test_xlsx_three_row_merged_header(tmp_path: Path) -> None:
    t = read(xlsx_report(tmp_path / "45.xlsx"), known_headers=KNOWN_45)
    assert (t.format, t.encoding) == ("xlsx", None)
    assert t.frame.columns == [ROW, "单位名称", *KNOWN_45[2:], "备注"]
    assert t.header_rows == [3, 4, 5]
    assert t.skipped_rows == [(1, "title"), (2, "title"), (9, "footer")]
    assert t.totals_rows == [8]
    assert rows(t)[1] == {ROW: 7, "单位名称": "东乡", "放置宫内节育器例数": "7", "放置宫内节育器子宫穿孔例数": "0",
                          "放置宫内节育器感染例数": "0", "取出宫内节育器例数": "2",
                          "取出宫内节育器子宫穿孔例数": "1", "取出宫内节育器感染例数": "0", "备注": "复核"}
    assert t.frame[ROW].to_list() == [6, 7]


def test_merged_header_in_csv_is_forward_filled(tmp_path: Path) -> None:
    text = ("单位名称,宫内节育器手术,,,,,,备注\n"
            ",放置宫内节育器,,,取出宫内节育器,,,\n"
            ",例数,子宫穿孔例数,感染例数,例数,子宫穿孔例数,感染例数,\n"
            "城关镇,12,0,1,3,0,0,\n")
    t = read(write(tmp_path / "45.csv", text), known_headers=KNOWN_45)
    assert t.frame.columns == [ROW, "单位名称", *KNOWN_45[2:], "备注"]
    assert t.header_rows == [1, 2, 3] and t.frame[ROW].to_list() == [4]


def test_xls_written_with_xlwt(tmp_path: Path) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("表1")
    sheet.write_merge(0, 0, 0, 2, "某县统计表")
    for j, head in enumerate(["单位名称", "例数", "报告日期"]):
        sheet.write(1, j, head)
    sheet.write(2, 0, "城关镇")
    sheet.write(2, 1, 12)
    sheet.write(2, 2, datetime(2023, 10, 8), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    sheet.write(3, 0, "合计")
    sheet.write(3, 1, 12.0)
    book.save(str(tmp_path / "t.xls"))
    t = read(tmp_path / "t.xls")
    assert t.format == "xls"
    assert rows(t) == [{ROW: 3, "单位名称": "城关镇", "例数": "12", "报告日期": "2023-10-08"}]
    assert t.header_rows == [2] and t.skipped_rows == [(1, "title")] and t.totals_rows == [4]


def test_xlsx_id_stored_as_number_and_dates(tmp_path: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(tmp_path / "ids.xlsx"))
    ws = wb.add_worksheet()
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    ws.write_row(0, 0, ["身份证号", "服务站编号", "服务日期", "报告时间", "农村", "比例"])
    ws.write_number(1, 0, 110105199003070026)   # typed as a number: digits lost beyond 15
    ws.write_number(1, 1, 110105001.0)
    ws.write_datetime(1, 2, datetime(2023, 4, 19), day)
    ws.write_datetime(1, 3, datetime(2023, 4, 19, 8, 30, 5), stamp)
    ws.write_boolean(1, 4, True)
    ws.write_number(1, 5, 0.25)
    ws.write_string(2, 0, "110105199003070026")
    ws.write_datetime(2, 3, datetime(2023, 4, 20), stamp)
    wb.close()
    t = read(tmp_path / "ids.xlsx")
    assert rows(t) == [
        {ROW: 2, "身份证号": "1.1010519900307E+17", "服务站编号": "110105001", "服务日期": "2023-04-19",
         "报告时间": "2023-04-19 08:30:05", "农村": "true", "比例": "0.25"},
        {ROW: 3, "身份证号": "110105199003070026", "服务站编号": None, "服务日期": None,
         "报告时间": "2023-04-20", "农村": None, "比例": None},
    ]


# ------------------------------------------------------------------------------ JSON, Parquet, frames


def test_json_array(tmp_path: Path) -> None:
    data = [{"client_id": "110105199003070026", "age": 34, "ratio": 0.5, "rural": True, "note": None},
            {"age": 12.0, "extra": {"a": [1, 2]}, "client_id": "  "}]
    t = read(write(tmp_path / "a.json", json.dumps(data, ensure_ascii=False)))
    assert (t.format, t.encoding) == ("json", "utf-8")
    assert t.frame.columns == [ROW, "client_id", "age", "ratio", "rural", "note", "extra"]
    assert rows(t) == [
        {ROW: 1, "client_id": "110105199003070026", "age": "34", "ratio": "0.5", "rural": "true", "note": None,
         "extra": None},
        {ROW: 2, "client_id": None, "age": "12.0", "ratio": None, "rural": None, "note": None,
         "extra": '{"a": [1, 2]}'},
    ]


def test_json_single_object(tmp_path: Path) -> None:
    t = read(write(tmp_path / "o.json", '{"a": 1}'))
    assert rows(t) == [{ROW: 1, "a": "1"}]


def test_jsonl_line_numbers(tmp_path: Path) -> None:
    text = '{"a": 1, "b": "x"}\n\n{"b": "y", "c": false}\n   \n{"a": -2}\n'
    t = read(write(tmp_path / "r.jsonl", text))
    assert t.format == "jsonl"
    assert rows(t) == [{ROW: 1, "a": "1", "b": "x", "c": None}, {ROW: 3, "a": None, "b": "y", "c": "false"},
                       {ROW: 5, "a": "-2", "b": None, "c": None}]


def test_jsonl_key_after_the_sample(tmp_path: Path) -> None:
    lines = [json.dumps({"a": i}) for i in range(1500)] + ['{"a": 1, "late": null}', '{"a": 2.5}']
    t = read(write(tmp_path / "late.jsonl", "\n".join(lines) + "\n"))
    assert t.frame.columns == [ROW, "a", "late"] and t.frame.height == 1502
    assert t.frame.row(-1) == (1502, "2.5", None)
    fast = read(write(tmp_path / "fast.jsonl", "\n".join(lines[:1500]) + "\n"))
    assert fast.frame.columns == [ROW, "a"] and fast.frame["a"][-1] == "1499"


def test_parquet(tmp_path: Path) -> None:
    frame = pl.DataFrame({"id": ["110105199003070026", None], "n": [12, None], "x": [12.0, 0.5],
                          "big": [1.1010519900307002e17, None], "ok": [True, False],
                          "d": [date(2023, 4, 19), None],
                          "t": [datetime(2023, 4, 19), datetime(2023, 4, 19, 8, 30)]})
    frame.write_parquet(tmp_path / "p.parquet")
    t = read(tmp_path / "p.parquet")
    assert t.format == "parquet" and t.sha256
    assert rows(t) == [
        {ROW: 1, "id": "110105199003070026", "n": "12", "x": "12", "big": "1.1010519900307E+17", "ok": "true",
         "d": "2023-04-19", "t": "2023-04-19"},
        {ROW: 2, "id": None, "n": None, "x": "0.5", "big": None, "ok": "false", "d": None,
         "t": "2023-04-19 08:30:00"},
    ]


def test_polars_dataframe() -> None:
    t = read(pl.DataFrame({"单位 名称": ["城关镇", " "], "n": [1, 2], "l": [[1], [2, 3]]}))
    assert (t.name, t.format, t.sha256) == ("<dataframe>", "dataframe", None)
    assert rows(t) == [{ROW: 0, "单位名称": "城关镇", "n": "1", "l": "[1]"},
                       {ROW: 1, "单位名称": None, "n": "2", "l": "[2, 3]"}]


def test_pandas_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": ["110105199003070026", None], "n": [12.0, float("nan")],
                       "d": [datetime(2023, 4, 19), datetime(2023, 4, 20, 8)]}, index=[10, 20])
    t = read(df)
    assert rows(t) == [{ROW: 0, "id": "110105199003070026", "n": "12", "d": "2023-04-19"},
                       {ROW: 1, "id": None, "n": None, "d": "2023-04-20 08:00:00"}]


def test_pandas_mixed_object_column() -> None:
    pd = pytest.importorskip("pandas")
    t = read(pd.DataFrame({"v": ["a", 1, 2.0, None]}))
    assert t.frame["v"].to_list() == ["a", "1", "2", None]


def test_list_of_dicts() -> None:
    t = read([{"a": 1, "b": "x"}, {"b": "", "c": [1]}])
    assert (t.name, t.format) == ("<records>", "records")
    assert rows(t) == [{ROW: 0, "a": "1", "b": "x", "c": None}, {ROW: 1, "a": None, "b": None, "c": "[1]"}]


def test_max_rows(tmp_path: Path) -> None:
    raises("input.too_many_rows", write(tmp_path / "a.csv", SIMPLE), limits=Limits(max_rows=1))
    assert read(write(tmp_path / "b.csv", SIMPLE), limits=Limits(max_rows=2)).frame.height == 2


def test_200k_rows(tmp_path: Path) -> None:
    n = 200_000
    body = "".join(f"{i},站{i % 97},2023-04-19,\n" for i in range(n))
    t = read(write(tmp_path / "big.csv", "序号,服务站,日期,备注\n" + body))
    assert t.frame.height == n
    assert t.frame[ROW][-1] == n + 1 and t.frame["序号"][-1] == str(n - 1)
    assert t.frame["备注"].null_count() == n


# ---------------------------------------------------------------------------------------- bad inputs


def test_empty_file(tmp_path: Path) -> None:
    raises("input.empty", write(tmp_path / "e.csv", ""))


@pytest.mark.parametrize("text", [" \n\t\r\n  \n", "\ufeff\n\n"])
def test_whitespace_only_file(tmp_path: Path, text: str) -> None:
    raises("input.empty", write(tmp_path / "w.csv", text))


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_bytes(os.urandom(4096) + b"\x00" * 16)
    raises("input.binary", path)
    path.write_bytes(bytes(range(1, 32)) * 50 + b"\xff\xfe\xfa" * 100)  # no NUL, still not text
    raises("input.binary", path)


def test_gb18030_read_as_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "gb.csv", "name,count\nx,1\n城关镇,2\n", "gb18030")
    err = raises("input.encoding", path, encoding="utf-8")
    assert err.details == {"encoding": "utf-8", "row": 3, "detected": "gb18030"}
    assert read(path).encoding == "gb18030"  # detected without help


def test_invalid_utf8_after_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("名称,数\n城关镇,1\n".encode() + "东乡,2\n".encode("gb18030"))
    err = raises("input.encoding", path)
    assert err.details["row"] == 3


def test_ragged_too_many_fields(tmp_path: Path) -> None:
    err = raises("input.ragged", write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n"))
    assert err.details == {"row": 3, "found": 4, "expected": 3}


def test_ragged_too_few_fields(tmp_path: Path) -> None:
    err = raises("input.ragged", write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n"))
    assert err.details == {"row": 4, "found": 2, "expected": 3}


def test_ragged_in_slow_path(tmp_path: Path) -> None:
    err = raises("input.ragged", write(tmp_path / "r.csv", 'a,b\n"x\ny",2\n3\n'))
    assert err.details == {"row": 3, "found": 1, "expected": 2}


def test_unclosed_quote(tmp_path: Path) -> None:
    err = raises("input.unclosed_quote", write(tmp_path / "q.csv", 'a,b\n1,2\n3,"4\n5,6\n'))
    assert err.details == {"row": 3}


def test_unclosed_quote_far_down(tmp_path: Path) -> None:
    body = "".join(f"{i},{i}\n" for i in range(100))
    err = raises("input.unclosed_quote", write(tmp_path / "q.csv", "a,b\n" + body + '1,"2\n3,4\n'))
    assert err.details == {"row": 102}


@pytest.mark.parametrize("header", ["a,b,a", "单位 名称,x,单位名称"])
def test_duplicated_header(tmp_path: Path, header: str) -> None:
    err = raises("input.duplicate_column", write(tmp_path / "d.csv", header + "\n1,2,3\n"))
    assert err.details["column"] in ("a", "单位名称")


def test_no_header(tmp_path: Path) -> None:
    raises("input.no_header", write(tmp_path / "n.csv", ",,\n,,\n"))


def test_zip_bomb_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<sheetData>" + b" " * 20_000_000 + b"</sheetData>")
    assert path.stat().st_size < 100_000
    err = raises("input.zip_bomb", path)
    assert err.details["size"] > 20_000_000
    raises("input.zip_bomb", path, limits=Limits(max_unzipped_bytes=1_000_000, max_zip_ratio=10**9))


def test_xlsx_with_xml_entities(tmp_path: Path) -> None:
    good = xlsx_report(tmp_path / "good.xlsx")
    bad = tmp_path / "entity.xlsx"
    doctype = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
               b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n')
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = doctype + data.split(b"?>", 1)[1]
            dst.writestr(item, data)
    raises("input.xml_entity", bad)


def test_not_a_zip_named_xlsx(tmp_path: Path) -> None:
    err = raises("input.spreadsheet", write(tmp_path / "fake.xlsx", SIMPLE))
    assert "zip" in str(err.details["detail"]).lower()
    raises("input.spreadsheet", write(tmp_path / "fake.xls", SIMPLE))


def test_broken_json_and_jsonl(tmp_path: Path) -> None:
    err = raises("input.json", write(tmp_path / "a.json", '[{"a": 1},\n {"a": }]'))
    assert err.details["row"] == 2
    raises("input.json", write(tmp_path / "b.json", "[1, 2]"))
    err = raises("input.json", write(tmp_path / "c.jsonl", '{"a": 1}\n\n{"a": 2\n'))
    assert err.details["row"] == 3
    err = raises("input.json", write(tmp_path / "d.jsonl", '{"a": 1}\n[1]\n'))
    assert err.details["row"] == 2


def test_broken_parquet(tmp_path: Path) -> None:
    raises("input.parquet", write(tmp_path / "p.parquet", "PAR1 this is not parquet"))


def test_unknown_suffix(tmp_path: Path) -> None:
    raises("input.format", write(tmp_path / "a.docx", SIMPLE))
    raises("input.format", write(tmp_path / "a.csv", SIMPLE), fmt="pdf")


def test_missing_path(tmp_path: Path) -> None:
    raises("input.not_found", tmp_path / "nope.csv")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    raises("input.is_directory", tmp_path / "dir.csv")
    raises("input.is_directory", tmp_path)  # no suffix: still a directory, not an unknown format


def test_long_line(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "a,b\n1,2\n" + "x" * 5000 + ",5\n3,4\n")
    err = raises("input.line_too_long", path, limits=Limits(max_bytes_line=1000))
    assert err.details == {"row": 3, "limit": 1000}
    assert read(path, limits=Limits(max_bytes_line=10_000)).frame.height == 3


def test_huge_single_line_keeps_memory_bounded(tmp_path: Path) -> None:
    path = tmp_path / "oneline.csv"
    with path.open("wb") as fh:
        for _ in range(50):
            fh.write(b"y" * 1_000_000)
    script = textwrap.dedent(f"""
        import resource
        from fpschema.errors import InputError
        from fpschema.io.reader import Limits, read
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read({str(path)!r}, limits=Limits(max_bytes_line=2_000_000))
        except InputError as exc:
            print(exc.code, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "input.line_too_long"
    assert int(out[1]) < 16, f"peak RSS grew by {out[1]} MB reading a 50 MB line"


def test_column_names_that_look_like_patterns_and_lone_surrogates(tmp_path):
    """pl.col reads "*" and "^…$" as patterns; JSON "\\ud800" escapes decode to lone surrogates. Neither may
    crash the reader."""
    odd = read([{"": None, "*": "a", "^x$": " ", "sex": "2"}])
    assert odd.frame.columns[2:] == ["*", "^x$", "sex"] and odd.frame.row(0)[2:] == ("a", None, "2")
    frame = read(pl.DataFrame({"*": [1.0, 2.5], "^a$": ["x", " "]})).frame
    assert frame["*"].to_list() == ["1", "2.5"] and frame["^a$"].to_list() == ["x", None]
    for name, text in (("s.jsonl", '{"client_id": "\\ud800x", "sex": "2"}\n'),
                       ("s.json", '[{"client_id": "\\udc00x", "sex": "2"}]')):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert read(path).frame.height == 1
    # in keys, nested values and mixed columns too: replaced by U+FFFD, never an encoding error
    records = [{"\ud800k": "1", "n": {"x": "a\udc00"}, "m": "b\ud800"}, {"\ud800k": "2", "n": None, "m": 5}]
    frame = read(records).frame
    assert frame.columns[1:] == ["\ufffdk", "n", "m"]
    assert frame.row(0)[1:] == ("1", '{"x": "a\ufffd"}', "b\ufffd") and frame.row(1)[3] == "5"
    with pytest.raises(InputError) as err:
        read([dict.fromkeys(["\ud800", "\udc00"], 1)])  # two keys, one text once replaced
    assert err.value.code == "input.duplicate_column"


def test_quick_field_counts_equal_the_full_count_on_random_ragged_blocks() -> None:
    """Unquoted blocks: polars refuses a line with more fields than the schema; when it does not, counting only
    the lines with an empty last cell gives every line's field count exactly."""
    import random

    from fpschema.io.delimited import _field_counts, _field_counts_short, _polars_csv
    from fpschema.io.text import Utf8 as _Utf8

    rng = random.Random(7)
    width, strict, refused = 5, 0, 0
    for _ in range(400):
        lines = []
        for _ in range(rng.randint(1, 40)):
            n = width if rng.random() < 0.9 else rng.randint(0, width + 3)
            cells = ["" if rng.random() < 0.2 else rng.choice(["a", "bb", " ", "中文"]) for _ in range(n)]
            lines.append(",".join(cells) + rng.choice(["\n", "\r\n"]))
        data = "".join(lines).encode()
        content = _Utf8(Path("x.csv"), data, data, len(data))
        text = _polars_csv(content, separator="\x1f", quote_char=None, schema={"l": pl.String},
                           empty_string_is_null=False)
        schema = {f"c{j}": pl.String for j in range(width)}
        ragged = _polars_csv(content, separator=",", quote_char='"', schema=schema, truncate_ragged_lines=True,
                             extra_columns="ignore", missing_columns="insert")
        full = _field_counts(text, ragged, ",", width, False).to_list()
        try:
            body = _polars_csv(content, separator=",", quote_char='"', schema=schema, missing_columns="insert")
        except pl.exceptions.PolarsError:
            refused += 1
            assert max(full) > width
            continue
        if body.height == text.height:
            strict += 1
            assert _field_counts_short(text, body, ",", width).to_list() == full, data
    assert strict > 100 and refused > 100


@pytest.mark.parametrize(("data", "blank"), [
    (b"a,b\r\nc,d\r\n", False),   # CRLF line ends only
    (b"a,b\nc,d\n", False),
    (b"a,\rb\r\nc,d\r\n", True),  # a CR inside a cell
    (b"a,b\r\nc,d\r", True),      # a CR as the very last byte: not before a LF
    (b"a,b\r\n\rc,d\r\n", True),  # a CR right after a line end
])
def test_a_cr_not_before_a_lf_is_a_blank_character(data, blank):
    assert delimited._any_blank(data) is blank
