"""The service against hostile clients, on a real uvicorn server on loopback (small timeouts set through the
FPSCHEMA_* settings so that each test is short): heads and bodies trickled, idle and surplus connections, a
burst of honest uploads while slow clients hold connections, hostile bodies (huge and deep JSON, huge multipart
field names, oversized heads, garbage), the Host/Origin gate, bearer tokens and the security headers; with
``/healthz`` answering throughout and no traceback in the log."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import polars as pl
import pytest

from fpschema.io import writer
from fpschema.testdata import generator

from .conftest import REF, ROOT
from .test_service import LiveServer, error_of, live_server, multipart, raw_http, status_and_json

HEADER_TIMEOUT = 1.0  # seconds a head may take on the test server
READ_TIMEOUT = 1.0  # seconds without body data, and the grace before the minimum rate applies
MIN_RATE = 20_000  # bytes/s a body must keep up after the grace
MAX_UPLOADS = 8  # all clients here share 127.0.0.1: max_uploads_per_client is set to the same
MAX_CONNECTIONS = 60
MAX_JSON = 200_000
MAX_FINDINGS = 100
MAX_FINDINGS_TOTAL = 20_000  # findings one validation may hold (the memory budget)
SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "cache-control": "no-store"}
VALID = (ROOT / "fixtures" / "valid_service_records.csv").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    spool = tmp_path_factory.mktemp("spool")
    with live_server(tmp_path_factory.mktemp("hostile"), reference_date=REF.isoformat(), tmp_dir=spool,
                     header_timeout=HEADER_TIMEOUT, read_timeout=READ_TIMEOUT, min_upload_rate=MIN_RATE,
                     upload_timeout=6, max_uploads=MAX_UPLOADS, max_uploads_per_client=MAX_UPLOADS, max_concurrent=2, max_connections=MAX_CONNECTIONS,
                     max_upload_bytes=2_000_000, max_json_bytes=MAX_JSON, max_findings=MAX_FINDINGS,
                     max_findings_total=MAX_FINDINGS_TOTAL, retry_after=1) as live:
        live.spool = spool  # type: ignore[attr-defined]
        yield live


def healthz_ms(server: LiveServer) -> float:
    started = time.monotonic()
    response = httpx.get(f"{server.url}/healthz", timeout=5)
    assert response.status_code == 200
    return (time.monotonic() - started) * 1000


class HealthWatch:
    """Polls /healthz every 50 ms in a thread; records the slowest answer and any failure."""

    def __init__(self, server: LiveServer):
        self.server = server
        self.worst_ms = 0.0
        self.polls = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.worst_ms = max(self.worst_ms, healthz_ms(self.server))
                self.polls += 1
            except Exception as exc:  # noted, asserted on at the end
                self.failures.append(repr(exc))
            self._stop.wait(0.05)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def upload_head(length: int, content_type: str, path: str = "/v1/validate", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n").encode()


def read_answer(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``seconds`` pass)."""
    sock.settimeout(seconds)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def coded(answer: bytes, status: int, code: str) -> dict[str, str]:
    got_status, doc = status_and_json(answer)
    assert (got_status, doc["error"]["code"]) == (status, code), answer[:500]
    assert doc["error"]["message"]
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    return dict(line.split(": ", 1) for line in head.split("\r\n")[1:])


# ------------------------------------------------------------------------------------------------ slow clients


