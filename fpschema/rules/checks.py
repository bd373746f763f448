"""Column-expression checks for the catalogue rules that JSON Schema cannot say.

A check is a rule code, the column its finding is reported on, and a boolean polars expression that
is true where the rule fails. Shared intermediate values (an ID number's status, sex, birth date) are
computed once as derived columns by :func:`stages`, then read by the checks. The expressions read a *typed* frame with one column per contract
field (strings, Int64, Float64, Boolean, Date, List[str]); they use no row order, so the same
definitions serve one record (:mod:`fpschema.record`) and whole files.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import polars as pl

from fpschema import contract
from fpschema.contract.check import Check, digits_number, one_of
from fpschema.reference import divisions, fpr, gb11643, uscc
from fpschema.rules import dataset_checks
from fpschema.rules import derive as derive_fields

POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.Utf8(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "array": pl.List(pl.Utf8()),
}

# Plausible age at service, by sex code (warning service.age_unusual).
AGE_RANGE = {"2": (15, 49), "1": (18, 60)}


def polars_type(f: contract.Field) -> pl.DataType:
    return pl.Date() if f.fmt == "date" else POLARS_TYPES[f.json_type]


def _doc_type(kind: str) -> pl.Expr | None:
    return pl.col("id_doc_type") if "id_doc_type" in contract.field_map(kind) else None


def _id_applies(kind: str, name: str) -> pl.Expr:
    """The number's rules apply when the document type is absent, 01 (居民身份证) or 91 (外国人永久居留身份证,
    project-defined code); with 91 only to a number of that card's shape (another gets ``fpr.format`` from the
    schema). Each number is judged by its own shape: 18 characters starting with 9 by the card's rules."""
    doc = _doc_type(kind)
    if doc is None:
        return pl.lit(True)
    return doc.is_null() | (doc == "01") | ((doc == fpr.DOC_TYPE) & fpr.shaped_expr(pl.col(f"{name}#n")))


def _damage_applies(kind: str) -> pl.Expr:
    """Spreadsheet damage and normalisation are reported under either document type (before its shape is known)."""
    doc = _doc_type(kind)
    return pl.lit(True) if doc is None else doc.is_null() | one_of(doc, ["01", fpr.DOC_TYPE])


ID_CODES = gb11643.STATUS_CODES
DAMAGE_CODES = ("id.excel_scientific", "id.excel_truncated")


@cache  # built once per kind and date: the blocks of a large file reuse the expressions
def stages(kind: str, reference_date: date, *, ids: bool = True) -> tuple[dict[str, pl.Expr], ...]:
    """Derived columns the checks read (``{field}#status`` and friends), in dependency order; without the ID
    number columns unless ``ids`` (:func:`derive` adds those its faster way)."""
    out: list[dict[str, pl.Expr]] = [{}, {}, {}]
    for f in contract.fields(kind):
        if f.check == "gb11643":
            out[1][f"{f.name}#applies"] = _id_applies(kind, f.name)  # read by each of the number's checks
        if f.check == "gb11643" and ids:
            for i, stage in enumerate(gb11643.stages(f.name, reference_date)):
                out[i].update(stage)
        elif f.check == "uscc":
            for i, stage in enumerate(uscc.stages(f.name)):
                out[i].update(stage)
        elif (digits := divisions.code_digits(f.spec)) is not None:  # a division code: as a number, once
            out[0][f"{f.name}#number"] = digits_number(pl.col(f.name), digits)
        if (place := _place(kind, f)) is not None:  # a place: in use in its row's year (stage 1 reads #number)
            out[1][f"{f.name}#division"] = divisions.place_status_expr(*place)
    # an ID number that gives a sex and a birth date (the checks, the service's age, the derived fields read it)
    out.append({f"{f.name}#usable": usable_expr(f.name) for f in contract.fields(kind) if f.check == "gb11643"})
    if kind == "service_record":
        id_ok = pl.col("client_id#usable")
        out.append({"service#id_ok": id_ok,
                    "service#birth": pl.coalesce(pl.col("birth_date"), pl.when(id_ok).then(pl.col("client_id#birth")))})
        out.append({"service#age": gb11643.age_expr(pl.col("service#birth"), pl.col("service_date")),
                    **dataset_checks.key_stage(kind)})
    else:  # a row key (x-key) reads the division codes' numbers of the first stage
        out.append(dataset_checks.key_stage(kind))
    return tuple(s for s in out if s)


