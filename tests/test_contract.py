"""The contract files: meta-schema, metadata on every property, code tables, rule codes, examples."""

from __future__ import annotations

import json
import re

import pytest
from jsonschema import Draft202012Validator

from fpschema import contract, validate_record
from fpschema.contract.catalogue import RULES

from .conftest import REF, ROOT

FILES = sorted((ROOT / "schemas").glob("*.json"))
CJK = re.compile(r"[\u4e00-\u9fff]")
KINDS = ("service_record", "institution", "staff", "adverse_event", "indicator_report", "procedure_report")


def test_the_six_kinds_are_there():
    assert set(contract.kinds()) == set(KINDS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema_passes_the_2020_12_meta_schema(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == contract.BASE_URI + path.name
    assert CJK.search(doc["title"]), "title must be Chinese"


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_has_chinese_then_english_description_and_examples(kind):
    doc = contract.schema(kind)
    assert doc["examples"], "each kind carries examples"
    for name, prop in doc["properties"].items():
        merged = contract.resolve_local(prop)
        desc = merged.get("description", "")
        assert "/ " in desc, f"{kind}.{name}: description must be 'Chinese / English'"
        zh, en = desc.split("/ ", 1)
        assert CJK.search(zh) and re.search(r"[A-Za-z]", en), f"{kind}.{name}: {desc!r}"
        assert CJK.search(merged["title"]), f"{kind}.{name}: title must be Chinese"
        assert "examples" in merged, f"{kind}.{name}: no examples"


def test_code_tables_name_their_standard_and_aliases_point_to_codes():
    tables = contract.codetables()
    assert {"gbt2261_1_sex", "ws364_cv02_01_101_id_doc_type", "birth_order", "fp_contraception_failure_reason",
            "fp_contraceptive_method_stat", "fp_procedure_type"} <= set(tables)
    for node in contract.defs().values():
        if "x-codetable" in node:
            ct = contract.CodeTable(**{k: node["x-codetable"][k] for k in
                                       ("name", "standard", "project_defined", "labels", "aliases")})
            assert ct.standard
            assert list(ct.labels) == node["enum"], f"{ct.name}: labels and enum must list the same codes"
            assert set(ct.aliases.values()) <= set(ct.labels), ct.name


def test_seed_form_wording_is_accepted():
    """The service form writes 一胎/二胎 and the four reasons; its headers are real column names."""
    status = contract.codetables()["birth_order"].lookup()
    assert status["一胎"] == "1" and status["二胎"] == "2" and status["三孩"] == "3"
    reasons = contract.codetables()["fp_contraception_failure_reason"].labels.values()
    assert set(reasons) >= {"分娩后脱环", "带环怀孕", "结扎失败", "其他避孕措施失败"}
    headers = contract.header_aliases("service_record")
    assert headers["服务对象的身份证号"] == "client_id"
    assert headers["客户的生育状况"] == "birth_status"
    assert headers["接受避孕服务的原因"] == "service_reason"
    assert headers["市(区)"] == "city_name"
    assert headers["乡(镇、街道办事处)"] == "township_name"
    assert headers["村"] == "village_name"


@pytest.mark.parametrize("kind", KINDS)
def test_header_aliases_are_unambiguous(kind):
    seen: dict[str, str] = {}
    for f in contract.fields(kind):
        for spelling in {f.name, f.title, *f.aliases}:
            assert seen.setdefault(spelling, f.name) == f.name, f"{kind}: {spelling!r} names two fields"


def test_every_rule_code_named_in_the_contract_is_in_the_catalogue():
    named = set()
    for path in FILES:
        for _, node in _walk(json.loads(path.read_text(encoding="utf-8"))):
            if "x-rule" in node:
                named.add(node["x-rule"])
            named.update(node.get("x-rules", {}).values())
    assert named, "the contract names rule codes"
    assert named <= set(RULES), named - set(RULES)


def test_catalogue_entries_are_complete():
    for code, r in RULES.items():
        assert re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", code)
        assert r.severity in ("error", "warning")
        assert CJK.search(r.zh) and re.search(r"[A-Za-z]", r.en) and r.source
        assert set(r.supersedes) <= set(RULES)


@pytest.mark.parametrize("kind", KINDS)
def test_valid_examples_have_no_findings(kind):
    for example in contract.schema(kind)["examples"]:
        assert validate_record(example, kind, reference_date=REF) == []
        Draft202012Validator(contract.schema(kind), registry=contract.registry()).validate(example)


EXPECTED_INVALID = {
    "service_record": {"id.checksum", "service.child_count_status", "service.reason_needs_sterilisation",
                       "division.hierarchy", "field.date", "service.rural_fee"},
    "institution": {"uscc.format", "field.code", "field.pattern", "institution.individual_surgery",
                    "institution.licence_overdue", "division.unknown"},
    # an empty staff_name is missing, as an empty cell is (JSON Schema alone says minLength: field.length)
    "staff": {"field.required", "id.format", "field.code", "field.pattern", "uscc.checksum"},
    "adverse_event": {"event.escalation", "event.report_before_occur"},
    "indicator_report": {"field.pattern", "indicator.numerator_exceeds", "field.range", "field.code"},
    "procedure_report": {"field.pattern", "field.range", "field.type"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_examples_give_the_expected_rules(kind):
    (example,) = contract.schema(kind)["x-invalid-examples"]
    assert {f.rule for f in validate_record(example, kind, reference_date=REF)} == EXPECTED_INVALID[kind]


def test_published_schema_alone_rejects_the_invalid_examples():
    """Another service using only the JSON files (no fpschema) rejects what the schema can say."""
    for kind in KINDS:
        (example,) = contract.schema(kind)["x-invalid-examples"]
        validator = Draft202012Validator(contract.schema(kind), registry=contract.registry())
        assert not validator.is_valid(example), kind
