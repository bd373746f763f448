"""The frame engine and validate_record agree, record by record, on a generated corpus with defects;
and the generator's manifest is exactly what the engine finds."""

from __future__ import annotations

import polars as pl
import pytest

from fpschema import contract, engine, generator, validate_record, writer
from fpschema.catalogue import RULES
from fpschema.schema_checks import schema_checks

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
