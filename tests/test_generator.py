"""The generator: clean corpora pass, every defect is found exactly, files are byte-identical per seed,
the linked set agrees with itself, and the fixtures are what `make fixtures` makes."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

import fpschema
from fpschema import contract
from fpschema.engine import coverage
from fpschema.engine import validation as engine
from fpschema.io import truth, writer
from fpschema.reference import divisions
from fpschema.testdata import generator, linked, scorer

from .conftest import REF, ROOT

KINDS = contract.kinds()
# the layouts other than the full record: the forms offices fill in (the 介绍信)
LAYOUTS = [(kind, lay.name) for kind in KINDS for lay in contract.layouts(kind) if lay.name != "full"]
SEED_HEADER = ["计划生育服务站(医院、保健中心)编号", "服务对象的身份证号", "客户的生育状况", "接受避孕服务的原因", "市(区)",
               "乡(镇、街道办事处)", "村", "日期"]  # the service form of ../shared/seeds/000_bc6a94cebe759a91.txt


def _findings(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Findings on a generated frame, judged by the plan of the columns it has (its layout)."""
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    return engine.evaluate(text, kind, engine.Options(REF, plan=coverage.plan(kind, frame.columns)))


@pytest.mark.parametrize("kind", KINDS)
def test_clean_corpus_of_100k_has_zero_findings(kind):
    frame, manifest = generator.generate(kind, 100_000, seed=13, reference_date=REF)
    assert frame.height == 100_000 and manifest.height == 0
    found = _findings(frame, kind)
    assert found.height == 0, found.group_by("rule").len()


@pytest.mark.parametrize("kind", KINDS)
def test_every_defect_kind_scores_precision_and_recall_1(kind, tmp_path):
    frame, manifest = generator.generate(kind, 20_000, seed=17, defects="all", defect_rate=0.3, reference_date=REF)
    assert set(manifest["rule"]) == set(generator.defect_codes(kind))
    path = writer.write(frame, tmp_path / "data.csv", kind)
    report = fpschema.validate(path, kind, reference_date=REF)
    table = scorer.score(writer.manifest_rows(manifest, "csv", False), report.findings_all)
    assert table.filter((pl.col("precision") < 1) | (pl.col("recall") < 1)).height == 0, table


@pytest.mark.parametrize("kind", [k for k in KINDS if contract.key(k)])
@pytest.mark.parametrize("rows", [400, 5_000])
def test_generated_reports_have_unique_keys_unless_the_defect_is_injected(kind, rows):
    key = list(contract.key(kind))
    frame, _ = generator.generate(kind, rows, seed=21, reference_date=REF)
    assert frame.select(key).is_unique().all()
    frame, manifest = generator.generate(kind, rows, seed=21, defects=["report.duplicate_key"], defect_rate=0.02,
                                         reference_date=REF)
    repeated = frame.with_row_index("index").filter(pl.struct(key).is_duplicated())
    truth = manifest.filter(pl.col("rule") == "report.duplicate_key")
    assert repeated.height > 0 and sorted(repeated["index"]) == sorted(truth["index"])
    assert set(truth["column"]) == {key[0]}


def test_every_data_rule_of_the_catalogue_has_an_injector():
    from fpschema.contract.catalogue import RULES

    injected = {code for kind in KINDS for lay in contract.layouts(kind)
                for code in generator.defect_codes(kind, lay.name)} | set(linked.SET_DEFECTS)
    # file-level rules and what only a JSON record can break (a non-object, an unknown field) need no data
    not_data = {r.code for r in RULES.values() if r.scope == "file" or r.code.startswith("record.")}
    not_data |= {"field.unknown", "field.invalid"}
    not_data |= {"cell.excel_error"}  # only a spreadsheet's error cell (#N/A, #DIV/0!) breaks it: tests/test_sheets.py
    missing = set(RULES) - injected - not_data
    assert not missing, f"rules without an injector: {sorted(missing)}"


