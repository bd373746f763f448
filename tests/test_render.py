"""The renderers of fpschema.report.render on real Report objects: CSV (Excel-safe), JUnit XML and offline HTML."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from importlib.resources import files

import polars as pl
import pytest
from markupsafe import escape

from fpschema.contract.catalogue import RULES
from fpschema.report.render import CSV_HEADER, JUNIT_MAX_LISTED, LABELS, to_csv, to_html, to_junit
from fpschema.report.report import FINDING_SCHEMA, Report, empty_findings

SCRIPT = "<script>alert(1)</script>"
FINDINGS = [
    # row, column, rule, severity, value
    (None, None, "field.unknown", "warning", "备注2"),  # file-level
    (2, "client_id", "id.checksum", "error", "110105********0021"),
    (2, "name", "field.pattern", "error", SCRIPT),
    (3, "client_id", "id.legacy_15", "warning", "=HYPERLINK(\"http://evil.example\",\"点我\")"),
    (3, "fee", "field.range", "error", "-1"),
    (4, "remark", "field.invalid", "error", "坏\x01值"),
    (4, "@SUM(A1:A9)", "field.type", "error", "\tx"),
    (5, "client_id", "id.checksum", "error", "+861234"),
]
SAMPLES = [
    {"row": 2, "cells": {"client_id": "110105********0021", "name": SCRIPT, "fee": "0", "remark": None},
     "bad": ["client_id", "name"], "rules": {"client_id": ["id.checksum"], "name": ["field.pattern"]}},
    {"row": 3, "cells": {"client_id": "110105*****0123", "name": "张三", "fee": "-1", "remark": "无"},
     "bad": ["client_id", "fee"], "rules": {"client_id": ["id.legacy_15"], "fee": ["field.range"]}},
]
COLUMNS = ["client_id", "name", "fee", "remark"]


def make_report(lang: str = "zh", max_findings: int | None = None, findings=FINDINGS) -> Report:
    frame = pl.DataFrame(findings, schema=FINDING_SCHEMA, orient="row") if findings else empty_findings()
    return Report(
        kind="service_record",
        source={"name": "服务记录_2024.csv", "format": "csv", "encoding": "gb18030", "sha256": "ab" * 32,
                "sheet": None},
        rows_total=10,
        findings_all=frame,
        rows_invalid=4,
        lang=lang,
        max_findings=max_findings,
        sample_rows=SAMPLES,
        columns=COLUMNS,
        unmask=True,  # the renderers show what they are given; masking is fpschema.contract.mask's (tests/test_leaks.py)
    )


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --- CSV ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_csv_parses_back_with_the_english_header(lang):
    rows = parse_csv(to_csv(make_report(lang)))
    assert rows[0] == list(CSV_HEADER) == ["row", "column", "rule", "severity", "value", "message"]
    assert len(rows) == 1 + len(FINDINGS)
    assert rows[2][:4] == ["2", "client_id", "id.checksum", "error"]
    assert rows[2][5] == RULES["id.checksum"].message(lang)


def test_csv_file_level_finding_has_empty_row_and_column():
    row = parse_csv(to_csv(make_report()))[1]
    assert row[:5] == ["", "", "field.unknown", "warning", "备注2"]
    assert row[5] == "数据契约中没有此字段"


def test_csv_prefixes_formula_cells():
    rows = {(r[0], r[2]): r for r in parse_csv(to_csv(make_report()))[1:]}
    assert rows[("3", "id.legacy_15")][4] == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
    assert rows[("3", "field.range")][4] == "'-1"
    assert rows[("4", "field.type")][1] == "'@SUM(A1:A9)"
    assert rows[("4", "field.type")][4] == "'\tx"
    assert rows[("5", "id.checksum")][4] == "'+861234"
    assert rows[("2", "field.pattern")][4] == SCRIPT  # harmless text is left alone
    for r in rows.values():
        assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in r)


def test_csv_follows_max_findings_and_is_written_with_a_bom(tmp_path):
    report = make_report(max_findings=3)
    assert len(parse_csv(report.to_csv())) == 1 + 3
    path = report.write(tmp_path / "r.csv", "csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and not to_csv(report).startswith("\ufeff")
    assert parse_csv(raw.decode("utf-8-sig"))[0] == list(CSV_HEADER)


# --- JUnit --------------------------------------------------------------------------------------------


def test_junit_is_valid_xml_with_one_failure_per_rule_with_errors():
    text = to_junit(make_report())
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    suite = ET.fromstring(text.encode("utf-8"))
    assert suite.tag == "testsuite" and suite.get("name") == "fpschema.service_record"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    rules = {f[2] for f in FINDINGS}
    error_rules = {f[2] for f in FINDINGS if f[3] == "error"}
    assert set(cases) == rules | {"rows"}
    assert int(suite.get("tests")) == len(cases)
    failed = {name for name, c in cases.items() if c.find("failure") is not None}
    assert failed == error_rules
    assert int(suite.get("failures")) == len(error_rules)
    assert all(c.get("classname") == "fpschema.service_record" for c in cases.values())
    failure = cases["id.checksum"].find("failure")
    assert failure.get("type") == "id.checksum"
    assert failure.get("message") == "2 findings: 身份证号校验码错误"
    assert failure.text.splitlines() == ["row 2, client_id: 110105********0021", "row 5, client_id: +861234"]


def test_junit_warnings_are_system_out_not_failures():
    cases = {c.get("name"): c for c in ET.fromstring(to_junit(make_report("en"))).iter("testcase")}
    for name in ("field.unknown", "id.legacy_15"):
        assert cases[name].find("failure") is None
        assert RULES[name].en in cases[name].find("system-out").text
    assert "file, -: 备注2" in cases["field.unknown"].find("system-out").text
    assert cases["rows"].find("failure") is None
    assert "rows_invalid=4" in cases["rows"].find("system-out").text


def test_junit_properties_and_odd_characters():
    text = to_junit(make_report())
    assert "\x01" not in text
    suite = ET.fromstring(text)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["source.name"] == "服务记录_2024.csv"
    assert props["source.sha256"] == "ab" * 32
    assert (props["rows_total"], props["rows_valid"], props["rows_invalid"]) == ("10", "6", "4")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["field.invalid"].find("failure").text == "row 4, remark: 坏␁值"
    assert SCRIPT in cases["field.pattern"].find("failure").text


def test_junit_lists_at_most_fifty_findings_but_counts_all():
    findings = [(i, "client_id", "id.checksum", "error", f"v{i}") for i in range(1, 121)]
    suite = ET.fromstring(to_junit(make_report(max_findings=10, findings=findings)))
    failure = suite.find("testcase/failure")
    assert failure.get("message").startswith("120 findings")
    assert len(failure.text.splitlines()) == JUNIT_MAX_LISTED + 1  # and a "... 70 more" line


# --- HTML ---------------------------------------------------------------------------------------------


class Cells(HTMLParser):
    """The <td> cells of the sample table, as (class, title, text) per row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str | None, str | None, str]]] = []
        self.in_samples = self.in_td = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.in_samples = a.get("class") == "samples"
        elif self.in_samples and tag == "tr":
            self.rows.append([])
        elif self.in_samples and tag == "td":
            self.rows[-1].append((a.get("class"), a.get("title"), ""))
            self.in_td = True

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_samples = False
        self.in_td = self.in_td and tag != "td"

    def handle_data(self, data):
        if self.in_td:
            cls, title, text = self.rows[-1][-1]
            self.rows[-1][-1] = (cls, title, text + data)


