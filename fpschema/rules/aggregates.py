"""Aggregate statistical reports (统计报表): the 表内 and 表间 审核 rules, as column expressions and
aggregations over the typed frame of an ``indicator_report`` or ``procedure_report``.

What an indicator is (numerator, denominator, unit, source) lives in the contract (``x-definitions`` of the
``indicator`` code table); which columns of 卫统45表 count which procedure, and which complication belongs
to which procedure, and which "of which" (其中) columns are subsets of which, too (``x-procedure``,
``x-complication-of``, ``x-subset-of``, ``x-total``). Targets are configuration
(``fpschema/targets/default.json``, overridable by a file). The sentinels -1 and -2 never enter a sum.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.check import Check
from fpschema.reference import divisions

TOLERANCE = {"%": 0.05, "‰": 0.05, "1/10万": 0.5, "1/百万": 0.5}  # half a unit of the last digit shown
ZSCORE = 3.5  # |modified z| above this is an implausible change (Iglewicz & Hoaglin)
MIN_COUNT = 10  # year-on-year changes of smaller counts are not scored
KEY_COLUMNS = ("division_code", "division_name", "report_year", "indicator", "unit", "value", "explanation")


@cache
def definitions() -> dict[str, dict[str, str]]:
    """Indicator code → numerator, denominator, unit, source (from the contract)."""
    return contract.defs()["indicator"]["x-definitions"]


@cache
def scales() -> dict[str, int]:
    return contract.defs()["indicator_unit"]["x-scale"]


TARGET_OPS = (">=", ">")  # how a target compares: at least, or more than


def load_targets(path: str | Path | None = None) -> dict[str, Any]:
    """Targets: the packaged default, or a JSON file of the same shape (a province's or a year's)."""
    if path is None:
        text = (resources.files("fpschema") / "targets" / "default.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8-sig")
    doc = json.loads(text)
    goals = doc.get("targets", {}) if isinstance(doc, dict) else None
    if not isinstance(goals, dict):
        raise ValueError('a targets file is an object whose "targets" maps indicators to {"op", "value"}')
    unknown = set(goals) - set(definitions())
    if unknown:
        raise ValueError(f"targets for unknown indicators: {sorted(unknown)}")
    for name, goal in goals.items():
        value = goal.get("value") if isinstance(goal, dict) else None
        if (not isinstance(goal, dict) or goal.get("op") not in TARGET_OPS or isinstance(value, bool)
                or not isinstance(value, int | float)):
            raise ValueError(f'target {name}: expected {{"op": one of {list(TARGET_OPS)}, "value": a number}}')
    return doc


def _count(name: str) -> pl.Expr:
    """A count with the -1/-2 sentinels read as missing."""
    col = pl.col(name)
    return pl.when(col >= 0).then(col)


# --- row rules (表内审核) -----------------------------------------------------------------------------------


def indicator_checks(targets: dict[str, Any] | None) -> list[Check]:
    units = {k: v["unit"] for k, v in definitions().items()}
    indicator, unit = pl.col("indicator"), pl.col("unit")
    expected = indicator.replace_strict(units, default=None, return_dtype=pl.Utf8)
    scale = expected.replace_strict(scales(), default=None, return_dtype=pl.Float64)
    tolerance = expected.replace_strict(TOLERANCE, default=None, return_dtype=pl.Float64)
    num, den, value = _count("numerator"), _count("denominator"), pl.col("value")
    shown = pl.when(value >= 0).then(value)
    recomputed = num / den * scale
    out = [
        Check("indicator.unit", "unit",  # a unit outside the code table is field.code's business
              unit.is_in(list(scales())) & expected.is_not_null() & (unit != expected)),
        Check("indicator.rate_mismatch", "value",
              (den > 0) & (unit == expected) & ((shown - recomputed).abs() > tolerance + 1e-9)),
    ]
    goals = (targets or {}).get("targets", {})
    if goals:
        goal = indicator.replace_strict({k: float(v["value"]) for k, v in goals.items()}, default=None,
                                        return_dtype=pl.Float64)
        strict = indicator.replace_strict({k: v["op"] == ">" for k, v in goals.items()}, default=None,
                                          return_dtype=pl.Boolean)
        below = pl.when(strict).then(shown <= goal).otherwise(shown < goal)
        out.append(Check("indicator.below_target", "value", (unit == expected) & below))
    return out


def procedure_columns() -> tuple[dict[str, str], dict[str, str], str]:
    """(procedure code → column, complication column → its procedure column, total column) from the contract."""
    props = contract.schema("procedure_report")["properties"]
    procedures = {v["x-procedure"]: k for k, v in props.items() if "x-procedure" in v}
    complications = {k: v["x-complication-of"] for k, v in props.items() if "x-complication-of" in v}
    (total,) = [k for k, v in props.items() if v.get("x-total")]
    return procedures, complications, total


def subset_columns() -> dict[str, tuple[str, ...]]:
    """"Of which" (其中) columns → the columns they are a part of (``x-subset-of``): 麻醉流产 of 负压吸引术 and
    钳刮术. They are not procedures of their own, so they are not added to the total."""
    props = contract.schema("procedure_report")["properties"]
    return {k: tuple(v["x-subset-of"]) for k, v in props.items() if "x-subset-of" in v}


def procedure_checks() -> list[Check]:
    procedures, complications, total = procedure_columns()
    subsets = subset_columns()
    parts = [_count(c) for c in procedures.values() if c not in subsets]
    complete = pl.all_horizontal(p.is_not_null() for p in parts)
    out = [Check("report.total_mismatch", total,
                 complete & _count(total).is_not_null() & (_count(total) != pl.sum_horizontal(parts)))]
    out += [Check("report.complication_exceeds", column, _count(column) > _count(parent))
            for column, parent in complications.items()]
    for column, parents in subsets.items():  # compared only when every part is a count (no sentinel)
        whole = [_count(c) for c in parents]
        out.append(Check("report.subset_exceeds", column, pl.all_horizontal(w.is_not_null() for w in whole)
                         & (_count(column) > pl.sum_horizontal(whole))))
    return out


def period_check(reference_date: date) -> Check:
    """The statistical year Y runs from 1 October Y-1 to 30 September Y: a report for a year not begun yet."""
    started = reference_date.year + (1 if reference_date.month >= 10 else 0)
    return Check("report.future_period", "report_year", pl.col("report_year") > started)


def row_checks(kind: str, reference_date: date, targets: dict[str, Any] | None = None) -> list[Check]:
    if kind == "indicator_report":
        return [*indicator_checks(targets), period_check(reference_date)]
    if kind == "procedure_report":
        return [*procedure_checks(), period_check(reference_date)]
    return []


# --- table rules (表间审核): roll-ups and plausibility --------------------------------------------------------


def additive_columns(kind: str) -> list[str]:
    """Columns that add up across divisions (never rates)."""
    if kind == "indicator_report":
        return ["numerator", "denominator"]
    return [f.name for f in contract.fields(kind) if f.json_type == "integer" and f.name != "report_year"]


def group_columns(kind: str) -> list[str]:
    """The columns a roll-up sums within besides the division (also read by the Spark roll-up)."""
    return ["report_year", "indicator"] if kind == "indicator_report" else ["report_year"]


def _parent(code: pl.Expr) -> pl.Expr:
    """The parent of a county (its prefecture xxyy00, or its province when directly under it) or of a
    prefecture (its province xx0000): :func:`divisions.parent_expr`."""
    return divisions.parent_expr(code)


@dataclass(frozen=True)
class Finding:
    row: int
    column: str
    rule: str
    value: str | None = None


TABLE_KINDS = ("indicator_report", "procedure_report")  # the aggregate reports: rules over the whole table


def rollup_findings(typed: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Parent rows (prefecture, province) against the sum of their children in the same file and year, and
    the children a parent should have in that year's division list."""
    if kind not in TABLE_KINDS or typed.height == 0:
        return empty_findings()
    group, columns = group_columns(kind), additive_columns(kind)
    frame = typed.filter(pl.col("division_code").str.contains(r"^[0-9]{6}$")).with_columns(
        _parent(pl.col("division_code")).alias("#parent"))
    parents = frame.filter(pl.col("division_code").str.ends_with("00")).select("__row__", "division_code", *group,
                                                                              *columns)
    if parents.height == 0:
        return empty_findings()
    sums = frame.filter(pl.col("#parent").is_not_null()).group_by(["#parent", *group]).agg(
        *[_count(c).sum().alias(f"#sum_{c}") for c in columns],
        *[(_count(c).is_null() & pl.col(c).is_not_null()).any().alias(f"#sentinel_{c}") for c in columns],
        pl.col("division_code").alias("#children"))
    joined = parents.join(sums, left_on=["division_code", *group], right_on=["#parent", *group], how="inner")
    found: list[dict[str, Any]] = []
    incomplete = set()
    for row, code, year, children in joined.select("__row__", "division_code", "report_year", "#children").iter_rows():
        missing = sorted(set(expected_children(code, year)) - set(children))
        if missing:  # then the sums cannot be compared: the missing children are the finding
            incomplete.add(row)
            found.append({"row": row, "column": "division_code", "rule": "report.rollup_incomplete",
                          "value": ",".join(missing[:20]) + (" …" if len(missing) > 20 else "")})
    complete = joined.filter(~pl.col("__row__").is_in(sorted(incomplete)))
    for c in columns:
        bad = complete.filter(_count(c).is_not_null() & ~pl.col(f"#sentinel_{c}") & (_count(c) != pl.col(f"#sum_{c}")))
        found += [{"row": r, "column": c, "rule": "report.rollup_mismatch", "value": f"{v} ≠ Σ {s}"}
                  for r, v, s in bad.select("__row__", c, f"#sum_{c}").iter_rows()]
    return pl.DataFrame(found, schema=FINDINGS_SCHEMA) if found else empty_findings()