@pytest.mark.parametrize("fmt", writer.FORMATS)
def test_same_seed_same_bytes(tmp_path, fmt):
    digests = []
    for attempt in range(2):
        frame, manifest = generator.generate("service_record", 3000, seed=99, defects="all", defect_rate=0.2)
        path = writer.write(frame, tmp_path / f"{attempt}.{fmt}", "service_record", fmt=fmt, office=fmt in ("csv", "xlsx"),
                            encoding="gb18030" if fmt == "csv" else "utf-8")
        digests.append((hashlib.sha256(path.read_bytes()).hexdigest(), manifest.hash_rows().sum()))
    assert digests[0] == digests[1]
    other, _ = generator.generate("service_record", 3000, seed=100)
    assert not other.equals(generator.generate("service_record", 3000, seed=99)[0])


def test_linked_set_refers_to_itself_and_sums_exactly():
    parts = linked.linked_set(20_000, seed=5)
    for kind, frame in parts.items():
        found = _findings(frame, kind)
        assert found.height == 0, (kind, found.group_by("rule").len())
    services, inst = parts["service_record"], parts["institution"]
    assert set(services["station_code"]) == set(inst["institution_code"])
    assert set(parts["staff"]["institution_uscc"]) <= set(inst["uscc"])
    assert set(parts["adverse_event"]["client_id"]) <= set(services["client_id"])
    report = parts["procedure_report"].with_columns(pl.col("total_services").cast(pl.Int64))
    per_county = services.group_by("city_code").len()
    joined = report.join(per_county, left_on="division_code", right_on="city_code")
    assert joined.height == per_county.height and (joined["total_services"] == joined["len"]).all()
    # 麻醉流产 (08) is an "of which" column of 负压吸引术 (05) and 钳刮术: its records are counted in the first
    vacuum = services.filter(pl.col("procedure").is_in(["05", "08"])).group_by("city_code").len()
    check = report.join(vacuum, left_on="division_code", right_on="city_code")
    assert (check["vacuum_aspiration"].cast(pl.Int64) == check["len"]).all()
    anaesthesia = services.filter(pl.col("procedure") == "08").group_by("city_code").len()
    check = report.join(anaesthesia, left_on="division_code", right_on="city_code")
    assert check.height and (check["anaesthesia_abortion"].cast(pl.Int64) == check["len"]).all()


def test_fixtures_are_what_make_fixtures_makes(tmp_path):
    from fpschema.testdata import fixtures

    fixtures.build(tmp_path)
    committed = ROOT / "fixtures"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in committed.iterdir() if p.name in names)
    for name in names:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


@pytest.mark.parametrize("layout", ["full", "referral"])
def test_large_files_are_written_in_chunks_and_still_score_exactly(tmp_path, layout):
    path, expected = generator.write_generated(tmp_path / "big.csv", "service_record", 25_000, seed=3, defects="all",
                                            defect_rate=0.1, chunk_rows=10_000, layout=layout)
    report = fpschema.validate(path, "service_record", reference_date=REF)
    assert report.rows_total == 25_000 and report.to_dict()["coverage"]["layout"] == layout
    table = scorer.score(expected, report.findings_all)
    assert table.filter((pl.col("precision") < 1) | (pl.col("recall") < 1)).height == 0, table
    if layout == "full":
        ids = pl.read_csv(path, infer_schema=False, columns=["record_id"])["record_id"]
        assert ids.n_unique() == 25_000


# --- layouts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "layout"), LAYOUTS)
def test_clean_corpus_of_100k_in_a_layout_has_zero_findings(kind, layout):
    """Every county of the table (朝阳区 twice, 鼓楼区 four times, ...): each named so that the code derived from
    the name in the service year is the generated one, and no finding."""
    profile = generator.Profile(counties=10_000)
    frame, manifest = generator.generate(kind, 100_000, seed=13, reference_date=REF, layout=layout, profile=profile)
    assert frame.columns == list(generator.layout_of(kind, layout).columns) and manifest.height == 0
    found = _findings(frame, kind)
    assert found.height == 0, found.group_by("rule").len()
    full, _ = generator.generate(kind, 100_000, seed=13, reference_date=REF, profile=profile)  # the same people
    if "city_name" in frame.columns and "city_code" not in frame.columns:
        assert frame["city_name"].n_unique() == full["city_code"].n_unique() > 2800
        derived = divisions.codes_by_name_frame(frame.select(
            pl.col("city_name").alias("name"), pl.col("service_date").str.to_date().alias("year")))["code"]
        assert (derived == full["city_code"]).all()
        assert "北京市朝阳区" in set(frame["city_name"]) and "余杭区" in set(frame["city_name"])


