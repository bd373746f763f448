"""GB 11643 ID numbers, USCC and division codes: differential tests against python-stdnum and
reference data, and one test per rule code."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

from fpschema import contract, divisions, gb11643, uscc

from .conftest import REF

N = 100_000


def _with_check(body17: str) -> str:
    return body17 + gb11643.calc_check_digit(body17)


def test_standard_example_is_valid():
    assert gb11643.check("11010519491231002X", REF) is None
    assert gb11643.sex("11010519491231002X") == "2"
    assert gb11643.birth_date("11010519491231002X") == date(1949, 12, 31)


def test_check_digit_agrees_with_stdnum_on_100k_random_inputs():
    rng = random.Random(20261122)
    bodies = ["".join(rng.choice("0123456789") for _ in range(17)) for _ in range(N)]
    ours = pl.DataFrame({"b": bodies}).select(gb11643.check_char_expr(pl.col("b"))).to_series().to_list()
    theirs = [ric.calc_check_digit(b + "0") for b in bodies]
    assert ours == theirs


def test_whole_column_status_agrees_with_stdnum_validity_on_random_numbers():
    """For numbers whose region stdnum accepts for that birth year, both agree on validity."""
    rng = random.Random(7)
    regions = sorted(divisions.valid_codes())
    values = []
    for _ in range(20_000):
        body = rng.choice(regions) + f"{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}"
        body += f"{rng.randint(0, 999):03d}"
        number = _with_check(body)
        values.append(number if rng.random() < 0.7 else number[:-1] + rng.choice("0123456789X"))
    status = pl.DataFrame({"id": values}).select(gb11643.status_expr(pl.col("id"), REF)).to_series().to_list()
    compared = 0
    for value, code in zip(values, status, strict=True):
        try:
            ric.get_birth_place(value)
        except Exception:  # stdnum rejects codes outside their year window; we accept those on purpose
            continue
        compared += 1
        assert (code is None) == ric.is_valid(value), (value, code)
    assert compared > 1000


def test_scalar_function_and_column_expression_agree():
    rng = random.Random(3)
    values = [_with_check(f"110105{rng.randint(1950, 2010)}0101{rng.randint(0, 999):03d}") for _ in range(300)]
    values += ["1.10105E+17", "11010519491231002x", "110105491231002", "", "abc", "110105194902300021"]
    column = pl.DataFrame({"id": values}).select(gb11643.status_expr(pl.col("id"), REF)).to_series().to_list()
    assert column == [gb11643.check(v, REF) for v in values]


@pytest.mark.parametrize("ref", [REF, date(2000, 2, 29)])
def test_fast_derive_equals_the_stage_expressions(ref):
    """gb11643.derive (the engine's fast route for clean numbers) gives exactly the columns of stages()."""
    rng = random.Random(11)
    regions = sorted(divisions.valid_codes())
    values: list[str | None] = []
    for _ in range(20_000):
        body = rng.choice(regions + ["999999", "000000"]) + f"{rng.randint(1880, 2030)}{rng.randint(0, 13):02d}"
        body += f"{rng.randint(0, 32):02d}{rng.randint(0, 999):03d}"
        number = _with_check(body)
        values.append(number if rng.random() < 0.6 else number[:-1] + rng.choice("0123456789X"))
    values += ["1.10105E+17", "11010519491231002x", "110105491231002", "", "abc", "110105199003070000", None,
               "１１０１０５１９４９１２３１００２Ｘ", " 11010519491231002X", "110105-19491231-002X", "11010519491231002",
               "11010519491231002Y", "+1010519491231002X", "-1010519491231002X", "1101051949123100 X", "11010519491231002.",
               "1101051949123100２X", "110105194912310x2X"]
    # birth dates on either side of the status's limits: the reference date, and 121 years before it
    for edge in (ref, date(ref.year - 121, ref.month, 28) + timedelta(days=ref.day - 28)):
        for shift in (-2, -1, 0, 1, 2):
            values.append(_with_check(f"110105{edge + timedelta(days=shift):%Y%m%d}001"))
    frame = pl.DataFrame({"id": values}, schema={"id": pl.Utf8})
    slow = frame
    for stage in gb11643.stages("id", ref):
        slow = slow.with_columns(**stage)
    fast = gb11643.derive(frame, "id", ref)
    assert fast.select(slow.columns).equals(slow)
    assert slow.get_column("id#status").n_unique() >= 8  # the corpus reaches most rule codes


def test_layout_read_from_the_status_equals_the_contract_pattern():
    """The schema's pattern keyword on an ID field reads the status (gb11643.layout_failed) instead of a second
    regular expression: the same rows, on numbers of every kind, clean ones through derive's fast route."""
    pattern = contract.defs()["resident_id_pattern"]["pattern"]
    values = ["11010519491231002X", "110105194912310021", "1.10105E+17", "11010519491231002x", "110105491231002",
              "abc", "", None, "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002", "11010519491231002Y",
              "+1010519491231002X", "1101051949123100 X", "110105199003070000", "1101051949123100２X", "12345678901234X",
              "1234567890123456789", "110105 19491231 002X"]
    frame = gb11643.derive(pl.DataFrame({"id": values}, schema={"id": pl.Utf8}), "id", REF)
    layout = gb11643.layout_failed("id", pattern)
    assert layout is not None and gb11643.layout_failed("id", "^[0-9]+$") is None
    got = frame.select(layout.fill_null(False)).to_series().to_list()
    want = frame.select((~pl.col("id#n").str.contains(pattern)).fill_null(False)).to_series().to_list()
    assert got == want
    assert 3 <= sum(want) < len(values) - 3


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("11010519491231002X", None),
        ("110105194912310021", "id.checksum"),
        ("1.10105E+17", "id.excel_scientific"),
        ("1.10105199003E+17", "id.excel_scientific"),
        ("110105199003070000", "id.excel_truncated"),
        ("11010519491231002", "id.format"),
        ("11010519491231002Y", "id.format"),
        ("110105491231002", "id.legacy_15"),
    ],
)
def test_rule_codes(value, code):
    assert gb11643.check(value, REF) == code


