"""规则 / the rules: the JSON Schema keyword table (``schema_checks``), the record rules per field
(``checks``), cross-row rules (``dataset_checks``), table (表内/表间) rules and targets (``aggregates``), and
derived columns (``derive``). Each rule is a polars expression (:class:`fpschema.contract.check.Check`) named
in the catalogue (:mod:`fpschema.contract.catalogue`). A new rule is a function here and a catalogue entry.

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.errors``.
"""
