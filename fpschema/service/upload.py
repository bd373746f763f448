"""Uploads: validation slots, transfers watched for slowness, a multipart body spooled to disk with its limits,
a JSON body spooled the same way.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import unicodedata
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    from fastapi import Request
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header
    from starlette.requests import ClientDisconnect
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("fpschema serve needs the service extra: pip install 'fpschema[service]' "
                      f"(missing: {exc.name})") from exc

from fpschema.errors import InputError
from fpschema.service.base import (
    ALLOWED_SUFFIXES,
    EVICT_MIN_AGE,
    MAX_NAME_CHARS,
    MAX_PART_HEAD_BYTES,
    MAX_PARTS,
    ServiceError,
    log,
)
from fpschema.service.settings import Settings

# ------------------------------------------------------------------------------------------------ slots


class Slots:
    """A non-blocking counter of validations in progress: ``try_acquire`` never waits."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.active = max(0, self.active - 1)


@dataclass(eq=False)
class _Transfer:
    """One request body being received: who sends it, since when, how much so far, and whether it was evicted
    to make room for another."""

    client: str
    started: float
    received: int = 0
    evicted: asyncio.Future[None] | None = None

    def rate(self, now: float) -> float:
        return self.received / max(now - self.started, EVICT_MIN_AGE)


class Transfers:
    """The request bodies being received (event-loop side only, so no lock): at most ``limit`` at once and
    ``per_client`` from one address. When all places are taken, a newcomer evicts the slowest transfer whose
    average rate is under ``min_rate`` (it answers ``request.timeout``): slow clients that reconnect as soon
    as they are cut cannot keep every place for themselves; only clients at or above the minimum rate can."""

    def __init__(self, limit: int, per_client: int, min_rate: int):
        self.limit, self.per_client, self.min_rate = limit, per_client, min_rate
        self.current: list[_Transfer] = []
        self.evictions = 0

    @property
    def active(self) -> int:
        return len(self.current)

    def admit(self, client: str) -> _Transfer | str:
        """A transfer for this client, or the code of the refusal."""
        loop = asyncio.get_running_loop()
        if sum(1 for t in self.current if t.client == client) >= self.per_client:
            return "request.client_uploads_busy"
        if len(self.current) >= self.limit:
            now = loop.time()
            slow = [t for t in self.current
                    if self.min_rate and now - t.started >= EVICT_MIN_AGE and t.rate(now) < self.min_rate]
            if not slow:
                return "request.uploads_busy"
            victim = min(slow, key=lambda t: t.rate(now))
            self.current.remove(victim)
            self.evictions += 1
            if victim.evicted is not None and not victim.evicted.done():
                victim.evicted.set_result(None)
        transfer = _Transfer(client, loop.time(), evicted=loop.create_future())
        self.current.append(transfer)
        return transfer

    def release(self, transfer: _Transfer) -> None:
        with suppress(ValueError):
            self.current.remove(transfer)


# ------------------------------------------------------------------------------------------------ uploads


def client_file_name(raw: bytes | None) -> tuple[str, str]:
    """(name to show, whitelisted suffix) of an uploaded file's name. The name is never used as a path:
    names with separators, ``..``, NUL, control or format characters (e.g. U+202E) are refused with
    ``request.bad_filename``; a suffix outside :data:`ALLOWED_SUFFIXES` is ``input.format``."""
    if raw is None or not raw.strip():
        raise ServiceError("request.no_file")
    try:
        name = unicodedata.normalize("NFC", raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ServiceError("request.bad_filename") from None
    bad_chars = any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in name)
    if (bad_chars or "/" in name or "\\" in name or name.startswith("..") or not name.strip(". ")
            or len(name) > MAX_NAME_CHARS):
        raise ServiceError("request.bad_filename")
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise InputError("input.format", path=name)
    return name, suffix


