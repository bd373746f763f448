"""校验引擎 / the validation engine. ``validation`` is the entry (validate a file, frame or table; batches; valid
and invalid rows) and re-exports what callers use; beside it ``headers`` (which kind, which field each column
is), ``evaluation`` (every rule in one pass, the findings frame), ``outcome`` (samples, coverage, row
accounting, the report), ``streaming`` (a large CSV block by block), ``convert`` (text to typed columns),
``coverage`` (which rules a file's columns allow), ``record`` (one record or a list of dicts) and ``findings``
(the :class:`Finding` of the record path).

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.rules``, ``fpschema.io``,
``fpschema.report``, ``fpschema.errors``.
"""
