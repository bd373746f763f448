"""校验引擎 / the validation engine: ``validation`` (validate a file or frame: header mapping, conversion,
evaluation of every rule in one pass, streamed batches), ``convert`` (text to typed columns), ``coverage``
(which rules a file's columns allow), ``record`` (one record or a list of dicts) and ``findings`` (the
:class:`Finding` of the record path).

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.rules``, ``fpschema.io``,
``fpschema.report``, ``fpschema.errors``.
"""