def usable_expr(name: str) -> pl.Expr:
    """Rows whose ID number (column ``name``) is good or only warned about (:data:`gb11643.USABLE`, the legacy
    15-digit number included) and of a document its rules apply to: its sex and birth date can be used."""
    status = pl.col(f"{name}#status")
    return pl.col(f"{name}#applies") & (status.is_null() | one_of(status, gb11643.USABLE))


def _place(kind: str, f: contract.Field) -> tuple[pl.Expr, pl.Expr, tuple[str, ...]] | None:
    """(six-digit code as a number, year, levels) of a division field that names a place in use in its row's
    year (``x-division-year``: the date or year field giving it; ``x-division-levels``, default county)."""
    year_field = f.spec.get("x-division-year")
    if f.check != "division" or year_field is None:
        return None
    digits = divisions.code_digits(f.spec)
    number = (pl.col(f"{f.name}#number") // 10 ** (digits - 6) if digits is not None
              else digits_number(pl.col(f.name).str.slice(0, 6), 6))
    source = contract.field_map(kind)[year_field]
    year = pl.col(year_field).dt.year() if source.fmt == "date" else pl.col(year_field)
    return number, year, tuple(f.spec.get("x-division-levels", ("county",)))


def derive(typed: pl.DataFrame, kind: str, reference_date: date,
           derived: tuple[contract.Derivation, ...] = ()) -> pl.DataFrame:
    """``typed`` with every derived column of :func:`stages` (the same values; ID numbers through
    :func:`gb11643.derive`), and the fields the source lacks but its cells determine (``derived``)."""
    for f in contract.fields(kind):
        if f.check == "gb11643":
            typed = gb11643.derive(typed, f.name, reference_date)
    own = stages(kind, reference_date, ids=False)
    for stage in own:
        typed = typed.with_columns(**stage)
    if derived:  # filled in from the ID number's columns and the typed cells; then the stages again, on them
        typed = derive_fields.fill(typed, derived)
        for stage in own:
            typed = typed.with_columns(**stage)
    return typed


def field_checks(kind: str, reference_date: date) -> list[Check]:
    """Checks derived from each field's ``x-check`` and ``format`` in the contract."""
    out: list[Check] = []
    ref = pl.lit(reference_date, dtype=pl.Date)
    for f in contract.fields(kind):
        col = pl.col(f.name)
        if f.check == "gb11643":
            applies = pl.col(f"{f.name}#applies")  # the rules apply (stages)
            damage = _damage_applies(kind)
            status = pl.col(f"{f.name}#status")
            out.append(Check("id.normalized", f.name, damage & pl.col(f"{f.name}#normalized")))
            out.extend(Check(code, f.name, (damage if code in DAMAGE_CODES else applies) & (status == code))
                       for code in ID_CODES)
            if (doc := _doc_type(kind)) is not None:
                out.append(Check("fpr.doc_type", f.name, (doc == "01") & fpr.shaped_expr(pl.col(f"{f.name}#n"))))
            citizen = ~fpr.shaped_expr(pl.col(f"{f.name}#n")).fill_null(False)
            out.append(Check("id.region_retired", f.name,
                             pl.col(f"{f.name}#usable") & citizen & gb11643.region_retired_expr(f.name)))
        elif f.check == "uscc":
            out.extend(uscc.checks(f.name))
        elif f.check == "division":
            digits = divisions.code_digits(f.spec)
            out.append(Check("division.unknown", f.name, divisions.unknown_expr(col), per_value=True,
                             rows=None if digits is None else divisions.unknown_rows(f.name, digits)))
            if (place := _place(kind, f)) is not None:  # never in use that year: error; retired: warning
                status = pl.col(f"{f.name}#division")
                out.append(Check("division.not_in_use", f.name, status == "division.not_in_use"))
                out.append(Check("division.retired", f.name, status == "division.retired",
                                 value=divisions.retired_value_expr(*place[:2])))
        if f.fmt == "date":
            out.append(Check("date.future", f.name, col > ref))
    return out


