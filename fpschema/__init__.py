"""fpschema: 计划生育技术服务统计报表的数据契约与校验 / the data contract and validators for Chinese
family-planning service statistics.

>>> import fpschema
>>> fpschema.validate_record({"station_code": "1"}, "service_record")[0].rule
'field.required'
"""

from __future__ import annotations

from fpschema.contract import kinds, schema
from fpschema.engine.findings import Finding
from fpschema.engine.record import is_valid_record, validate_record, validate_records

__version__ = "0.1.0"

__all__ = ["Finding", "InputError", "Report", "__version__", "generate", "is_valid_record", "kinds", "schema",
           "validate", "validate_record", "validate_records"]

_LAZY = {"validate": "engine.validation", "Report": "report.report", "InputError": "errors",
         "generate": "testdata.generator"}


def __getattr__(name: str):
    """``validate``, ``generate``, ``Report`` and ``InputError`` load their modules on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
