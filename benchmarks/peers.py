"""The peers' side of the benchmark, built from the same contract: a Frictionless Table Schema, per-record
jsonschema, and a pandera schema for pandas with the same field rules and the ID check digit."""

from __future__ import annotations

import csv

from fpschema import contract
from fpschema.io import writer

KIND = "service_record"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _constraints(f: contract.Field) -> dict:
    spec = f.spec
    c: dict = {}
    if f.required:
        c["required"] = True
    if "enum" in spec:
        c["enum"] = spec["enum"]
    for key in ("pattern", "minimum", "maximum", "minLength", "maxLength"):
        if key in spec:
            c[key] = spec[key]
    if f.check == "gb11643":
        c["pattern"] = contract.defs()["resident_id_pattern"]["pattern"].strip("^$")
    if "pattern" in c:
        c["pattern"] = c["pattern"].strip("^$")
    return c


def table_schema() -> dict:
    """A Frictionless Table Schema equivalent to the contract's field rules."""
    fields = []
    for f in contract.fields(KIND):
        kind = "date" if f.fmt == "date" else {"string": "string", "integer": "integer", "number": "number",
                                                "boolean": "boolean", "array": "string"}[f.json_type]
        field = {"name": f.name, "type": kind, "constraints": _constraints(f)}
        if kind == "boolean":
            field.update(trueValues=list(f.true_labels), falseValues=list(f.false_labels))
        fields.append(field)
    return {"fields": fields}


def json_records(path: str) -> list[dict]:
    fields = contract.field_map(KIND)
    with open(path, encoding="utf-8") as fh:
        return [{k: writer._typed_value(fields[k], v) for k, v in row.items() if v}
                for row in csv.DictReader(fh)]


def json_validator():
    """jsonschema on the published schema, record by record (the peer; fpschema's record path uses the engine)."""
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(contract.schema(KIND), registry=contract.registry(), format_checker=FormatChecker())


def pandera_pandas_run(path: str) -> int:
    """Read with pandas (all text) and validate with pandera's pandas backend; returns failing rows."""
    import pandas as pd
    import pandera.pandas as pa

    def id_ok(s: pd.Series) -> pd.Series:
        body = s.str.slice(0, 17)
        ok = s.str.fullmatch(r"[0-9]{17}[0-9X]").fillna(False)
        total = sum(pd.to_numeric(body.str.slice(i, i + 1), errors="coerce").fillna(0) * w
                    for i, w in enumerate(WEIGHTS))
        check = (total % 11).map(dict(enumerate("10X98765432")))
        return ok & (check == s.str.slice(17, 18))

    columns = {}
    for f in contract.fields(KIND):
        c = _constraints(f)
        checks = []
        if "enum" in c:
            checks.append(pa.Check.isin(c["enum"]))
        if "pattern" in c:
            checks.append(pa.Check.str_matches(c["pattern"]))
        if "minimum" in c or "maximum" in c:
            lo, hi = c.get("minimum", -1e18), c.get("maximum", 1e18)
            checks.append(pa.Check(lambda s, lo=lo, hi=hi: pd.to_numeric(s, errors="coerce").between(lo, hi)))
        if f.fmt == "date":
            checks.append(pa.Check(lambda s: pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").notna()))
        if f.check == "gb11643":
            checks.append(pa.Check(id_ok))
        columns[f.name] = pa.Column(str, checks=checks, nullable=not f.required, required=False)
    schema = pa.DataFrameSchema(columns)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return int(err.failure_cases["index"].nunique())
    return 0
