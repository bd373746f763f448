"""validate_record: every finding, never an exception; codes, pointers, messages, masking."""

from __future__ import annotations

import copy

import pytest

from fpschema import contract, is_valid_record, validate_record
from fpschema.reference.gb11643 import calc_check_digit

from .conftest import REF

GOOD = contract.schema("service_record")["examples"][0]


def rules(record, kind="service_record", **kw):
    return {(f.pointer, f.rule) for f in validate_record(record, kind, reference_date=REF, **kw)}


def with_(**changes):
    record = copy.deepcopy(GOOD)
    for k, v in changes.items():
        if v is None:
            record.pop(k, None)
        else:
            record[k] = v
    return record


def idn(body17: str) -> str:
    return body17 + calc_check_digit(body17)


@pytest.mark.parametrize("record", [None, 42, "text", [GOOD], 3.5, True])
def test_a_record_that_is_not_an_object_gives_a_finding(record):
    (f,) = validate_record(record, "service_record")
    assert f.rule == "record.not_object" and f.severity == "error" and f.pointer == ""


def test_unknown_kind_gives_a_finding():
    (f,) = validate_record(GOOD, "no_such_kind")
    assert f.rule == "record.unknown_kind"


def test_wrong_types_give_findings_and_every_one_is_reported():
    bad = with_(child_count="one", fee="free", is_rural="maybe", service_date="yesterday", sex=[2])
    got = rules(bad)
    for pointer in ("/child_count", "/fee", "/is_rural"):
        assert (pointer, "field.type") in got, pointer
    assert ("/service_date", "field.date") in got and ("/sex", "field.code") in got


def test_a_value_is_read_as_a_file_reads_it():
    """What a file may hold, a record may hold: the number 2 is the code "2", "是" is yes, a date written otherwise
    (or an Excel serial day) is a date with a warning, an ID given as a number is checked as its digits."""
    got = rules(with_(sex=2, is_rural="是", child_count="1", fee="0", service_date=20230419))
    assert got == {("/service_date", "field.date_nonstandard")}
    assert rules(with_(service_date=45035)) == {("/service_date", "field.date_nonstandard")}  # 2023-04-19
    assert rules(with_(service_date="45035.0")) == {("/service_date", "field.date_nonstandard")}
    assert ("/client_id", "id.format") in rules(with_(client_id=110105))
    assert rules(with_(village_code="  ", township_code="\u3000")) == set()  # blank is missing


def test_all_missing_required_fields_are_listed():
    got = rules({})
    assert {p for p, r in got if r == "field.required"} == {
        "/station_code", "/client_id", "/sex", "/birth_status", "/service_date", "/city_code"}


def test_form_labels_are_accepted_as_codes():
    assert rules(with_(birth_status="一孩")) == set()
    assert rules(with_(birth_status="一胎", sex="女", service_reason="带环怀孕")) == set()
    assert ("/birth_status", "field.code") in rules(with_(birth_status="独生"))


def test_three_child_policy_value():
    assert rules(with_(birth_status="三孩", child_count=3)) == set()
    assert ("/child_count", "service.child_count_status") in rules(with_(birth_status="三孩", child_count=2))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sex": "1"}, ("/sex", "service.sex_mismatch")),
        ({"birth_date": "1990-03-08"}, ("/birth_date", "service.birth_date_mismatch")),
        ({"service_date": "1980-01-01"}, ("/service_date", "service.before_birth")),
        ({"service_date": "2031-01-01"}, ("/service_date", "date.future")),
        ({"service_reason": "1", "iud_history": False}, ("/iud_history", "service.reason_needs_iud")),
        ({"service_reason": "2", "iud_history": ""}, ("/iud_history", "service.reason_needs_iud")),
        ({"service_reason": "3", "sterilisation_history": ""},
         ("/sterilisation_history", "service.reason_needs_sterilisation")),
        ({"is_rural": True, "fee": 10}, ("/fee", "service.rural_fee")),
        ({"procedure": "03"}, ("/sex", "service.procedure_sex")),
        ({"township_code": "110106001"}, ("/township_code", "division.hierarchy")),
        ({"village_code": "110105002001"}, ("/village_code", "division.hierarchy")),
        ({"city_code": "999999", "township_code": None, "village_code": None}, ("/city_code", "division.unknown")),
        ({"client_id": idn("11010519400101002")}, ("/service_date", "service.age_unusual")),
        ({"client_id": "11010519900307002x"}, ("/client_id", "id.normalized")),
        ({"client_id": "110105199003070000"}, ("/client_id", "id.excel_truncated")),
        ({"client_id": "1.10105E+17"}, ("/client_id", "id.excel_scientific")),
        ({"client_id": "110105900307002"}, ("/client_id", "id.legacy_15")),
        ({"station_code": "站 1"}, ("/station_code", "field.pattern")),
        ({"fee": -1}, ("/fee", "field.range")),
        ({"service_date": "2023-02-30"}, ("/service_date", "field.date")),
    ],
)
def test_each_rule_fires_on_its_defect(changes, expected):
    assert expected in rules(with_(**changes))


