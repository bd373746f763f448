"""Masking of personal data for display (PIPL): by value, wherever a value is shown.

Three kinds of personal data, named by the contract (``x-personal`` on a field, ``x-sensitive`` for ID numbers;
:func:`personal_fields`):

- **ID numbers** in their own column keep the region and the last four characters (:func:`mask_id`); an
  ID-number-like token anywhere else (any column, a header, free text, an error message) is masked the same way
  by :func:`mask_text`: the eight birth-date digits of an 18-character number (GB 11643 and the 2023
  permanent-residence card) become ``********``, the six of a 15-digit number or of the older 15-character
  permanent-residence card (three letters, then digits) ``******``.
- **names**: the first character is kept, the others become ``*`` (``张三丰`` → ``张**``).
- **birth dates**: every digit becomes ``*`` (``1949-12-31`` → ``****-**-**``): the shape stays visible.

>>> mask_id("11010519491231002X")
'110105********002X'
>>> mask_id("12345")
'*****'
>>> mask_text("核实：身份证 110105 19491231 002X 与 110105491231002 为同一人")
'核实：身份证 110105********002X 与 110105******002 为同一人'
>>> mask_name("张三丰"), mask_birth("1949-12-31")
('张**', '****-**-**')
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import polars as pl

# ID-number-like tokens. One separator (space, NBSP, ideographic space, hyphen, apostrophe: the characters the
# ID rules drop when they normalise a number) may follow any character, as people type "110105 19491231 002X".
# The birth block must look like a date (year 1x/2x, month 0x/1x, day 0x-3x): an 18-digit credit code or a long
# count is then rarely taken for an ID. ``\d`` is Unicode in both engines (full-width digits included).
_S = "[ \u00a0\u3000\\-']?"
_X = "[0-9Xx\uff38\uff58\\d]"


def _run(*classes: str) -> str:
    """Character classes joined by an optional separator each."""
    return _S.join(classes)


_D = r"\d"
_REGION = _run(*[_D] * 6)
_Y, _M, _DAY = "[12\uff11\uff12]", "[01\uff10\uff11]", "[0-3\uff10-\uff13]"  # full-width digits too
_BIRTH_8 = _run(_Y, _D, _D, _D, _M, _D, _DAY, _D)
_BIRTH_6 = _run(_D, _D, _M, _D, _DAY, _D)
ID18 = f"({_REGION}){_S}{_BIRTH_8}{_S}({_run(_D, _D, _D, _X)})"  # GB 11643 and the 2023 card (first digit 9)
ID15 = f"({_REGION}){_S}{_BIRTH_6}{_S}({_run(_D, _D, _D)})"  # first-generation 15-digit numbers
FPR15 = r"([A-Za-z]{3}\d{2})\d{6}(\d{4})"  # the older 15-character permanent-residence card
# (pattern, the stars replacing its birth block), applied in this order (the 18-character form first)
_ID_PATTERNS = ((ID18, 8), (ID15, 6), (FPR15, 6))
ID_LIKE = "|".join(p for p, _ in _ID_PATTERNS)  # any of them (to find the values that hold one)
_COMPILED = tuple((re.compile(p), "\\g<1>" + "*" * n + "\\g<2>") for p, n in _ID_PATTERNS)
_DATE_LIKE = re.compile(r"\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}|(?:1[89]|20)\d{2}[01]\d[0-3]\d")
DATE_LIKE = _DATE_LIKE.pattern

# kinds of personal data (the values of x-personal)
ID, NAME, BIRTH_DATE = "id", "name", "birth_date"
HEADER_RULES = ("file.unknown_column", "file.duplicate_column")  # file findings whose column is a header as read


def mask_id(value: object) -> object:
    """Hide the birth date and sequence of an ID number; short or odd values are hidden whole."""
    if not isinstance(value, str):
        return value
    n = len(value)
    if n >= 15:
        return value[:6] + "*" * (n - 10) + value[-4:]
    return "*" * n


def mask_expr(value: pl.Expr) -> pl.Expr:
    """Column form of :func:`mask_id`: keep the first 6 and last 4 of 15+ characters."""
    n = value.str.len_chars().cast(pl.Int64)
    # both branches are evaluated on every row: keep every count >= 0
    middle = (n - 10).clip(lower_bound=0)
    return (
        pl.when(n >= 15)
        .then(value.str.slice(0, 6) + _stars(middle) + value.str.slice(-4))
        .otherwise(_stars(n))
        .alias("value")
    )


def _stars(count: pl.Expr) -> pl.Expr:
    """``count`` asterisks (an empty text padded: no list built per row)."""
    return pl.lit("", dtype=pl.Utf8).str.pad_end(count, "*")


# --- by value ---------------------------------------------------------------------------------------------


def mask_text(text: Any) -> Any:
    """``text`` with every ID-number-like token masked (see the module's doc); None and non-text unchanged."""
    if not isinstance(text, str):
        return text
    for pattern, stars in _COMPILED:
        text = pattern.sub(stars, text)
    return text


def mask_text_expr(value: pl.Expr) -> pl.Expr:
    """Column form of :func:`mask_text` (the same patterns, vectorised)."""
    for pattern, n in _ID_PATTERNS:
        value = value.str.replace_all(pattern, "${1}" + "*" * n + "${2}")
    return value


def mask_name(value: Any) -> Any:
    """A name with its first character kept (``张三丰`` → ``张**``; one character → ``*``)."""
    if not isinstance(value, str) or not value:
        return value
    return value[0] + "*" * (len(value) - 1) if len(value) > 1 else "*"


def mask_name_expr(value: pl.Expr) -> pl.Expr:
    n = value.str.len_chars().cast(pl.Int64)
    return pl.when(n > 1).then(value.str.slice(0, 1) + _stars((n - 1).clip(lower_bound=0))).otherwise(_stars(n))


def mask_birth(value: Any) -> Any:
    """A birth date with every digit hidden (``1949-12-31`` → ``****-**-**``)."""
    return re.sub(r"\d", "*", value) if isinstance(value, str) else value


def mask_birth_expr(value: pl.Expr) -> pl.Expr:
    return value.str.replace_all(r"\d", "*")


def mask_cell(value: Any) -> Any:
    """A cell of unknown meaning that must not be shown (a data row read as the header): an ID-like text masked
    as one, anything else as a name (its first character kept)."""
    masked = mask_text(value)
    return masked if masked != value else mask_name(value)


def mask_header(value: Any) -> Any:
    """A header as read: ID-like tokens masked, and the digits of a date in it (a birth date read as a header)."""
    value = mask_text(value)
    return mask_birth(value) if isinstance(value, str) and _DATE_LIKE.search(value) else value


def _mask_header_expr(col: pl.Expr) -> pl.Expr:
    """Column form of :func:`mask_header`."""
    col = mask_text_expr(col)
    return pl.when(col.str.contains(DATE_LIKE)).then(col.str.replace_all(r"\d", "*")).otherwise(col)


# --- the contract's personal fields -----------------------------------------------------------------------


@cache
def personal_fields(kind: str) -> dict[str, str]:
    """Field → the kind of personal data it holds (:data:`ID`, :data:`NAME`, :data:`BIRTH_DATE`), from the
    contract; empty for an unknown kind."""
    from fpschema import contract

    if kind not in contract.kinds():
        return {}
    return {f.name: f.personal for f in contract.fields(kind) if f.personal}


def mask_value(value: Any, personal: str | None) -> Any:
    """A value shown for a field holding ``personal`` data (None: any other field). A value that is not text
    (a JSON number, list or object) is shown as its JSON text, masked the same way."""
    if value is None:
        return None
    if not isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False, default=str)
        masked = mask_value(text, personal)
        return value if masked == text else masked  # a number, list or object with nothing to hide stays as given
    if personal == ID:
        return mask_id(value)
    if personal == NAME:
        return mask_name(value)
    if personal == BIRTH_DATE:
        return mask_birth(value)
    return mask_text(value)


