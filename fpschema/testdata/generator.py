"""Synthetic records with labelled defects: a seeded, vectorised generator.

Columns are drawn whole (numpy), never one Faker call per row; names come from Faker's zh_CN
provider word lists. Records are consistent with the contract: the ID number carries the county
of the address, a birth date giving an age plausible for the service, the sex in its 17th digit and
a right check digit. ``generate`` returns the records as text columns (what a file holds) and a
manifest of every injected defect as (index, column, rule), index counting data rows from 0.

A layout of the contract (``x-layouts``) chooses the columns: the full record, or a form offices fill in such as
the 介绍信 (``layout="referral"``: eight columns, the county by its name). A layout's defects are those of the rules
a validator applies to it (:func:`defect_codes`), so its manifest lists exactly what a validator can find.

Defects that depend on the day (a service in the future, an ID holder not yet born) are dated against a
reference date: by default 30 June after the period ends (:func:`reference_for`), fixed so that the same seed
gives the same bytes on any day. It travels with the data in the manifest's sidecar (:mod:`fpschema.truth`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from fpschema import contract
from fpschema.io import writer
from fpschema.reference import divisions, gb11643
from fpschema.testdata.primitives import DEFAULT_REFERENCE as DEFAULT_REFERENCE
from fpschema.testdata.primitives import MANIFEST_SCHEMA, Injector, choice_series, pick_series, set_value
from fpschema.testdata.primitives import Profile as Profile
from fpschema.testdata.primitives import load_profile as load_profile
from fpschema.testdata.primitives import reference_for as reference_for
from fpschema.testdata.services import service_records

# --- layouts ---------------------------------------------------------------------------------------------


@cache
def unambiguous_spellings(codes: tuple[str, ...], first: int, last: int) -> dict[str, str]:
    """County code → the shortest spelling of its name that names it alone in every year first..last: the name
    (余杭区), else after its prefecture's (南京市鼓楼区), its province's (北京市朝阳区) or both. A file that names its
    counties must name them so that the code derived from the name is the county's."""
    options = []
    for code in codes:
        county, prefecture, province = (divisions.name(c) for c in (code, code[:4] + "00", code[:2] + "0000"))
        prefecture = prefecture if prefecture not in (None, "市辖区", "县", "省直辖县级行政区划") else ""
        options += [(code, rank, spelling) for rank, spelling in enumerate(
            [county, prefecture + county, (province or "") + county, (province or "") + prefecture + county])]
    frame = pl.DataFrame(options, schema=["code", "rank", "name"], orient="row")
    pairs = frame.join(pl.DataFrame({"year": range(first, last + 1)}), how="cross")
    alone = pairs.with_columns(divisions.codes_by_name_frame(pairs)["candidates"].alias("found")).with_columns(
        (pl.col("found").list.len() == 1) & (pl.col("found").list.first() == pl.col("code")))
    best = alone.group_by("code", "rank", "name").agg(pl.col("found").all()).filter("found").sort("rank").group_by(
        "code").agg(pl.col("name").first())
    chosen = dict(best.iter_rows())
    if set(chosen) != set(codes):
        raise ValueError(f"no unambiguous name for the county codes {sorted(set(codes) - set(chosen))}")
    return chosen


