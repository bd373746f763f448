"""The generator's manifest (the truth a validator is scored against) and the reference date it travels with.

Beside a generated file ``X`` lie ``X.manifest.csv`` (``row,column,rule``: one expected finding a line, readable
by any tool) and its sidecar ``X.manifest.json``, which says how the file was made: ``{"fpschema_version", "kind",
"layout", "rows", "seed", "defects", "defect_rate", "findings_expected", "reference_date", "format", "encoding", "office",
"first_data_row", "profile"}``.
``reference_date`` is the day the generator dated its defects against (a service 40 days after it is in the
future, an ID born the year after it is not yet born); a validator must use the same day to find them.

:func:`resolve` picks a validation's reference date: the one given, else the sidecar's beside the input file,
else today, and says which (``"option"``, ``"manifest"``, ``"today"``).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

OPTION, MANIFEST, TODAY = "option", "manifest", "today"
SOURCES = (OPTION, MANIFEST, TODAY)
CSV_SUFFIX, JSON_SUFFIX = ".manifest.csv", ".manifest.json"


def csv_path(data: str | Path) -> Path:
    """``X.manifest.csv`` of the data file ``X``."""
    data = Path(data)
    return data.with_name(data.name + CSV_SUFFIX)


def json_path(path: str | Path) -> Path:
    """The sidecar ``X.manifest.json`` of the data file ``X`` or of its manifest ``X.manifest.csv``."""
    path = Path(path)
    if path.name.endswith(CSV_SUFFIX):
        return path.with_name(path.name[: -len(CSV_SUFFIX)] + JSON_SUFFIX)
    return path.with_name(path.name + JSON_SUFFIX)


def write(data: str | Path, rows: pl.DataFrame, *, kind: str, records: int, seed: int, defects: str | list[str] | None,
          defect_rate: float, reference_date: date, fmt: str = "csv", encoding: str = "utf-8", office: bool = False,
          profile: str | Path | None = None, layout: str = "full") -> tuple[Path, Path]:
    """Write the manifest ``rows`` (row, column, rule) of the generated file ``data`` of ``records`` records and
    its sidecar (``layout``: the form the file is laid out as); returns both paths. No timestamps: the same input gives the same bytes."""
    from fpschema import __version__
    from fpschema.io.writer import atomic_path, first_data_row, write_bytes

    truth, side = csv_path(data), json_path(data)
    with atomic_path(truth) as tmp:
        rows.write_csv(tmp)
    doc = {"fpschema_version": __version__, "kind": kind, "layout": layout, "rows": records, "seed": seed,
           "defects": defects, "defect_rate": defect_rate, "findings_expected": rows.height,
           "reference_date": reference_date.isoformat(), "format": fmt, "encoding": encoding, "office": office,
           "first_data_row": first_data_row(fmt, office), "profile": None if profile is None else str(profile)}
    write_bytes(side, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return truth, side


def read(path: str | Path) -> dict[str, Any] | None:
    """The sidecar of a data file or of its manifest CSV (or the sidecar itself); None when there is none or it
    is not a JSON object."""
    path = Path(path)
    side = path if path.name.endswith(JSON_SUFFIX) else json_path(path)
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def reference_date(path: str | Path) -> date | None:
    """The reference date the sidecar of ``path`` records, or None (no sidecar, or no valid ISO date in it)."""
    doc = read(path)
    try:
        return date.fromisoformat(doc["reference_date"]) if doc else None
    except (KeyError, TypeError, ValueError):
        return None


def resolve(source: Any, given: date | None) -> tuple[date, str]:
    """(reference date, where it came from): ``given`` (``"option"``); else, when ``source`` is a local file with
    a generator's sidecar beside it, the sidecar's (``"manifest"``); else today (``"today"``)."""
    if given is not None:
        return given, OPTION
    if isinstance(source, str | Path) and "://" not in str(source):
        try:
            found = reference_date(source) if Path(source).is_file() else None
        except OSError:
            found = None
        if found is not None:
            return found, MANIFEST
    return date.today(), TODAY


def origin(source: str | None, data: Any = None, lang: str = "zh") -> str:
    """Where a reference date came from, in words (``data``: the validated file, to name its manifest)."""
    side = json_path(data).name if data else None
    if lang == "zh":
        return {OPTION: "由参数指定", TODAY: "今天：未指定，旁边也没有缺陷清单",
                MANIFEST: f"取自缺陷清单 {side}" if side else "取自缺陷清单"}.get(source, str(source))
    return {OPTION: "given", TODAY: "today: none given and no manifest beside the file",
            MANIFEST: f"from the manifest {side}" if side else "from the manifest"}.get(source, str(source))


def describe(reference: date, source: str | None, data: Any = None, lang: str = "zh") -> str:
    """One line naming the reference date and where it came from, for terminal summaries."""
    where = origin(source, data, lang)
    return f"参考日 {reference}（{where}）" if lang == "zh" else f"reference date {reference} ({where})"
