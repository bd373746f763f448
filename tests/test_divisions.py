"""The package's division table (fpschema/data/divisions.csv): against the shared data it is built from, its
two semantics (an ID's address code at any time; a place in use in its row's year), roll-ups by the report
year's list, and names to codes."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import random
from datetime import date

import polars as pl
import pytest

from fpschema import contract, validate_record
from fpschema.engine import validation as engine
from fpschema.reference import divisions, gb11643
from fpschema.rules import aggregates

from .conftest import REF, ROOT


def _build_module():
    spec = importlib.util.spec_from_file_location("build_divisions", ROOT / "scripts" / "build_divisions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _list_2024(shared_data) -> dict[str, str]:
    lines = (shared_data / "gb2260" / "gb2260_2024.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split(maxsplit=1) for line in lines if line.strip())


def _with_check(body17: str) -> str:
    return body17 + gb11643.calc_check_digit(body17)


# --- the table and its sources ---------------------------------------------------------------------------------


def test_the_script_rebuilds_the_shipped_table_byte_for_byte(shared_data, tmp_path):
    build = _build_module()
    built = build.build(shared_data / "gb2260", tmp_path, date(2026, 12, 2))
    shipped = ROOT / "fpschema" / "data" / "divisions.csv"
    assert built.read_bytes() == shipped.read_bytes()
    provenance = (ROOT / "fpschema" / "data" / "divisions.PROVENANCE.md").read_text(encoding="utf-8")
    for name in ("areacodes.csv", "gb2260_2024.txt"):  # the provenance names the inputs it was built from
        assert hashlib.sha256((shared_data / "gb2260" / name).read_bytes()).hexdigest() in provenance
    assert "yescallop/areacodes" in provenance and "CC0" in provenance


def test_every_code_of_the_2024_list_is_known_and_in_use_in_2024(shared_data):
    current = _list_2024(shared_data)
    assert len(current) > 3000
    assert not set(current) - divisions.valid_codes()
    assert all(divisions.in_use(code, 2024) and divisions.name(code, 2024) == name for code, name in current.items())
    counties = {code for code in current if not code.endswith("00")}
    assert divisions.county_codes(2024) == counties
    frame = pl.DataFrame({"n": [int(c) for c in counties], "y": [2024] * len(counties)})
    assert frame.select(divisions.place_status_expr(pl.col("n"), pl.col("y"))).to_series().null_count() == len(counties)


def test_every_code_and_period_of_areacodes_is_in_the_table(shared_data):
    with open(shared_data / "gb2260" / "areacodes.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    periods = {(r["代码"], r["名称"], int(r["启用时间"]), int(r["变更/弃用时间"] or 0) or None) for r in rows}
    ours = {(code, p.name, p.start, p.end) for code, ps in divisions.history().items() for p in ps}
    assert ours == periods


def test_codes_missing_from_or_wrong_in_loc_dat():
    # 临平区 and 钱塘区 (2021): in use in 2023, not before 2021
    for code in ("330113", "330114"):
        assert divisions.in_use(code, 2023) and divisions.in_use(code, 2021) and not divisions.in_use(code, 2020)
        assert gb11643.check(_with_check(code + "19900101002"), REF) is None
    # 232761-232764 are no GB/T 2260 codes; 429001 随州市 ended in 2000
    assert not any(str(code) in divisions.history() for code in range(232761, 232765))
    assert gb11643.check(_with_check("23276119900101002"), REF) == "id.region"
    assert divisions.history()["429001"][-1].end == 2000 and not divisions.in_use("429001", 2001)


def test_names_and_successors_by_year():
    assert [divisions.name("330402", y) for y in (1985, 2000, 2010)] == ["城区", "秀城区", "南湖区"]
    assert divisions.name("110103") == "崇文区" and divisions.name("999999") is None
    assert divisions.successors("110229") == ("110119",)
    assert divisions.successors("110105") == ()
    # 130106 郊区 (abolished 2001) went to five codes; 130103 桥东区 was itself abolished in 2014
    assert "130103" in divisions.successors("130106")
    assert "130103" in divisions.successors_in("130106", 2010)
    assert divisions.successors_in("130106", 2023) == ("130102", "130104", "130105", "130108")


def test_expression_agrees_with_the_periods_on_every_code_and_year():
    """place_status_expr (one lookup per row) against the definition written over history()."""
    first, last = divisions.years()
    rng = random.Random(5)
    codes = sorted(divisions.history())
    pairs = [(rng.choice(codes), rng.randint(first - 3, last + 3)) for _ in range(20_000)]
    frame = pl.DataFrame({"n": [int(c) for c, _ in pairs], "y": [y for _, y in pairs]})
    got = frame.select(divisions.place_status_expr(pl.col("n"), pl.col("y"))).to_series().to_list()

    def expected(code: str, year: int) -> str | None:
        year = min(max(year, first), last + 1)
        if code.endswith("00"):
            return "division.not_in_use"
        periods = divisions.history()[code]
        if any(p.start <= year and (p.end is None or year <= p.end) for p in periods):
            return None
        return "division.retired" if any(p.start < year for p in periods) else "division.not_in_use"

    assert got == [expected(c, y) for c, y in pairs]
    assert {"division.retired", "division.not_in_use", None} <= set(got)


# --- the place of a service or report ----------------------------------------------------------------------------


def _service(city: str, day: str) -> dict:
    record = dict(contract.schema("service_record")["examples"][0])
    township, village = record.get("township_code"), record.get("village_code")
    record.update(city_code=city, service_date=day)
    if township:
        record["township_code"] = city + township[6:]
    if village:
        record["village_code"] = city + village[6:]
    return record


@pytest.mark.parametrize(("city", "day", "rule"), [
    ("110105", "2023-05-01", None),
    ("330113", "2023-05-01", None),  # 临平区, in use since 2021
    ("330113", "2020-05-01", "division.not_in_use"),  # not yet created
    ("110000", "2023-05-01", "division.not_in_use"),  # a province
    ("330100", "2023-05-01", "division.not_in_use"),  # a prefecture
    ("110201", "2023-05-01", "division.unknown"),  # never a code (superseding not_in_use)
    ("110229", "2015-05-01", None),  # 延庆县, abolished during 2015
    ("110229", "2023-05-01", "division.retired"),
])
def test_service_place_in_use_in_the_service_year(city, day, rule):
    record = _service(city, day)
    found = {f.rule for f in validate_record(record, "service_record", reference_date=REF)}
    assert found & {"division.not_in_use", "division.retired", "division.unknown"} == ({rule} if rule else set())
    assert all(f.severity == "warning" for f in validate_record(record, "service_record", reference_date=REF)
               if f.rule == "division.retired")


def test_retired_place_reports_its_successor_on_the_frame_path():
    records = [_service("110229", "2023-05-01"), _service("130106", "2023-05-01"), _service("110105", "2023-05-01")]
    text = pl.DataFrame(records).with_columns(pl.all().cast(pl.Utf8)).with_row_index("__row__").with_columns(
        pl.col("__row__").cast(pl.Int64))
    found = engine.evaluate(text, "service_record", engine.Options(REF)).filter(pl.col("rule") == "division.retired")
    assert found.select("row", "severity", "value").rows() == [
        (0, "warning", "110229 → 110119"), (1, "warning", "130106 → 130102;130104;130105;130108")]


@pytest.mark.parametrize("kind", aggregates.TABLE_KINDS)
@pytest.mark.parametrize(("code", "year", "rule"), [
    ("330110", 2023, None), ("330100", 2023, None), ("330000", 2023, None),  # county, prefecture, province rows
    ("330113", 2020, "division.not_in_use"), ("330103", 2021, None), ("330103", 2023, "division.retired"),
    ("330101", 2023, "division.not_in_use"),  # a 市辖区 summary code: valid on an ID, never a place
])
def test_report_division_in_use_at_its_level_in_the_report_year(kind, code, year, rule):
    record = dict(contract.schema(kind)["examples"][0], division_code=code, report_year=year)
    found = {f.rule for f in validate_record(record, kind, reference_date=date(2024, 6, 30))}
    assert found & {"division.not_in_use", "division.retired", "division.unknown"} == ({rule} if rule else set())


def test_every_place_field_names_its_year_in_the_contract():
    places = [(kind, f) for kind in contract.kinds() for f in contract.fields(kind) if "x-division-year" in f.spec]
    assert {(kind, f.name) for kind, f in places} == {("service_record", "city_code"), ("indicator_report",
                                                      "division_code"), ("procedure_report", "division_code")}
    for kind, f in places:
        source = contract.field_map(kind)[f.spec["x-division-year"]]
        assert source.fmt == "date" or source.json_type == "integer"
        assert set(f.spec["x-division-levels"]) <= set(divisions.LEVELS)


# --- an ID number's address code ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "born", "warned"), [
    ("110229", 2020, False),  # abolished 2015: within the grace years
    ("110229", 2021, True),
    ("110229", 1970, False),
    ("330113", 1950, False),  # created after the birth year: real (first registration later)
    ("830000", 2010, False),  # residence permit
    ("130101", 2010, False),  # 市辖区 summary code
])
def test_id_address_code_retired_long_before_the_birth_year(region, born, warned):
    number = _with_check(f"{region}{born}0101002")
    assert gb11643.check(number, REF) is None  # valid at any time: never id.region
    rules = {f.rule for f in validate_record(_service("110105", "2023-05-01") | {"client_id": number,
                                                                                 "birth_date": f"{born}-01-01"},
                                             "service_record", reference_date=REF)}
    assert ("id.region_retired" in rules) == warned


def test_id_retired_flag_is_the_same_on_both_routes():
    """gb11643.derive (the fast route) and the stage expressions give the columns id.region_retired reads."""
    rng = random.Random(9)
    regions = ["110229", "132101", "330113", "110105", "830000", "130101"]
    values = [_with_check(f"{rng.choice(regions)}{rng.randint(1950, 2023)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}"
                          f"{rng.randint(100, 999)}") for _ in range(2_000)]
    frame = pl.DataFrame({"client_id": values})
    fast = gb11643.derive(frame, "client_id", REF)
    slow = frame
    for stage in gb11643.stages("client_id", REF):
        slow = slow.with_columns(**stage)
    flag = gb11643.region_retired_expr("client_id")
    assert fast.select(flag).equals(slow.select(flag))
    assert fast.select(flag).to_series().sum() > 100


# --- roll-ups and names ------------------------------------------------------------------------------------------


def test_rollups_expect_the_report_years_list():
    assert "330103" in divisions.county_codes(2020) and "330103" not in divisions.county_codes(2021)
    assert "330113" in divisions.county_codes(2021) and "330113" not in divisions.county_codes(2020)
    assert "330113" in aggregates.expected_children("330100", 2021)
    assert "330103" not in aggregates.expected_children("330100", 2021)
    assert "330103" in aggregates.expected_children("330100", 2020)
    # counties directly under a province roll up into it (直辖)
    assert "110105" in aggregates.expected_children("110000", 2023)
    assert "429004" in aggregates.expected_children("420000", 2023)


def test_codes_by_name_in_a_year():
    assert divisions.codes_by_name("朝阳区", 2023) == ["110105", "220104"]
    for spelling in ("余杭区", "杭州市余杭区", "浙江省杭州市余杭区", "浙江省 杭州市 余杭区", "　杭州市余杭区 "):
        assert divisions.codes_by_name(spelling, 2023) == ["330110"], spelling
    assert divisions.codes_by_name("临平区", 2023) == ["330113"]
    assert divisions.codes_by_name("临平区", 2020) == []
    assert divisions.codes_by_name("北京市朝阳区", 2023) == ["110105"]
    assert divisions.codes_by_name("不存在县", 2023) == []


def test_codes_by_name_for_a_column():
    frame = pl.DataFrame({"name": ["朝阳区", "杭州市临平区", None, "临平区", "延庆县", "延庆县"],
                          "day": [date(2023, 1, 5), date(2023, 1, 5), date(2023, 1, 5), date(2019, 3, 1),
                                  date(2014, 1, 1), date(2016, 1, 1)]})
    out = divisions.codes_by_name_frame(frame, "name", "day")
    assert out["code"].to_list() == [None, "330113", None, None, "110229", None]
    assert out["candidates"].to_list() == [["110105", "220104"], ["330113"], [], [], ["110229"], []]


def test_the_walk_for_a_finding_equals_the_chain_of_joins():
    """division.retired's text walks a dictionary for its few failing rows (divisions._successors_of); the
    reference is the column form, successors_frame: the same successors on every 20th retired (code, year)."""
    every = divisions._retired().select("number", "year").gather_every(20).with_row_index("#row")
    reference = divisions.successors_frame(every).get_column("successors").to_list()
    walked = [[str(c) for c in divisions._successors_of(n, y)] for _, n, y in every.iter_rows()]
    assert walked == reference and len(walked) > 4000
