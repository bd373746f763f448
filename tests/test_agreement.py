"""The frame engine and validate_record agree, record by record, on a generated corpus with defects;
and the generator's manifest is exactly what the engine finds."""

from __future__ import annotations

import polars as pl
import pytest

from fpschema import contract, validate_record
from fpschema.contract.catalogue import RULES
from fpschema.engine import validation as engine
from fpschema.io import writer
from fpschema.rules.schema_checks import KEYWORD_RULES, schema_checks
from fpschema.testdata import generator

from .conftest import REF

# What only one side can express: rules over several records or the whole table (the record path sees one record;
# tests/test_paths.py compares every path).
ONLY_FRAME = {code for code, r in RULES.items() if r.scope in ("dataset", "report")}


def _records(frame: pl.DataFrame, kind: str) -> list[dict]:
    fields = contract.field_map(kind)
    return [{k: writer._typed_value(fields[k], v) for k, v in row.items() if v not in (None, "")}
            for row in frame.iter_rows(named=True)]


def _frame_findings(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    return engine.evaluate(text, kind, engine.Options(REF))


def test_every_kind_schema_compiles_to_expressions():
    for kind in contract.kinds():
        assert schema_checks(kind), kind


def test_record_path_and_frame_engine_agree_on_a_generated_corpus():
    frame, manifest = generator.generate("service_record", 800, seed=5, defects="all", defect_rate=0.6,
                                         reference_date=REF)
    skip = set(manifest.filter(pl.col("rule").is_in(list(ONLY_FRAME)))["index"].to_list())
    found = _frame_findings(frame, "service_record")
    by_row: dict[int, set] = {}
    for r in found.filter(~pl.col("rule").is_in(list(ONLY_FRAME))).iter_rows(named=True):
        by_row.setdefault(r["row"], set()).add((r["column"], r["rule"]))
    compared = 0
    for index, record in enumerate(_records(frame, "service_record")):
        if index in skip:
            continue
        ours = {(f.pointer.split("/")[1], f.rule) for f in validate_record(record, "service_record",
                                                                            reference_date=REF)}
        assert ours == by_row.get(index, set()), (index, record)
        compared += 1
    assert compared > 600
    assert len(by_row) > 300, "the corpus must carry defects"


def test_clean_corpus_has_no_findings():
    frame, manifest = generator.generate("service_record", 100_000, seed=11, reference_date=REF)
    assert manifest.height == 0
    assert _frame_findings(frame, "service_record").height == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_every_injected_defect_is_found_and_nothing_else(seed):
    frame, manifest = generator.generate("service_record", 30_000, seed=seed, defects="all", defect_rate=0.3,
                                         reference_date=REF)
    found = _frame_findings(frame, "service_record").select(pl.col("row").alias("index"), "column", "rule")
    truth = manifest.select("index", "column", "rule")
    assert set(truth["rule"]) == set(generator.defect_codes("service_record"))
    assert found.join(truth, on=["index", "column", "rule"], how="anti").height == 0, "false positives"
    assert truth.join(found, on=["index", "column", "rule"], how="anti").height == 0, "false negatives"


def test_a_date_in_full_width_digits_is_not_a_date_on_either_side():
    frame, _ = generator.generate("service_record", 1, seed=3, reference_date=REF)
    frame = frame.with_columns(pl.lit("２０２３-０４-１９").alias("service_date"))
    record = _records(frame, "service_record")[0]
    assert record["service_date"] == "２０２３-０４-１９"
    ours = {(f.pointer, f.rule) for f in validate_record(record, "service_record", reference_date=REF)}
    found = _frame_findings(frame, "service_record").filter(pl.col("column") == "service_date")
    assert ("/service_date", "field.date") in ours
    assert found["rule"].to_list() == ["field.date"]


# Where the engine reads more than JSON Schema alone: a date in an office layout converts (with a warning), an ID
# number is normalised (full-width digits, a lowercase x) before its pattern is tested, and Excel's scientific
# notation of an ID is named as such instead of a wrong format; a credit code is normalised as an ID number is.
READS_MORE = {"field.date_nonstandard", "id.normalized", "id.excel_scientific", "uscc.normalized"}
KEYWORD_CODES = {"type": "field.type", "format": "field.date"}


def _published_rules(record: dict, kind: str) -> set[tuple[str, str]]:
    """What the published schema alone says of a record (jsonschema, no fpschema code): (field, rule code), the
    code named by the schema (``x-rule``, ``x-rules``) or the keyword's; a value of the wrong type is reported
    alone, as the engine reports it."""
    from jsonschema import Draft202012Validator, FormatChecker

    root = contract.schema(kind)
    validator = Draft202012Validator(root, registry=contract.registry(), format_checker=FormatChecker())
    out = set()
    for error in validator.iter_errors(record):
        path = list(error.relative_schema_path)
        code = root["allOf"][path[1]].get("x-rule") if path[:1] == ["allOf"] else None
        if code is None and isinstance(error.schema, dict):
            code = error.schema.get("x-rules", {}).get(error.validator)
        if error.validator == "required":
            out |= {(p, code or "field.required") for p in error.validator_value if p not in error.instance}
        else:
            keyword = str(error.validator)
            out.add((str(error.absolute_path[0]), code or KEYWORD_CODES.get(keyword) or KEYWORD_RULES[keyword]))
    mistyped = {f for f, code in out if code in KEYWORD_CODES.values()}
    return {(f, code) for f, code in out if f not in mistyped or code in KEYWORD_CODES.values()}


@pytest.mark.parametrize("kind", contract.kinds())
def test_the_compiled_schema_agrees_with_the_published_one(kind):
    """The engine's schema checks (compiled from the JSON Schema) and jsonschema on the same records, every kind."""
    frame, manifest = generator.generate(kind, 200, seed=5, defects="all", defect_rate=0.5, reference_date=REF)
    skip = set(manifest.filter(pl.col("rule").is_in(list(READS_MORE)))["index"].to_list())
    codes = {c.rule for c in schema_checks(kind)} | set(KEYWORD_CODES.values()) | {"field.required"}
    found: dict[int, set] = {}
    for row, column, code in _frame_findings(frame, kind).select("row", "column", "rule").iter_rows():
        if code in codes:
            found.setdefault(row, set()).add((column, code))
    compared = [i for i in range(frame.height) if i not in skip]
    for index, record in enumerate(_records(frame, kind)):
        if index not in skip:
            assert _published_rules(record, kind) == found.get(index, set()), (index, record)
    assert len(compared) > 130 and len(found) > 20