def sample_cells(html: str) -> list[list[tuple[str | None, str | None, str]]]:
    parser = Cells()
    parser.feed(html)
    return [r for r in parser.rows if r]  # the header row has <th> only


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_is_offline(lang):
    html = to_html(make_report(lang))
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "<script" not in html.lower()  # not even escaped user input leaves a live tag
    assert "<link" not in html.lower() and "@import" not in html and "url(" not in html


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_labels_follow_the_language(lang):
    html = to_html(make_report(lang))
    other = LABELS["en" if lang == "zh" else "zh"]
    for key in ("title", "rows_total", "rows_invalid", "by_rule", "by_column", "samples", "findings", "legend"):
        assert LABELS[lang][key] in html
        assert other[key] not in html
    assert escape(RULES["id.checksum"].message(lang)) in html
    assert ("未通过" if lang == "zh" else "failed") in html
    assert 'Microsoft YaHei' in html and 'PingFang SC' in html


def test_html_header_and_summary():
    html = to_html(make_report("en"))
    for text in ("service_record", "服务记录_2024.csv", "gb18030", "ab" * 32, "fpschema 0.1.0"):
        assert text in html
    assert re.search(r'class="badge fail"', html)
    ok = to_html(make_report("en", findings=[(None, None, "field.unknown", "warning", "x")]))
    assert 'class="badge pass"' in ok and "passed" in ok


