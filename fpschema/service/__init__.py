"""网页服务 / the web service: ``app`` (the FastAPI application, its routes, the upload page, the server),
``base`` (limits, the error vocabulary, :class:`ServiceError`), ``models`` (answer shapes), ``upload`` (slots,
transfers, spooled bodies), ``jobs`` (a validation in a worker thread), ``logs`` (request log, tracebacks
without values) and ``settings`` (``FPSCHEMA_*`` settings). ``python -m fpschema.service`` runs it.

May import: every layer below it (contract, reference, rules, io, report, engine) and ``fpschema.errors``.
"""