def expected_children(code: str, year: int | None) -> list[str]:
    """The divisions rolling up into ``code`` in the report year's division list (the year-end list of
    ``year``: :func:`divisions.children`); none without a year."""
    return [] if year is None else divisions.children(code, int(year))


def plausibility_findings(typed: pl.DataFrame, kind: str, threshold: float = ZSCORE) -> pl.DataFrame:
    """Year-on-year changes of each division, scored against all divisions' changes (modified z-score)."""
    if kind not in TABLE_KINDS or typed.height == 0:
        return empty_findings()
    if typed.get_column("report_year").n_unique() < 2:
        return empty_findings()
    keys = ["division_code", *group_columns(kind)[1:]]
    columns = ["value"] if kind == "indicator_report" else additive_columns(kind)
    typed = typed.filter(~pl.col("division_code").str.ends_with("00"))  # compare divisions of one level
    found: list[dict[str, Any]] = []
    for c in columns:
        measure = (pl.when(pl.col(c) >= 0).then(pl.col(c).cast(pl.Float64))).alias("#x")
        rows = typed.select("__row__", "report_year", *keys, measure).drop_nulls("#x")
        prev = rows.select(*keys, (pl.col("report_year") + 1).alias("report_year"), pl.col("#x").alias("#prev"))
        # rates change in points; counts in proportion to their size (a big county moves more)
        step = pl.col("#x") - pl.col("#prev")
        change = rows.join(prev, on=[*keys, "report_year"], how="inner").with_columns(
            (step if kind == "indicator_report" else step / pl.max_horizontal(pl.col("#prev"), 1.0)).alias("#d"))

        group = ["report_year", *keys[1:]]
        deviation = (pl.col("#d") - pl.col("#d").median().over(group))
        scored = change.with_columns(
            deviation.abs().median().over(group).alias("#mad"), deviation.abs().mean().over(group).alias("#meanad"),
        ).with_columns(  # the modified z-score; when most changes are equal (MAD 0), the mean deviation instead
            pl.when(pl.col("#mad") > 0).then(0.6745 * deviation / pl.col("#mad"))
            .when(pl.col("#meanad") > 0).then(deviation / (1.253314 * pl.col("#meanad"))).alias("#z"))
        bad = scored.filter(pl.col("#z").abs() > threshold)
        if kind != "indicator_report":  # counts under 10 in both years are too small to judge a change by
            bad = bad.filter(pl.max_horizontal(pl.col("#x"), pl.col("#prev")) >= MIN_COUNT)
        found += [{"row": r, "column": c, "rule": "report.implausible_change", "value": f"{p:g} → {x:g} (z={z:.1f})"}
                  for r, p, x, z in bad.select("__row__", "#prev", "#x", "#z").iter_rows()]
    return pl.DataFrame(found, schema=FINDINGS_SCHEMA) if found else empty_findings()