def test_a_head_trickled_byte_by_byte_is_cut_at_the_header_timeout(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        answer = b""
        for byte in head:  # one byte every 50 ms: each byte is in time, the whole head is not
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
            if time.monotonic() - started > HEADER_TIMEOUT + 0.5:
                break
        answer = read_answer(sock, 3)
        elapsed = time.monotonic() - started
    headers = coded(answer, 408, "request.timeout")
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"
    assert HEADER_TIMEOUT - 0.1 < elapsed < HEADER_TIMEOUT + 2
    healthz_ms(server)


def test_an_idle_connection_is_answered_408_and_closed(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        answer = read_answer(sock, 5)
        assert HEADER_TIMEOUT - 0.1 < time.monotonic() - started < HEADER_TIMEOUT + 2
    coded(answer, 408, "request.timeout")


def test_a_kept_alive_connection_must_send_its_next_head_in_time(server):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
        answer = read_answer(sock, 3)
        assert time.monotonic() - started < HEADER_TIMEOUT + 3
    assert answer.count(b"HTTP/1.1 200") == 1 and b"HTTP/1.1 408" in answer


def test_a_body_trickled_below_the_minimum_rate_is_cut(server):
    body, content_type = multipart("slow.csv", VALID * 20)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(upload_head(len(body), content_type))
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 5:  # 100 bytes every 0.2 s: never silent for read_timeout
            try:
                sock.sendall(body[sent:sent + 100])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 100
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        answer = read_answer(sock, 3)
        elapsed = time.monotonic() - started
    headers = coded(answer, 408, "request.timeout")
    assert headers["connection"] == "close"
    assert READ_TIMEOUT - 0.1 < elapsed < READ_TIMEOUT + 1.5
    assert "refused: request.slow_upload" in server.log_text()
    server.wait_idle()


def _honest(server: LiveServer, content: bytes, deadline: float) -> tuple[int, float, int]:
    """Upload, retrying after Retry-After on 503 until ``deadline``: (final status, seconds, tries)."""
    started, tries = time.monotonic(), 0
    while True:
        tries += 1
        response = httpx.post(f"{server.url}/v1/validate", files={"file": ("honest.csv", content)}, timeout=10)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response.status_code, time.monotonic() - started, tries
        assert error_of(response) == "request.busy"
        time.sleep(min(float(response.headers["retry-after"]), 0.2))


def test_honest_burst_while_slow_clients_hold_connections(server):
    """Idle connections, head tricklers and body tricklers (fewer than max_uploads) hold connections; a burst
    of honest uploads all get their report, and /healthz answers quickly throughout."""
    body, content_type = multipart("slow.csv", VALID * 40)
    slow: list[socket.socket] = []
    stop = threading.Event()

    def trickle(sock: socket.socket, data: bytes) -> None:
        for i in range(0, len(data), 20):
            if stop.is_set():
                return
            try:
                sock.sendall(data[i:i + 20])
            except OSError:
                return
            time.sleep(0.1)

    try:
        with HealthWatch(server) as watch:
            threads = []
            for i in range(30):
                sock = socket.create_connection(("127.0.0.1", server.port))
                slow.append(sock)
                if i % 3 == 1:  # head trickler
                    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 500
                elif i % 10 == 2:  # body trickler (3 of them: under max_uploads)
                    sock.sendall(upload_head(len(body), content_type))
                    data = body
                else:  # idle
                    continue
                threads.append(threading.Thread(target=trickle, args=(sock, data), daemon=True))
                threads[-1].start()
            time.sleep(0.3)
            deadline = time.monotonic() + 10
            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: _honest(server, VALID, deadline), range(16)))
            stop.set()
        statuses = [status for status, _, _ in results]
        assert statuses == [200] * 16, statuses
        print(f"burst: worst /healthz {watch.worst_ms:.0f} ms over {watch.polls} polls; slowest upload "
              f"{max(seconds for _, seconds, _ in results):.2f} s; tries {sum(t for _, _, t in results)}")
        assert max(seconds for _, seconds, _ in results) < 10
        assert not watch.failures and watch.polls >= 5 and watch.worst_ms < 3000, (watch.failures, watch.worst_ms)
    finally:
        stop.set()
        for sock in slow:
            sock.close()
    server.wait_idle()


def test_connections_beyond_the_cap_are_refused_503_and_the_service_recovers(server):
    socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(MAX_CONNECTIONS + 5)]
    try:
        time.sleep(0.3)
        refused = 0
        for sock in socks[-5:]:
            answer = read_answer(sock, 0.5)
            if answer:
                coded(answer, 503, "request.busy")
                refused += 1
        assert refused == 5
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.3)
    healthz_ms(server)


# ------------------------------------------------------------------------------------------------ hostile bodies


def test_json_over_its_own_cap_is_refused_by_header_and_by_count(server):
    big = b"[" + b'{"a": 1},' * (MAX_JSON // 9) + b"{}]"
    response = httpx.post(f"{server.url}/v1/validate", content=big, timeout=10,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413 and error_of(response) == "request.too_large"
    assert str(MAX_JSON) in response.json()["error"]["message"]
    chunked = httpx.post(f"{server.url}/v1/validate", content=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                         headers={"content-type": "application/json"}, timeout=10)
    assert chunked.status_code == 413 and error_of(chunked) == "request.too_large"
    assert chunked.headers["connection"] == "close"
    # the same size as a multipart upload is within max_upload_bytes: files are read from disk, not parsed whole
    assert healthz_ms(server) < 1000


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"[" + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"]",
                                  b'[{"client_id": ' + b"[" * 900 + b"]" * 900 + b"}]"],
                         ids=["deep-list", "deep-object", "deep-value"])
