"""网页服务 / the web service: ``app`` (the FastAPI application, upload spooling, models, templates) and
``settings`` (``FPSCHEMA_*`` settings). ``python -m fpschema.service`` runs it.

May import: every layer below it (contract, reference, rules, io, report, engine) and ``fpschema.errors``.
"""
