"""fpschema.validate on real files of every format: row numbers, file rules, masking, quarantine, and the
report structure."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

import fpschema
from fpschema import contract
from fpschema.contract.check import one_of
from fpschema.contract.mask import mask_expr, mask_id
from fpschema.engine import evaluation
from fpschema.engine import validation as engine
from fpschema.errors import InputError
from fpschema.io import writer
from fpschema.io.reader import Limits
from fpschema.rules import dataset_checks
from fpschema.rules.schema_checks import _matches
from fpschema.testdata import generator, scorer

from .conftest import REF

KIND = "service_record"


@pytest.fixture(scope="module")
def corpus():
    return generator.generate(KIND, 3000, seed=21, defects="all", defect_rate=0.25, reference_date=REF)


def _score(report, manifest, fmt, office):
    truth = writer.manifest_rows(manifest, fmt, office)
    found = report.findings_all.select("row", "column", "rule")
    return scorer.score(truth, found).filter(pl.col("rule") == "overall").row(0, named=True)


@pytest.mark.parametrize(("fmt", "encoding", "office"), [
    ("csv", "utf-8", False), ("csv", "gb18030", True), ("xlsx", "utf-8", True), ("xlsx", "utf-8", False),
    ("jsonl", "utf-8", False), ("parquet", "utf-8", False),
])
def test_every_format_finds_exactly_the_injected_defects(tmp_path, corpus, fmt, encoding, office):
    frame, manifest = corpus
    path = writer.write(frame, tmp_path / f"data.{fmt}", KIND, fmt=fmt, encoding=encoding, office=office)
    report = fpschema.validate(path, reference_date=REF)
    assert report.kind == KIND  # inferred from the header
    overall = _score(report, manifest, fmt, office)
    assert (overall["precision"], overall["recall"]) == (1.0, 1.0), overall
    assert report.rows_total == frame.height
    assert report.rows_total == report.rows_valid + report.rows_invalid
    if fmt == "csv":
        assert report.source["encoding"] == encoding
    if office:
        assert report.source["totals_rows"] == [frame.height + 4]


def test_report_structure_and_masking(tmp_path, corpus):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    report = fpschema.validate(path, KIND, reference_date=REF, max_findings=50)
    doc = json.loads(report.to_json())
    assert set(doc) == {"fpschema_version", "kind", "source", "reference_date", "reference_date_source", "ok",
                        "rows_total", "rows_valid", "rows_invalid", "counts", "findings", "truncated", "coverage"}
    assert (doc["reference_date"], doc["reference_date_source"]) == (REF.isoformat(), "option")
    assert {"name", "format", "encoding", "sha256"} <= set(doc["source"])
    assert set(doc["counts"]) == {"by_rule", "by_column", "by_severity"}
    assert set(doc["findings"][0]) == {"row", "column", "rule", "severity", "value", "sheet", "message"}
    assert doc["truncated"] is True and len(doc["findings"]) == 50
    assert sum(doc["counts"]["by_severity"].values()) == report.findings_all.height
    ids = set(frame["client_id"].drop_nulls().to_list())
    assert not any(f["value"] in ids for f in doc["findings"] if f["column"] == "client_id")
    unmasked = fpschema.validate(path, KIND, reference_date=REF, unmask=True)
    values = set(unmasked.findings.filter(pl.col("column") == "client_id")["value"].to_list())
    assert values & ids


def test_one_bad_cell_never_hides_another(tmp_path):
    good = fpschema.schema(KIND)["examples"][0]
    rows = [dict(good, fee="免费"), dict(good, fee="-3"), dict(good, child_count="x", fee="-1"),
            dict(good, service_date="2023-13-01")]
    path = tmp_path / "mixed.csv"
    pl.DataFrame([{k: str(v) for k, v in r.items()} for r in rows]).write_csv(path)
    found = {(r["row"], r["column"], r["rule"]) for r in fpschema.validate(path, KIND, reference_date=REF)
             .findings_all.iter_rows(named=True)}
    assert {(2, "fee", "field.type"), (3, "fee", "field.range"), (4, "child_count", "field.type"),
            (4, "fee", "field.range"), (5, "service_date", "field.date")} <= found


def test_file_rules(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("服务站编号,身份证号,公民身份号码,备注,性别\n110105001,11010519491231002X,,x,2\n",
                    encoding="utf-8")
    report = fpschema.validate(path, KIND, reference_date=REF)
    file_level = {(r["column"], r["rule"]) for r in report.findings_all.filter(pl.col("row").is_null())
                  .iter_rows(named=True)}
    assert ("备注", "file.unknown_column") in file_level
    assert ("公民身份号码", "file.duplicate_column") in file_level
    # one finding for the file: the nearest layout (the value) and the required columns it lacks
    missing = report.findings_all.filter(pl.col("rule") == "file.missing_column")
    assert missing.height == 1 and missing["row"][0] is None
    assert {"birth_status", "service_date"} <= set(missing["column"][0].split(","))
    assert missing["value"][0] == "full"
    assert report.rows_invalid == report.rows_total  # nothing in the file can be accepted
    assert report.rows_invalid == report.rows_total == 1
    header_only = tmp_path / "header.csv"
    header_only.write_text("服务站编号,身份证号,性别,生育状况,服务日期,市(区)代码\n", encoding="utf-8")
    report = fpschema.validate(header_only, reference_date=REF)
    assert report.rows_total == 0 and "file.no_rows" in report.counts["by_rule"] and not report.ok


def test_in_memory_sources(corpus):
    frame, manifest = corpus
    small = frame.head(300)
    # pair defects (duplicates, ID conflicts) may have their partner beyond the first 300 rows: leave them out
    single = ~pl.col("rule").str.starts_with("dataset.")
    expected = {(r["index"], r["column"], r["rule"]) for r in manifest.filter((pl.col("index") < 300) & single)
                .iter_rows(named=True)}
    for source in (small, small.to_pandas(), small.to_dicts()):
        report = fpschema.validate(source, KIND, reference_date=REF)
        got = {(r["row"], r["column"], r["rule"]) for r in report.findings_all.filter(single).iter_rows(named=True)}
        assert got == expected, type(source)


def test_kind_inference_and_errors(tmp_path):
    path = tmp_path / "staff.csv"
    path.write_text("姓名,执业资格,执业注册证书编号,所在机构统一社会信用代码\n李春梅,执业医师,110110105000123,"
                    "12110105400690135U\n", encoding="utf-8")
    report = fpschema.validate(path, reference_date=REF)
    assert report.kind == "staff" and report.ok
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        fpschema.validate(odd)
    assert err.value.code == "input.kind_not_inferred"
    with pytest.raises(InputError) as err:
        fpschema.validate(path, "no_such_kind")
    assert err.value.code == "input.unknown_kind"


def test_quarantine_keeps_original_values(tmp_path, corpus):
    frame, manifest = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    report = fpschema.validate(path, KIND, reference_date=REF, valid_out=tmp_path / "ok.csv",
                               invalid_out=tmp_path / "bad.csv")
    ok = pl.read_csv(tmp_path / "ok.csv", infer_schema=False, encoding="utf8")
    bad = pl.read_csv(tmp_path / "bad.csv", infer_schema=False, encoding="utf8")
    assert ok.height == report.rows_valid and bad.height == report.rows_invalid
    assert ok.height + bad.height == frame.height
    assert ok.columns == frame.columns
    assert set(bad["client_id"].drop_nulls()) <= set(frame["client_id"].drop_nulls())
    assert any("１" in v for v in ok["client_id"].drop_nulls())  # id.normalized is a warning: kept as given


def test_renderers_from_a_real_report(tmp_path, corpus):
    frame, _ = corpus
    path = writer.write(frame, tmp_path / "data.csv", KIND)
    report = fpschema.validate(path, KIND, reference_date=REF)
    html = report.to_html()
    assert "校验报告" in html and "<svg" in html and report.sample_rows
    assert report.to_csv().startswith("row,column,rule,severity,value,message")
    assert "<testsuite" in report.to_junit()
    assert report.findings.columns == ["row", "column", "rule", "severity", "value", "sheet", "message"]


def test_pandera_schema_flags_the_same_rows():
    from datetime import date

    from fpschema.pandera_schema import pandera_schema, prepare

    frame, manifest = generator.generate(KIND, 400, seed=4, defects=["id.checksum", "service.rural_fee"],
                                         defect_rate=0.1, reference_date=REF)
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    prepared = prepare(text, KIND, date(2024, 6, 30))
    import pandera.polars as pa

    with pytest.raises(pa.errors.SchemaErrors) as err:
        pandera_schema(KIND, REF).validate(prepared, lazy=True)
    cases = err.value.failure_cases
    flagged = {(int(i), c.split("|")[0]) for i, c in zip(cases["index"], cases["check"], strict=True)}
    assert flagged == {(r["index"], r["rule"]) for r in manifest.iter_rows(named=True)}


def test_batched_validation_equals_whole_file(tmp_path):
    from datetime import date

    from fpschema.engine import validation as engine

    frame, _ = generator.generate(KIND, 12_000, seed=3, defects="all", defect_rate=0.3, reference_date=REF)
    path = writer.write(frame, tmp_path / "big.csv", KIND)
    ref = date(2024, 6, 30)
    batched = engine.validate_batched(path, KIND, batch_rows=2_500, reference_date=ref)
    whole = fpschema.validate(path, KIND, reference_date=ref)
    key = ["row", "column", "rule"]
    assert batched.findings_all.select(key).sort(key).equals(whole.findings_all.select(key).sort(key))
    assert (batched.rows_total, batched.rows_invalid) == (whole.rows_total, whole.rows_invalid)
    assert batched.source["sha256"] == whole.source["sha256"]


def test_short_id_values_are_masked_without_blowing_up_memory():
    """Masking runs both branches on every row: a count below zero once asked for billions of stars."""
    import subprocess
    import sys

    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "import fpschema\n"
        "rows = [{'client_id': v, 'sex': '2'} for v in ('1', '12345', '\\x00x', '123456789')]\n"
        "r = fpschema.validate(rows, 'service_record')\n"
        "print(sorted(set(r.findings.filter(r.findings['column'] == 'client_id')['value'].to_list())))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['*', '**', '*****', '*********']"


@pytest.mark.parametrize("kind", contract.kinds())
def test_checks_on_distinct_values_flag_the_same_rows_as_row_by_row(kind):
    """_flag_exprs evaluates pattern and code-list checks on a column's distinct values (found, or reported by
    prepare); the flags must be those of every check evaluated on every row."""
    frame, _ = generator.generate(kind, 20_000, seed=5, defects="all", defect_rate=0.2)
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    known: dict[str, pl.Series] = {}
    typed = engine.prepare(text, kind, REF, known)
    todo = engine.all_checks(kind, REF, cross_row=False)
    plain = typed.select(c.failed.fill_null(False).alias(str(i)) for i, c in enumerate(todo))
    assert plain.select(pl.any_horizontal(pl.all())).to_series().sum() > 1000
    for hints in (None, known):
        fast = typed.select(e.alias(str(i)) for i, e in enumerate(evaluation._flag_exprs(typed, todo, hints)))
        assert fast.equals(plain)
    assert known, "prepare reports the values of the columns it converts through their distinct texts"
    chosen = {todo[i].rule for idx in evaluation._costly(todo).values() for i in idx}  # checks marked per_value
    if any(c.per_value and c.rows is None for c in todo):  # (division codes are read as numbers instead: rows)
        assert chosen & {"field.code", "field.pattern"}, "the pattern and code-list checks take the distinct route"


def test_texts_seen_in_earlier_blocks_change_no_value_and_no_flag():
    """A block converted with the few-valued columns' texts of earlier blocks (convert._distinct_texts: a text no
    longer there, and new texts found by comparisons) gets the same typed frame, and the distinct route the same
    flags, as without them."""
    frame, _ = generator.generate(KIND, 20_000, seed=7, defects="all", defect_rate=0.2)
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    first, second = text.head(8_000), text.slice(8_000)
    # a spelling the first block does not hold: found in the second by comparisons with the texts seen
    second = second.with_columns(pl.when(pl.col("__row__") % 97 == 0).then(pl.lit("女")).otherwise("sex").alias("sex"))
    seen: dict[str, tuple[str, ...]] = {}
    engine.prepare(first.with_columns(pl.col("sex").replace("女", "2")), KIND, REF, {}, seen)
    seen["sex"] = (*seen["sex"], "不详")  # a text the second block does not hold
    small = {n for n, texts in seen.items() if len(texts) <= 4}
    assert {"sex", "id_doc_type"} <= small
    known: dict[str, pl.Series] = {}
    typed = engine.prepare(second, KIND, REF, known, seen)
    assert typed.equals(engine.prepare(second, KIND, REF))
    assert {"不详", "女"} <= set(seen["sex"]) and set(second.get_column("sex").drop_nulls()) <= set(seen["sex"])
    todo = engine.all_checks(KIND, REF, cross_row=False)
    plain = typed.select(c.failed.fill_null(False).alias(str(i)) for i, c in enumerate(todo))
    fast = typed.select(e.alias(str(i)) for i, e in enumerate(evaluation._flag_exprs(typed, todo, known)))
    assert fast.equals(plain)


@pytest.mark.parametrize("cells", [
    ["0", "1", "2", "3", None, "12"],                              # every text a plain cast reads
    ["0", "1", " 2", "3.0", "4.5", "1e2", "x", "", None, "+7"],    # some it does not: the lookup
    [str(v) for v in range(40)] + ["007", "-0", None],            # many distinct texts
])
def test_numbers_convert_through_their_distinct_texts_as_cell_by_cell(cells):
    """Integer and number fields convert through their distinct texts (a plain cast when it reads every text as
    the conversion does, else a lookup): every cell gets the contract's conversion (typed_expr)."""
    from fpschema.engine import convert

    for name in ("child_count", "fee"):
        text = pl.DataFrame({name: cells}, schema={name: pl.Utf8})
        typed = convert.convert_frame(text, KIND, only=(name,))
        expected = text.select(convert.typed_expr(contract.field_map(KIND)[name]))
        assert typed.select(name).equals(expected), name