def mask_cells(cells: dict[str, Any], kind: str) -> dict[str, Any]:
    """A row's cells by field (the HTML sample rows): each masked by what its field holds."""
    personal = personal_fields(kind)
    return {k: v if v is None else mask_value(v, personal.get(k)) for k, v in cells.items()}


def mask_nested(obj: Any, keep: frozenset[str] = frozenset({"sha256"})) -> Any:
    """Every text in a structure of dicts and lists masked by value (:func:`mask_text`); keys named in ``keep``
    left as they are."""
    if isinstance(obj, str):
        return mask_text(obj)
    if isinstance(obj, dict):
        return {mask_text(k): v if k in keep else mask_nested(v, keep) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_nested(v, keep) for v in obj]
    if isinstance(obj, tuple):
        return tuple(mask_nested(v, keep) for v in obj)
    return obj


def mask_findings(findings: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Findings (row, column, rule, severity, value) masked by value, vectorised: a value by what its field holds
    (ID number, name, birth date), else every ID-like token in it; a header shown as a column by
    :func:`mask_header`, or whole (:func:`mask_cell`) when the header row holds an ID number (a headerless file's
    first data row read as the header); any other column by :func:`mask_text`.

    Each mask runs only on the findings it applies to (gathered, masked, scattered back), and the ID patterns
    only on values that hold one (a cheaper ``contains`` first): a million findings cost well under a second."""
    if findings.height == 0:
        return findings
    personal = personal_fields(kind)
    value, column = findings.get_column("value"), findings.get_column("column")
    by_kind = column.replace_strict(personal, default=None, return_dtype=pl.Utf8)
    # a spreadsheet's error value (#N/A, #DIV/0!) is the whole value shown, never personal data: kept as it is
    by_kind = by_kind.set(findings.get_column("rule") == "cell.excel_error", None)
    for name, how in ((ID, mask_expr), (NAME, mask_name_expr), (BIRTH_DATE, mask_birth_expr)):
        value = _masked_where(value, by_kind == name, how)
    value = _masked_where(value, by_kind.is_null() & (value.str.len_chars() >= ID_MIN_CHARS), mask_text_expr)
    # columns: field names, but for file findings (row null) the header as read or a text the reader gave
    file_level = findings.get_column("row").is_null()
    if file_level.any():
        header = file_level & findings.get_column("rule").is_in(list(HEADER_RULES))
        id_like = column.str.contains(ID_LIKE).fill_null(False)
        data_row = bool((header & id_like).any())
        column = _masked_where(column, header & id_like, mask_text_expr)
        column = _masked_where(column, header & ~id_like, mask_name_expr if data_row else _mask_header_expr)
        column = _masked_where(column, file_level & ~header, mask_text_expr)
    out = [value.alias("value"), column.alias("column")]
    for name in ("record_id", "sheet"):  # the Spark engine's record key, a workbook's sheet: an ID, maybe
        if name in findings.columns:
            key = findings.get_column(name).cast(pl.Utf8)
            out.append(_masked_where(key, key.str.len_chars() >= ID_MIN_CHARS, mask_text_expr).alias(name))
    return findings.with_columns(out)


def _masked_where(values: pl.Series, where: pl.Series, how: Any) -> pl.Series:
    """``values`` with those at ``where`` (true) replaced by ``how`` applied to them only."""
    at = where.fill_null(False).arg_true()
    if len(at) == 0:
        return values
    masked = pl.select(how(pl.lit(values.gather(at)))).to_series().cast(pl.Utf8)
    return values.scatter(at, masked)


ID_MIN_CHARS = 15  # the shortest ID-like token (a shorter text holds none)