def test_deep_json_is_a_coded_answer(server, body):
    response = httpx.post(f"{server.url}/v1/validate", content=body, headers={"content-type": "application/json"},
                          params={"kind": "service_record"}, timeout=10)
    assert response.status_code in (200, 400, 422), response.text[:300]
    if response.status_code != 200:
        assert error_of(response) in ("request.invalid_json", "input.unprocessable")


def test_huge_multipart_field_name_and_too_many_parts(server):
    boundary = "hostileBoundary"
    huge = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{'x' * 1_000_000}\"\r\n\r\nv\r\n"
            f"--{boundary}--\r\n").encode()
    response = httpx.post(f"{server.url}/v1/validate", content=huge, timeout=10,
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400 and error_of(response) == "request.bad_multipart"
    parts = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nv\r\n".encode()
                     for i in range(1000)) + f"--{boundary}--\r\n".encode()
    response = httpx.post(f"{server.url}/v1/validate", content=parts, timeout=10,
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 400 and error_of(response) == "request.bad_multipart"


@pytest.mark.parametrize("raw", [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
                                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                                 b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n"],
                         ids=["oversized-head", "tls-hello", "negative-length"])
def test_what_h11_refuses_is_a_coded_json_400(server, raw):
    headers = coded(raw_http(server.port, raw, read_timeout=5), 400, "request.bad_http")
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"


def test_findings_are_capped_by_default(server, tmp_path):
    frame, _ = generator.generate("service_record", 400, seed=3, defects="all", defect_rate=1.0)
    path = writer.write(frame, tmp_path / "bad.csv", "service_record", fmt="csv")
    for params in ({}, {"max_findings": 10**6}):
        response = httpx.post(f"{server.url}/v1/validate", params=params, timeout=30,
                              files={"file": ("bad.csv", path.read_bytes())})
        report = response.json()
        assert response.status_code == 200 and report["truncated"] is True
        assert len(report["findings"]) == MAX_FINDINGS < sum(report["counts"]["by_severity"].values())
    small = httpx.post(f"{server.url}/v1/validate", params={"max_findings": 5}, timeout=30,
                       files={"file": ("bad.csv", path.read_bytes())})
    assert len(small.json()["findings"]) == 5


def test_a_file_of_errors_beyond_the_findings_budget_is_a_coded_400(server, tmp_path):
    frame, _ = generator.generate("service_record", 2000, seed=5)
    bad = frame.with_columns(("x" + pl.col(c).cast(pl.String)).alias(c) for c in frame.columns)  # every cell wrong
    path = tmp_path / "all_wrong.csv"
    bad.write_csv(path)
    response = httpx.post(f"{server.url}/v1/validate", timeout=30, files={"file": ("all_wrong.csv", path.read_bytes())})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "input.too_many_findings" and str(MAX_FINDINGS_TOTAL) in error["message"]
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


# ------------------------------------------------------------------------------------------------ gate and headers


def test_foreign_host_and_cross_origin_posts_are_refused(server):
    files = {"file": ("ok.csv", VALID)}
    url = f"{server.url}/v1/validate"
    foreign = httpx.get(f"{server.url}/healthz", headers={"host": "evil.example"}, timeout=5)
    assert foreign.status_code == 403 and error_of(foreign) == "request.host_not_allowed"
    rebound = httpx.post(url, files=files, headers={"host": "evil.example:8000"}, timeout=5)
    assert rebound.status_code == 403 and error_of(rebound) == "request.host_not_allowed"
    for origin in ("http://evil.example", "null", f"http://localhost:{server.port + 1}", "file://"):
        response = httpx.post(url, files=files, headers={"origin": origin}, timeout=5)
        assert response.status_code == 403 and error_of(response) == "request.origin_not_allowed", origin
        assert response.headers["connection"] == "close"  # the unread body is not waited for
    cross = httpx.post(url, files=files, headers={"sec-fetch-site": "cross-site"}, timeout=5)
    assert cross.status_code == 403 and error_of(cross) == "request.origin_not_allowed"
    same = httpx.post(url, files=files, headers={"origin": server.url}, timeout=10)
    assert same.status_code == 200
    for host in ("localhost", "127.0.0.1"):
        assert httpx.get(f"{server.url}/healthz", headers={"host": f"{host}:{server.port}"}, timeout=5).is_success
    assert httpx.get(f"{server.url}/healthz", headers={"origin": "http://evil.example"}, timeout=5).is_success


def test_security_headers_on_every_answer(server):
    answers = [
        httpx.get(f"{server.url}/healthz", timeout=5),
        httpx.get(f"{server.url}/", timeout=5),
        httpx.get(f"{server.url}/nowhere", timeout=5),
        httpx.get(f"{server.url}/v1/schemas/service_record", timeout=5),
        httpx.post(f"{server.url}/v1/validate", files={"file": ("ok.csv", VALID)}, timeout=10),
        httpx.post(f"{server.url}/v1/validate", params={"format": "html"}, files={"file": ("ok.csv", VALID)},
                   timeout=10),
        httpx.post(f"{server.url}/v1/validate", content=b"x", headers={"content-type": "text/plain"}, timeout=5),
        httpx.get(f"{server.url}/healthz", headers={"host": "evil.example"}, timeout=5),
    ]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 200, 404, 200, 200, 200, 415, 403]
    for answer in answers:
        for name, value in SECURITY.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], answer.request.url