class UploadSpool:
    """Feeds a multipart body to python-multipart and spools the ``file`` part to a temporary file."""

    def __init__(self, boundary: bytes, tmp_dir: str | None):
        self.tmp_dir = tmp_dir
        self.path: Path | None = None
        self.name = ""
        self.size = 0
        self.ended = False
        self._fh: Any = None
        self._in_file = False
        self._seen_file = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._head_bytes = 0
        self._parts = 0
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
            "on_header_end": self._hend, "on_headers_finished": self._headers_done, "on_part_data": self._data,
            "on_part_end": self._part_end, "on_end": self._end,
        })

    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False
        self._head_bytes = 0
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise ServiceError("request.bad_multipart", detail=f"more than {MAX_PARTS} parts")

    def _count_head(self, n: int) -> None:
        """Part headers are held in memory: a bounded amount of them (a huge field name is refused)."""
        self._head_bytes += n
        if self._head_bytes > MAX_PART_HEAD_BYTES:
            raise ServiceError("request.bad_multipart", detail=f"part headers over {MAX_PART_HEAD_BYTES} bytes")

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._count_head(end - start)
        self._header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._count_head(end - start)
        self._header_value += data[start:end]

    def _hend(self) -> None:
        self._headers[bytes(self._header_field).lower().strip()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file" or self._seen_file:
            return  # other fields (and a second file) are read past and dropped
        self._seen_file = True
        self.name, suffix = client_file_name(options.get(b"filename"))
        fd, path = tempfile.mkstemp(prefix="fpschema-", suffix=suffix, dir=self.tmp_dir)
        self.path = Path(path)
        self._fh = os.fdopen(fd, "wb")
        self._in_file = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._fh.write(data[start:end])
            self.size += end - start

    def _part_end(self) -> None:
        if self._in_file:
            self._fh.close()
            self._in_file = False

    def _end(self) -> None:
        self.ended = True

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            raise ServiceError("request.bad_multipart", detail=type(exc).__name__) from None

    def finish(self) -> None:
        with suppress(MultipartParseError):
            self.parser.finalize()
        self.close()
        if not self.ended:
            raise ServiceError("request.incomplete")
        if self.path is None:
            raise ServiceError("request.no_file")

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class JsonSpool:
    """A JSON body spooled to a temporary file while it arrives (parsed only once it is whole, in a worker)."""

    def __init__(self, tmp_dir: str | None):
        fd, path = tempfile.mkstemp(prefix="fpschema-", suffix=".json", dir=tmp_dir)
        self.path = Path(path)
        self.size = 0
        self._fh = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


async def read_body(request: Request, settings: Settings, limit: int,
                transfer: _Transfer | None = None) -> AsyncIterator[bytes]:
    """The request body in chunks, with deadlines a slow client cannot stretch and a running size check (so a
    chunked or lying request is stopped as well as one whose Content-Length is too large).

    Each wait for data is bounded by the earliest of: ``read_timeout`` (no data at all), the whole body's
    ``upload_timeout``, and the rate deadline ``start + read_timeout + received / min_upload_rate`` (each byte
    buys ``1 / min_upload_rate`` seconds after a grace of ``read_timeout``): trickling one byte now and then
    does not keep a connection. A transfer evicted by :class:`Transfers` ends at once as too slow."""
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + settings.upload_timeout
    total = 0
    while True:
        now = loop.time()
        rate_deadline = (start + settings.read_timeout + total / settings.min_upload_rate
                         if settings.min_upload_rate else deadline)
        wait = min(settings.read_timeout, deadline - now, rate_deadline - now)
        if wait <= 0:
            raise _slow(settings)
        next_chunk = asyncio.ensure_future(stream.__anext__())
        waiting: set[asyncio.Future[Any]] = {next_chunk}
        if transfer is not None and transfer.evicted is not None:
            waiting.add(transfer.evicted)
        await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        if transfer is not None and transfer.evicted is not None and transfer.evicted.done():
            next_chunk.cancel()
            log.info("%s evicted: a slow upload made room for another", request.state.request_id)
            raise _slow(settings)
        if not next_chunk.done():
            next_chunk.cancel()
            if wait < settings.read_timeout:  # a deadline, not a silent client, ran out
                raise _slow(settings)
            raise ServiceError("request.timeout", headers={"Connection": "close"}, seconds=round(wait, 3))
        try:
            chunk = next_chunk.result()
        except StopAsyncIteration:
            return
        except ClientDisconnect:
            raise ServiceError("request.incomplete") from None
        total += len(chunk)
        if transfer is not None:
            transfer.received = total
        if total > limit:
            raise ServiceError("request.too_large", headers={"Connection": "close"}, limit=limit)
        if chunk:
            yield chunk


def _slow(settings: Settings) -> ServiceError:
    return ServiceError("request.slow_upload", headers={"Connection": "close"}, rate=settings.min_upload_rate,
                        seconds=settings.upload_timeout)
