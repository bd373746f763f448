"""Header mapping: which kind a file's headers name, and which field each column is (:class:`Mapping`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.engine import coverage
from fpschema.errors import InputError
from fpschema.io.reader import normalize_header
from fpschema.report.report import FINDING_SCHEMA


@dataclass(frozen=True)
class Mapping:
    """How a file's headers map to a kind's fields."""

    columns: dict[str, str]  # field → header in the file
    findings: pl.DataFrame  # file-level findings (row null)
    plan: coverage.Plan  # the layout, the derived fields, the rules that apply

    @property
    def missing_required(self) -> tuple[str, ...]:
        """Fields the layout requires that the file neither has nor can derive."""
        return self.plan.missing

    def text(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``__row__`` and the mapped columns of a read frame, named by field."""
        return frame.select("__row__", *[pl.col(h).alias(f) for f, h in self.columns.items()])


@cache
def header_map(kind: str) -> dict[str, str]:
    """Normalised header (field name, title or alias) → field: how file headers and record keys name fields."""
    return {normalize_header(k): v for k, v in contract.header_aliases(kind).items()}



def known_headers(kind: str | None = None) -> set[str]:
    kinds = [kind] if kind else list(contract.kinds())
    return {h for k in kinds for h in header_map(k)}


def infer_kind(headers: Collection[str]) -> str:
    """The kind whose fields the headers name most (at least two), else ``input.kind_not_inferred``."""
    names = {normalize_header(h) for h in headers}
    scores = sorted(((len({v for h, v in header_map(k).items() if h in names}), k) for k in contract.kinds()),
                    reverse=True)
    (best, kind), (second, _) = scores[0], scores[1]
    if best < 2 or best == second:
        raise InputError("input.kind_not_inferred")
    return kind


def file_finding(rule: str, column: str) -> dict[str, Any]:
    return {"row": None, "column": column, "rule": rule, "severity": RULES[rule].severity, "value": None}


def map_headers(headers: list[str], kind: str, layout: str | None = None) -> Mapping:
    """How the headers map to fields, the file-level findings, and the plan (``layout``: the layout named by
    the caller, else the one the fields say)."""
    aliases = header_map(kind)
    columns: dict[str, str] = {}
    found = []
    for header in headers:
        name = aliases.get(normalize_header(header))
        if name is None:
            found.append(file_finding("file.unknown_column", header))
        elif name in columns:
            found.append(file_finding("file.duplicate_column", header))
        else:
            columns[name] = header
    plan = coverage.plan(kind, columns, layout)
    if plan.missing:  # once for the file, naming the nearest layout and what the file lacks
        found.append({**file_finding("file.missing_column", ",".join(plan.missing)), "value": plan.layout.name})
    return Mapping(columns, pl.DataFrame(found, schema=FINDING_SCHEMA), plan)