def test_dates_convert_as_the_contract_says_and_their_layout_is_flagged():
    """Dates written YYYY-MM-DD take a fast parse, others the full conversion: every cell gets the date of the
    contract's conversion (typed_expr), also for texts a lenient ISO parse would take ("2024-06- 3"), and the
    YYYY-MM-DD layout flag."""
    import random

    from fpschema.engine import convert

    rng = random.Random(4)
    forms = ["{y:04d}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}.{m:02d}.{d:02d}", "{y}年{m}月{d}日", "{y:04d}{m:02d}{d:02d}",
             "{y}-{m}-{d}", " {y:04d}-{m:02d}-{d:02d}", "{y:04d}-{m:02d}-{d:02d} 00:00:00", "{y:04d}-{m:02d}- {d}"]
    cells = [rng.choice(forms).format(y=rng.randint(1, 2100), m=rng.randint(0, 13), d=rng.randint(0, 32))
             for _ in range(4000)]
    cells += ["45123", "45123.0", "abc", "", None, "2024-02-30", "0024- 6-05", "-064-06-05", "2024-06- 3",
              "1899-12-31", "1900-01-01", "2099-12-31", "2100-01-01", "0000-01-01", "9999-12-31", "+2024-1-01",
              "2024- 1-01", "+024-01-01", "-024-01-01", "２０２４-01-01"]
    text = pl.DataFrame({"service_date": cells}, schema={"service_date": pl.Utf8})
    # the real dates written YYYY-MM-DD, found by lookup (convert._iso_dates): the pattern's, inside the table
    # and out
    column = text.get_column("service_date")
    parsed = column.str.to_date("%Y-%m-%d", strict=False)
    iso = convert._iso_dates(column, parsed)
    assert iso.equals((column.str.contains(convert.ISO_DATE) & parsed.is_not_null()).fill_null(False).alias("iso"))
    early = (parsed < date(1900, 1, 1)).fill_null(False)
    assert iso.filter(early).sum() > 20 and iso.filter(~early).sum() > 20
    typed = convert.convert_frame(text, KIND, only=("service_date",))
    expected = text.select(convert.typed_expr(contract.field_map(KIND)["service_date"]))
    assert typed.select("service_date").equals(expected)
    flag = convert.nonstandard_expr(pl.col("service_date"), pl.col("service_date#text")).fill_null(False)
    assert typed.get_column("service_date#nonstandard").equals(
        typed.select(flag.alias("service_date#nonstandard")).to_series())
    assert 0 < typed.get_column("service_date#nonstandard").sum() < text.height
    assert typed.filter(pl.col("service_date#text") == "2024-06- 3").get_column("service_date").item() is None


