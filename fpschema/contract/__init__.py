"""The contract: the JSON Schemas in ``schemas/`` and what is derived from them.

Everything about a field (type, code table, header aliases, which identifier check applies) is read
from the schema files here; no other module keeps its own copy. Beside it in this folder: the rule catalogue
(``catalogue``), what a rule is (``check``) and which fields are personal and how they are masked (``mask``).

May import: nothing of fpschema (it is the lowest layer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE_URI = "https://fpschema.org/schemas/1.0/"
DEFS_FILE = "defs.json"


def schema_dir() -> Path:
    """Folder holding the contract: inside the installed wheel, or ``schemas/`` of a source checkout."""
    packaged = Path(str(resources.files("fpschema"))) / "schemas"
    if (packaged / DEFS_FILE).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "schemas"


@cache
def _raw(filename: str) -> dict[str, Any]:
    return json.loads((schema_dir() / filename).read_text(encoding="utf-8"))


@cache
def kinds() -> tuple[str, ...]:
    """The record kinds, one per schema file (all but the shared ``defs.json``)."""
    return tuple(
        sorted(p.stem for p in schema_dir().glob("*.json") if p.name != DEFS_FILE)
    )


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one record kind, as published."""
    if kind not in kinds():
        raise KeyError(kind)
    return _raw(f"{kind}.json")


def defs() -> dict[str, Any]:
    return _raw(DEFS_FILE)["$defs"]


@cache
def registry() -> Registry:
    """A ``referencing`` registry holding every contract file under its ``$id``."""
    resources_ = []
    for name in (DEFS_FILE, *(f"{k}.json" for k in kinds())):
        doc = _raw(name)
        resources_.append((doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012)))
    return Registry().with_resources(resources_)