def test_no_traceback_in_the_log_and_no_spool_file_left(server):
    server.wait_idle()
    assert list(server.spool.iterdir()) == []  # JSON bodies and files alike, refused, cut or validated
    text = server.log_text()
    assert "Traceback" not in text and "Exception in ASGI application" not in text
    assert "refused: request.header_timeout" in text


# ------------------------------------------------------------------------------------------------ tokens

TOKENS = ("s3cret-token-one", "another-token-2")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Iterator[LiveServer]:
    digests = ",".join(hashlib.sha256(t.encode()).hexdigest() for t in TOKENS)
    with live_server(tmp_path_factory.mktemp("tokens"), reference_date=REF.isoformat(), token_sha256=digests,
                     max_uploads=3, max_uploads_per_client=1, max_connections_per_client=6, read_timeout=5) as live:
        yield live


def test_a_newcomer_evicts_the_slowest_upload_when_all_places_are_taken(guarded):
    """Three slow bodies from three addresses take every upload place; an honest upload evicts the slowest
    (408 to it) and gets its report; the other slow ones keep their places."""
    auth = f"Authorization: Bearer {TOKENS[0]}\r\n"
    body, content_type = multipart("held.csv", VALID * 10)
    held = []
    try:
        for i, sent in enumerate((300, 100, 200)):
            sock = socket.create_connection(("127.0.0.1", guarded.port), source_address=(f"127.0.0.{2 + i}", 0))
            sock.sendall(upload_head(len(body), content_type, extra=auth) + body[:sent])
            held.append(sock)
        deadline = time.monotonic() + 5
        while httpx.get(f"{guarded.url}/healthz", timeout=5).json()["uploads"] < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.1)  # older than EVICT_MIN_AGE: evictable
        honest = httpx.post(f"{guarded.url}/v1/validate", files={"file": ("ok.csv", VALID)}, timeout=10,
                            headers={"authorization": f"Bearer {TOKENS[1]}"})
        assert honest.status_code == 200
        coded(read_answer(held[1], 2), 408, "request.timeout")  # the slowest one (100 bytes) was evicted
        for sock in (held[0], held[2]):
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        assert "evicted: a slow upload made room for another" in guarded.log_text()
    finally:
        for sock in held:
            sock.close()


