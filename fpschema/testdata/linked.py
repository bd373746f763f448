"""Generators for institutions, staff, adverse events and the aggregate tables, and a linked set where
one seed gives service records, the institutions and staff they refer to, their adverse events, and the
卫统45表 rows and indicators that sum exactly to them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from fpschema import contract
from fpschema.reference import divisions, uscc
from fpschema.rules import aggregates, checks
from fpschema.testdata.primitives import (
    Injector,
    Profile,
    choice_series,
    current_counties,
    id_numbers,
    iso_dates,
    name_words,
    pick_series,
    place_words,
    random_dates,
    reference_for,
    set_value,
)
from fpschema.testdata.services import service_records

ALNUM = "0123456789ABCDEFGHJKLMNPQRTUWXY"
PROCEDURES = contract.code_group("procedure_surgical")



def _counties(rng: np.random.Generator, n: int, how_many: int = 40) -> tuple[pl.Series, pl.Series, np.ndarray]:
    counties = current_counties()
    chosen = rng.choice(len(counties), size=min(how_many, len(counties)), replace=False)
    idx = rng.choice(chosen, size=n)
    return pick_series([c for c, _ in counties], idx), pick_series([m for _, m in counties], idx), idx


def _report_keys(rng: np.random.Generator, n: int, profile: Profile, slots: int = 1
                 ) -> tuple[pl.Series, pl.Series, np.ndarray, pl.Series, np.ndarray]:
    """Distinct keys (x-key) for ``n`` report rows: (county code, name, slot, statistical year, unit). The rows of
    the profile's year span as many counties in use as they need (at least the profile's), each with up to
    ``slots`` rows (one per indicator); more rows go to earlier years, with the codes in use in each: every other
    year first (Y-2, Y-4, …: no county in two consecutive years, so an injected defect is no year-on-year jump),
    then the years between. Figures are drawn per unit (a county and slot), so a county repeats its figures from
    year to year (no jump in clean data)."""
    counties = current_counties()
    if profile.county_codes:
        pool = np.array([i for i, (code, _) in enumerate(counties) if code in set(profile.county_codes)])
    else:
        pool = rng.permutation(len(counties))
    k = min(len(pool), max(profile.counties, -(-n // slots)))
    cells = rng.choice(k * slots, size=min(n, k * slots), replace=False)
    codes = [counties[i][0] for i in pool[cells // slots]]
    names = [counties[i][1] for i in pool[cells // slots]]
    slot, end = list(cells % slots), profile.period[1]
    first = end.year + (1 if end.month >= 10 else 0)  # the statistical year runs 1 October to 30 September
    years = [first] * len(codes)
    earlier = sorted(profile.county_codes or _county_codes())
    order = iter([*range(first - 2, 1979, -2), *range(first - 1, 1979, -2)])
    while len(codes) < n:
        year = next(order, None)
        if year is None:
            raise ValueError(f"{n} rows have more keys than there are counties and years")
        for code in earlier:
            name = divisions.name(code, year)
            if name is None or len(codes) >= n:
                continue
            for s in range(min(slots, n - len(codes))):
                codes.append(code), names.append(name), slot.append(s), years.append(year)
    slot_ = np.array(slot, dtype=np.int64)
    _, unit = np.unique(np.array([int(c) for c in codes], dtype=np.int64) * slots + slot_, return_inverse=True)
    return (pl.Series(codes, dtype=pl.Utf8), pl.Series(names, dtype=pl.Utf8), slot_,
            pl.Series(years).cast(pl.Utf8), unit.astype(np.int64))


def _county_codes() -> list[str]:
    """County-level codes of any year (not the aggregates 市辖区 and 县, nor the permit prefixes)."""
    return [code for code, periods in divisions.history().items()
            if not code.endswith("00") and code not in divisions.PERMIT_PREFIXES
            and any(p.name not in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划") for p in periods)]


def _uscc(county: pl.Series, rng: np.random.Generator, prefix: str = "12") -> pl.Series:
    """Valid unified social credit codes: authority+type, county, an organisation code (eight random characters
    and its GB 11714 check character), check character."""
    n = len(county)
    letters = np.array(list(ALNUM))[rng.integers(0, len(ALNUM), size=(n, 9))]  # nine drawn: the same stream
    org = pl.Series(np.ascontiguousarray(letters[:, :8]).view("<U8").ravel())
    body = prefix + county + org
    body = pl.select(body + uscc.org_check_char_expr(pl.lit(body + "00"))).to_series()
    return pl.select(body + uscc.check_char_expr(pl.lit(body + "0"))).to_series()


def _yes_no(mask: np.ndarray) -> pl.Series:
    return pl.Series(np.where(mask, "是", "否"))


# --- clean records -----------------------------------------------------------------------------------------


def institutions(n: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    county, county_name, idx = _counties(rng, n, profile.counties)
    words = place_words()
    place = pick_series(words, rng.integers(0, len(words), size=n))
    individual = rng.random(n) < 0.1
    licence = np.where(individual, "2", np.where(rng.random(n) < 0.7, "1", "2"))
    # verified within the licence type's period (checks.verification_years) before the reference date, a month to
    # spare
    ref = np.datetime64(reference_for(profile), "D")
    years = np.vectorize(checks.verification_years().get)(licence)
    verified = ref - (rng.random(n) * (years * 365 - 30)).astype("timedelta64[D]")
    items = np.where(individual, "07", np.where(rng.random(n) < 0.5, "01,02,05,07", "01,02,03,04,05,06,07,09,10"))
    return pl.DataFrame({
        "institution_code": county + pl.Series(rng.integers(1, 999, size=n)).cast(pl.Utf8).str.zfill(3),
        "name": pl.select(pl.when(pl.Series(individual)).then(place + "诊所").otherwise(place + "镇计划生育服务站"))
        .to_series(),
        "uscc": pl.select(pl.when(pl.Series(individual)).then(_uscc(county, rng, "92"))
                          .otherwise(_uscc(county, rng, "12"))).to_series(),
        "licence_type": pl.Series(licence),
        "licence_no": "PDY" + county + pl.Series(rng.integers(0, 10_000, size=n)).cast(pl.Utf8).str.zfill(4),
        "service_items": pl.Series(items),
        "is_individual": _yes_no(individual),
        "last_verified_date": iso_dates(verified),
        "division_code": county,
    })


def staff(n: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    county, _, _ = _counties(rng, n, profile.counties)
    male = rng.random(n) < 0.3
    birth = random_dates(rng, n, date(1965, 1, 1), date(1998, 12, 31))
    last, weights, female_names, male_names = name_words()
    surname = pick_series(last, rng.choice(len(last), size=n, p=weights))
    given = pl.select(pl.when(pl.Series(male)).then(pick_series(male_names, rng.integers(0, len(male_names), size=n)))
                      .otherwise(pick_series(female_names, rng.integers(0, len(female_names), size=n)))).to_series()
    return pl.DataFrame({
        "staff_id": "ST" + pl.Series(np.arange(1, n + 1)).cast(pl.Utf8).str.zfill(7),
        "staff_name": surname + given,
        "id_number": id_numbers(county, birth, male, rng).alias("id_number"),
        "qualification": choice_series(rng, {"1": 0.45, "2": 0.2, "3": 0.15, "4": 0.2}, n),
        "registration_no": "1" + county + pl.Series(rng.integers(0, 10**8, size=n)).cast(pl.Utf8).str.zfill(8),
        "fp_certificate_no": "JSHG" + pl.Series(rng.integers(0, 10**6, size=n)).cast(pl.Utf8).str.zfill(6),
        "institution_uscc": _uscc(county, rng),
    })


def adverse_events(n: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    county, _, _ = _counties(rng, n, profile.counties)
    occurred = random_dates(rng, n, *profile.period)
    delay = rng.integers(0, 10, size=n).astype("timedelta64[D]")
    severity = choice_series(rng, {"1": 0.85, "2": 0.15}, n)
    new = rng.random(n) < 0.05
    serious = (severity == "2").to_numpy()
    age_days = rng.integers(20 * 365, 44 * 365, size=n).astype("timedelta64[D]")
    return pl.DataFrame({
        "event_id": "AE" + pl.Series(np.arange(1, n + 1)).cast(pl.Utf8).str.zfill(7),
        "kind": choice_series(rng, {"1": 0.05, "2": 0.6, "3": 0.35}, n),
        "severity": severity,
        "is_new": _yes_no(new),
        "escalated": _yes_no(serious | new | (rng.random(n) < 0.2)),
        "occurred_date": iso_dates(occurred),
        "reported_date": iso_dates(occurred + delay),
        "institution_uscc": _uscc(county, rng),
        "client_id": id_numbers(county, occurred - age_days, np.zeros(n, dtype=bool), rng),
        "procedure": choice_series(rng, {c: 1.0 for c in PROCEDURES if c not in ("03", "11")}, n),
        "description": pl.repeat("术后随访发现，已处置。", n, eager=True),
    })


def _indicator_rows(county: pl.Series, name: pl.Series, indicator: pl.Series, numerator: np.ndarray,
                    denominator: np.ndarray, years: pl.Series | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"division_code": county, "division_name": name, "indicator": indicator,
                          "numerator": numerator, "denominator": denominator,
                          "report_year": pl.repeat("2023", len(county), eager=True) if years is None else years})
    units = {k: d["unit"] for k, d in aggregates.definitions().items()}
    scale = {k: aggregates.scales()[u] for k, u in units.items()}
    return frame.select(
        "division_code", "division_name", "report_year", "indicator",
        pl.col("numerator").cast(pl.Utf8), pl.col("denominator").cast(pl.Utf8),
        (pl.col("numerator") / pl.col("denominator") * pl.col("indicator").replace_strict(
            scale, default=100, return_dtype=pl.Int64)).round(2).cast(pl.Utf8).alias("value"),
        pl.col("indicator").replace_strict(units, default="%", return_dtype=pl.Utf8).alias("unit"),
    )


def _share_range(indicator: str) -> tuple[float, float]:
    """Shares (numerator / denominator) that meet the default target with a margin, or plausible ones."""
    unit = aggregates.definitions()[indicator]["unit"]
    scale = aggregates.scales()[unit]
    target = aggregates.load_targets()["targets"].get(indicator)
    if target is None:
        return 0.0, 20 / scale  # e.g. maternal mortality: up to 20 per 100,000
    low = min((float(target["value"]) + 0.6) / scale, 1.0)
    return low, min(1.0, low * 3) if unit != "%" else 1.0


def indicator_reports(n: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """Indicator rows, one per division, year and indicator (:func:`_report_keys`)."""
    indicators = list(contract.codetables()["indicator"].labels)
    county, name, chosen, years, unit = _report_keys(rng, n, profile, len(indicators))
    ranges = np.array([_share_range(i) for i in indicators])
    of_unit = np.zeros(int(unit.max()) + 1 if n else 0, dtype=np.int64)
    of_unit[unit] = chosen  # each unit's indicator; one draw per unit (county and indicator)
    denominator = rng.integers(2_000, 20_000, size=len(of_unit))[unit]
    share = rng.uniform(ranges[of_unit, 0], ranges[of_unit, 1])[unit]
    numerator = np.minimum(np.ceil(denominator * share), denominator).astype(np.int64)
    return _indicator_rows(county, name, pick_series(indicators, chosen), numerator, denominator, years)


def procedure_reports(n: int, rng: np.random.Generator, profile: Profile) -> pl.DataFrame:
    """卫统45表 rows, one per division and year (:func:`_report_keys`)."""
    county, name, _, years, unit = _report_keys(rng, n, profile)
    procedures, _, _ = aggregates.procedure_columns()
    subsets = aggregates.subset_columns()
    m = int(unit.max()) + 1 if n else 0  # one draw per unit (county)
    counts = {col: rng.integers(0, 400, size=m)[unit] for col in procedures.values() if col not in subsets}
    for column, parents in subsets.items():  # an "of which" column: a share of what it is part of
        counts[column] = np.floor(rng.random(m)[unit] * sum(counts[p] for p in parents)).astype(np.int64)
    return _procedure_frame(county, name, counts, rng, years)


def _procedure_frame(county: pl.Series, name: pl.Series, counts: dict[str, np.ndarray],
                     rng: np.random.Generator, years: pl.Series | None = None) -> pl.DataFrame:
    n = len(county)
    out = {"division_code": county, "division_name": name,
           "report_year": pl.repeat("2023", n, eager=True) if years is None else years}
    subsets = aggregates.subset_columns()  # "of which" columns are not added to the total
    out["total_services"] = pl.Series(sum(v for c, v in counts.items() if c not in subsets)).cast(pl.Utf8)
    _, complications, _ = aggregates.procedure_columns()
    for column in counts:
        out[column] = pl.Series(counts[column]).cast(pl.Utf8)
    for column, parent in complications.items():  # a few of the procedure's cases
        out[column] = pl.Series(np.minimum(rng.integers(0, 3, size=n), counts[parent])).cast(pl.Utf8)
    fields = [f.name for f in contract.fields("procedure_report") if f.name in out]
    return pl.DataFrame(out).select(fields)


# --- one linked data set -----------------------------------------------------------------------------------


def linked_set(rows: int, seed: int = 0, profile: Profile | None = None) -> dict[str, pl.DataFrame]:
    """Service records and, from the same seed, the institutions and staff they name, adverse events of some
    of them, and per county the 卫统45表 row and the informed-choice indicator that sum exactly to them."""
    rng = np.random.default_rng(seed)
    profile = profile or Profile()
    services = service_records(rows, rng, profile)
    stations = services.select("station_code", "city_code", "township_name").unique("station_code").sort(
        "station_code")
    n = stations.height
    inst = institutions(n, rng, profile).with_columns(
        institution_code=stations["station_code"], division_code=stations["city_code"],
        name=stations["township_name"] + "计划生育服务站", is_individual=pl.lit("否"),
        uscc=_uscc(stations["city_code"], rng), licence_type=pl.lit("1"),
        service_items=pl.lit(",".join(contract.codetables()["fp_procedure_type"].labels)),
    )
    team = staff(2 * n, rng, profile).with_columns(institution_uscc=pl.concat([inst["uscc"], inst["uscc"]]))
    sample = services.filter(pl.Series(rng.random(rows) < 0.01)).join(
        inst.select(pl.col("institution_code").alias("station_code"), "uscc"), on="station_code")
    events = adverse_events(sample.height, rng, profile).with_columns(
        client_id=sample["client_id"], procedure=sample["procedure"], institution_uscc=sample["uscc"],
        occurred_date=sample["service_date"], reported_date=sample["service_date"])
    by_county = services.group_by("city_code", "city_name", "procedure").len().pivot(
        on="procedure", index=["city_code", "city_name"], values="len").fill_null(0).sort("city_code")
    counted = aggregates.attribute_subsets(pl.DataFrame(
        {col: (by_county[code] if code in by_county.columns else pl.repeat(0, by_county.height, eager=True))
         for code, col in aggregates.procedure_columns()[0].items()}).cast(pl.Int64))
    counts = {col: counted[col].to_numpy() for col in counted.columns}
    zero = np.random.default_rng(0)  # complications: none (the records carry none)
    _, complications, _ = aggregates.procedure_columns()
    report = _procedure_frame(by_county["city_code"], by_county["city_name"], counts, zero).with_columns(
        pl.lit("0").alias(c) for c in complications)
    chosen = services.group_by("city_code", "city_name").agg(
        pl.len().alias("denominator"), pl.col("contraceptive_method").is_not_null().sum().alias("numerator")
    ).sort("city_code")
    indicators = _indicator_rows(chosen["city_code"], chosen["city_name"],
                                 pl.repeat("informed_choice", chosen.height, eager=True),
                                 chosen["numerator"].to_numpy(), chosen["denominator"].to_numpy())
    return {"service_record": services, "institution": inst, "staff": team, "adverse_event": events,
            "procedure_report": report, "indicator_report": indicators}


# --- defects ------------------------------------------------------------------------------------------------


def _wrong_check(column: str) -> Callable:
    """Replace the check character (position 18) of an ID number or credit code by another one (1 or 2, so an
    ID never gets a "000" ending)."""
    def apply(df, rng, ref):
        values = df[column]
        other = pl.select(pl.when(values.str.slice(17, 1) == "1").then(pl.lit("2")).otherwise(pl.lit("1"))).to_series()
        return {column: values.str.slice(0, 17) + other}
    return apply


def _days_before(column: str, source: str, days: int) -> Callable:
    return lambda df, rng, ref: {column: (df[source].str.to_date() - timedelta(days=days)).dt.to_string("%Y-%m-%d")}


def _plus(column: str, other: str, extra: int) -> Callable:
    return lambda df, rng, ref: {column: (df[other].cast(pl.Int64) + extra).cast(pl.Utf8)}


def _uscc_with(column: str, start: int, part: Callable[[pl.Series], pl.Series]) -> Callable:
    """Replace characters from ``start`` of a credit code by ``part(code)`` and recompute its check character: a
    structure warning alone."""
    def apply(df, rng, ref):
        code = df[column]
        new = part(code)
        body = code.str.slice(0, start) + new + code.str.slice(start + new.str.len_chars().max(), 17)
        return {column: pl.select(body.str.slice(0, 17) + uscc.check_char_expr(pl.lit(body.str.slice(0, 17) + "0"))
                                  ).to_series()}
    return apply


def _other_org_check(code: pl.Series) -> pl.Series:
    due = pl.select(uscc.org_check_char_expr(pl.lit(code))).to_series()
    return pl.select(pl.when(due == "1").then(pl.lit("2")).otherwise(pl.lit("1"))).to_series()


def _future(column: str) -> Callable:
    return lambda df, rng, ref: {column: pl.repeat((ref + timedelta(days=40)).isoformat(), df.height, eager=True)}


def _unknown_county(column: str) -> Callable:
    """Codes of no division, a different one per row (99xxyy, yy never 00: not a parent of a roll-up), so they
    do not repeat a report's key."""
    def apply(df, rng, ref):
        i = pl.int_range(df.height, eager=True)
        return {column: pl.select(pl.format("99{}{}", (i // 99 % 100).cast(pl.Utf8).str.zfill(2),
                                            (i % 99 + 1).cast(pl.Utf8).str.zfill(2))).to_series()}
    return apply


def _current(df: pl.DataFrame) -> pl.Expr:
    """Rows whose division is still in use: a year moved past the table's last is judged by that year's list."""
    now = divisions.table().filter(pl.col("end").is_null()).get_column("code")
    return pl.col("division_code").is_in(now.implode())


def _future_year(df, rng, ref):
    """Statistical years not begun: each row's year moved by the same number of years (past ``ref``), so rows that
    had different keys keep different keys."""
    return {"report_year": (df["report_year"].cast(pl.Int64) + (ref.year + 2 - 1980)).cast(pl.Utf8)}


def _rate(df: pl.DataFrame, numerator: pl.Series) -> pl.Series:
    """The value as the report would state it for this numerator (rounded to 2 places)."""
    units = {k: d["unit"] for k, d in aggregates.definitions().items()}
    scale = df["indicator"].replace_strict(units, return_dtype=pl.Utf8).replace_strict(
        aggregates.scales(), return_dtype=pl.Float64)
    return (numerator.cast(pl.Float64) / df["denominator"].cast(pl.Float64) * scale).round(2).cast(pl.Utf8)


def _exceeding(df, rng, ref):
    numerator = df["denominator"].cast(pl.Int64) + 5
    return {"numerator": numerator.cast(pl.Utf8), "value": _rate(df, numerator)}


def _below_target(df, rng, ref):
    targets = aggregates.load_targets()["targets"]
    units = {k: d["unit"] for k, d in aggregates.definitions().items()}
    share = df["indicator"].replace_strict(
        {k: float(t["value"]) / aggregates.scales()[units[k]] / 2 for k, t in targets.items()},
        return_dtype=pl.Float64)
    numerator = (df["denominator"].cast(pl.Float64) * share).floor().cast(pl.Int64)
    return {"numerator": numerator.cast(pl.Utf8), "value": _rate(df, numerator)}


def _wrong_unit(df, rng, ref):
    units = {k: d["unit"] for k, d in aggregates.definitions().items()}
    other = {u: ("‰" if u != "‰" else "%") for u in set(units.values())}
    return {"unit": df["indicator"].replace_strict(units, return_dtype=pl.Utf8).replace_strict(other)}


HAS_TARGET = pl.col("indicator").is_in(list(aggregates.load_targets()["targets"]))

DEFECTS: dict[str, dict[str, Injector]] = {
    "institution": {i.rule: i for i in [
        Injector("uscc.checksum", "uscc", _wrong_check("uscc")),
        Injector("uscc.format", "uscc", lambda df, rng, ref: {"uscc": df["uscc"].str.slice(0, 17) + "I"}),
        Injector("uscc.org_checksum", "uscc", _uscc_with("uscc", 16, _other_org_check)),
        Injector("uscc.registration", "uscc", _uscc_with("uscc", 0, lambda c: pl.repeat("88", len(c), eager=True))),
        Injector("uscc.division", "uscc", _uscc_with("uscc", 2, lambda c: pl.repeat("999999", len(c), eager=True))),
        Injector("uscc.normalized", "uscc",
                 lambda df, rng, ref: {"uscc": df["uscc"].str.slice(0, 2) + " " + df["uscc"].str.slice(2)}),
        Injector("field.code", "licence_type", set_value("licence_type", "3")),
        Injector("field.pattern", "licence_no", set_value("licence_no", "X1")),
        Injector("field.required", "name", set_value("name", None)),
        Injector("field.date", "last_verified_date", set_value("last_verified_date", "2023-02-30")),
        Injector("date.future", "last_verified_date", _future("last_verified_date")),
        Injector("institution.licence_overdue", "last_verified_date",
                 lambda df, rng, ref: {"last_verified_date": pl.repeat(
                     (ref - timedelta(days=5 * 365)).isoformat(), df.height, eager=True)}),
        Injector("institution.individual_surgery", "service_items",
                 lambda df, rng, ref: {"is_individual": pl.repeat("是", df.height, eager=True),
                                       "service_items": pl.repeat("05", df.height, eager=True)}),
        Injector("division.unknown", "division_code", _unknown_county("division_code")),
        Injector("field.duplicate_item", "service_items", set_value("service_items", "01,02,01"),
                 lambda df: pl.col("is_individual") == "否"),
    ]},
    "staff": {i.rule: i for i in [
        Injector("uscc.checksum", "institution_uscc", _wrong_check("institution_uscc")),
        Injector("id.checksum", "id_number", _wrong_check("id_number"),
                 lambda df: pl.col("id_number").str.slice(15, 2) != "00"),
        Injector("field.code", "qualification", set_value("qualification", "药剂师")),
        Injector("field.pattern", "registration_no", set_value("registration_no", "123")),
        Injector("field.required", "staff_name", set_value("staff_name", None)),
        Injector("field.length", "staff_name", set_value("staff_name", "王" * 60)),
    ]},
    "adverse_event": {i.rule: i for i in [
        Injector("event.escalation", "escalated",
                 lambda df, rng, ref: {"severity": pl.repeat("2", df.height, eager=True),
                                       "escalated": pl.repeat("否", df.height, eager=True)}),
        Injector("event.report_before_occur", "reported_date", _days_before("reported_date", "occurred_date", 3)),
        Injector("date.future", "reported_date", _future("reported_date")),
        Injector("field.code", "kind", set_value("kind", "9")),
        Injector("uscc.checksum", "institution_uscc", _wrong_check("institution_uscc")),
        Injector("id.checksum", "client_id", _wrong_check("client_id"),
                 lambda df: pl.col("client_id").str.slice(15, 2) != "00"),
        Injector("field.required", "occurred_date", set_value("occurred_date", None)),
    ]},
    "indicator_report": {i.rule: i for i in [
        Injector("indicator.numerator_exceeds", "numerator", _exceeding),
        Injector("indicator.rate_mismatch", "value",
                 lambda df, rng, ref: {"value": (df["value"].cast(pl.Float64) + 7).round(2).cast(pl.Utf8)},
                 lambda df: pl.col("value").cast(pl.Float64) < 90),  # stays under the target ceiling either way
        Injector("indicator.unit", "unit", _wrong_unit),
        Injector("indicator.below_target", "value", _below_target, lambda df: HAS_TARGET),
        Injector("report.future_period", "report_year", _future_year, _current),
        Injector("field.range", "value", set_value("value", "-5")),
        Injector("field.code", "unit", set_value("unit", "percent")),
        Injector("field.pattern", "division_code", set_value("division_code", "1101")),
        Injector("division.unknown", "division_code", _unknown_county("division_code")),
        Injector("field.type", "denominator", set_value("denominator", "约一千")),
    ]},
    "procedure_report": {i.rule: i for i in [
        Injector("field.range", "iud_insertion", set_value("iud_insertion", "-3")),
        Injector("report.total_mismatch", "total_services", _plus("total_services", "total_services", 3)),
        Injector("report.complication_exceeds", "iud_insertion_infection",
                 _plus("iud_insertion_infection", "iud_insertion", 1)),
        Injector("report.subset_exceeds", "anaesthesia_abortion",  # 麻醉流产 above 负压吸引术 plus 钳刮术
                 lambda df, rng, ref: {"anaesthesia_abortion": (df["vacuum_aspiration"].cast(pl.Int64) + df[
                     "dilation_curettage"].cast(pl.Int64) + 1).cast(pl.Utf8)}),
        Injector("report.future_period", "report_year", _future_year, _current),
        Injector("field.type", "vasectomy", set_value("vasectomy", "2.5")),
        Injector("field.pattern", "division_code", set_value("division_code", "1101")),
        Injector("division.unknown", "division_code", _unknown_county("division_code")),
        Injector("field.required", "report_year", set_value("report_year", None)),
    ]},
}

GENERATORS: dict[str, Callable[[int, np.random.Generator, Profile], pl.DataFrame]] = {
    "institution": institutions,
    "staff": staff,
    "adverse_event": adverse_events,
    "indicator_report": indicator_reports,
    "procedure_report": procedure_reports,
}


# --- a report set with report-level defects ---------------------------------------------------------------

SET_DEFECTS = ("report.rollup_mismatch", "report.rollup_incomplete", "report.implausible_change",
               "report.reconcile_mismatch")


def report_set(prefecture: str = "130100", rows: int = 20_000, seed: int = 0, defects: bool = False,
               year: int = 2023) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """A prefecture's 卫统45表 for two statistical years (every county of the year and the prefecture row,
    summing exactly) and the service records the later year counts; with ``defects``, one defect of each
    report-level rule. Returns ({"procedure_report", "service_record"}, manifest (index, column, rule))."""
    rng = np.random.default_rng(seed)
    procedures, complications, total = aggregates.procedure_columns()
    columns = [total, *procedures.values(), *complications]
    children = aggregates.expected_children(prefecture, year)
    services = service_records(rows, rng, Profile(county_codes=tuple(children)))
    now = aggregates.attribute_subsets(
        aggregates.recount(services.select("city_code", "procedure", pl.col("service_date").str.to_date())))
    now = now.with_columns(pl.lit(0).alias(c) for c in complications).cast({c: pl.Int64 for c in columns})
    # the year before: the same counts (a steady prefecture), so that only an injected jump is implausible
    before = now.with_columns(pl.lit(year - 1, dtype=pl.Int64).alias("report_year"))
    report = pl.concat([before, now.cast({"report_year": pl.Int64})]).sort("report_year", "division_code")
    manifest: list[tuple[str, int, str, str]] = []
    dropped = None
    if defects:
        counties = sorted(now["division_code"].to_list())
        dropped, odd, recon = counties[0], counties[1], counties[2]
        infection = next(c for c, parent in complications.items() if parent == procedures["01"])
        at = lambda code, y: (pl.col("division_code") == code) & (pl.col("report_year") == y)  # noqa: E731
        report = report.with_columns(  # an implausible jump: infections in one county where all others have none
            pl.when(at(odd, year)).then(pl.min_horizontal(pl.col(procedures["01"]), 50)).otherwise(pl.col(infection))
            .alias(infection))
        report = report.with_columns(  # counts the records do not support, in both years (no jump), and the
            # total moves too, so the rows still add up
            pl.when(pl.col("division_code") == recon).then(pl.col(c) + 2).otherwise(pl.col(c)).alias(c)
            for c in (procedures["03"], total))
        manifest += [(odd, year, infection, "report.implausible_change"),
                     (recon, year, procedures["03"], "report.reconcile_mismatch"),
                     (recon, year, total, "report.reconcile_mismatch")]
    parents = report.group_by("report_year").agg(pl.col(c).sum() for c in columns).with_columns(
        pl.lit(prefecture).alias("division_code"))
    if defects:
        first = complications and next(iter(complications))
        parents = parents.with_columns(pl.when(pl.col("report_year") == year).then(pl.col(first) + 1)
                                       .otherwise(pl.col(first)).alias(first))
        report = report.filter(~((pl.col("division_code") == dropped) & (pl.col("report_year") == year - 1)))
        manifest += [(prefecture, year, first, "report.rollup_mismatch"),
                     (prefecture, year - 1, "division_code", "report.rollup_incomplete")]
    names = {**dict(services.select("city_code", "city_name").unique().iter_rows()),
             prefecture: divisions.name(prefecture, year) or ""}
    out = pl.concat([report, parents.select(report.columns)]).sort("report_year", "division_code").with_columns(
        pl.col("division_code").replace_strict(names, default="").alias("division_name"))
    fields = [f.name for f in contract.fields("procedure_report") if f.name in out.columns]
    text = out.select(pl.col(c).cast(pl.Utf8) for c in fields)
    index = {(c, int(y)): i for i, (c, y) in enumerate(text.select("division_code", "report_year").iter_rows())}
    rows_ = [(index[(code, y)], column, rule) for code, y, column, rule in manifest]
    frame = pl.DataFrame(rows_, schema={"index": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8}, orient="row")
    return {"procedure_report": text, "service_record": services}, frame.sort("index", "column", "rule")