@pytest.mark.parametrize("streamed", [False, True])
def test_cross_row_findings_show_the_cells_as_written(tmp_path, streamed):
    """One person, two sexes and two birth dates, each written several ways: every id_conflict finding shows its
    own cell as written (the key frames keep only what the typed value does not say)."""
    good = {k: str(v) for k, v in fpschema.schema(KIND)["examples"][0].items()}
    cells = [("2", "1990-03-07"), ("女", "1990/03/07"), (" 2", "1990-03-08"), ("1", "1990.03.08"), ("2", "1990-3-8")]
    rows = [dict(good, record_id=f"R{i}", sex=sex, birth_date=birth) for i, (sex, birth) in enumerate(cells)]
    path = tmp_path / "people.csv"
    pl.DataFrame(rows).write_csv(path)
    limits = Limits(stream_bytes=0, block_bytes=1 << 16) if streamed else None
    report = fpschema.validate(path, KIND, reference_date=REF, limits=limits, unmask=True)  # birth dates as written
    conflicts = report.findings_all.filter(pl.col("rule") == "dataset.id_conflict")
    got = {(r["row"], r["column"]): r["value"] for r in conflicts.iter_rows(named=True)}
    expected = {(i + 2, "sex"): sex for i, (sex, _) in enumerate(cells)}
    expected |= {(i + 2, "birth_date"): birth for i, (_, birth) in enumerate(cells)}
    assert got == expected


