"""A finding: one rule broken by one value, with its code, severity and bilingual message."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fpschema.contract.catalogue import rule


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    pointer: str  # JSON pointer of the value in the record ("" for the record itself)
    value: Any
    message_zh: str
    message_en: str

    @classmethod
    def of(cls, code: str, pointer: str, value: Any = None) -> Finding:
        r = rule(code)
        return cls(code, r.severity, pointer, value, r.zh, r.en)

    def message(self, lang: str = "zh") -> str:
        return self.message_zh if lang == "zh" else self.message_en

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