FINDINGS_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8, "value": pl.Utf8}  # table findings' columns


def empty_findings() -> pl.DataFrame:
    """No table finding, in the columns of :data:`FINDINGS_SCHEMA`."""
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


# --- reconciliation with the service records ---------------------------------------------------------------


def period_of(year: int) -> tuple[date, date]:
    return date(year - 1, 10, 1), date(year, 9, 30)


def recount(records: pl.DataFrame) -> pl.DataFrame:
    """Per county and statistical year, each 卫统45表 procedure column counted from typed service records by their
    procedure code, and the total (every record once). A record coded with an "of which" column's procedure
    (麻醉流产) is in that column and in one of its parents, which one the record does not say
    (:func:`attribute_subsets`)."""
    procedures, _, total = procedure_columns()
    dated = records.filter(pl.col("service_date").is_not_null() & pl.col("city_code").is_not_null()).with_columns(
        (pl.col("service_date").dt.year() + (pl.col("service_date").dt.month() >= 10).cast(pl.Int32))
        .cast(pl.Int64).alias("report_year"))
    counts = dated.group_by("city_code", "report_year").agg(
        pl.len().alias(total), *[(pl.col("procedure") == code).sum().alias(col) for code, col in procedures.items()])
    return counts.rename({"city_code": "division_code"})


