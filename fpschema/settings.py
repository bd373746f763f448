"""Limits of the upload service (``fpschema serve``), in a module of their own so that the command line can
show their defaults without importing the service's web framework."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Limits of the service; each field can also be set by the environment variable
    ``FPSCHEMA_<FIELD NAME IN CAPITALS>`` (e.g. ``FPSCHEMA_MAX_UPLOAD_BYTES=1048576``)."""

    max_upload_bytes: int = 50 * MB  # request body, multipart envelope included
    max_rows: int = 2_000_000  # data rows of one upload
    time_limit: float = 120.0  # seconds one validation may take (504 beyond)
    max_concurrent: int = 2  # validations at once (uploads included); beyond: 503 + Retry-After
    read_timeout: float = 30.0  # seconds one read of the request body may wait (408 beyond)
    upload_timeout: float = 600.0  # seconds the whole body may take to arrive (408 beyond)
    retry_after: int = 5  # seconds advertised in Retry-After with 503
    reference_date: date | None = None  # "today" for the future-date and age rules (tests)
    log_file: str | None = None  # log here instead of standard error (used by serve())
    tmp_dir: str | None = None  # where uploads are spooled (default: the system's temporary folder)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_rows", "max_concurrent"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("time_limit", "read_timeout", "upload_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``FPSCHEMA_*`` environment variables; keyword arguments win over them."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"FPSCHEMA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse_setting(f.name, raw, f.default)
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse_setting(name: str, raw: str, default: Any) -> Any:
    try:
        if name == "reference_date":
            return date.fromisoformat(raw)
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"FPSCHEMA_{name.upper()}={raw!r} is not a valid value") from None
    return raw
