"""Seeded, vectorised primitives of the generators: the profile and reference date, word lists, choices from
weighted tables, ID numbers, dates, and the :class:`Injector` of a defect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

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
def name_words() -> tuple[list[str], np.ndarray, list[str], list[str]]:
    from faker.providers.person.zh_CN import Provider

    last = list(Provider.last_names)
    weights = np.array(list(Provider.last_names.values()), dtype=float)
    return last, weights / weights.sum(), list(Provider.first_names_female), list(Provider.first_names_male)


@cache
def full_name_words() -> tuple[list[str], list[str]]:
    """Every surname with every female / male given name, indexed surname * len(given) + given."""
    last, _, female, male = name_words()
    return [s + g for s in last for g in female], [s + g for s in last for g in male]


@cache
def place_words() -> list[str]:
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


def choice_series(rng: np.random.Generator, table: dict, n: int) -> pl.Series:
    """``n`` draws from a {value: weight} table, as a String series."""
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=float)
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return pl.Series(keys, dtype=pl.Utf8).gather(idx)


def pick_series(values: Sequence[str], idx: np.ndarray) -> pl.Series:
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


def id_numbers(region: pl.Series, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> pl.Series:
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


def random_dates(rng: np.random.Generator, n: int, start: date, end: date) -> np.ndarray:
    days = rng.integers(0, (end - start).days + 1, size=n)
    return np.datetime64(start, "D") + days.astype("timedelta64[D]")


def _dates_series(values: np.ndarray) -> pl.Series:
    return pl.Series(values.astype("datetime64[D]").astype(np.int32), dtype=pl.Int32).cast(pl.Date)


def iso_dates(values: np.ndarray) -> pl.Series:
    return _dates_series(values).dt.to_string("%Y-%m-%d")


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


def set_value(column: str, value: str | None) -> Callable:
    return lambda df, rng, ref: {column: pl.Series([value] * df.height, dtype=pl.Utf8)}