def _uncounted(counts: pl.DataFrame) -> dict[str, pl.Expr]:
    """Parent column → the records of its "of which" columns (they may be in it: the records do not say)."""
    out: dict[str, list[str]] = {}
    for column, parents in subset_columns().items():
        for parent in parents:
            out.setdefault(parent, []).append(column)
    return {p: pl.sum_horizontal(pl.col(c) for c in cs) for p, cs in out.items() if p in counts.columns}


def attribute_subsets(counts: pl.DataFrame) -> pl.DataFrame:
    """:func:`recount`'s counts as a 卫统45表 row that agrees with the records: each "of which" column's records
    also counted in its first parent (麻醉流产 as 负压吸引术)."""
    first: dict[str, list[str]] = {}
    for column, parents in subset_columns().items():
        first.setdefault(parents[0], []).append(column)
    return counts.with_columns((pl.col(p) + pl.sum_horizontal(pl.col(c) for c in cs)).alias(p)
                               for p, cs in first.items())


def reconcile(typed: pl.DataFrame, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(findings, table) comparing a county-level 卫统45表 with counts recomputed from service records.

    The table has division, year, column, reported, recomputed and difference for every compared cell. A parent
    of an "of which" column (负压吸引术, 钳刮术 of 麻醉流产) agrees when it lies between its own records and its own
    plus the subset's; its ``recomputed`` is then the value of that range nearest the reported one."""
    procedures, _, total = procedure_columns()
    columns = [total, *procedures.values()]
    recomputed = recount(records)
    upper = recomputed.with_columns((pl.col(p) + extra).alias(p) for p, extra in _uncounted(recomputed).items())
    counties = typed.filter(~pl.col("division_code").str.ends_with("00"))
    long_report = counties.select("__row__", "division_code", "report_year", *columns).unpivot(
        index=["__row__", "division_code", "report_year"], variable_name="column", value_name="reported")
    long_records = recomputed.unpivot(index=["division_code", "report_year"], variable_name="column",
                                      value_name="recomputed").join(
        upper.unpivot(index=["division_code", "report_year"], variable_name="column", value_name="#upper"),
        on=["division_code", "report_year", "column"])
    covered = recomputed.get_column("report_year").unique().implode()  # only the years the records cover
    long_report = long_report.filter(pl.col("report_year").is_in(covered))
    table = long_report.join(long_records, on=["division_code", "report_year", "column"], how="left").with_columns(
        pl.col("recomputed").fill_null(0).cast(pl.Int64), pl.col("#upper").fill_null(0).cast(pl.Int64),
    ).with_columns(pl.col("reported").clip(pl.col("recomputed"), pl.col("#upper")).alias("recomputed")).drop("#upper")
    table = table.with_columns((pl.col("reported") - pl.col("recomputed")).alias("difference"))
    compared = table.filter(pl.col("reported") >= 0)  # sentinels are not compared
    bad = compared.filter(pl.col("difference") != 0)
    findings = bad.select(pl.col("__row__").alias("row"), "column", pl.lit("report.reconcile_mismatch").alias("rule"),
                          pl.format("{} / {} ({})", "reported", "recomputed", "difference").alias("value"))
    return findings.cast(FINDINGS_SCHEMA), compared.drop("__row__").sort("division_code", "report_year", "column")
