"""Score a validator's findings against a ground-truth manifest: precision and recall per rule.

Both sides are sets of (row, column, rule). Findings may be fpschema's JSON report (its ``findings``
list), a JSON list of objects, or a CSV with ``row``, ``column`` and ``rule`` columns; other columns
are ignored, and so are findings without a row (file-level). A finding counts as a true positive when
the manifest has the same row, column and rule.

Rules that depend on the day (``date.future``, ``id.birth_future``, ages) can only agree with the manifest when
the findings were made against the manifest's reference date; :func:`reference_dates` gives both sides' so the
caller can say when they differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

KEY = ["row", "column", "rule"]
KEY_SCHEMA = {"row": pl.Int64, "column": pl.Utf8, "rule": pl.Utf8}


def load(path: str | Path) -> pl.DataFrame:
    """(row, column, rule) from a CSV or JSON file (an fpschema report, or a list of findings)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        items = doc.get("findings", []) if isinstance(doc, dict) else doc
        frame = pl.DataFrame([{k: item.get(k) for k in KEY} for item in items], schema=KEY_SCHEMA)
    else:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        missing = set(KEY) - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        frame = frame.select(pl.col("row").str.strip_chars("'").cast(pl.Int64, strict=False), "column", "rule")
    return frame.filter(pl.col("row").is_not_null()).unique()


def reference_dates(truth_path: str | Path, findings_path: str | Path) -> tuple[str | None, str | None]:
    """(the manifest's reference date, the findings' reference date) as ISO text; None where a side does not
    say (a manifest without its sidecar, findings that are not an fpschema JSON report)."""
    from fpschema.io import truth

    manifest = truth.reference_date(truth_path)
    found = None
    path = Path(findings_path)
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        found = doc.get("reference_date") if isinstance(doc, dict) else None
    return (manifest.isoformat() if manifest else None), (str(found) if found else None)


def score(truth: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """Per rule: true positives, false positives, false negatives, precision, recall; last row ``overall``."""
    truth, found = truth.select(KEY).cast(KEY_SCHEMA).unique(), found.select(KEY).cast(KEY_SCHEMA).unique()
    tp = truth.join(found, on=KEY, how="semi").group_by("rule").len("tp")
    fn = truth.join(found, on=KEY, how="anti").group_by("rule").len("fn")
    fp = found.join(truth, on=KEY, how="anti").group_by("rule").len("fp")
    rules = pl.concat([truth.select("rule"), found.select("rule")]).unique()
    table = rules.join(tp, on="rule", how="left").join(fp, on="rule", how="left").join(fn, on="rule", how="left")
    table = table.fill_null(0).sort("rule")
    total = table.select(pl.lit("overall").alias("rule"), pl.col("tp").sum(), pl.col("fp").sum(), pl.col("fn").sum())
    table = pl.concat([table, total.cast(table.schema)])
    return table.with_columns(
        precision=pl.when(pl.col("tp") + pl.col("fp") > 0).then(pl.col("tp") / (pl.col("tp") + pl.col("fp")))
        .otherwise(1.0),
        recall=pl.when(pl.col("tp") + pl.col("fn") > 0).then(pl.col("tp") / (pl.col("tp") + pl.col("fn")))
        .otherwise(1.0),
    )