def test_birth_date_rules():
    assert gb11643.check(_with_check("11010519900230002"), REF) == "id.birth_date"
    assert gb11643.check(_with_check("11010520300101002"), REF) == "id.birth_future"
    assert gb11643.check(_with_check("11010518800101002"), REF) == "id.age_range"
    # a birth later in the same year as the reference date is in the future
    assert gb11643.check(_with_check("11010520240701002"), date(2024, 6, 30)) == "id.birth_future"


def test_region_valid_at_any_time_is_accepted():
    assert gb11643.check(_with_check("00000019900101002"), REF) == "id.region"
    # 110112 通州区 exists since 1997: a person born in 1990 and registered there later is real
    assert gb11643.check(_with_check("11011219900101002"), REF) is None
    # 440305 南山区 (1990-) with a 1980 birth year; 110103 崇文区 abolished in 2010
    assert gb11643.check(_with_check("44030519800101002"), REF) is None
    assert gb11643.check(_with_check("11010319800101002"), REF) is None
    # residence permits of Hong Kong, Macao and Taiwan residents
    for prefix in divisions.PERMIT_PREFIXES:
        assert gb11643.check(_with_check(prefix + "19900101002"), REF) is None


def test_normalisation_of_office_damage():
    good = "11010519491231002X"
    for damaged in ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002x", " 110105 19491231 002X ",
                    "'11010519491231002X", "110105-19491231-002X\t", "11010519491231002X\u00a0"):
        assert gb11643.normalize(damaged) == good
        assert gb11643.check(damaged, REF) is None
    flagged = pl.DataFrame({"id": ["11010519491231002x", good, None]}).select(
        gb11643.normalized_expr(pl.col("id"))).to_series().to_list()
    assert flagged == [True, False, False]


def test_legacy_15_digit_upgrade_agrees_with_the_standard():
    assert gb11643.upgrade("110105491231002") == "11010519491231002X"
    assert ric.is_valid(gb11643.upgrade("110105491231002"))
    assert gb11643.sex("110105491231002") == "2"


