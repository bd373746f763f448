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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from fpschema import contract
from fpschema.reference import divisions, gb11643

MANIFEST_SCHEMA = {"index": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8}
DEFAULT_PERIOD = (date(2022, 10, 1), date(2023, 9, 30))  # statistical year 2023
DEFAULT_REFERENCE = date(2024, 6, 30)  # reference_for(Profile()): 30 June after the default period


@dataclass
class Profile:
    """Distributions of the generated values; override with a JSON profile file."""

    period: tuple[date, date] = DEFAULT_PERIOD
    birth_status: dict[str, float] = field(default_factory=lambda: {"0": 0.08, "1": 0.42, "2": 0.38, "3": 0.1,
                                                                    "4": 0.02})
    service_reason: dict[str | None, float] = field(default_factory=lambda: {None: 0.6, "1": 0.12, "2": 0.1,
                                                                             "3": 0.05, "4": 0.13})
    procedure: dict[str, float] = field(default_factory=lambda: {
        "01": 0.25, "02": 0.15, "03": 0.03, "04": 0.05, "05": 0.2, "06": 0.03, "07": 0.15, "08": 0.04,
        "09": 0.04, "10": 0.03, "11": 0.01, "12": 0.02})
    rural_share: float = 0.55
    counties: int = 40  # how many counties one data set spans
    county_codes: tuple[str, ...] = ()  # or exactly these counties
    reference_date: date | None = None  # the day the data are as of; None: 30 June after the period ends


def reference_for(profile: Profile | None = None, reference_date: date | None = None) -> date:
    """The reference date of generated data: ``reference_date``, else the profile's, else 30 June of the year
    after its period ends. ValueError when it falls before the period ends (clean services would be future)."""
    profile = profile or Profile()
    ref = reference_date or profile.reference_date or date(profile.period[1].year + 1, 6, 30)
    if ref < profile.period[1]:
        raise ValueError(f"reference date {ref} is before the period ends ({profile.period[1]})")
    return ref


def load_profile(path) -> Profile:
    """A profile from a JSON file: any of ``period`` ([start, end] ISO dates), ``birth_status``,
    ``service_reason`` (use "" for no reason), ``procedure`` ({code: weight}), ``rural_share``, ``counties``,
    ``reference_date`` (ISO date)."""
    import json

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    unknown = set(doc) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown profile keys {sorted(unknown)}")
    if "period" in doc:
        doc["period"] = tuple(date.fromisoformat(d) for d in doc["period"])
    if doc.get("reference_date") is not None:
        doc["reference_date"] = date.fromisoformat(doc["reference_date"])
    if "service_reason" in doc:
        doc["service_reason"] = {(k or None): v for k, v in doc["service_reason"].items()}
    return Profile(**doc)


# --- word lists ------------------------------------------------------------------------------------------


@cache
def _names() -> tuple[list[str], np.ndarray, list[str], list[str]]:
    from faker.providers.person.zh_CN import Provider

    last = list(Provider.last_names)
    weights = np.array(list(Provider.last_names.values()), dtype=float)
    return last, weights / weights.sum(), list(Provider.first_names_female), list(Provider.first_names_male)


@cache
def _full_names() -> tuple[list[str], list[str]]:
    """Every surname with every female / male given name, indexed surname * len(given) + given."""
    last, _, female, male = _names()
    return [s + g for s in last for g in female], [s + g for s in last for g in male]


@cache
def _place_words() -> list[str]:
    from faker.providers.address.zh_CN import Provider

    return sorted({d for d in Provider.districts if len(d) == 2})


@cache
def current_counties(since: int = DEFAULT_PERIOD[0].year) -> list[tuple[str, str]]:
    """(code, name) of the county-level divisions (districts, counties, county-level cities) in every year-end
    list from ``since`` to the last one: a record dated in those years (or after: a future-date defect) may name
    any of them, and so may the ID number of a person registered there."""
    first, _ = divisions.years()
    rows = divisions.table().filter((pl.col("level") == "county") & pl.col("end").is_null()
                                    & (pl.col("start") <= max(since, first)))
    return sorted(rows.select("code", "name").iter_rows())


def _choice(rng: np.random.Generator, table: dict, n: int) -> pl.Series:
    """``n`` draws from a {value: weight} table, as a String series."""
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return pl.Series(keys, dtype=pl.Utf8).gather(idx)