def test_one_client_holds_few_upload_places_and_connections(guarded):
    auth = {"authorization": f"Bearer {TOKENS[0]}"}
    body, content_type = multipart("held.csv", VALID * 10)
    with socket.create_connection(("127.0.0.1", guarded.port)) as held:
        held.sendall(upload_head(len(body), content_type, extra=f"Authorization: Bearer {TOKENS[0]}\r\n")
                     + body[:100])
        deadline = time.monotonic() + 5
        while httpx.get(f"{guarded.url}/healthz", timeout=5).json()["uploads"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        second = httpx.post(f"{guarded.url}/v1/validate", files={"file": ("ok.csv", VALID)}, headers=auth, timeout=10)
        assert second.status_code == 503 and error_of(second) == "request.busy"
        assert "已有 1 个上传" in second.json()["error"]["message"]
        extra = [socket.create_connection(("127.0.0.1", guarded.port)) for _ in range(6)]
        try:
            time.sleep(0.2)
            answers = [read_answer(sock, 0.3) for sock in extra]
            refused = [a for a in answers if a]
            assert len(refused) == 1  # 6 allowed from one address: the held one, 5 of these, then a refusal
            coded(refused[0], 503, "request.busy")
        finally:
            for sock in extra:
                sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{guarded.url}/healthz", timeout=5).json()["uploads"] and time.monotonic() < deadline:
        time.sleep(0.05)
    again = httpx.post(f"{guarded.url}/v1/validate", files={"file": ("ok.csv", VALID)}, headers=auth, timeout=10)
    assert again.status_code == 200


def test_tokens_are_required_and_checked(guarded):
    url = f"{guarded.url}/v1/validate"
    files = {"file": ("ok.csv", VALID)}
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKENS[0]}"},
                    {"authorization": "Bearer"}, {"authorization": TOKENS[0]}):
        response = httpx.post(url, files=files, headers=headers, timeout=10)
        assert response.status_code == 401 and error_of(response) == "request.unauthorized", headers
        assert response.headers["www-authenticate"].startswith("Bearer")
    for token in TOKENS:
        response = httpx.post(url, files=files, headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200 and response.json()["ok"] is True
    assert httpx.get(f"{guarded.url}/v1/rules", timeout=5).status_code == 401
    assert httpx.get(f"{guarded.url}/healthz", timeout=5).status_code == 200
    page = httpx.get(f"{guarded.url}/", timeout=5)
    assert page.status_code == 200 and 'id="token"' in page.text and "Authorization" in page.text
    assert TOKENS[0] not in guarded.log_text() and hashlib.sha256(TOKENS[0].encode()).hexdigest() not in guarded.log_text()


def test_the_page_has_no_token_field_when_none_is_configured(server):
    assert 'id="token"' not in httpx.get(f"{server.url}/", timeout=5).text


def test_bad_token_setting_stops_the_service_at_start(tmp_path):
    with pytest.raises(RuntimeError, match="exited"), live_server(tmp_path, token_sha256="not-a-digest"):
        pass


def test_settings_parse_lists_from_the_environment():
    from fpschema.service.settings import Settings

    digest = hashlib.sha256(b"x").hexdigest()
    s = Settings.from_env({"FPSCHEMA_ALLOWED_HOSTS": "Example.org, 10.0.0.5", "FPSCHEMA_TOKEN_SHA256": digest.upper(),
                           "FPSCHEMA_DEBUG": "1"})
    assert s.allowed_hosts == ("example.org", "10.0.0.5") and s.token_sha256 == (digest,) and s.debug is True
    assert json.loads(json.dumps(list(s.allowed_hosts))) == ["example.org", "10.0.0.5"]


def test_every_answer_code_and_setting_is_documented():
    from dataclasses import fields

    from fpschema.service.base import PUBLIC_CODE, SERVICE_ERRORS
    from fpschema.service.settings import Settings

    text = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    zh, _, en = text.partition("## English")
    codes = {PUBLIC_CODE.get(code, code) for code in SERVICE_ERRORS}
    assert not [c for c in codes if f"`{c}`" not in zh]  # the table of codes (the English half refers to it)
    for half in (zh, en):
        assert not [f.name for f in fields(Settings) if f"`{f.name}`" not in half]


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium is absent")
def test_the_page_is_usable_with_a_token_in_a_real_browser(guarded):
    """In headless Chromium: without a token the page shows request.unauthorized; with one typed in the token
    field the same upload shows its report (a same-origin POST passes the Origin check)."""
    from playwright.sync_api import sync_playwright

    fixture = ROOT / "fixtures" / "invalid_service_records.csv"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(guarded.url + "/")
            page.set_input_files("#file-input", str(fixture))
            page.wait_for_selector("#error:not([hidden])", timeout=15_000)
            assert "request.unauthorized" in page.text_content("#error")
            page.fill("#token", TOKENS[1])
            page.set_input_files("#file-input", str(fixture))
            page.wait_for_selector("#result:not([hidden])", timeout=15_000)
            assert page.text_content("#rows-total").strip().replace(",", "") == "400"
            assert page.evaluate("sessionStorage.getItem('fpschema-token')") == TOKENS[1]
        finally:
            browser.close()