def resolve_local(node: dict[str, Any]) -> dict[str, Any]:
    """Merge a property's ``$ref`` into it (the property's own keywords win)."""
    ref = node.get("$ref")
    if not ref:
        return dict(node)
    target_file, _, pointer = ref.partition("#")
    target: Any = _raw(target_file or DEFS_FILE)
    for part in pointer.strip("/").split("/"):
        if part:
            target = target[part]
    merged = resolve_local(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


@dataclass(frozen=True)
class CodeTable:
    """A code table: codes with labels, plus the spellings people write that mean those codes. A table of a
    standard may carry codes the project adds (``project_codes``: the standard has none for that thing)."""

    name: str
    standard: str
    project_defined: bool
    labels: dict[str, str]
    aliases: dict[str, str]
    project_codes: tuple[str, ...] = ()

    def lookup(self) -> dict[str, str]:
        """Every accepted spelling (code, label, alias) mapped to its code."""
        table = {label: code for code, label in self.labels.items()}
        table.update(self.aliases)
        table.update({code: code for code in self.labels})
        return table


@dataclass(frozen=True)
class Field:
    """One property of a record kind, with its ``$ref`` resolved."""

    name: str
    title: str
    description: str
    json_type: str  # string, integer, number, boolean, array
    fmt: str | None
    required: bool
    aliases: tuple[str, ...]
    check: str | None  # gb11643, uscc, division
    sensitive: bool
    codetable: CodeTable | None
    item_codetable: CodeTable | None  # for arrays of codes
    true_labels: tuple[str, ...] = field(default=())
    false_labels: tuple[str, ...] = field(default=())
    spec: dict[str, Any] = field(default_factory=dict, compare=False)
    personal: str | None = None  # the personal data it holds, masked when shown: "id", "name", "birth_date"


_DIGITS = re.compile(r"\^\[0-9\]\{(\d+)\}\$")


def digits_pattern(pattern: str) -> int | None:
    """n when a schema ``pattern`` is ``^[0-9]{n}$`` (n ASCII digits), else None."""
    found = _DIGITS.fullmatch(pattern)
    return int(found.group(1)) if found else None


def _codetable(node: dict[str, Any]) -> CodeTable | None:
    ct = node.get("x-codetable")
    if not ct:
        return None
    return CodeTable(ct["name"], ct["standard"], ct["project_defined"], ct["labels"], ct["aliases"],
                     tuple(ct.get("project_defined_codes", ())))


@cache
def fields(kind: str) -> tuple[Field, ...]:
    """The fields of a kind, in schema order."""
    doc = schema(kind)
    required = set(doc.get("required", ()))
    out = []
    for name, prop in doc["properties"].items():
        node = resolve_local(prop)
        items = resolve_local(node["items"]) if "items" in node else {}
        out.append(
            Field(
                name=name,
                title=node.get("title", name),
                description=node.get("description", ""),
                json_type=node.get("type", "string"),
                fmt=node.get("format"),
                required=name in required,
                aliases=tuple(node.get("x-aliases", ())),
                check=node.get("x-check"),
                sensitive=bool(node.get("x-sensitive")),
                codetable=_codetable(node),
                item_codetable=_codetable(items),
                true_labels=tuple(node.get("x-true-labels", ())),
                false_labels=tuple(node.get("x-false-labels", ())),
                spec=node,
                personal=node.get("x-personal") or ("id" if node.get("x-sensitive") else None),
            )
        )
    return tuple(out)


def field_map(kind: str) -> dict[str, Field]:
    return {f.name: f for f in fields(kind)}


def field_order(kind: str) -> dict[str, int]:
    """Field → its position in the schema (the order findings are reported in)."""
    return {f.name: i for i, f in enumerate(fields(kind))}


@cache
def codetables() -> dict[str, CodeTable]:
    """Every code table of the contract, by name."""
    out = {}
    for node in defs().values():
        ct = _codetable(node)
        if ct:
            out[ct.name] = ct
    return out


@cache
def header_aliases(kind: str) -> dict[str, str]:
    """Column header (field name, Chinese title or alias) → field name."""
    table: dict[str, str] = {}
    for f in fields(kind):
        for spelling in (f.name, f.title, *f.aliases):
            table.setdefault(spelling, f.name)
    return table


def key(kind: str) -> tuple[str, ...]:
    """The fields that identify a row of the kind (``x-key``: one row per division and year, …), or none."""
    return tuple(schema(kind).get("x-key", ()))


def code_group(name: str) -> tuple[str, ...]:
    """A named group of codes in ``defs.json`` (e.g. ``procedure_surgical``)."""
    return tuple(defs()[name]["enum"])


@dataclass(frozen=True)
class Layout:
    """A form people fill in for a kind (``x-layouts``): the fields it has and those it requires."""

    name: str
    title: str
    title_en: str
    columns: tuple[str, ...]  # the fields the form carries (every field for the full record)
    required: tuple[str, ...]  # columns (and cells) the form must have
    headers: tuple[tuple[str, str], ...] = ()  # (field, the form's own header) where it is not the field's title

    def label(self, lang: str = "zh") -> str:
        return self.title if lang == "zh" else self.title_en

    def header(self, field: str, kind: str) -> str:
        """The column header the form prints for ``field``: its own, else the field's title."""
        return dict(self.headers).get(field) or field_map(kind)[field].title


@cache
def layouts(kind: str) -> tuple[Layout, ...]:
    """The layouts of a kind, the full record first (a kind that declares none has only that one)."""
    doc = schema(kind)
    every = tuple(f.name for f in fields(kind))
    declared = doc.get("x-layouts") or {"full": {}}
    return tuple(
        Layout(name, node.get("title", "完整记录"), node.get("title_en", "Full record"),
               tuple(node.get("columns", every)), tuple(node.get("required", doc.get("required", ()))),
               tuple(node.get("headers", {}).items()))
        for name, node in declared.items()
    )


@dataclass(frozen=True)
class Derivation:
    """A field a file may lack because other cells determine it (``x-derive``): how, and from which fields."""

    field: str
    by: str  # the deriver's name (:data:`fpschema.derive.DERIVERS`)
    sources: tuple[str, ...]


@cache
def derivations(kind: str) -> dict[str, Derivation]:
    """Field → how it is derived when the input lacks it."""
    return {f.name: Derivation(f.name, f.spec["x-derive"]["by"], tuple(f.spec["x-derive"]["from"]))
            for f in fields(kind) if "x-derive" in f.spec}


# --- code groups a province may override (x-configurable) ------------------------------------------------

FREE_RURAL = "procedure_free_rural"  # the services rural couples get free (service.rural_fee)
Groups = tuple[tuple[str, tuple[str, ...]], ...]  # (group name, its codes) overriding the contract's


def load_free_services(source: Any = None) -> Groups:
    """The override of ``procedure_free_rural``, the services rural couples get free: none (``None``: the
    contract's list), a list of procedure codes, or a JSON file of a province or year
    (``{"version": ..., "source": ..., "procedure_free_rural": [codes]}``). Unknown codes raise ``ValueError``."""
    if source is None:
        return ()
    if isinstance(source, str | Path):
        doc = json.loads(Path(source).read_text(encoding="utf-8-sig"))
        if not isinstance(doc, dict) or not isinstance(doc.get(FREE_RURAL), list):
            raise ValueError(f"{source}: expected an object with a list {FREE_RURAL!r}")
        source = doc[FREE_RURAL]
    codes = tuple(str(c) for c in source)
    unknown = set(codes) - set(defs()["procedure"]["enum"])
    if unknown:
        raise ValueError(f"{FREE_RURAL}: unknown procedure codes {sorted(unknown)}")
    return ((FREE_RURAL, codes),)


def with_groups(node: Any, groups: Groups) -> Any:
    """``node`` (a schema or part of one) with each ``$ref`` to an overridden code group of ``defs.json``
    replaced by the group's codes (``enum``); the contract is unchanged when ``groups`` is empty."""
    if not groups:
        return node
    table = dict(groups)
    if isinstance(node, list):
        return [with_groups(v, groups) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    name = ref.rpartition("/")[2] if ref.startswith(f"{DEFS_FILE}#/$defs/") else None
    if name in table:
        if not defs()[name].get("x-configurable"):
            raise ValueError(f"the code group {name!r} is not configurable")
        rest = {k: with_groups(v, groups) for k, v in node.items() if k != "$ref"}
        return {"enum": list(table[name]), **rest}
    return {k: with_groups(v, groups) for k, v in node.items()}