@pytest.mark.parametrize(("kind", "layout"), LAYOUTS)
@pytest.mark.parametrize(("encoding", "office"), [("utf-8", False), ("gb18030", True)])
def test_every_defect_kind_of_a_layout_scores_precision_and_recall_1(kind, layout, encoding, office, tmp_path):
    frame, manifest = generator.generate(kind, 20_000, seed=17, defects="all", defect_rate=0.3, reference_date=REF,
                                         layout=layout)
    codes = generator.defect_codes(kind, layout)
    assert set(manifest["rule"]) == set(codes)
    path = writer.write(frame, tmp_path / "data.csv", kind, encoding=encoding, office=office, layout=layout)
    report = fpschema.validate(path, kind, reference_date=REF)
    cov = report.to_dict()["coverage"]
    assert cov["layout"] == layout and cov["columns_missing"] == []
    assert set(codes) <= set(cov["rules_applied"])  # a defect only of a rule the validator applies
    table = scorer.score(writer.manifest_rows(manifest, "csv", office), report.findings_all)
    assert table.filter((pl.col("precision") < 1) | (pl.col("recall") < 1)).height == 0, table


def test_the_referral_layout_breaks_what_its_form_can_show():
    codes = set(generator.defect_codes("service_record", "referral"))
    full = set(generator.defect_codes("service_record"))
    assert {"division.name_unknown", "division.name_ambiguous"} <= codes - full
    # sex and birth date are derived from the ID number, the history columns are absent, the county is named
    assert not codes & {"service.sex_mismatch", "service.birth_date_mismatch", "service.reason_needs_iud",
                        "division.unknown", "division.hierarchy", "dataset.id_conflict", "field.range",
                        "fpr.doc_type", "fpr.format"}  # no document type column to contradict the number
    assert codes < full | {"division.name_unknown", "division.name_ambiguous"}
    with pytest.raises(ValueError, match="referral layout"):
        generator.generate("service_record", 100, defects=["service.sex_mismatch"], layout="referral")
    with pytest.raises(ValueError, match="no layout"):
        generator.generate("institution", 100, layout="referral")


def test_injected_names_are_no_county_or_several_in_every_year_they_may_fall_in():
    first, last = 2022, 2025
    unknown, ambiguous = generator.unknown_names(first, last), generator.ambiguous_names(first, last)
    assert "不存在区" in unknown and "江干区" in unknown and "余杭区" not in unknown  # 江干区: merged away in 2021
    assert {"朝阳区", "鼓楼区"} <= set(ambiguous)
    for year in range(first, last + 1):
        assert all(divisions.codes_by_name(n, year) == [] for n in unknown[:50])
        assert all(len(divisions.codes_by_name(n, year)) > 1 for n in ambiguous)


def _office_header(path) -> list[str]:
    """The header row of an office file (below its title and 填报单位 rows), read with python-calamine."""
    if path.suffix == ".csv":
        return pl.read_csv(path, skip_rows=2, n_rows=1, infer_schema=False).columns
    from python_calamine import CalamineWorkbook

    return [str(v) for v in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[2]]


def test_office_files_of_the_referral_layout_have_the_forms_headers(tmp_path):
    lay = generator.layout_of("service_record", "referral")
    aliases = contract.header_aliases("service_record")
    assert all(aliases[lay.header(f, "service_record")] == f for f in lay.columns)
    frame, manifest = generator.generate("service_record", 300, seed=5, defects="all", layout="referral")
    for fmt in ("csv", "xlsx"):
        path, truth_rows = generator.write_generated(tmp_path / f"r.{fmt}", "service_record", 300, seed=5, defects="all",
                                                  fmt=fmt, office=True, layout="referral")
        assert _office_header(path) == SEED_HEADER
        assert truth_rows.equals(writer.manifest_rows(manifest, fmt, True))
        truth.write(path, truth_rows, kind="service_record", records=300, seed=5, defects="all", defect_rate=0.05,
                    reference_date=REF, fmt=fmt, office=True, layout="referral")
        assert truth.read(path)["layout"] == "referral"
        report = fpschema.validate(path)
        assert report.to_dict()["coverage"]["layout"] == "referral"
        table = scorer.score(truth_rows, report.findings_all)
        assert table.filter((pl.col("precision") < 1) | (pl.col("recall") < 1)).height == 0, table