def test_html_has_two_svg_bar_charts():
    html = to_html(make_report())
    assert html.count("<svg") == 2
    by_rule = html[html.index('id="chart-by-rule"'):html.index('id="chart-by-column"')]
    assert by_rule.count("<rect") == len({f[2] for f in FINDINGS})
    assert ">id.checksum</text>" in by_rule and ">2</text>" in by_rule
    by_column = html[html.index('id="chart-by-column"'):]
    by_column = by_column[:by_column.index("</svg>")]
    assert by_column.count("<rect") == len({f[1] for f in FINDINGS if f[1]})  # file-level findings have none


def test_html_chart_shows_top_twenty_with_chinese_labels():
    findings = [(i, f"字段名称第{i:02d}号", "field.code", "error", "x") for i in range(1, 31)]
    html = to_html(make_report(findings=findings))
    by_column = html[html.index('id="chart-by-column"'):]
    assert by_column[:by_column.index("</svg>")].count("<rect") == 20
    assert "字段名称第01号" in by_column and "仅显示前 20 项，共 30 项" in by_column


def test_html_highlights_exactly_the_bad_cells():
    rows = sample_cells(to_html(make_report()))
    assert len(rows) == len(SAMPLES)
    for sample, cells in zip(SAMPLES, rows, strict=True):
        assert cells[0][2] == str(sample["row"])
        for column, (cls, title, _text) in zip(COLUMNS, cells[1:], strict=True):
            if column in sample["bad"]:
                assert cls and cls.startswith("bad-")
                assert all(code in title for code in sample["rules"][column])
            else:
                assert not (cls or "").startswith("bad-") and title is None
    assert rows[0][1][0] == "bad-error"  # id.checksum
    assert rows[1][1][0] == "bad-warning"  # id.legacy_15
    assert rows[1][3][0] == "bad-error"  # field.range


def test_html_escapes_user_values():
    html = to_html(make_report())
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "坏␁值" in html and "\x01" not in html
    assert sample_cells(html)[0][2][2] == SCRIPT  # the browser shows the text as it was


def test_html_truncated_note():
    full = to_html(make_report("en"))
    assert 'id="truncated"' not in full
    html = to_html(make_report("en", max_findings=3))
    assert 'id="truncated"' in html and f"Showing the first 3 of {len(FINDINGS)} findings" in html
    table = html[html.index('class="findings"'):]
    assert table[:table.index("</table>")].count("<tr>") == 1 + 3
    assert f"仅列出前 3 条问题，共 {len(FINDINGS)} 条" in to_html(make_report("zh", max_findings=3))


def test_html_legend_lists_the_rules_present_with_their_source():
    html = to_html(make_report())
    legend = html[html.index('class="legend"'):]
    for code in {f[2] for f in FINDINGS}:
        assert f"<code>{code}</code>" in legend
    assert "GB 11643-1999 §5.5 (ISO 7064 MOD 11-2)" in legend
    assert "<code>id.format</code>" not in legend


def test_html_renders_ten_thousand_findings():
    findings = [(i, f"c{i % 40}", "id.checksum" if i % 3 else "id.legacy_15", "error" if i % 3 else "warning",
                 f"<v{i}>") for i in range(10_000)]
    html = to_html(make_report("en", findings=findings))
    assert html.count('<span class="sev ') == 10_000 + 2  # findings and legend
    assert "&lt;v9999&gt;" in html


def test_empty_report_renders_everywhere():
    report = make_report("en", findings=[])
    assert parse_csv(to_csv(report)) == [list(CSV_HEADER)]
    suite = ET.fromstring(to_junit(report))
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")
    html = to_html(report)
    assert "No findings." in html and 'class="badge pass"' in html


def test_template_ships_inside_the_package():
    assert files("fpschema").joinpath("templates", "report.html.j2").is_file()
