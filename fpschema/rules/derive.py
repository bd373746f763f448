"""Fields a file may lack because its other cells determine them (the contract's ``x-derive``).

One table, :data:`DERIVERS`: a deriver's name → how it fills the field on the typed frame and the checks that
come with it (a 市(区) name that names no county, or two). Sex and birth date come from a valid ID number; a
county code from the county's name in the service year, through the division table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from fpschema.contract import Derivation
from fpschema.contract.check import Check
from fpschema.reference import divisions

MATCHES = "#matches"  # suffix of the derived column counting the divisions a name matches
CANDIDATES = "#candidates"  # suffix of the derived column listing them ("110105（北京市朝阳区）、220104（…）")


def _from_id(part: str) -> Callable[[pl.DataFrame, Derivation], pl.DataFrame]:
    def fill(typed: pl.DataFrame, d: Derivation) -> pl.DataFrame:
        (source,) = d.sources
        # the number's own column says whether it gives a sex and a birth date (checks.usable_expr)
        return typed.with_columns(pl.when(pl.col(f"{source}#usable")).then(pl.col(f"{source}#{part}"))
                                  .alias(d.field))
    return fill


def _division_by_name(typed: pl.DataFrame, d: Derivation) -> pl.DataFrame:
    """The county code whose name, in the year of the date, is the cell (:func:`divisions.codes_by_name_frame`:
    one join over the distinct (name, year) pairs); the number of such divisions and their list beside it."""
    name, when = d.sources
    found = divisions.codes_by_name_frame(typed.select(pl.col(name).alias("name"), pl.col(when).alias("year")))
    known = typed.select(pl.col(name).is_not_null() & pl.col(when).is_not_null()).to_series()
    candidates = found.get_column("candidates")
    many = candidates.list.len() > 1
    # the places a name may mean, as the warning reports them (few distinct lists: named once each)
    lists = candidates.filter(many).list.join(",").unique().drop_nulls().to_list()
    places = {codes: "、".join(place(c) for c in codes.split(",")) for codes in lists}
    listed = pl.select(pl.when(many).then(candidates.list.join(","))).to_series()
    return typed.with_columns(
        found.get_column("code").alias(d.field),
        pl.select(pl.when(known).then(candidates.list.len())).to_series().alias(d.field + MATCHES),
        listed.replace_strict(places, default=None, return_dtype=pl.Utf8).alias(d.field + CANDIDATES),
    )


def _division_checks(d: Derivation) -> list[Check]:
    name, _ = d.sources
    matches = pl.col(d.field + MATCHES)
    # the warning names every county the name may mean: 朝阳区 → 110105（北京市朝阳区）、220104（吉林省长春市朝阳区）
    listing = pl.col(name) + pl.lit(" → ") + pl.col(d.field + CANDIDATES)
    return [Check("division.name_unknown", name, matches == 0),
            Check("division.name_ambiguous", name, matches > 1, value=listing)]


@dataclass(frozen=True)
class Deriver:
    fill: Callable[[pl.DataFrame, Derivation], pl.DataFrame]  # the typed frame with the field filled in
    checks: Callable[[Derivation], list[Check]] = lambda d: []  # what deriving may find wrong


DERIVERS: dict[str, Deriver] = {
    "id_sex": Deriver(_from_id("sex")),
    "id_birth": Deriver(_from_id("birth")),
    "division_by_name": Deriver(_division_by_name, _division_checks),
}


def fill(typed: pl.DataFrame, derived: tuple[Derivation, ...]) -> pl.DataFrame:
    """``typed`` with every derived field filled in, in the order given."""
    for d in derived:
        typed = DERIVERS[d.by].fill(typed, d)
    return typed


def checks(derived: tuple[Derivation, ...]) -> list[Check]:
    """The checks that come with deriving these fields."""
    return [c for d in derived for c in DERIVERS[d.by].checks(d)]


def candidates(typed: pl.DataFrame, derived: tuple[Derivation, ...]) -> list[dict[str, object]]:
    """Names that matched several divisions, with the codes they could mean (for the coverage section)."""
    out: list[dict[str, object]] = []
    for d in derived:
        if d.by != "division_by_name" or d.field + MATCHES not in typed.columns:
            continue
        name, when = d.sources
        many = (typed.filter(pl.col(d.field + MATCHES) > 1)
                .select(pl.col(name).alias("name"), pl.col(when).dt.year().alias("year"),
                        pl.col(d.field + CANDIDATES).alias("places")).unique().sort("name", "year").head(100))
        out.extend({"field": d.field, "name": r["name"], "year": r["year"], "candidates": r["places"].split("、")}
                   for r in many.to_dicts())
    return out


def place(code: str, year: int | None = None) -> str:
    """``code`` with the full name of its place: 110105（北京市朝阳区）."""
    parts = [divisions.name(c, year) for c in (code[:2] + "0000", code[:4] + "00", code)]
    return f"{code}（{''.join(p for p in dict.fromkeys(parts) if p and p not in ('市辖区', '县'))}）"
