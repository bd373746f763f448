"""What a file is judged on: its layout, the fields derived from its cells, and the rules that apply.

A file is judged by what it carries. Its layout (a form of the contract's ``x-layouts``) is found from the fields
its header names, or named by the caller; fields it lacks but its cells determine are derived (``x-derive``); a
rule whose input fields are neither present nor derivable is not applied, and the report says so once, in its
``coverage`` section, instead of an error on every row.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache

from fpschema import contract
from fpschema.contract.check import Check
from fpschema.errors import InputError
from fpschema.rules import checks


@dataclass(frozen=True)
class Plan:
    """How one source is judged."""

    kind: str
    layout: contract.Layout
    present: frozenset[str]  # the fields the source carries
    derived: tuple[contract.Derivation, ...]  # the fields derived from its cells, in dependency order
    missing: tuple[str, ...]  # fields the layout requires that are neither present nor derivable
    named: bool = False  # the caller named the layout

    @property
    def available(self) -> frozenset[str]:
        """The fields present, derived, or whose absence the rules read (``x-when-absent``)."""
        return self.present | {d.field for d in self.derived} | defaulted(self.kind)

    @property
    def required(self) -> tuple[str, ...]:
        """The layout's required fields the source carries (their cells must be filled)."""
        return tuple(f for f in self.layout.required if f in self.present)

    def applies(self, inputs: Collection[str]) -> bool:
        return all(f in self.available for f in inputs)

    def select(self, todo: Iterable[Check], reference_date: date) -> list[Check]:
        """The checks whose inputs are all available."""
        return [c for c in todo if self.applies(inputs(c, self.kind, reference_date))]

    def summary(self, todo: Iterable[Check], reference_date: date) -> dict[str, object]:
        """The report's ``coverage`` section: the layout, the columns it lacks, the derived fields, the rules
        applied and those not applied with the fields they lack."""
        applied: set[str] = set()
        lacking: dict[str, set[str]] = {}
        for c in todo:
            missing = [f for f in inputs(c, self.kind, reference_date) if f not in self.available]
            if missing:
                lacking.setdefault(c.rule, set()).update(missing)
            else:
                applied.add(c.rule)
        order = contract.field_order(self.kind)
        return {
            "layout": self.layout.name,
            "layout_title": {"zh": self.layout.title, "en": self.layout.title_en},
            "layout_named": self.named,
            "columns_missing": list(self.missing),
            "derived": [{"field": d.field, "from": list(d.sources)} for d in self.derived],
            "rules_applied": sorted(applied),
            # the generic field rules (type, range, ...) go with the columns present: not listed as not applied
            "rules_not_applied": [{"rule": r, "missing": sorted(m, key=lambda f: order.get(f, len(order)))}
                                  for r, m in sorted(lacking.items()) if r not in applied and not r.startswith("field.")],
        }


@cache
def defaulted(kind: str) -> frozenset[str]:
    """Fields whose absence the rules know how to read (``x-when-absent``: the document type, where each number
    is then judged by its own shape)."""
    return frozenset(f.name for f in contract.fields(kind) if "x-when-absent" in f.spec)


def derivable(kind: str, present: Collection[str]) -> tuple[contract.Derivation, ...]:
    """The derivations that can run on a source carrying ``present`` (a derived field may feed another)."""
    have, out = set(present), []
    pending = [d for d in contract.derivations(kind).values() if d.field not in have]
    while True:
        ready = [d for d in pending if all(s in have for s in d.sources)]
        if not ready:
            return tuple(out)
        for d in ready:
            have.add(d.field)
            out.append(d)
            pending.remove(d)


def plan(kind: str, present: Collection[str], layout: str | None = None) -> Plan:
    """The plan for a source of ``kind`` carrying the fields ``present``: the layout named, else the layout
    whose required fields it has (the smallest that holds all it carries), else the nearest one (fewest
    required fields lacking): ``missing`` then says what it lacks."""
    fields = frozenset(present)
    derived = derivable(kind, fields)
    have = fields | {d.field for d in derived}
    options = contract.layouts(kind)
    if layout is not None:
        chosen = [lay for lay in options if lay.name == layout]
        if not chosen:
            raise InputError("input.unknown_layout", layout=layout, layouts="、".join(lay.name for lay in options))
        best = chosen[0]
    else:
        def lacking(lay: contract.Layout) -> int:
            return sum(f not in have for f in lay.required)

        def rank(lay: contract.Layout) -> tuple[int, int, int, int]:
            # fewest required fields lacking, then a layout holding all the source carries; among layouts the
            # source fits, the smallest; among those it fits none of, the first declared (the full record)
            missing = lacking(lay)
            return (missing, len(fields - set(lay.columns)), 0 if missing else len(lay.columns), options.index(lay))

        best = min(options, key=rank)
    missing = tuple(f for f in best.required if f not in have)
    return Plan(kind, best, fields, derived, missing, named=layout is not None)


def full(kind: str) -> Plan:
    """The plan of a source carrying every field (the record path, and callers that name no columns)."""
    return plan(kind, contract.field_map(kind), "full")


@cache
def _stage_fields(kind: str, reference_date: date) -> dict[str, frozenset[str]]:
    """Derived column → the fields it is computed from."""
    out: dict[str, frozenset[str]] = {}
    for stage in checks.stages(kind, reference_date):
        for name, expr in stage.items():
            out[name] = frozenset(f for root in expr.meta.root_names() for f in _resolve(root, kind, out))
    return out


def _resolve(root: str, kind: str, stages: dict[str, frozenset[str]]) -> frozenset[str]:
    if root in stages:
        return stages[root]
    field = root.split("#", 1)[0]
    return frozenset([field]) if field in contract.field_map(kind) else frozenset()


def inputs(check: Check, kind: str, reference_date: date) -> frozenset[str]:
    """The fields a check reads (through the derived columns it reads)."""
    stages = _stage_fields(kind, reference_date)
    return frozenset(f for root in check.failed.meta.root_names() for f in _resolve(root, kind, stages))