def _referral_form(frame: pl.DataFrame, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """Service records as the 介绍信 has them: a reason on every form (the form's four), and the county by a name
    that is that county's alone in the service year (so the code derived from it is the county's)."""
    reasons = {k: v for k, v in profile.service_reason.items() if k is not None} or {"4": 1.0}
    drawn = choice_series(rng, reasons, frame.height)
    codes = tuple(sorted(frame["city_code"].unique()))
    spelling = unambiguous_spellings(codes, profile.period[0].year, profile.reference_date.year + 1)
    return frame.with_columns(pl.col("service_reason").fill_null(drawn),
                              pl.col("city_code").replace_strict(spelling, return_dtype=pl.Utf8).alias("city_name"))


# How the full records become those of another layout, before defects are injected (by kind and layout).
FORMS: dict[tuple[str, str], Callable[[pl.DataFrame, np.random.Generator, Profile], pl.DataFrame]] = {
    ("service_record", "referral"): _referral_form,
}


def _recheck(body: pl.Series) -> pl.Series:
    return pl.select(body + gb11643.check_char_expr(pl.lit(body))).to_series()


def _id_with(df: pl.DataFrame, start: int, stop: int, new: pl.Series) -> pl.Series:
    ids = df["client_id"]
    return _recheck(ids.str.slice(0, start) + new + ids.str.slice(stop, 17 - stop))


def _wrong_check(df, rng, ref):
    ids = df["client_id"]
    good = ids.str.slice(17, 1)
    shift = pl.Series(rng.integers(1, 10, size=df.height))
    digits = "0123456789X"
    pos = good.replace_strict({d: i for i, d in enumerate(digits)}, return_dtype=pl.Int64)
    new = ((pos + shift) % 11).replace_strict(dict(enumerate(digits)), return_dtype=pl.Utf8)
    # never end in "000": that is the spreadsheet-truncation rule
    new = pl.select(pl.when((ids.str.slice(15, 2) == "00") & (new == "0")).then(pl.lit("1")).otherwise(new)
                    ).to_series()
    return {"client_id": ids.str.slice(0, 17) + new}


def _scientific(df, rng, ref):
    ids = df["client_id"]
    return {"client_id": ids.str.slice(0, 1) + "." + ids.str.slice(1, 5) + "E+17"}


def _truncated(df, rng, ref):
    return {"client_id": df["client_id"].str.slice(0, 15) + "000"}


def _truncated_ok(df):
    # the truncated number must fail its check digit (true for 10 in 11)
    body = pl.col("client_id").str.slice(0, 15) + pl.lit("00")
    return gb11643.check_char_expr(body) != "0"


def _normalised(df, rng, ref):
    full = df["client_id"].str.slice(0, 6).str.replace_many(list("0123456789"), list("０１２３４５６７８９"))
    return {"client_id": full + df["client_id"].str.slice(6)}


def _legacy(df, rng, ref):
    ids = df["client_id"]
    return {"client_id": ids.str.slice(0, 6) + ids.str.slice(8, 9)}


def _format(df, rng, ref):
    return {"client_id": df["client_id"].str.slice(0, 16)}


def _birth_invalid(df, rng, ref):
    return {"client_id": _id_with(df, 10, 14, pl.Series(["0230"] * df.height))}


def _birth_future(df, rng, ref):
    return {"client_id": _id_with(df, 6, 10, pl.Series([str(ref.year + 1)] * df.height))}


def _too_old(df, rng, ref):
    return {"client_id": _id_with(df, 6, 10, pl.Series(["1890"] * df.height))}


def _region(df, rng, ref):
    return {"client_id": _id_with(df, 0, 6, pl.Series(["000000"] * df.height))}


def _sex_flip(df, rng, ref):
    digit = df["client_id"].str.slice(16, 1).cast(pl.Int64)
    flipped = ((digit + 1) % 10).cast(pl.Utf8)
    return {"client_id": _id_with(df, 16, 17, flipped)}


def _birth_mismatch(df, rng, ref):
    birth = df["birth_date"].str.to_date() + timedelta(days=1)
    return {"birth_date": birth.dt.strftime("%Y-%m-%d")}


def _before_birth(df, rng, ref):
    """The birth (ID number and birth date) moved after the service, not the service before the birth: the
    service keeps its year, in which its county is in use."""
    birth = pl.select(pl.min_horizontal(df["service_date"].str.to_date() + timedelta(days=30), pl.lit(ref))).to_series()
    body = df["client_id"].str.slice(0, 6) + birth.dt.strftime("%Y%m%d") + df["client_id"].str.slice(14, 3)
    return {"client_id": _recheck(body), "birth_date": birth.dt.strftime("%Y-%m-%d")}


def _old_client(df, rng, ref):
    service = df["service_date"].str.to_date()
    birth = service.dt.offset_by("-55y")
    body = df["client_id"].str.slice(0, 6) + birth.dt.strftime("%Y%m%d") + df["client_id"].str.slice(14, 3)
    return {"client_id": _recheck(body), "birth_date": birth.dt.strftime("%Y-%m-%d")}


def _future_service(df, rng, ref):
    return {"service_date": pl.Series([(ref + timedelta(days=40)).isoformat()] * df.height)}


def _bad_date(df, rng, ref):
    return {"service_date": pl.Series(["2023-02-30"] * df.height)}


def _office_date(df, rng, ref):
    d = df["service_date"].str.to_date()
    chinese = d.dt.strftime("%Y年%-m月%-d日")
    serial = ((d - pl.lit(date(1899, 12, 30))).dt.total_days()).cast(pl.Utf8)
    pick = pl.Series(rng.random(df.height) < 0.5)
    return {"service_date": pl.select(pl.when(pick).then(chinese).otherwise(serial)).to_series()}


def _child_plus_one(df, rng, ref):
    return {"child_count": (df["child_count"].cast(pl.Int64) + 1).cast(pl.Utf8)}


def _unknown_division(df, rng, ref):
    return {"city_code": pl.Series(["999999"] * df.height),
            "township_code": "999999" + df["township_code"].str.slice(6),
            "village_code": "999999" + df["village_code"].str.slice(6)}


RETIRED_BY = 1985  # the injected retired codes were abolished before this year (before any generated service)


@cache
def _retired_counties() -> list[str]:
    """County-level codes abolished for good before :data:`RETIRED_BY`, with a recorded successor."""
    last = divisions.table().filter(pl.col("level") == "county").sort("code", "start").group_by("code").agg(
        pl.col("end").last(), pl.col("successors").last())
    return sorted(last.filter((pl.col("end") < RETIRED_BY) & pl.col("successors").is_not_null())["code"])


def _place(df: pl.DataFrame, code: pl.Series) -> dict[str, pl.Series]:
    """The row's county replaced by ``code``, its township and village codes too (the hierarchy holds)."""
    return {"city_code": code, "township_code": code + df["township_code"].str.slice(6),
            "village_code": code + df["village_code"].str.slice(6)}


def _province_division(df, rng, ref):
    return _place(df, df["city_code"].str.slice(0, 2) + "0000")


def _retired_division(df, rng, ref):
    return _place(df, pick_series(_retired_counties(), rng.integers(0, len(_retired_counties()), size=df.height)))


def _retired_region(df, rng, ref):
    region = pick_series(_retired_counties(), rng.integers(0, len(_retired_counties()), size=df.height))
    return {"client_id": _recheck(region + df["client_id"].str.slice(6, 11))}


def _years(df: pl.DataFrame, ref: date) -> tuple[int, int]:
    """The years a name must hold in: from the rows' first service year to the year after the reference date (a
    service moved into the future lies there)."""
    first = df["service_date"].str.to_date(strict=False).dt.year().min()
    return (int(first) if first is not None else ref.year), ref.year + 1


def _name_matches(names: Sequence[str], first: int, last: int) -> pl.DataFrame:
    """(name, year, n): how many county-level divisions each name names in each year first..last."""
    pairs = pl.DataFrame({"name": list(names)}).join(pl.DataFrame({"year": range(first, last + 1)}), how="cross")
    found = divisions.codes_by_name_frame(pairs)
    return pairs.with_columns(found["candidates"].list.len().alias("n"))


@cache
def unknown_names(first: int, last: int) -> tuple[str, ...]:
    """Names that are no county in any year first..last: 不存在区, and the counties abolished before ``first``
    whose names (say 江干区, merged away in 2021) no division of any level bore again since."""
    table = divisions.table()
    later = table.filter(pl.col("end").is_null() | (pl.col("end") >= first))["name"]
    gone = table.filter((pl.col("level") == "county") & (pl.col("end") < first) & ~pl.col("name").is_in(later.implode()))[
        "name"].unique()
    counts = _name_matches(["不存在区", *gone.sort()], first, last).group_by("name", maintain_order=True).agg(
        pl.col("n").max())
    return tuple(counts.filter(pl.col("n") == 0)["name"])


@cache
def ambiguous_names(first: int, last: int) -> tuple[str, ...]:
    """County names shared by two or more county-level divisions in every year first..last (朝阳区, 鼓楼区, ...)."""
    names = divisions.table().filter((pl.col("level") == "county") & pl.col("end").is_null())["name"].unique().sort()
    counts = _name_matches(names, first, last).group_by("name", maintain_order=True).agg(pl.col("n").min())
    return tuple(counts.filter(pl.col("n") > 1)["name"])


def _name_from(names: Callable[[int, int], tuple[str, ...]]) -> Callable:
    def apply(df, rng, ref):
        pool = names(*_years(df, ref))
        return {"city_name": pick_series(pool, rng.integers(0, len(pool), size=df.height))}
    return apply


def _hierarchy(df, rng, ref):
    village = df["village_code"]
    other = ((village.str.slice(6, 3).cast(pl.Int64) % 40) + 41).cast(pl.Utf8).str.zfill(3)
    return {"village_code": village.str.slice(0, 6) + other + village.str.slice(9)}


def _vasectomy_on_woman(df, rng, ref):
    return {"procedure": pl.Series(["03"] * df.height), "contraceptive_method": pl.Series(["1"] * df.height)}


def _as_card(inject: Callable | None = None, province: str = "11", nationality: str = "398", doc: str = "91",
             wrong: bool = False) -> Callable:
    """The client's number turned into a 2023 permanent-residence card's (9, province, nationality, the same birth
    date and sequence), after ``inject``; the document type ``doc``; with a wrong check digit if ``wrong``."""
    def apply(df, rng, ref):
        changed = inject(df, rng, ref) if inject else {}
        ids = changed.get("client_id", df["client_id"])
        card = _recheck("9" + province + nationality + ids.str.slice(6, 11))
        if wrong:
            card = _wrong_check(df.with_columns(client_id=card), rng, ref)["client_id"]
        return {**changed, "client_id": card, "id_doc_type": pl.Series([doc] * df.height)}
    return apply


FEMALE = pl.col("sex") == "2"
NOT_LEAP_DAY = pl.col("client_id").str.slice(10, 4) != "0229"  # the year can change, the day must stay real
NO_REASON = pl.col("service_reason").is_null()
CHARGED_RURAL = (pl.col("is_rural") == "是") & (pl.col("fee") != "0")  # lawful (recanalisation) until the procedure changes

SERVICE_DEFECTS: dict[str, Injector] = {i.rule: i for i in [
    Injector("id.checksum", "client_id", _wrong_check),
    Injector("id.excel_scientific", "client_id", _scientific),
    Injector("id.excel_truncated", "client_id", _truncated, lambda df: _truncated_ok(df)),
    Injector("id.normalized", "client_id", _normalised),
    Injector("id.legacy_15", "client_id", _legacy, lambda df: pl.col("client_id").str.slice(6, 2) == "19"),
    Injector("id.format", "client_id", _format),
    Injector("id.birth_date", "client_id", _birth_invalid),
    Injector("id.birth_future", "client_id", _birth_future, lambda df: NOT_LEAP_DAY),
    Injector("id.age_range", "client_id", _too_old, lambda df: NOT_LEAP_DAY),
    Injector("id.region", "client_id", _region),
    Injector("id.region_retired", "client_id", _retired_region,  # retired before 1985, born after 1990 (grace 5)
             lambda df: pl.col("birth_date").str.slice(0, 4).cast(pl.Int32) > RETIRED_BY + divisions.RETIRED_GRACE_YEARS),
    Injector("fpr.checksum", "client_id", _as_card(wrong=True)),
    Injector("fpr.province", "client_id", _as_card(province="99")),
    Injector("fpr.nationality", "client_id", _as_card(nationality="999")),
    Injector("fpr.birth_date", "client_id", _as_card(_birth_invalid)),
    Injector("fpr.birth_future", "client_id", _as_card(_birth_future), lambda df: NOT_LEAP_DAY),
    Injector("fpr.age_range", "client_id", _as_card(_too_old), lambda df: NOT_LEAP_DAY),
    # the document type contradicts the number: only where the document type is written
    Injector("fpr.doc_type", "client_id", _as_card(doc="01"), needs=("id_doc_type",)),
    Injector("fpr.format", "client_id", set_value("id_doc_type", "91"), needs=("id_doc_type",)),
    Injector("service.sex_mismatch", "sex", _sex_flip),
    Injector("service.birth_date_mismatch", "birth_date", _birth_mismatch),
    Injector("service.before_birth", "service_date", _before_birth),
    Injector("service.age_unusual", "service_date", _old_client, lambda df: FEMALE),
    Injector("date.future", "service_date", _future_service),
    Injector("field.date", "service_date", _bad_date),
    Injector("field.date_nonstandard", "service_date", _office_date),
    Injector("field.code", "birth_status", set_value("birth_status", "9")),
    Injector("field.type", "child_count", set_value("child_count", "两个")),
    Injector("field.required", "station_code", set_value("station_code", None)),
    Injector("field.pattern", "station_code", set_value("station_code", "站#1")),
    Injector("field.range", "fee", set_value("fee", "-5"), lambda df: pl.col("is_rural") == "否"),
    Injector("field.length", "client_name", set_value("client_name", "王" * 60)),
    Injector("division.unknown", "city_code", _unknown_division,
             extra=(("township_code", "division.unknown"), ("village_code", "division.unknown"))),
    Injector("division.hierarchy", "village_code", _hierarchy),
    Injector("division.not_in_use", "city_code", _province_division),
    Injector("division.retired", "city_code", _retired_division),
    Injector("service.reason_needs_iud", "iud_history",
             lambda df, rng, ref: {"service_reason": pl.Series(["2"] * df.height),
                                   "iud_history": pl.Series(["否"] * df.height)}, lambda df: FEMALE),
    Injector("service.reason_needs_sterilisation", "sterilisation_history",
             lambda df, rng, ref: {"service_reason": pl.Series(["3"] * df.height),
                                   "sterilisation_history": pl.Series(["否"] * df.height)}, lambda df: FEMALE),
    Injector("service.child_count_status", "child_count", _child_plus_one,
             lambda df: pl.col("birth_status").is_in(["0", "1", "2", "3"])),
    Injector("service.rural_fee", "fee",
             lambda df, rng, ref: {"is_rural": pl.Series(["是"] * df.height), "fee": pl.Series(["50"] * df.height)},
             lambda df: pl.col("procedure").is_in(list(contract.code_group(contract.FREE_RURAL)))),
    Injector("service.procedure_sex", "sex", _vasectomy_on_woman, lambda df: FEMALE & NO_REASON & ~CHARGED_RURAL),
    # a file that names its county instead of coding it (the referral layout)
    Injector("division.name_unknown", "city_name", _name_from(unknown_names)),
    Injector("division.name_ambiguous", "city_name", _name_from(ambiguous_names)),
]}
# Rules broken by copying rows onto others (handled apart: they involve two rows), by kind.
PAIR_DEFECTS = {"service_record": ("dataset.duplicate_record", "dataset.id_conflict"),
                "procedure_report": ("report.duplicate_key",), "indicator_report": ("report.duplicate_key",)}


def defects_table() -> dict[str, dict[str, Injector]]:
    """Injectors by kind and rule code (the other kinds' live in :mod:`fpschema.linked`)."""
    from fpschema.testdata import linked

    return {"service_record": SERVICE_DEFECTS, **linked.DEFECTS}


def generators() -> dict[str, Callable[[int, np.random.Generator, Profile], pl.DataFrame]]:
    """Record generators by kind."""
    from fpschema.testdata import linked

    return {"service_record": service_records, **linked.GENERATORS}


def _pair_column(kind: str, code: str) -> str:
    """The column a pair defect's findings are expected on (see :func:`_pair_defect`)."""
    return {"dataset.duplicate_record": "client_id", "dataset.id_conflict": "birth_date"}.get(code) or contract.key(kind)[0]


def layout_of(kind: str, name: str = "full") -> contract.Layout:
    """The layout ``name`` of ``kind`` (``contract.layouts``); ValueError when the kind declares none of that name."""
    for lay in contract.layouts(kind):
        if lay.name == name:
            return lay
    raise ValueError(f"no layout {name!r} for {kind}: {', '.join(lay.name for lay in contract.layouts(kind))}")


@cache
def applied_rules(kind: str, layout: str = "full") -> frozenset[str]:
    """The rule codes a validator applies to a file of ``kind`` in ``layout`` (the plan of
    :func:`fpschema.coverage.plan` on the layout's columns: those whose inputs are present or derived)."""
    from fpschema.engine import coverage
    from fpschema.engine import validation as engine

    lay = layout_of(kind, layout)
    plan = coverage.plan(kind, lay.columns, lay.name)
    return frozenset(c.rule for c in engine.all_checks(kind, DEFAULT_REFERENCE, plan=plan))


@cache
def defect_codes(kind: str, layout: str = "full") -> tuple[str, ...]:
    """The rule codes the generator can break for ``kind`` in ``layout``: the rules that apply to the layout
    whose findings, and the columns their defects lie in, are among its columns (in the referral layout sex is
    derived from the ID number, so a sex that disagrees with it cannot be written, nor a document type that
    contradicts the number)."""
    lay = layout_of(kind, layout)
    applied, columns = applied_rules(kind, lay.name), set(lay.columns)
    singles = [code for code, i in defects_table().get(kind, {}).items()
               if code in applied and {i.column, *(c for c, _ in i.extra), *i.needs} <= columns]
    pairs = [code for code in PAIR_DEFECTS.get(kind, ()) if code in applied and _pair_column(kind, code) in columns]
    return (*singles, *pairs)


def inject(frame: pl.DataFrame, codes: Sequence[str], rate: float, rng: np.random.Generator,
           reference_date: date, kind: str = "service_record") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Break ``rate`` of the rows (at least one per code), each row at most once; returns the frame and the
    manifest (index, column, rule). Changes are gathered per column and scattered in once."""
    n = frame.height
    per_code = max(1, int(n * rate / max(len(codes), 1)))
    free = np.ones(n, dtype=bool)
    table = defects_table()[kind]
    pairs = PAIR_DEFECTS.get(kind, ())
    singles = [table[c] for c in codes if c not in pairs]
    masks = frame.select(i.eligible(frame).alias(i.rule) for i in singles) if singles else None
    patches: dict[str, list[tuple[np.ndarray, pl.Series]]] = {}
    manifest: list[pl.DataFrame] = []
    for injector in singles:
        candidates = np.flatnonzero(masks.get_column(injector.rule).to_numpy() & free)
        take = np.sort(rng.choice(candidates, size=min(per_code, len(candidates)), replace=False))
        if len(take) == 0:
            continue
        free[take] = False
        for column, values in injector.apply(frame[take], rng, reference_date).items():
            patches.setdefault(column, []).append((take, values))
        for column, rule in ((injector.column, injector.rule), *injector.extra):
            manifest.append(_manifest(take, column, rule))
    for code in codes:
        if code in pairs:
            manifest.extend(_pair_defect(frame, code, per_code, free, rng, patches, kind))
    frame = frame.with_columns(
        frame[column].scatter(np.concatenate([i for i, _ in parts]), pl.concat([v.cast(pl.Utf8) for _, v in parts]))
        for column, parts in patches.items()
    )
    out = pl.concat(manifest) if manifest else pl.DataFrame(schema=MANIFEST_SCHEMA)
    return frame, out.sort(["index", "column", "rule"])


def _manifest(index: np.ndarray, column: str, rule: str) -> pl.DataFrame:
    return pl.DataFrame({"index": index.astype(np.int64), "column": [column] * len(index), "rule": [rule] * len(index)},
                        schema=MANIFEST_SCHEMA)


def _pair_defect(frame: pl.DataFrame, code: str, count: int, free: np.ndarray, rng: np.random.Generator,
                 patches: dict, kind: str = "service_record") -> list[pl.DataFrame]:
    """Copy row a onto row b: a duplicate service (whole row), the same ID for another person, or a report's key
    (x-key) on another row: a 卫统45表 row with the key and name of another and its own figures (the same county
    twice with different totals), an indicator row pasted twice (its figures depend on the indicator)."""
    candidates = np.flatnonzero(free)
    if code == "dataset.id_conflict":  # keep the sexes equal: only the birth dates conflict
        candidates = candidates[(frame["sex"].to_numpy()[candidates] == "2")]
    count = min(count, len(candidates) // 2)
    if count == 0:
        return []
    picked = rng.choice(candidates, size=2 * count, replace=False)
    a, b = picked[:count], picked[count:]
    free[picked] = False
    if code == "report.duplicate_key":
        copied = frame.columns if kind == "indicator_report" else [*contract.key(kind), "division_name"]
        for column in copied:
            patches.setdefault(column, []).append((b, frame[column].gather(a)))
        return [_manifest(np.concatenate([a, b]), contract.key(kind)[0], code)]
    if code == "dataset.duplicate_record":
        for column in frame.columns:
            patches.setdefault(column, []).append((b, frame[column].gather(a)))
        return [_manifest(np.concatenate([a, b]), "client_id", code)]
    patches.setdefault("client_id", []).append((b, frame["client_id"].gather(a)))
    # the birth dates differ unless both were born on the same day; then nothing is broken
    differ = (frame["birth_date"].gather(b) != frame["birth_date"].gather(a)).to_numpy()
    a, b = a[differ], b[differ]
    return [_manifest(np.concatenate([a, b]), "birth_date", code),
            _manifest(b, "birth_date", "service.birth_date_mismatch")]


def generate(kind: str, rows: int, *, seed: int | Sequence[int] = 0, defects: Sequence[str] | str | None = None,
             defect_rate: float = 0.05, profile: Profile | None = None, reference_date: date | None = None,
             layout: str = "full") -> tuple[pl.DataFrame, pl.DataFrame]:
    """``rows`` records of ``kind`` as text columns, and the manifest of injected defects.

    ``defects`` is ``"all"`` (every rule that applies to the layout, :func:`defect_codes`), a list of rule codes,
    or None for a clean set. ``reference_date`` (default :func:`reference_for` the profile) is the day the data are
    as of: clean records are lawful on it, and the defects that depend on the day are dated against it; it may not
    fall before the period ends. ``layout`` (one of ``contract.layouts(kind)``) chooses the columns written.
    """
    if kind not in generators():
        raise ValueError(f"no generator for kind {kind!r}")
    if rows < 0:
        raise ValueError("rows must be >= 0")
    lay = layout_of(kind, layout)
    profile = replace(profile or Profile(), reference_date=reference_for(profile, reference_date))
    rng = np.random.default_rng(seed)
    frame = generators()[kind](rows, rng, profile)
    if (kind, lay.name) in FORMS:
        frame = FORMS[kind, lay.name](frame, rng, profile)
    manifest = pl.DataFrame(schema=MANIFEST_SCHEMA)
    if defects and rows:
        codes = list(defect_codes(kind, lay.name)) if defects == "all" else list(defects)
        unknown = set(codes) - set(defect_codes(kind, lay.name))
        if unknown:
            raise ValueError(f"unknown defect code(s) for {kind} in the {lay.name} layout: {sorted(unknown)}")
        frame, manifest = inject(frame, codes, defect_rate, rng, profile.reference_date, kind)
    return frame.select(c for c in frame.columns if c in lay.columns), manifest


CHUNK_ROWS = 1_000_000
ID_COLUMNS = {"record_id": "SR", "staff_id": "ST", "event_id": "AE"}


def write_generated(path: str | Path, kind: str, rows: int, *, seed: int = 0, defects=None,
                    defect_rate: float = 0.05, profile=None, fmt: str = "csv", encoding: str = "utf-8",
                    office: bool = False, chunk_rows: int = CHUNK_ROWS,
                    reference_date: date | None = None, layout: str = "full") -> tuple[Path, pl.DataFrame]:
    """Generate and write ``rows`` records; plain CSV and JSONL larger than ``chunk_rows`` are made and
    appended chunk by chunk, so memory stays bounded (chunk 0 uses ``seed``, chunk i the seed [seed, i];
    defects that pair two rows stay within a chunk). ``reference_date`` and ``layout``: as for
    :func:`generate`.
    Returns the path and the manifest (report row numbers); :func:`fpschema.truth.write` writes it."""
    path = Path(path)
    chunked = rows > chunk_rows and fmt in ("csv", "jsonl") and not office
    if not chunked:
        frame, manifest = generate(kind, rows, seed=seed, defects=defects, defect_rate=defect_rate,
                                             profile=profile, reference_date=reference_date, layout=layout)
        writer.write(frame, path, kind, fmt=fmt, encoding=encoding, office=office, layout=layout)
        return path, writer.manifest_rows(manifest, fmt, office)
    parts = []
    with writer.atomic_path(path) as tmp, open(tmp, "wb") as out:
        for i, start in enumerate(range(0, rows, chunk_rows)):
            frame, manifest = generate(kind, min(chunk_rows, rows - start), seed=seed if i == 0 else [seed, i],
                                                 defects=defects, defect_rate=defect_rate, profile=profile,
                                                 reference_date=reference_date, layout=layout)
            frame = frame.with_columns(
                (prefix + pl.int_range(start + 1, start + frame.height + 1).cast(pl.Utf8).str.zfill(8)).alias(col)
                for col, prefix in ID_COLUMNS.items() if col in frame.columns)
            if fmt == "csv":
                out.write(frame.write_csv(include_header=i == 0).encode(encoding))
            else:
                fields = contract.field_map(kind)
                for record in frame.iter_rows(named=True):
                    typed = {k: writer._typed_value(fields.get(k), v) for k, v in record.items() if v is not None}
                    out.write((json.dumps(typed, ensure_ascii=False) + "\n").encode("utf-8"))
            parts.append(manifest.with_columns(pl.col("index") + start))
            del frame
    return path, writer.manifest_rows(pl.concat(parts), fmt, False)