def test_sex_from_17th_digit():
    assert gb11643.sex(_with_check("11010519900101001")) == "1"
    assert gb11643.sex(_with_check("11010519900101002")) == "2"


def test_uscc_agrees_with_stdnum():
    rng = random.Random(11)
    alphabet = uscc.ALPHABET
    values = []
    for _ in range(20_000):
        # stdnum wants digits in positions 1-8; GB 32100 also allows the authority code Y (compared below)
        body = rng.choice("159") + rng.choice("123") + "".join(rng.choice("0123456789") for _ in range(6))
        body += "".join(rng.choice(alphabet) for _ in range(9))
        code = body + stdnum_uscc.calc_check_digit(body)
        values.append(code if rng.random() < 0.6 else code[:-1] + rng.choice(alphabet))
    status = pl.DataFrame({"c": values}).select(uscc.status_expr(pl.col("c"))).to_series().to_list()
    assert [s is None for s in status] == [stdnum_uscc.is_valid(v) for v in values]
    assert uscc.check("91110000600037341L") is None
    assert uscc.check("91110000600037341M") == "uscc.checksum"
    assert uscc.check("9111000060003734IL") == "uscc.format"
    y_body = "Y1110105MJ0000001"  # authority Y (其他) is in GB 32100's table, stdnum rejects it
    assert uscc.check(y_body + stdnum_uscc.calc_check_digit(y_body)) is None


def test_ymd_lookup_equals_the_date_parts_for_any_date():
    """ymd_expr reads YYYYMMDD from a 400-year table; for dates from year -200 to 9999 (and nulls) it must equal
    year * 10000 + month * 100 + day."""
    import numpy as np

    rng = np.random.default_rng(3)
    days = np.concatenate([rng.integers(-800_000, 2_900_000, 100_000), rng.integers(-30_000, 30_000, 100_000),
                           [0, -1, 10_956, 10_957, 10_957 + gb11643.CYCLE, 10_957 - gb11643.CYCLE]])
    frame = pl.DataFrame({"d": days.astype(np.int32)}).select(
        pl.when(pl.int_range(pl.len()) % 97 == 5).then(None).otherwise(pl.col("d").cast(pl.Date)).alias("d"))
    d = pl.col("d")
    parts = d.dt.year().cast(pl.Int64) * 10000 + d.dt.month().cast(pl.Int64) * 100 + d.dt.day().cast(pl.Int64)
    assert frame.select(gb11643.ymd_expr(d).alias("v")).equals(frame.select(parts.alias("v")))
    assert gb11643.age_expr(pl.lit(date(2000, 2, 29)), pl.lit(date(2024, 2, 28))).meta.root_names() == []
    assert pl.select(gb11643.age_expr(pl.lit(date(2000, 2, 29)), pl.lit(date(2024, 2, 28)))).item() == 23


def test_unknown_division_expression_equals_its_regex_definition():
    """divisions.unknown_expr reads the first six characters as a number: the same rows as "starts with six
    digits that are not a known code", on signs, spaces, full-width and Arabic digits, short and long codes."""
    cells = ["110105", "110105001001", "+10105", "+10105001001", "-10105", " 10105", "11010 ", "1_0105", "0x0105",
             "１10105", "١١٠١٠٥", "000000", "999999", "1e5000", "11010.", "", None, "11010", "11010a", "999999001",
             "810000", "830000123", "010105", "1101051", "110105 ", "abcdef", "99999", "9999é", "99999９", "12345６7"]
    frame = pl.DataFrame({"c": cells}, schema={"c": pl.Utf8})
    col = pl.col("c")
    regex = col.str.contains(r"^[0-9]{6}") & ~col.str.slice(0, 6).is_in(divisions.known_codes().implode())
    got = frame.select(divisions.unknown_expr(col)).to_series().to_list()
    assert got == frame.select(regex).to_series().to_list()
    assert sum(bool(v) for v in got) >= 4
