"""The JSON Schema of a kind, compiled into column-expression checks over the typed frame.

Covers the keywords the contract uses: ``required``, ``enum``, ``const``, ``pattern``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``items``, ``uniqueItems`` and ``allOf`` of ``if``/``then``.
Rule codes follow the record path: ``x-rule`` on an ``allOf`` branch, ``x-rules`` per keyword on a
definition, else the generic ``field.*`` code of the keyword. A keyword the compiler does not know
raises at build time, so a contract change cannot be silently skipped (a test compiles every kind).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.contract.check import Check, digits_number, one_of
from fpschema.reference import divisions, gb11643

KEYWORD_RULES = {
    "enum": "field.code",
    "const": "field.code",
    "pattern": "field.pattern",
    "minimum": "field.range",
    "maximum": "field.range",
    "minLength": "field.length",
    "maxLength": "field.length",
    "uniqueItems": "field.duplicate_item",
}
# Keywords whose check is a pattern or a code list on the one column (evaluated on distinct values when few)
PER_VALUE = {"enum", "pattern", "items"}
# Keywords that carry no check here: annotations, and what conversion already checks (type, format).
PASSIVE = {"title", "description", "examples", "type", "format", "default", "$comment"}
# identifier checks whose schema keywords read the normalised value (``{field}#n``)
NORMALISED = ("gb11643", "uscc")


def view(f: contract.Field) -> pl.Expr:
    """The column a schema keyword reads: the normalised number for ID and credit-code fields, else the typed
    column."""
    return pl.col(f"{f.name}#n") if f.check in NORMALISED else pl.col(f.name)


def _matches(col: pl.Expr, pattern: str) -> pl.Expr:
    """``col.str.contains(pattern)``; a pattern of n ASCII digits (division codes) by whether the cell reads as
    such a number (:func:`digits_number`: the length and an integer parse), three times faster than the regular
    expression (the same rows: tested)."""
    digits = contract.digits_pattern(pattern)
    if digits is None or not 0 < digits <= 18:
        return col.str.contains(pattern)
    # null stays null, as with the regular expression
    return pl.when(col.is_not_null()).then(digits_number(col, digits).is_not_null())


def _lit(value: Any) -> pl.Expr:
    return pl.lit(value)


def _keyword_failures(col: pl.Expr, node: dict[str, Any], field: contract.Field | None = None
                      ) -> list[tuple[str, str, pl.Expr]]:
    """(keyword, rule code, failed) for each checkable keyword of a resolved schema node (of ``field``, when
    the node is a field's)."""
    node = contract.resolve_local(node)
    x_rules = node.get("x-rules", {})
    both_lengths = ("minLength" in node and "maxLength" in node
                    and x_rules.get("minLength", KEYWORD_RULES.get("minLength"))
                    == x_rules.get("maxLength", KEYWORD_RULES.get("maxLength")))
    out = []
    for key, value in node.items():
        if key in PASSIVE or key.startswith("x-"):
            continue
        code = x_rules.get(key, KEYWORD_RULES.get(key))
        if key == "enum":
            failed = ~one_of(col, value)
        elif key == "const":
            failed = col != _lit(value)
        elif key == "pattern":
            layout = gb11643.layout_failed(field.name, value) if field is not None and field.check == "gb11643" \
                else None
            failed = ~_matches(col, value) if layout is None else layout
        elif key == "minimum":
            failed = col < value
        elif key == "maximum":
            failed = col > value
        elif key in ("minLength", "maxLength") and both_lengths:
            if key == "maxLength":
                continue  # checked with minLength: the length computed once
            failed = ~col.str.len_chars().is_between(value, node["maxLength"])
            out.append(("length", code or "field.invalid", failed))
            continue
        elif key == "minLength":
            failed = col.str.len_chars() < value
        elif key == "maxLength":
            failed = col.str.len_chars() > value
        elif key == "uniqueItems":
            failed = col.list.n_unique() != col.list.len() if value else pl.lit(False)
        elif key == "items":
            for _, item_code, item_failed in _keyword_failures(pl.element(), value):
                out.append(("items", item_code, col.list.eval(item_failed).list.any()))
            continue
        elif key == "not":
            inner = contract.resolve_local(value)
            (matches,) = [~failed for _, _, failed in _keyword_failures(col, inner, field)]
            out.append(("not", code or "field.invalid", matches))
            continue
        else:
            raise ValueError(f"schema keyword {key!r} is not compiled")
        out.append((key, code or "field.invalid", failed))
    return out


def _condition(fields: dict[str, contract.Field], node: dict[str, Any]) -> pl.Expr:
    """True where a row satisfies an ``if`` schema (JSON Schema semantics: absent properties pass)."""
    cond = pl.lit(True)
    for name in node.get("required", ()):
        cond = cond & pl.col(name).is_not_null()
    for name, sub in node.get("properties", {}).items():
        col = view(fields[name])
        ok = pl.lit(True)
        for _, _, failed in _keyword_failures(col, sub, fields[name]):
            ok = ok & ~failed
        cond = cond & (col.is_null() | ok)
    unknown = set(node) - {"required", "properties"}
    if unknown:
        raise ValueError(f"if-keywords {unknown} are not compiled")
    return cond


def _then(fields: dict[str, contract.Field], node: dict[str, Any], code: str | None, when: pl.Expr) -> list[Check]:
    out = []
    for name in node.get("required", ()):
        out.append(Check(code or "field.required", name, when & pl.col(f"{name}#text").is_null()))
    for name, sub in node.get("properties", {}).items():
        col = view(fields[name])
        for _, kw_code, failed in _keyword_failures(col, sub, fields[name]):
            out.append(Check(code or kw_code, name, when & failed))
    unknown = set(node) - {"required", "properties"}
    if unknown:
        raise ValueError(f"then-keywords {unknown} are not compiled")
    return out


@cache
def schema_checks(kind: str, groups: contract.Groups = ()) -> tuple[Check, ...]:
    """Every check the kind's JSON Schema states, as column expressions over the typed frame, but its
    ``required`` (a layout's: :func:`required_checks`); ``groups`` override code groups of the contract
    (:func:`contract.load_free_services`)."""
    doc = contract.with_groups(contract.schema(kind), groups)
    fields = contract.field_map(kind)
    out: list[Check] = []
    for f in fields.values():
        node = contract.resolve_local(doc["properties"][f.name])
        digits = divisions.code_digits(node)
        for key, code, failed in _keyword_failures(view(f), node, f):
            chars = (node["minLength"], node["maxLength"]) if key == "length" else None
            # a division code's pattern: whether the cell is read as its number (stages: ``#number``)
            rows = (pl.col(f.name).is_not_null() & pl.col(f"{f.name}#number").is_null()
                    if key == "pattern" and digits is not None else None)
            out.append(Check(code, f.name, failed, per_value=key in PER_VALUE, chars=chars, rows=rows))
    for branch in doc.get("allOf", ()):
        code = branch.get("x-rule")
        when = _condition(fields, branch["if"])
        out.extend(_then(fields, branch["then"], code, when))
    return tuple(out)


def required_checks(names: tuple[str, ...]) -> list[Check]:
    """``field.required`` on each of these fields: the cell is empty."""
    return [Check("field.required", name, pl.col(f"{name}#text").is_null()) for name in names]
