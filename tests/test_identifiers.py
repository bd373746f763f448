"""GB 11643 ID numbers, USCC and division codes: differential tests against python-stdnum and
reference data, and one test per rule code."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest
from stdnum.cn import ric
from stdnum.cn import uscc as stdnum_uscc

import fpschema
from fpschema import contract, validate_record
from fpschema.contract import catalogue
from fpschema.reference import divisions, fpr, gb11643, uscc

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
    # 2023 permanent-residence numbers: good, each part wrong (check digit recomputed), damaged, 15-digit 9s
    values += [_with_check(body) for body in ("91139819901231002", "93268219850101001", "99939819900101002",
                                              "97139819900101002", "91199919900101002", "91139819900231002",
                                              "91139820300101002", "91139818800101002")]
    values += ["911398199012310022", "９１１３９８１９９０１２３１００２１", "911398491231002", "91139819901231002x"]
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
    assert slow.get_column("id#status").n_unique() >= 14  # the corpus reaches most rule codes


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


# --- 2023 foreign permanent-residence ID cards (外国人永久居留身份证) -------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("91139819901231002", None),  # 11 北京, 398 Kazakhstan (CredentialKit's vector)
        ("93268219850101001", None),  # 32 江苏, 682 Saudi Arabia (hutool's vector)
        ("99939819901231002", "fpr.province"),
        ("97139819901231002", "fpr.province"),  # 台湾 is not where the card is applied for
        ("98139819901231002", "fpr.province"),  # 81 香港 neither
        ("91199919901231002", "fpr.nationality"),  # a warning
        ("91139819900231002", "fpr.birth_date"),
        ("91139820300101002", "fpr.birth_future"),
        ("91139818800101002", "fpr.age_range"),
    ],
)
def test_permanent_residence_rules(body, code):
    number = _with_check(body)
    assert gb11643.check(number, REF) == code
    assert fpr.check(number, REF) == code
    assert fpr.is_valid(number, REF) == (code in (None, "fpr.nationality"))
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    assert gb11643.check(wrong, REF) == "fpr.checksum"


def test_permanent_residence_sex_birth_and_verbs():
    number = _with_check("93268219850101001")
    assert gb11643.sex(number) == "1" and gb11643.birth_date(number) == date(1985, 1, 1)
    assert fpr.compact(" 9326 8219 8501 0100 1" + number[-1]) == number
    assert fpr.validate(number, REF) == number
    with pytest.raises(ValueError, match="fpr.checksum"):
        fpr.validate(number[:-1] + ("1" if number[-1] != "1" else "2"), REF)
    assert fpr.check("11010519491231002X", REF) == "fpr.format"  # a citizen's number is not the card's
    # a 15-digit number starting with 9 is a broken citizen's number, not the card's
    assert gb11643.check("911398901231002", REF) == "id.region"
    assert "71" not in fpr.provinces().to_list() and {"11", "31", "44", "65"} <= set(fpr.provinces().to_list())
    assert {"398", "682", "840"} <= set(fpr.nationalities().to_list())


def _service(**changes):
    record = dict(contract.schema("service_record")["examples"][0])
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def _rules(record):
    return {(f.pointer, f.rule) for f in validate_record(record, "service_record", reference_date=REF)}


def test_permanent_residence_document_type_in_service_records():
    card = _with_check("93268219850101002")  # a woman born 1985-01-01
    # no document type (the seed's form): read from the number, sex and birth date derived from it
    assert _rules(_service(id_doc_type=None, client_id=card, sex="2")) == set()
    assert ("/sex", "service.sex_mismatch") in _rules(_service(id_doc_type=None, client_id=card, sex="1"))
    assert ("/birth_date", "service.birth_date_mismatch") in _rules(
        _service(id_doc_type=None, client_id=card, sex="2", birth_date="1985-01-02"))
    # the project-defined code 91 and its aliases
    for label in ("91", "外国人永久居留身份证", "永居证", "外国人永久居留证"):
        assert _rules(_service(id_doc_type=label, client_id=card, sex="2")) == set(), label
    # 91 with a citizen's number: the card's layout rule; 01 with a card's number: a warning to fix the type
    assert _rules(_service(id_doc_type="91", client_id="110105199003070025")) == {("/client_id", "fpr.format")}
    assert _rules(_service(id_doc_type="01", client_id=card, sex="2")) == {("/client_id", "fpr.doc_type")}
    # the card's own rules under either type; a passport's number is not checked
    bad = _with_check("99939819901231002")
    assert ("/client_id", "fpr.province") in _rules(_service(id_doc_type=None, client_id=bad, sex="2"))
    assert ("/client_id", "fpr.province") in _rules(_service(id_doc_type="91", client_id=bad, sex="2"))
    assert _rules(_service(id_doc_type="03", client_id=bad, sex="2")) == set()
    # spreadsheet damage under 91 is named as such (it supersedes the layout rule)
    assert _rules(_service(id_doc_type="91", client_id="9.32682E+17")) == {("/client_id", "id.excel_scientific")}
    table = contract.codetables()["ws364_cv02_01_101_id_doc_type"]
    assert table.project_codes == ("91",) and table.lookup()["永居证"] == "91"


def test_permanent_residence_frame_path_equals_record_path():
    card = _with_check("93268219850101002")
    records = [_service(id_doc_type=doc, client_id=number, sex=sex)
               for doc, number, sex in ((None, card, "2"), (None, card, "1"), ("01", card, "2"), ("91", card, "2"),
                                        ("91", "110105199003070025", "2"), ("永居证", card, "2"),
                                        (None, _with_check("99939819901231002"), "2"),
                                        (None, _with_check("91199919901231002"), "1"))]
    report = fpschema.validate(records, "service_record", reference_date=REF)
    frame = {(r["row"], "/" + r["column"], r["rule"]) for r in report.findings_all.iter_rows(named=True)
             if not r["rule"].startswith("dataset.")}
    single = {(i, p, rule) for i, record in enumerate(records) for p, rule in _rules(record)}
    assert frame == single
    assert (1, "/sex", "service.sex_mismatch") in single and (7, "/client_id", "fpr.nationality") in single


# --- GB 32100 credit codes: structure warnings ------------------------------------------------------------


def _uscc(body16: str, org: str | None = None) -> str:
    org = org or pl.select(uscc.org_check_char_expr(pl.lit(body16 + "00"))).item()
    return body16 + org + pl.select(uscc.check_char_expr(pl.lit(body16 + org + "0"))).item()


def test_uscc_organisation_check_agrees_with_published_codes():
    """GB 11714 check (weights 3,7,9,10,5,8,4,2; 10 X, 11 0) holds on real codes, letters valued A=10..Z=35:
    NumberValidators' MA1MRHG20 (check 0) and CredentialKit's MA27Y4U47 (check 7)."""
    assert uscc.warnings("91320621MA1MRHG205") == [] and uscc.warnings("91330106MA27Y4U47R") == []
    assert pl.select(uscc.org_check_char_expr(pl.lit("91320621MA1MRHG2"))).item() == "0"
    # by hand: sum 0 → 11, written 0; 1 × 10 → 1; 1 × 2 → 9; 3 × 4 = 12 ≡ 1 → 10, written X; A (10) × 3 = 30 → 3
    for body, due in (("00000000", "0"), ("00010000", "1"), ("00000001", "9"), ("00000030", "X"), ("A0000000", "3")):
        assert pl.select(uscc.org_check_char_expr(pl.lit("00000000" + body))).item() == due, body


@pytest.mark.parametrize(
    ("code", "warnings"),
    [
        (_uscc("9133010640069013"), []),
        (_uscc("9133010640069013", org="9"), ["uscc.org_checksum"]),
        (_uscc("8833010640069013"), ["uscc.registration"]),
        (_uscc("9433010640069013"), ["uscc.registration"]),  # 9 (工商) has types 1, 2, 3, 9
        (_uscc("Y133010640069013"), []),
        (_uscc("N233010640069013"), []),
        (_uscc("9188010640069013"), ["uscc.division"]),
        (_uscc("9110000040069013"), []),  # national level
        (_uscc("8899999940069013", org="1"), ["uscc.org_checksum", "uscc.registration", "uscc.division"]),
    ],
)
def test_uscc_structure_warnings(code, warnings):
    assert uscc.check(code) is None and uscc.is_valid(code)
    assert uscc.warnings(code) == warnings


def test_uscc_normalisation_and_paths():
    good = "91110000600037341L"
    for damaged in ("91 110000 600037341L", "91110000600037341l", "９１１１００００６０００３７３４１Ｌ", "91-110000-600037341L"):
        assert uscc.compact(damaged) == good and uscc.check(damaged) is None
    example = contract.schema("institution")["examples"][0]
    records = [dict(example, uscc=v) for v in ("91110000600037341l", good, _uscc("8833010640069013"),
                                               "91110000600037341M", "9111000060003734IL")]
    single = [{f.rule for f in validate_record(r, "institution", reference_date=REF) if f.pointer == "/uscc"}
              for r in records]
    assert single == [{"uscc.normalized"}, set(), {"uscc.registration"}, {"uscc.checksum"}, {"uscc.format"}]
    report = fpschema.validate(records, "institution", reference_date=REF)
    frame = [set() for _ in records]
    for r in report.findings_all.filter(pl.col("column") == "uscc").iter_rows(named=True):
        frame[r["row"]].add(r["rule"])
    assert frame == single
    assert catalogue.rule("uscc.org_checksum").severity == "warning"
