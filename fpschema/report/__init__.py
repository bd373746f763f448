"""报告 / the report: ``report`` (:class:`Report`, the findings frame, JSON) and ``render`` (CSV, HTML,
JUnit). A new renderer goes in ``render`` and ``Report.write``.

May import: ``fpschema.contract``, ``fpschema.reference``, ``fpschema.rules``, ``fpschema.io``,
``fpschema.errors``.
"""
