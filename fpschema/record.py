"""Validate one record against the contract: jsonschema for what the schema says, the catalogue's
column expressions (on a one-row frame) for the rest. Every finding is returned, never an exception.

>>> from fpschema import validate_record
>>> [(f.pointer, f.rule) for f in validate_record({"staff_name": "李春梅", "id_number": "110105199003070026"}, "staff")][:2]
[('/id_number', 'id.checksum'), ('/qualification', 'field.required')]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

import polars as pl
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from . import checks, contract, convert, gb11643, uscc
from .catalogue import rule
from .findings import Finding
from .mask import mask_id

_KEYWORD_RULES = {
    "type": "field.type",
    "enum": "field.code",
    "const": "field.code",
    "pattern": "field.pattern",
    "format": "field.date",
    "minimum": "field.range",
    "maximum": "field.range",
    "exclusiveMinimum": "field.range",
    "exclusiveMaximum": "field.range",
    "minLength": "field.length",
    "maxLength": "field.length",
    "uniqueItems": "field.duplicate_item",
}
_ISO_DATE = re.compile(convert.ISO_DATE)  # ASCII digits, as the file engine reads them
_INT64 = (-(2**63), 2**63 - 1)


@cache
def _validator(kind: str, groups: contract.Groups = ()) -> Draft202012Validator:
    return Draft202012Validator(
        contract.with_groups(contract.schema(kind), groups), registry=contract.registry(),
        format_checker=FormatChecker()
    )


def _pointer(path) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def normalize_record(record: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Map code-table labels and aliases to codes and normalise ID numbers and credit codes; other values as
    given."""
    out = dict(record)
    for f in contract.fields(kind):
        value = out.get(f.name)
        if f.codetable and isinstance(value, str):
            code = unicodedata.normalize("NFKC", value.strip())
            out[f.name] = f.codetable.lookup().get(code, code)
        elif f.item_codetable and isinstance(value, list):
            table = f.item_codetable.lookup()
            out[f.name] = [table.get(unicodedata.normalize("NFKC", v.strip()), v) if isinstance(v, str) else v
                           for v in value]
        elif f.check == "gb11643" and isinstance(value, str):
            out[f.name] = gb11643.normalize(value)
        elif f.check == "uscc" and isinstance(value, str):
            out[f.name] = uscc.compact(value)
    return out


def _schema_findings(kind: str, record: dict[str, Any], groups: contract.Groups = ()) -> list[Finding]:
    root = contract.schema(kind)
    out = []
    for error in _validator(kind, groups).iter_errors(record):
        out.extend(_from_error(root, error))
    return out


def _from_error(root: dict[str, Any], error: ValidationError) -> list[Finding]:
    spath = list(error.relative_schema_path)
    code = None
    if len(spath) >= 2 and spath[0] == "allOf":
        code = root["allOf"][spath[1]].get("x-rule")
    if code is None and isinstance(error.schema, dict):
        code = error.schema.get("x-rules", {}).get(error.validator)
    if error.validator == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        return [Finding.of(code or "field.required", _pointer([*error.absolute_path, p])) for p in missing]
    code = code or _KEYWORD_RULES.get(str(error.validator), "field.invalid")
    return [Finding.of(code, _pointer(error.absolute_path), error.instance)]


def _typed(value: Any, f: contract.Field) -> Any:
    """The value in the field's column type, or None when it has another type (a schema finding)."""
    t = f.json_type
    if f.fmt == "date":
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None
        return None
    if t == "string":
        return value if isinstance(value, str) else None
    if t == "boolean":
        return value if isinstance(value, bool) else None
    if t == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
        return value if ok else None
    if t == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok and abs(value) < 1e300 else None
    if t == "array":
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None
    return None


def _check_findings(kind: str, raw: Mapping[str, Any], record: dict[str, Any], ref: date) -> list[Finding]:
    fields = contract.fields(kind)
    frame = pl.DataFrame(
        {f.name: [_typed(record.get(f.name), f)] for f in fields},
        schema={f.name: checks.polars_type(f) for f in fields},
    )
    # the normalisation warnings of identifiers compare with the value as given
    for f in fields:
        if f.check in ("gb11643", "uscc"):
            frame = frame.with_columns(pl.Series(f.name, [_typed(raw.get(f.name), f)], dtype=pl.Utf8))
    for stage in checks.stages(kind, ref):
        frame = frame.with_columns(**stage)
    todo = checks.checks(kind, ref)
    row = frame.select(c.failed.fill_null(False).alias(str(i)) for i, c in enumerate(todo)).row(0)
    return [Finding.of(c.rule, "/" + c.column, raw.get(c.column)) for c, failed in zip(todo, row, strict=True)
            if failed]


def _finalise(kind: str, found: list[Finding], unmask: bool) -> list[Finding]:
    """Drop duplicates and findings a more specific rule replaces; mask ID numbers; order by field."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in found:
        seen.setdefault((f.pointer, f.rule), f)
    replaced = {(f.pointer, old) for f in seen.values() for old in rule(f.rule).supersedes}
    # a value of the wrong type is reported as that alone, as the frame engine does (its cell is null there)
    mistyped = {f.pointer for f in seen.values() if f.rule in ("field.type", "field.date")}
    replaced |= {key for key in seen if key[0] in mistyped and key[1] not in ("field.type", "field.date")}
    order = contract.field_order(kind)
    sensitive = {"/" + f.name for f in contract.fields(kind) if f.sensitive}
    out = []
    for key, f in seen.items():
        if key in replaced:
            continue
        if not unmask and f.pointer in sensitive:
            f = Finding(f.rule, f.severity, f.pointer, mask_id(f.value), f.message_zh, f.message_en)
        out.append(f)
    def position(f: Finding) -> int:
        return order.get(f.pointer.split("/")[1], len(order)) if f.pointer else -1

    return sorted(out, key=lambda f: (position(f), f.rule))


def validate_record(
    record: Any, kind: str, *, reference_date: date | None = None, unmask: bool = False, free_services: Any = None,
) -> list[Finding]:
    """Every finding for one record of ``kind`` (empty when the record is clean).

    ``reference_date`` (default today) is the day "future" is measured from. ID numbers in finding
    values are masked unless ``unmask`` is true. ``free_services`` overrides the services rural couples get free
    (a JSON file or a list of procedure codes: :func:`contract.load_free_services`).
    """
    if kind not in contract.kinds():
        return [Finding.of("record.unknown_kind", "", kind)]
    if not isinstance(record, Mapping):
        return [Finding.of("record.not_object", "", type(record).__name__)]
    ref = reference_date or date.today()
    normalised = normalize_record(record, kind)
    found = _schema_findings(kind, normalised, contract.load_free_services(free_services))
    found += _check_findings(kind, record, normalised, ref)
    known = contract.field_map(kind)
    found += [Finding.of("field.unknown", _pointer([k]), None) for k in record if k not in known]
    return _finalise(kind, found, unmask)


def is_valid_record(record: Any, kind: str, *, reference_date: date | None = None, free_services: Any = None) -> bool:
    """True when the record has no finding of severity error (warnings allowed)."""
    found = validate_record(record, kind, reference_date=reference_date, free_services=free_services)
    return not any(f.severity == "error" for f in found)