@pytest.mark.parametrize("values", [["1"], ["1", "2"], ["01", "02", "04", "05", "06", "07", "08", "09", "10", "12"]])
def test_one_of_says_what_is_in_says(values):
    """check.one_of (comparisons for a small set) gives is_in's answer, null for a null cell."""
    frame = pl.DataFrame({"c": ["1", "2", "3", "01", "12", None, ""]})
    got = frame.select(one_of(pl.col("c"), values)).to_series()
    assert got.to_list() == frame.select(pl.col("c").is_in(pl.Series(values).implode())).to_series().to_list()
    assert got.null_count() == 1


def test_mask_expr_says_what_mask_id_says():
    values = ["11010519491231002X", "110105491231002", "12345", "", None, "１１０１０５１９４９１２３１００２Ｘ",
              "12345678901234", "1" * 40, "abc def ghi jkl mno"]
    column = pl.select(mask_expr(pl.lit(pl.Series(values, dtype=pl.Utf8)))).to_series().to_list()
    assert column == [mask_id(v) for v in values]
    assert column[0] == "110105********002X" and column[2] == "*****"


def test_division_checks_read_from_the_codes_as_numbers_flag_the_rows_of_their_definitions():
    """The division codes read as numbers (#number) give the pattern, unknown-code and hierarchy checks' rows
    (Check.rows, and the hierarchy's integer division) the flags of their text definitions, cell by cell."""
    import itertools

    from fpschema.reference import divisions
    from fpschema.rules import checks

    odd = ["+10105", "-10105", " 10105", "11010 ", "１10105", "999999", "", None, "abcdef", "1101", "11010.",
           "+10105001", "110105001 ", "99999999999999999999", "110105\n"]
    cities = ["110105", "110106", "999999", *odd]
    townships = ["110105001", "110106002", "999999001", "110105", *odd, *(c + "001" for c in odd if c)]
    villages = ["110105001001", "110106002003", "999999001001", "110105001", *odd, *(t + "001" for t in townships
                                                                                  if t)]
    rows = list(itertools.product(cities, townships[:12], villages[:14]))
    rows += [(c, t, v) for c, t, v in zip(cities * 9, townships * 3, villages, strict=False)]
    frame = pl.DataFrame(rows, schema={"city_code": pl.Utf8, "township_code": pl.Utf8, "village_code": pl.Utf8},
                         orient="row")
    typed = frame.with_columns(checks.stages(KIND, REF)[0][f"{n}#number"].alias(f"{n}#number")
                               for n in ("city_code", "township_code", "village_code"))
    todo = [c for c in engine.all_checks(KIND, REF, cross_row=False)
            if c.rule in ("field.pattern", "division.unknown") and c.column in frame.columns]
    assert len(todo) == 6 and all(c.rows is not None for c in todo)
    for c in todo:
        assert typed.select(c.rows.fill_null(False)).to_series().equals(
            typed.select(c.failed.fill_null(False)).to_series()), (c.rule, c.column)
    hierarchy = [c for c in checks.checks(KIND, REF) if c.rule == "division.hierarchy"]
    for c, (child, parent, length) in zip(hierarchy, [("township_code", "city_code", 6),
                                                      ("village_code", "township_code", 9)], strict=True):
        text = (pl.col(child).str.slice(0, length) != pl.col(parent)).fill_null(False)
        flags = typed.select(c.failed.fill_null(False).alias("fast"), text.alias("text"))
        assert flags.get_column("fast").equals(flags.get_column("text")), c.column
        assert 0 < flags.get_column("text").sum() < typed.height
    assert divisions.code_digits({"pattern": "^[0-9]{12}$", "x-check": "division"}) == 12


