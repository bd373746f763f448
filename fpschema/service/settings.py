"""Limits of the upload service (``fpschema serve``), in a module of their own so that the command line can
show their defaults without importing the service's web framework."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

MB = 1024 * 1024
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Settings:
    """Limits of the service; each field can also be set by the environment variable
    ``FPSCHEMA_<FIELD NAME IN CAPITALS>`` (e.g. ``FPSCHEMA_MAX_UPLOAD_BYTES=1048576``)."""

    max_upload_bytes: int = 50 * MB  # request body, multipart envelope included
    max_rows: int = 2_000_000  # data rows of one upload
    time_limit: float = 120.0  # seconds one validation may take (504 beyond)
    max_json_bytes: int = 8 * MB  # a JSON list of records is parsed whole in memory: a tighter cap (413 beyond)
    max_findings: int = 50_000  # findings listed in one report (the counts cover all); a larger query is capped
    max_findings_total: int = 2_000_000  # findings one validation may hold (its memory); beyond: 400 too_many_findings
    max_concurrent: int = 2  # validations at once, counted once the body has arrived; beyond: 503 + Retry-After
    slot_wait: float = 5.0  # seconds an arrived body waits for a validation slot before that 503
    max_uploads: int = 64  # request bodies being received at once (spooled to disk); beyond: 503 + Retry-After
    max_uploads_per_client: int = 4  # of those, from one client address (behind a proxy: set = max_uploads)
    max_connections: int = 256  # open connections; beyond: 503 and the connection is closed
    max_connections_per_client: int = 64  # of those, from one client address
    header_timeout: float = 10.0  # seconds a connection has to send a whole request head (408 beyond)
    read_timeout: float = 10.0  # seconds one read of the request body may wait (408 beyond)
    min_upload_rate: int = 8192  # bytes/s a body must keep up once read_timeout has passed (408 below)
    upload_timeout: float = 600.0  # seconds the whole body may take to arrive (408 beyond)
    retry_after: int = 5  # seconds advertised in Retry-After with 503
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted ("*": any); empty: the listening host and loopback
    token_sha256: tuple[str, ...] = ()  # SHA-256 (hex) of the accepted bearer tokens; empty: no token needed
    debug: bool = False  # log tracebacks of internal errors (never in an answer)
    reference_date: date | None = None  # "today" for the future-date and age rules (tests)
    log_file: str | None = None  # log here instead of standard error (used by serve())
    tmp_dir: str | None = None  # where uploads are spooled (default: the system's temporary folder)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_json_bytes", "max_rows", "max_findings_total", "max_concurrent",
                     "max_uploads", "max_uploads_per_client", "max_connections", "max_connections_per_client"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("time_limit", "read_timeout", "upload_timeout", "header_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_findings < 0 or self.min_upload_rate < 0 or self.slot_wait < 0:
            raise ValueError("max_findings, min_upload_rate and slot_wait must not be negative")
        object.__setattr__(self, "allowed_hosts", tuple(h.strip().lower() for h in self.allowed_hosts if h.strip()))
        digests = tuple(t.strip().lower() for t in self.token_sha256 if t.strip())
        for digest in digests:
            if not HEX64.fullmatch(digest):
                raise ValueError("token_sha256 holds SHA-256 digests: 64 hexadecimal characters each")
        object.__setattr__(self, "token_sha256", digests)

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
        if isinstance(default, tuple):  # a list: comma- or space-separated
            return tuple(part for part in re.split(r"[,\s]+", raw) if part)
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ValueError(f"FPSCHEMA_{name.upper()}={raw!r} is not a valid value") from None
    return raw