def _service_record(reference_date: date) -> list[Check]:
    id_ok = pl.col("service#id_ok")
    id_sex, id_birth = pl.col("client_id#sex"), pl.col("client_id#birth")
    birth, age = pl.col("service#birth"), pl.col("service#age")
    sex, service = pl.col("sex"), pl.col("service_date")
    unusual = pl.lit(False)
    for code, (low, high) in AGE_RANGE.items():
        unusual = unusual | ((sex == code) & ((age < low) | (age > high)))
    return [
        Check("service.sex_mismatch", "sex", id_ok & one_of(sex, ["1", "2"]) & (sex != id_sex)),
        Check("service.birth_date_mismatch", "birth_date", id_ok & (pl.col("birth_date") != id_birth)),
        Check("service.before_birth", "service_date", service < birth),
        Check("service.age_unusual", "service_date", (service >= birth) & unusual),
        Check("division.hierarchy", "township_code", _prefix_differs("service_record", "township_code", "city_code", 6)),
        Check("division.hierarchy", "village_code", _prefix_differs("service_record", "village_code", "township_code", 9)),
    ]


def _prefix_differs(kind: str, child: str, parent: str, length: int) -> pl.Expr:
    """Where the first ``length`` characters of ``child`` differ from ``parent`` (a division code and the code
    it belongs to). Where both are codes of their digits (``#number``), by integer division; the other cells
    (few) by the text."""
    slow = pl.col(child).str.slice(0, length) != pl.col(parent)
    fields = contract.field_map(kind)
    child_digits, parent_digits = (divisions.code_digits(fields[n].spec) for n in (child, parent))
    if child_digits is None or parent_digits != length or child_digits < length:
        return slow
    c, p = pl.col(f"{child}#number"), pl.col(f"{parent}#number")
    odd = c.is_null() | p.is_null()
    return pl.when(~odd).then(c // 10 ** (child_digits - length) != p).otherwise(
        pl.when(odd).then(pl.col(child)).str.slice(0, length) != pl.when(odd).then(pl.col(parent)))


def verification_years() -> dict[str, int]:
    """Licence type → years between verifications (the contract's ``x-verification-years``)."""
    return contract.defs()["licence_type"]["x-verification-years"]


def _institution(reference_date: date) -> list[Check]:
    years = verification_years()  # a type not given (or not a code): the longest period
    period = pl.col("licence_type").replace_strict(years, default=max(years.values()), return_dtype=pl.Int64)
    due = pl.col("last_verified_date").dt.offset_by(pl.format("{}y", period))
    return [Check("institution.licence_overdue", "last_verified_date", due < pl.lit(reference_date))]


def _adverse_event(reference_date: date) -> list[Check]:
    return [Check("event.report_before_occur", "reported_date", pl.col("reported_date") < pl.col("occurred_date"))]


def _indicator_report(reference_date: date) -> list[Check]:
    num, den = pl.col("numerator"), pl.col("denominator")
    return [Check("indicator.numerator_exceeds", "numerator", (num >= 0) & (den >= 0) & (num > den))]


_RECORD_CHECKS = {
    "service_record": _service_record,
    "institution": _institution,
    "adverse_event": _adverse_event,
    "indicator_report": _indicator_report,
}


def checks(kind: str, reference_date: date) -> list[Check]:
    """Every expression check of a kind: field checks, then record checks. They read the columns
    that :func:`stages` adds."""
    record = _RECORD_CHECKS.get(kind)
    return field_checks(kind, reference_date) + (record(reference_date) if record else [])