@pytest.mark.parametrize("pattern", ["^[0-9]{6}$", "^[0-9]{12}$", "^[0-9A-Za-z-]{1,32}$"])
def test_digit_patterns_match_the_rows_the_regular_expression_matches(pattern):
    """schema_checks._matches tests a pattern of n ASCII digits by length and an integer parse: the same rows."""
    cells = ["110105", "110105001001", "+10105", "+10105001001", "-10105", " 10105", "11010 ", "1_0105", "0x0105",
             "１10105", "١١٠١٠٥", "000000", "000000000000", "1e5000", "11010.", "", None, "1101050010011",
             "11010500100", "abcdef", "110105\n", "99999999999999999999"]
    frame = pl.DataFrame({"c": cells}, schema={"c": pl.Utf8})
    got = frame.select(_matches(pl.col("c"), pattern)).to_series().to_list()
    assert got == frame.select(pl.col("c").str.contains(pattern)).to_series().to_list()


@pytest.mark.parametrize("names", [
    ["张三", "李四光", "A", "王" * 16, "", None],         # every cell within the bound in bytes: tested on bytes
    ["张三", "李" * 50, "王" * 51, "x" * 50, "", None],   # some longer in bytes (50 characters is 150 bytes)
])
def test_length_checks_on_bytes_flag_the_same_rows_as_on_characters(names):
    """_flag_exprs tests a length check on bytes when no cell is longer in bytes than the bound: the same flags."""
    frame, _ = generator.generate(KIND, len(names), seed=2, reference_date=REF)
    text = (frame.with_columns(pl.Series("client_name", names, dtype=pl.Utf8))
            .with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64)))
    typed = engine.prepare(text, KIND, REF)
    todo = [c for c in engine.all_checks(KIND, REF, cross_row=False) if c.chars is not None]
    assert any(c.column == "client_name" for c in todo)
    plain = typed.select(c.failed.fill_null(False).alias(str(i)) for i, c in enumerate(todo))
    fast = typed.select(e.alias(str(i)) for i, e in enumerate(evaluation._flag_exprs(typed, todo)))
    assert fast.equals(plain)


def test_cross_row_findings_with_the_leading_hashes_sorted_ahead_are_the_same():
    """The streamed engine sorts the leading blocks' hashes while the last block is prepared; merging the rest in
    gives the same cross-row findings, repeats across the split included."""
    frame, manifest = generator.generate(KIND, 4000, seed=8, defects="all", defect_rate=0.3, reference_date=REF)
    text = frame.with_row_index("__row__").with_columns(pl.col("__row__").cast(pl.Int64))
    keys = dataset_checks.key_frame(engine.prepare(text, KIND, REF), KIND, text)
    whole = dataset_checks.cross_row_findings(keys, KIND).sort(pl.all())
    assert whole.height > 20
    for split in (1, 1000, 3999):
        ahead = (split, dataset_checks.sorted_hashes(keys.head(split)))
        assert dataset_checks.cross_row_findings(keys, KIND, ahead=ahead).sort(pl.all()).equals(whole), split