def test_scientific_notation_is_reported_once_not_also_as_a_format_error():
    got = rules(with_(client_id="1.10105E+17"))
    assert ("/client_id", "id.excel_scientific") in got
    assert ("/client_id", "id.format") not in got


def test_a_passport_number_is_not_checked_as_a_citizen_id():
    assert rules(with_(id_doc_type="03", client_id="E12345678")) == set()
    assert ("/client_id", "id.format") in rules(with_(id_doc_type="01", client_id="E12345678"))


def test_warnings_do_not_make_a_record_invalid():
    record = with_(client_id="11010519900307002５")
    assert [f.rule for f in validate_record(record, "service_record", reference_date=REF)] == ["id.normalized"]
    assert is_valid_record(record, "service_record", reference_date=REF)
    assert not is_valid_record(with_(sex="1"), "service_record", reference_date=REF)


def test_id_numbers_are_masked_unless_asked():
    record = with_(client_id="110105199003070026")
    (masked,) = validate_record(record, "service_record", reference_date=REF)
    assert masked.value == "110105********0026"
    (plain,) = validate_record(record, "service_record", reference_date=REF, unmask=True)
    assert plain.value == "110105199003070026"


def test_findings_carry_bilingual_messages_and_severity():
    for f in validate_record(with_(sex="1", fee=-1, extra="x"), "service_record", reference_date=REF):
        assert f.message("zh") != f.message("en")
        assert f.severity in ("error", "warning")
        assert f.pointer.startswith("/")
    assert ("/extra", "field.unknown") in rules(with_(extra="x"))


def test_other_kinds_cross_field_rules():
    inst = copy.deepcopy(contract.schema("institution")["examples"][0])
    assert rules(dict(inst, is_individual=True), "institution") >= {("/service_items", "institution.individual_surgery")}
    assert rules(dict(inst, is_individual=True, service_items=["07"]), "institution") == set()
    event = copy.deepcopy(contract.schema("adverse_event")["examples"][0])
    assert ("/escalated", "event.escalation") in rules(dict(event, severity="1", is_new=True, escalated=False),
                                                       "adverse_event")
    report = copy.deepcopy(contract.schema("indicator_report")["examples"][0])
    assert rules(dict(report, numerator=-1, denominator=-2), "indicator_report") == set()
    assert ("/numerator", "indicator.numerator_exceeds") in rules(dict(report, numerator=1001), "indicator_report")


def test_a_record_is_judged_by_what_it_carries():
    # no history key: the rule that needs it is not applied, as for a file without that column
    assert rules(with_(service_reason="2", iud_history=None)) == set()
    # the columns of its source given: the history is an empty cell there
    every = [f.name for f in contract.fields("service_record")]
    assert ("/iud_history", "service.reason_needs_iud") in rules(with_(service_reason="2", iud_history=None),
                                                                 columns=every)
    # no sex key: derived from the ID number, as in a file laid out as the 介绍信
    assert rules(with_(sex=None)) == set()
    # the 介绍信's fields alone: sex, birth date and the county code derived; a name that is no county
    referral = {"station_code": "330110001", "client_id": idn("33011019900307122"), "birth_status": "一胎",
                "service_reason": "分娩后脱环", "city_name": "临平区", "service_date": "2023-04-19"}
    assert rules(referral) == set()
    assert rules({**referral, "city_name": "不存在区"}) == {("/city_name", "division.name_unknown")}
    assert rules({"station_code": "330110001"}, layout="referral") == {
        ("/client_id", "field.required"), ("/birth_status", "field.required"), ("/service_reason", "field.required"),
        ("/city_name", "field.required"), ("/service_date", "field.required")}


def test_a_finding_reports_what_its_rule_says():
    referral = {"station_code": "330110001", "client_id": idn("33011019900307122"), "birth_status": "一胎",
                "service_reason": "分娩后脱环", "city_name": "朝阳区", "service_date": "2023-04-19"}
    (found,) = validate_record(referral, "service_record", reference_date=REF)
    assert (found.rule, found.value) == ("division.name_ambiguous",
                                         "朝阳区 → 110105（北京市朝阳区）、220104（吉林省长春市朝阳区）")
    retired = {f.rule: f.value for f in validate_record({**GOOD, "city_code": "110229", "township_code": None,
                                                          "village_code": None}, "service_record", reference_date=REF)}
    assert retired == {"division.retired": "110229 → 110119"}
