"""GB/T 2260 division codes: the package's own table, with the years each code was in use.

The table (``fpschema/data/divisions.csv``) is built by ``scripts/build_divisions.py`` from the public
yescallop/areacodes data set (CC0; provenance in ``divisions.PROVENANCE.md``). It holds the year-end lists
1981-2024: a code with start year S and end year E (null while in use) is in the year-end lists S to E-1, and in
use *during* the years S to E (abolished during E). Years before the first list read as the first list; years
after the last list as the last one.

A division code answers two different questions (docs/divisions.md):

- an ID number's address code, where the person was first registered: valid when it was a code at any time
  (:func:`is_valid`, :func:`unknown_expr`; a code created after the birth year is real), with a warning when it
  had been abolished more than :data:`RETIRED_GRACE_YEARS` before the birth year (:func:`id_retired_expr`);
- the place of a service or report: a code of an allowed level in use during the service date's year or the
  report year (:func:`place_status_expr`); never in use then: error, abolished before: warning naming the
  successor (:func:`retired_value_expr`).

Roll-ups use the report year's list (:func:`county_codes`, :func:`children`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import polars as pl

from fpschema import contract
from fpschema.contract import catalogue

# Residence-permit prefixes for residents of Hong Kong, Macao and Taiwan (港澳台居民居住证, 2018 rules): address codes
# of ID-format numbers. 830000 is no GB/T 2260 code (Taiwan is 710000); the other two are province codes.
PERMIT_PREFIXES = ("810000", "820000", "830000")
# City summary codes (市辖区 01, 城区 02, 郊区 11, 市区 20) under a prefecture: on real ID numbers, absent from the
# Ministry's lists (domain-research §3: id-validator accepts them too). Valid address codes, never a place in use.
SUMMARY_SUFFIXES = ("01", "02", "11", "20")
# An ID address code abolished in year E is not first assigned to someone born after E + this many years (registry
# systems lag behind a change by a few years): fpschema（项目自定）; written in the catalogue beside its rule.
RETIRED_GRACE_YEARS = catalogue.RETIRED_GRACE_YEARS
LEVELS = ("province", "prefecture", "county")
PLACE_STATUS = pl.Enum(["division.retired", "division.not_in_use"])

_SCHEMA = {"code": pl.Utf8, "name": pl.Utf8, "level": pl.Utf8, "province": pl.Utf8, "prefecture": pl.Utf8,
           "start": pl.Int32, "end": pl.Int32, "successors": pl.Utf8, "transfers": pl.Utf8}


@dataclass(frozen=True)
class Period:
    name: str
    start: int  # first year-end list with this name
    end: int | None  # the year it was changed or abolished (in use during part of it); None while in use
    successors: tuple[str, ...] = ()  # the codes the area went to at ``end`` (the code itself for a rename)


@cache
def table() -> pl.DataFrame:
    """The shipped table: one row per code and period (code, name, level, province, prefecture, start, end,
    successors, transfers; see ``scripts/build_divisions.py``)."""
    data = (files("fpschema") / "data" / "divisions.csv").read_bytes()
    return pl.read_csv(data, schema=_SCHEMA)


@cache
def years() -> tuple[int, int]:
    """(first, last) year-end list of the table."""
    t = table()
    return int(t["start"].min()), int(max(t["start"].max(), t["end"].max()))


def _clip(year: pl.Expr) -> pl.Expr:
    """A year within the table: the first list for earlier years, one past the last list (only codes still in
    use) for later years."""
    first, last = years()
    return year.cast(pl.Int64).clip(first, last + 1)


def _key(number: pl.Expr, year: pl.Expr) -> pl.Expr:
    """code * 10000 + year, the lookup key of a code (as a number) in a year."""
    return number.cast(pl.Int64) * 10000 + _clip(year)


@cache
def history() -> dict[str, tuple[Period, ...]]:
    """Six-digit code → its periods (names and years), oldest first."""
    out: dict[str, list[Period]] = {}
    for code, name, start, end, successors in table().select("code", "name", "start", "end", "successors").iter_rows():
        out.setdefault(code, []).append(Period(name, start, end, tuple(successors.split(";")) if successors else ()))
    return {code: tuple(periods) for code, periods in out.items()}


@cache
def valid_codes() -> frozenset[str]:
    """Every six-digit code valid as an ID address code: the table's codes at any time, the residence-permit
    prefixes and the city summary codes (:data:`SUMMARY_SUFFIXES`) under a prefecture of the table."""
    codes = set(table()["code"])
    prefectures = {c[:4] for c in codes if c.endswith("00") and not c.endswith("0000")}
    return frozenset(codes | set(PERMIT_PREFIXES) | {p + s for p in prefectures for s in SUMMARY_SUFFIXES})


def is_valid(code: str) -> bool:
    """True when ``code`` (the first six digits of any division or ID number) was ever a valid address code."""
    return code[:6] in valid_codes()


@cache
def known_codes() -> pl.Series:
    """:func:`valid_codes` as a sorted column, for membership tests in expressions."""
    return pl.Series("code", sorted(valid_codes()), dtype=pl.Utf8)


@cache
def code_numbers() -> pl.Series:
    """:func:`known_codes` as numbers (six-digit codes: one number each, and back)."""
    return known_codes().cast(pl.UInt32)


def unknown_expr(col: pl.Expr) -> pl.Expr:
    """True where a code starts with six digits that were never a valid code (:func:`valid_codes`).

    The first six characters are read as a number (null unless they are ASCII digits, or a "+" and digits) and
    looked up among the codes as numbers: one integer lookup, several times cheaper than a regular
    expression and a text lookup. Six digits take at least six bytes, and a shorter text of digits is itself
    shorter than six bytes (the same rows as the regular expression: tested)."""
    number = col.str.slice(0, 6).cast(pl.UInt32, strict=False)
    unknown = (~number.is_in(code_numbers().implode())).fill_null(False)  # not digits: not this rule's business
    return pl.when(col.is_not_null()).then(
        unknown & (col.str.len_bytes() >= 6) & ~col.str.starts_with("+"))


def code_digits(spec: dict) -> int | None:
    """n for a division-code field whose contract pattern (``spec``, the field's schema) is n ASCII digits, at
    least six (a number each: see :func:`fpschema.check.digits_number`); else None."""
    digits = contract.digits_pattern(spec.get("pattern", "")) if spec.get("x-check") == "division" else None
    return digits if digits is not None and 6 <= digits <= 18 else None


def unknown_rows(name: str, digits: int) -> pl.Expr:
    """:func:`unknown_expr` of column ``name`` from its number (``{name}#number``, a ``digits_number``): the
    first six digits by integer division; the cells that are not such a code (few) by the text."""
    number = pl.col(f"{name}#number")
    known = (number // 10 ** (digits - 6)).cast(pl.UInt32).is_in(code_numbers().implode())
    return pl.when(number.is_not_null()).then(~known).otherwise(
        unknown_expr(pl.when(number.is_null()).then(pl.col(name))))


def status_expr(col: pl.Expr) -> pl.Expr:
    """``division.unknown`` where a code's first six digits were never a valid code, else null."""
    return pl.when(unknown_expr(col)).then(pl.lit("division.unknown"))


def check(code: str) -> str | None:
    """Rule code for one division code (``division.unknown``) or None.

    >>> check("110105001001"), check("999999")
    (None, 'division.unknown')
    """
    return pl.select(status_expr(pl.lit(code, dtype=pl.Utf8))).item()


# --- years in use ----------------------------------------------------------------------------------------------


@cache
def _periods() -> pl.DataFrame:
    """The table's periods by code and start: ``number``, ``level``, ``low`` and ``high`` (the years in use, both
    included; one past the last list while in use), ``ended`` (abolished or changed), ``next`` (the first year of
    the code's next period, two past the last list when none) and ``final`` (the code's last period)."""
    first, last = years()
    number = pl.col("code").cast(pl.Int64)
    final = (number != number.shift(-1)).fill_null(True)
    return table().sort("code", "start").select(
        number.alias("number"), "level", pl.col("start").clip(first).alias("low"),
        pl.col("end").fill_null(last + 1).alias("high"), pl.col("end").is_not_null().alias("ended"),
        pl.when(final).then(last + 2).otherwise(pl.col("start").shift(-1)).alias("next"), final.alias("final"))


def _year_keys(rows: pl.DataFrame, low: pl.Expr, high: pl.Expr) -> pl.Series:
    """number * 10000 + year for each year from ``low`` to ``high`` (both included; none where high < low) of
    each of ``rows``."""
    return rows.select((pl.col("number") * 10000 + pl.int_ranges(low, high + 1)).alias("k")).explode(
        "k").drop_nulls().to_series()


@cache
def _retired() -> pl.DataFrame:
    """(number, level, year, successors): every year a code was not in use but had been before, with the
    successors of its last period (a list, empty when none is recorded)."""
    _, last = years()
    periods = table().sort("code", "start").with_columns(pl.col("start").shift(-1).over("code").alias("#next"))
    return periods.filter(pl.col("end").is_not_null()).select(
        pl.col("code").cast(pl.Int64).alias("number"), "level",
        pl.int_ranges(pl.col("end") + 1, pl.col("#next").fill_null(last + 2)).alias("year"),
        pl.col("successors").str.split(";").fill_null([]).alias("successors"),
    ).explode("year").drop_nulls("year")


@cache
def _place_keys(levels: tuple[str, ...]) -> tuple[pl.Series, pl.Series]:
    """(in use, retired): the keys code * 10000 + year of the codes of ``levels`` in use during a year, and of
    those retired by then (in use before, not in that year: after a period, before the next one)."""
    mine = _periods().filter(pl.col("level").is_in(levels))
    return (_year_keys(mine, pl.col("low"), pl.col("high")),
            _year_keys(mine.filter("ended"), pl.col("high") + 1, pl.col("next") - 1))


def place_status_expr(number: pl.Expr, year: pl.Expr, levels: tuple[str, ...] = ("county",)) -> pl.Expr:
    """The rule a place code breaks in a year, as :data:`PLACE_STATUS` (null when it is in use then, or when the
    code or year is missing). ``number``: the six-digit code as a number; ``year``: an integer year.

    In use at one of ``levels`` during the year: null. A code of those levels in use before the year and not in
    it: ``division.retired``. Anything else (a code of another level, one created after the year, one never
    valid): ``division.not_in_use``. A hash lookup of code * 10000 + year per row (a second one for the few
    codes not in use)."""
    ok, gone = _place_keys(tuple(levels))
    key = _key(number, year)
    return (pl.when(number.is_null() | year.is_null()).then(None)
            .when(key.is_in(ok.implode())).then(None)
            .when(key.is_in(gone.implode())).then(pl.lit("division.retired", dtype=PLACE_STATUS))
            .otherwise(pl.lit("division.not_in_use", dtype=PLACE_STATUS)))


def retired_value_expr(number: pl.Expr, year: pl.Expr) -> pl.Expr:
    """The text a ``division.retired`` finding reports: the code and its successors in use that year, e.g.
    ``110229 → 110119`` (a chain of changes followed; several codes when the area was split)."""
    return pl.struct(number.cast(pl.Int64).alias("number"), _clip(year).alias("year")).map_batches(
        _retired_text, return_dtype=pl.Utf8)


@cache
def _retired_map() -> dict[tuple[int, int], list[int]]:
    """(code, year) → the codes its area went to, for every year a code was retired (a table of about 100,000
    pairs, built once, when a file first has a ``division.retired`` finding)."""
    retired = _retired().select("number", "year", pl.col("successors").list.eval(pl.element().cast(pl.Int64)))
    return dict(zip(zip(retired.get_column("number").to_list(), retired.get_column("year").to_list(), strict=True),
                    retired.get_column("successors").to_list(), strict=True))


def _successors_of(number: int, year: int) -> list[int]:
    """The codes in use in ``year`` that a retired code's area went to (:func:`successors_frame` for one code:
    the chain of changes followed, at most :data:`MAX_CHAIN` deep)."""
    table, found, frontier = _retired_map(), set(), [number]
    for _ in range(MAX_CHAIN):
        step = []
        for code in frontier:
            nxt = table.get((code, year))
            if nxt:
                step.extend(nxt)
            elif code != number:
                found.add(code)
        if not step:
            break
        frontier = step
    return sorted(found)


def _retired_text(pairs: pl.Series) -> pl.Series:
    """The texts of ``pairs`` (number, year): the failing rows only, few, so one dictionary walk each."""
    out = []
    for number, year in pairs.struct.unnest().iter_rows():
        if number is None or year is None:
            out.append(None)
            continue
        after = _successors_of(int(number), int(year))
        out.append(f"{number} → {';'.join(map(str, after))}" if after else f"{number}（无继任代码 / no successor recorded）")
    return pl.Series(out, dtype=pl.Utf8)


MAX_CHAIN = 12  # changes followed from a retired code to the codes in use (the longest chain in the table is shorter)


def successors_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """For rows (``#row``, ``number``, ``year``: a code as a number and a year within the table), the codes in
    use that year the code's area went to (``successors``, sorted text codes; empty when the code is in use, or
    retired without a recorded successor). Chains followed by joins, a round per change, not per row."""
    retired = _retired().select("number", "year", "successors")
    frontier = frame.select("#row", "number", "year", pl.lit(0).alias("#depth"))
    done = []
    for depth in range(MAX_CHAIN):
        step = frontier.join(retired, on=["number", "year"], how="left")
        final = step.filter(pl.col("successors").is_null() | (pl.col("successors").list.len() == 0))
        done.append(final.filter(pl.col("#depth") > 0).select("#row", "number"))
        frontier = step.filter(pl.col("successors").list.len() > 0).select(
            "#row", pl.col("successors").alias("number"), "year", pl.lit(depth + 1).alias("#depth")
        ).explode("number").with_columns(pl.col("number").cast(pl.Int64))
        if frontier.height == 0:
            break
    found = pl.concat(done).group_by("#row").agg(
        pl.col("number").unique().sort().cast(pl.Utf8).alias("successors"))
    return frame.select("#row").join(found, on="#row", how="left", maintain_order="left").with_columns(
        pl.col("successors").fill_null([]))


@cache
def _id_retired_keys() -> pl.Series:
    """code * 10000 + birth year where an address code had been abolished (its last period ended) more than
    :data:`RETIRED_GRACE_YEARS` before the birth year."""
    _, last = years()
    return _year_keys(_periods().filter("final", "ended"), pl.col("high") + RETIRED_GRACE_YEARS + 1, pl.lit(last + 1))


def id_retired_expr(region: pl.Expr, birth_year: pl.Expr) -> pl.Expr:
    """True where an ID address code (``region``, its six digits as text) had been abolished more than
    :data:`RETIRED_GRACE_YEARS` before ``birth_year`` (an integer); null where either is missing."""
    number = region.cast(pl.Int64, strict=False)
    return _key(number, birth_year).is_in(_id_retired_keys().implode())


# --- plain functions ---------------------------------------------------------------------------------------------


def name(code: str, year: int | None = None) -> str | None:
    """The name of a code: in the year-end list of ``year`` when given (else the name in use during that year,
    when it was abolished that year), otherwise its latest name."""
    periods = history().get(code[:6])
    if not periods:
        return None
    if year is None:
        return periods[-1].name
    year = max(year, years()[0])
    listed = [p for p in periods if p.start <= year and (p.end is None or year < p.end)]
    during = [p for p in periods if p.end == year]
    chosen = listed or during
    return chosen[0].name if chosen else None


def in_use(code: str, year: int) -> bool:
    """True when the six-digit ``code`` was in use (at its own level) during ``year`` (as
    :func:`place_status_expr` reads the table)."""
    first, last = years()
    year = min(max(year, first), last + 1)
    return any(p.start <= year and (p.end is None or year <= p.end) for p in history().get(code[:6], ()))


def successors(code: str) -> tuple[str, ...]:
    """The codes the area of ``code`` went to when it was last changed or abolished (empty while in use)."""
    periods = history().get(code[:6], ())
    return periods[-1].successors if periods and periods[-1].end is not None else ()


def successors_in(code: str, year: int) -> tuple[str, ...]:
    """The codes in use during ``year`` that the area of a retired ``code`` went to (empty when it is in use)."""
    frame = pl.DataFrame({"#row": [0], "number": [int(code[:6])], "year": [year]}).with_columns(_clip(pl.col("year")))
    return tuple(successors_frame(frame)["successors"][0])


def county_codes(year: int) -> frozenset[str]:
    """The county-level codes of the year-end list of ``year`` (for roll-ups)."""
    return frozenset(_listed(year).filter(pl.col("level") == "county")["code"])


def _listed(year: int) -> pl.DataFrame:
    first, last = years()
    year = min(max(year, first), last)
    t = table()
    return t.filter((pl.col("start") <= year) & (pl.col("end").is_null() | (pl.col("end") > year)))


@cache
def _prefecture_numbers() -> pl.Series:
    return table().filter(pl.col("level") == "prefecture").get_column("code").unique().sort()


def parent_expr(code: pl.Expr) -> pl.Expr:
    """The division a six-digit code rolls up into: a county its prefecture (xxyy00), or its province when it
    has none (直辖: the districts of Beijing, Hainan's and Hubei's counties under the province); a prefecture its
    province; a province none."""
    prefecture = code.str.slice(0, 4) + "00"
    province = code.str.slice(0, 2) + "0000"
    return (pl.when(code.str.ends_with("0000")).then(None)
            .when(code.str.ends_with("00")).then(province)
            .when(prefecture.is_in(_prefecture_numbers().implode())).then(prefecture)
            .otherwise(province))


def children(code: str, year: int) -> list[str]:
    """The divisions that roll up into ``code`` (:func:`parent_expr`) in the year-end list of ``year``, sorted:
    a prefecture's counties; a province's prefectures and the counties directly under it."""
    listed = _listed(year)
    return sorted(listed.filter(parent_expr(pl.col("code")) == code)["code"])


# --- names to codes ------------------------------------------------------------------------------------------------


def normalize_name(col: pl.Expr) -> pl.Expr:
    """A place name as compared: NFKC (full-width to half-width) without white space."""
    return col.str.normalize("NFKC").str.replace_all(r"\s+", "")


@cache
def _spellings() -> pl.DataFrame:
    """(spelling, code, low, high): the names a county-level code answers to in the years low-high (in use
    during them): its name, and its name after its prefecture's, its province's, or both."""
    _, last = years()
    t = table().with_columns(pl.col("end").fill_null(last + 1).alias("high"), pl.col("start").alias("low"))
    counties = t.filter(pl.col("level") == "county").select("code", "name", "province", "prefecture", "low", "high")
    upper = {level: t.filter(pl.col("level") == level).select(
        pl.col("code").alias(f"#{level}"), pl.col("name").alias(f"#{level}_name"),
        pl.col("low").alias("#low"), pl.col("high").alias("#high")) for level in ("province", "prefecture")}

    def within(frame: pl.DataFrame, level: str) -> pl.DataFrame:
        """``frame`` with the name of its ``level`` division, over the years both were in use."""
        return frame.join(upper[level], left_on=level, right_on=f"#{level}").with_columns(
            pl.max_horizontal("low", "#low").alias("low"), pl.min_horizontal("high", "#high").alias("high"),
        ).filter(pl.col("low") <= pl.col("high")).drop("#low", "#high")

    by_prefecture = within(counties, "prefecture")
    parts = [
        counties.select(pl.col("name").alias("spelling"), "code", "low", "high"),
        by_prefecture.select((pl.col("#prefecture_name") + pl.col("name")).alias("spelling"), "code", "low", "high"),
        within(counties, "province").select((pl.col("#province_name") + pl.col("name")).alias("spelling"), "code",
                                            "low", "high"),
        within(by_prefecture, "province").select(
            (pl.col("#province_name") + pl.col("#prefecture_name") + pl.col("name")).alias("spelling"), "code",
            "low", "high"),
    ]
    return pl.concat(parts).with_columns(normalize_name(pl.col("spelling"))).unique()


def codes_by_name_frame(frame: pl.DataFrame, name: str = "name", year: str = "year") -> pl.DataFrame:
    """For each row of ``frame`` (a place name and a year: an integer, a date or a datetime), the county-level codes whose
    name that year is the name (``candidates``, sorted) and the code when exactly one is (``code``, else null).

    Names are compared as :func:`normalize_name` gives them, as the county alone or after its prefecture's
    and/or province's name (余杭区, 杭州市余杭区, 浙江省余杭区, 浙江省杭州市余杭区). One join on the distinct
    (name, year) pairs, not a lookup per row."""
    y = pl.col(year)
    as_year = y.dt.year() if frame.schema[year].is_temporal() else y
    keys = frame.select(normalize_name(pl.col(name).cast(pl.Utf8)).alias("#spelling"),
                        _clip(as_year).alias("#year"))
    found = keys.unique().drop_nulls().join(_spellings(), left_on="#spelling", right_on="spelling").filter(
        (pl.col("low") <= pl.col("#year")) & (pl.col("#year") <= pl.col("high"))
    ).group_by("#spelling", "#year").agg(pl.col("code").unique().sort().alias("candidates"))
    out = keys.join(found, on=["#spelling", "#year"], how="left", maintain_order="left", nulls_equal=False)
    candidates = pl.col("candidates").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
    return out.select(pl.when(candidates.list.len() == 1).then(candidates.list.first()).alias("code"),
                      candidates.alias("candidates"))


def codes_by_name(place: str, year: int) -> list[str]:
    """County-level codes whose name during ``year`` is ``place`` (also as 杭州市余杭区 or 浙江省杭州市余杭区).

    >>> codes_by_name("朝阳区", 2023)
    ['110105', '220104']
    """
    frame = pl.DataFrame({"name": [unicodedata.normalize("NFKC", place)], "year": [year]})
    return codes_by_name_frame(frame).get_column("candidates")[0].to_list()