def _pick(values: Sequence[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.Utf8).gather(idx)


def _distinct(number: np.ndarray) -> np.ndarray:
    """17-digit ID bodies made distinct: a number met before gets the next sequence number (1-98, the 17th
    digit, and so the sex, kept) until none repeats. Random bodies collide by chance (some thousand pairs in a
    million records), and two people with one ID number are a defect (``dataset.id_conflict``) only when
    injected."""
    number = number.copy()
    while True:
        repeated = np.ones(len(number), dtype=bool)
        repeated[np.unique(number, return_index=True)[1]] = False
        if not repeated.any():
            return number
        seq = number[repeated] // 10 % 100
        number[repeated] += (seq % 98 + 1 - seq) * 10


def _ids(region: pl.Series, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """GB 11643 numbers, each once: region + birth date + sequence (17th digit odd for men) + check digit."""
    n = len(region)
    seq = rng.integers(1, 99, size=n)  # first two sequence digits, never 00 (keeps clear of "000" endings)
    parity = rng.integers(0, 5, size=n) * 2 + male
    ymd = birth.astype("datetime64[D]")
    years = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    months = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    # 17 digits as one number (region, YYYYMMDD, sequence), then text: cheaper than joining strings
    number = _distinct(region.cast(pl.Int64).to_numpy() * 10**11 + (years * 10000 + months * 100 + days) * 1000
                       + seq * 10 + parity)
    body = pl.Series(number).cast(pl.Utf8)
    return pl.select(body + gb11643.check_char_expr(pl.lit(body))).to_series().alias("client_id")


def _distinct(number: np.ndarray) -> np.ndarray:
    """17-digit ID bodies made distinct (two people of one county and birthday may draw the same sequence): a
    repeated body moves its two sequence digits (01-98) on, the sex digit kept; a round per clash, not per row."""
    for _ in range(100):
        rank = pl.DataFrame({"n": number}).select(pl.int_range(pl.len()).over("n")).to_series().to_numpy()
        if not rank.any():
            return number
        seq = number // 10 % 100
        number = number + ((seq - 1 + rank) % 98 + 1 - seq) * 10
    raise ValueError("could not make the generated ID numbers distinct")


def _dates(rng: np.random.Generator, n: int, start: date, end: date) -> np.ndarray:
    days = rng.integers(0, (end - start).days + 1, size=n)
    return np.datetime64(start, "D") + days.astype("timedelta64[D]")


def _dates_series(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype("datetime64[D]").astype(np.int32), dtype=pl.Int32).cast(pl.Date)


def _iso(values: np.ndarray) -> pl.Series:
    return _dates_series(values).dt.to_string("%Y-%m-%d")


# --- clean records ---------------------------------------------------------------------------------------


def service_records(rows: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """Clean service records as text columns."""
    n = rows
    counties = current_counties(profile.period[0].year)
    if profile.county_codes:
        chosen = np.array([i for i, (code, _) in enumerate(counties) if code in set(profile.county_codes)])
    else:
        chosen = rng.choice(len(counties), size=min(profile.counties, len(counties)), replace=False)
    county_idx = rng.choice(chosen, size=n)
    city_code = _pick([c for c, _ in counties], county_idx)
    city_name = _pick([name for _, name in counties], county_idx)
    township_no = rng.integers(1, 40, size=n)
    village_no = rng.integers(1, 60, size=n)
    words = _place_words()
    township_int = city_code.cast(pl.Int64).to_numpy() * 1000 + township_no  # codes have no leading zero
    township_code = pl.Series(township_int).cast(pl.Utf8)
    village_code = pl.Series(township_int * 1000 + village_no).cast(pl.Utf8)
    # names derive from the codes, so one code always has one name
    township_idx = (township_no * 7 + county_idx) % len(words)
    township_name = _pick([w + "镇" for w in words], township_idx)  # whole names gathered, not joined per row
    office = _pick([w + "镇计划生育办公室" for w in words], township_idx)
    village_name = _pick([w + "村" for w in words], (village_no * 13 + township_no) % len(words))

    procedure = _choice(rng, profile.procedure, n)
    male_np = procedure.is_in(list(contract.code_group("procedure_male_only"))).to_numpy()
    male = pl.Series(male_np)
    sex = pl.select(pl.when(male).then(pl.lit("1")).otherwise(pl.lit("2"))).to_series()
    service = _dates(rng, n, *profile.period)
    # ages kept clear of the plausibility limits (women 15-49, men 18-60) by more than a year
    age_days = np.where(male_np, rng.integers(26 * 365, 50 * 365, size=n), rng.integers(19 * 365, 44 * 365, size=n))
    birth = service - age_days.astype("timedelta64[D]")
    client_id = _ids(city_code, birth, male_np, rng)

    status = _choice(rng, profile.birth_status, n)
    reason = _choice(rng, profile.service_reason, n)
    rural = rng.random(n) < profile.rural_share
    some_iud = rng.random(n) < 0.3
    status_n = status.cast(pl.Int64).to_numpy()
    child = np.where(status_n == 4, 4 + rng.integers(0, 2, size=n), status_n)
    reason = pl.select(pl.when(male).then(None).otherwise(reason)).to_series()
    reason_np = reason.fill_null("").to_numpy()
    iud = np.isin(reason_np, ["1", "2"]) | some_iud
    steril = reason_np == "3"
    proc_np = procedure.to_numpy()
    method = np.where(proc_np == "01", 2, np.where(male_np, 1, 0))  # 6 避孕套, 1 男性绝育, 3 宫内节育器
    free = procedure.is_in(list(contract.code_group(contract.FREE_RURAL))).to_numpy()
    fee = np.where(rural & free, 0, rng.integers(0, 30, size=n) * 10)  # recanalisation is charged, rural or not

    last, weights, female_names, male_names = _names()
    surname = rng.choice(len(last), size=n, p=weights)
    female_full, male_full = _full_names()
    name = pl.select(
        pl.when(male).then(_pick(male_full, surname * len(male_names) + rng.integers(0, len(male_names), size=n)))
        .otherwise(_pick(female_full, surname * len(female_names) + rng.integers(0, len(female_names), size=n)))
    ).to_series()
    no_yes = ["否", "是"]
    return pl.DataFrame({
        "record_id": "SR" + pl.Series(np.arange(1, n + 1)).cast(pl.Utf8).str.zfill(8),
        "station_code": township_code,
        "id_doc_type": pl.repeat("01", n, eager=True),
        "client_id": client_id,
        "client_name": name,
        "sex": sex,
        "birth_date": _iso(birth),
        "birth_status": status,
        "child_count": pl.Series(child).cast(pl.Utf8),
        "service_reason": reason,
        "contraceptive_method": _pick(["6", "1", "3"], method),
        "procedure": procedure,
        "iud_history": _pick(no_yes, iud.astype(np.int8)),
        "sterilisation_history": _pick(no_yes, steril.astype(np.int8)),
        "city_code": city_code,
        "city_name": city_name,
        "township_code": township_code,
        "township_name": township_name,
        "village_code": village_code,
        "village_name": village_name,
        "service_date": _iso(service),
        "issuing_office": office,
        "is_rural": _pick(no_yes, rural.astype(np.int8)),
        "fee": pl.Series(fee).cast(pl.Utf8),
    })


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
    drawn = _choice(rng, reasons, frame.height)
    codes = tuple(sorted(frame["city_code"].unique()))
    spelling = unambiguous_spellings(codes, profile.period[0].year, profile.reference_date.year + 1)
    return frame.with_columns(pl.col("service_reason").fill_null(drawn),
                              pl.col("city_code").replace_strict(spelling, return_dtype=pl.Utf8).alias("city_name"))


# How the full records become those of another layout, before defects are injected (by kind and layout).
FORMS: dict[tuple[str, str], Callable[[pl.DataFrame, np.random.Generator, Profile], pl.DataFrame]] = {
    ("service_record", "referral"): _referral_form,
}


# --- defects ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injector:
    """Breaks one rule: ``apply(frame, rows, rng, ref)`` returns the changed columns for those rows and the
    findings it expects as (row offset in ``rows``, column, rule) beyond the default (each row, column, rule)."""

    rule: str
    column: str
    apply: Callable[[pl.DataFrame, np.random.Generator, date], dict[str, pl.Series]]
    eligible: Callable[[pl.DataFrame], pl.Expr] = lambda df: pl.lit(True)
    extra: Sequence[tuple[str, str]] = ()  # other (column, rule) findings each defect also causes
    needs: Sequence[str] = ()  # other columns the defect lies in: a layout without them cannot show it


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


def _set(column: str, value: str | None) -> Callable:
    return lambda df, rng, ref: {column: pl.Series([value] * df.height, dtype=pl.Utf8)}


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
    return _place(df, _pick(_retired_counties(), rng.integers(0, len(_retired_counties()), size=df.height)))


def _retired_region(df, rng, ref):
    region = _pick(_retired_counties(), rng.integers(0, len(_retired_counties()), size=df.height))
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
        return {"city_name": _pick(pool, rng.integers(0, len(pool), size=df.height))}
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
    Injector("fpr.format", "client_id", _set("id_doc_type", "91"), needs=("id_doc_type",)),
    Injector("service.sex_mismatch", "sex", _sex_flip),
    Injector("service.birth_date_mismatch", "birth_date", _birth_mismatch),
    Injector("service.before_birth", "service_date", _before_birth),
    Injector("service.age_unusual", "service_date", _old_client, lambda df: FEMALE),
    Injector("date.future", "service_date", _future_service),
    Injector("field.date", "service_date", _bad_date),
    Injector("field.date_nonstandard", "service_date", _office_date),
    Injector("field.code", "birth_status", _set("birth_status", "9")),
    Injector("field.type", "child_count", _set("child_count", "两个")),
    Injector("field.required", "station_code", _set("station_code", None)),
    Injector("field.pattern", "station_code", _set("station_code", "站#1")),
    Injector("field.range", "fee", _set("fee", "-5"), lambda df: pl.col("is_rural") == "否"),
    Injector("field.length", "client_name", _set("client_name", "王" * 60)),
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
