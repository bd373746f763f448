"""The HTTP service on a real uvicorn server (a subprocess on a free loopback port), talked to with httpx,
raw sockets and schemathesis: endpoints, every upload format, report formats, masking, every coded error,
size/time/concurrency limits, and a log that never holds an ID number."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import fpschema
from fpschema import contract
from fpschema.contract.catalogue import RULES
from fpschema.io import writer
from fpschema.testdata import generator

from .conftest import REF, ROOT

FIXTURES = ROOT / "fixtures"
ID18 = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
ID15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
MAIN_LIMIT = 1_000_000  # max_upload_bytes of the main test server


# ------------------------------------------------------------------------------------------------ servers


@dataclass
class LiveServer:
    """A uvicorn process running ``fpschema.service`` with settings from FPSCHEMA_* variables."""

    url: str
    port: int
    log: Path
    process: subprocess.Popen

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def active(self) -> int:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()["active"]

    def wait_idle(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.active() == 0, "a validation slot was never released"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(folder: Path, **settings: object) -> Iterator[LiveServer]:
    """Start ``python -m fpschema.service`` on 127.0.0.1, wait for /healthz, stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "service.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPSCHEMA_")}
    env.update({f"FPSCHEMA_{k.upper()}": str(v) for k, v in settings.items()})
    env["FPSCHEMA_LOG_FILE"] = str(log)
    out = (folder / "stdout.txt").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "fpschema.service", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {(folder / 'stdout.txt').read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield LiveServer(url, port, log, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("main"), reference_date=REF.isoformat(), read_timeout=1.0,
                     max_upload_bytes=MAIN_LIMIT, max_concurrent=4) as live:
        yield live


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    """Uploads in every format: the committed fixtures plus generated Parquet and GB18030 office CSV."""
    folder = tmp_path_factory.mktemp("samples")
    frame, _ = generator.generate("service_record", 500, seed=1, defects="all", defect_rate=0.2)
    return {
        "csv-utf8": FIXTURES / "invalid_service_records.csv",
        "csv-gb18030-office": FIXTURES / "service_records_gb18030.csv",
        "xlsx-office": FIXTURES / "service_records_office.xlsx",
        "jsonl": FIXTURES / "service_records.jsonl",
        "parquet": writer.write(frame, folder / "generated.parquet", "service_record", fmt="parquet"),
        "csv-generated-gb18030": writer.write(frame, folder / "generated_gb.csv", "service_record", fmt="csv",
                                              encoding="gb18030", office=True),
    }


def expected_report(path: Path, **kwargs) -> dict:
    """What the service must answer: the library's own report of the same file."""
    doc = json.loads(fpschema.validate(path, reference_date=REF, **kwargs).to_json())
    doc["source"]["name"] = path.name
    return doc


def upload(client: httpx.Client, path: Path, name: str | None = None, **params) -> httpx.Response:
    return client.post("/v1/validate", params=params, files={"file": (name or path.name, path.read_bytes())})


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return body["error"]["code"]


def ids_in(path: Path) -> set[str]:
    """Every 18- and 15-digit ID number written in a text upload."""
    raw = path.read_bytes()
    text = raw.decode("gb18030") if "gb18030" in path.name else raw.decode("utf-8-sig")
    return set(ID18.findall(text)) | set(ID15.findall(text))


def raw_http(port: int, data: bytes, *, shutdown: bool = False, read_timeout: float = 10) -> bytes:
    """Send bytes on a raw socket and read the answer until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(data)
        if shutdown:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return bool(m) and len(body) >= int(m.group(1))


def status_and_json(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def multipart(name: str, content: bytes, boundary: str = "fpschemaBoundary7") -> tuple[bytes, str]:
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# ------------------------------------------------------------------------------------------------ endpoints


def test_healthz(client):
    doc = client.get("/healthz").json()
    assert doc == {"status": "ok", "version": fpschema.__version__, "active": 0, "max_concurrent": 4, "uploads": 0,
                   "max_uploads": 64}


def test_schemas_list_every_kind_with_a_working_url(client):
    listed = client.get("/v1/schemas").json()
    assert [k["kind"] for k in listed] == list(contract.kinds())
    for item in listed:
        assert item["title"] == contract.schema(item["kind"])["title"]
        assert item["id"].endswith(f"/{item['kind']}.json")
        assert client.get(item["url"]).json() == contract.schema(item["kind"])


def test_schema_is_the_published_contract_file(client):
    response = client.get("/v1/schemas/service_record")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.content == (contract.schema_dir() / "service_record.json").read_bytes()
    assert client.get("/v1/schemas/defs.json").json()["$id"].endswith("/defs.json")  # for $ref resolution
    missing = client.get("/v1/schemas/no_such_kind")
    assert missing.status_code == 404 and error_of(missing) == "schema.not_found"


def test_rules_are_the_catalogue(client):
    rules = client.get("/v1/rules").json()
    assert [r["code"] for r in rules] == list(RULES)
    first = RULES[rules[0]["code"]]
    assert rules[0] == {"code": first.code, "severity": first.severity, "scope": first.scope, "zh": first.zh,
                        "en": first.en, "source": first.source}


def test_openapi_describes_both_request_bodies_and_the_errors(client):
    doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/v1/validate"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"200", "400", "408", "413", "415", "422", "503", "504"} <= set(operation["responses"])
    assert "input.unprocessable" in operation["responses"]["422"]["description"]
    assert "422" not in doc["paths"]["/v1/schemas/{name}"]["get"]["responses"]
    assert {"ReportModel", "ErrorBody", "FindingModel"} <= set(doc["components"]["schemas"])


def test_unknown_address_is_a_coded_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and error_of(response) == "request.not_found"
    assert client.delete("/v1/validate").status_code == 405


def test_page_in_chinese_and_english_without_network_resources(client):
    zh = client.get("/")
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert "fpschema 数据校验" in zh.text and "自动识别" in zh.text
    assert "default-src 'none'" in zh.headers["content-security-policy"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", zh.text)
    for kind in contract.kinds():
        assert f'value="{kind}"' in zh.text
    en = client.get("/", params={"lang": "en"})
    assert "Drop a file here" in en.text and 'lang="en"' in en.text


# ------------------------------------------------------------------------------------------------ uploads


@pytest.mark.parametrize("sample", ["csv-utf8", "csv-gb18030-office", "xlsx-office", "jsonl", "parquet",
                                    "csv-generated-gb18030"])
def test_upload_gives_the_librarys_report(client, samples, sample):
    path = samples[sample]
    response = upload(client, path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    got = response.json()
    assert got == expected_report(path)
    assert got["kind"] == "service_record" and not got["ok"] and got["rows_invalid"] > 0


def test_json_records(client):
    records = [json.loads(line) for line in (FIXTURES / "service_records.jsonl").read_text("utf-8").splitlines()]
    response = client.post("/v1/validate", json=records, params={"kind": "service_record", "lang": "en"})
    assert response.status_code == 200, response.text
    expected = json.loads(fpschema.validate(records, "service_record", reference_date=REF, lang="en").to_json())
    assert response.json() == expected
    assert response.json()["rows_total"] == len(records)


def test_report_formats_html_and_csv(client, samples):
    path = samples["csv-utf8"]
    report = fpschema.validate(path, reference_date=REF, lang="en")
    html = upload(client, path, format="html", lang="en")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.text.startswith("<!doctype html>") or html.text.lower().startswith("<!doctype html")
    assert "sandbox" in html.headers["content-security-policy"]
    csv = upload(client, path, format="csv", lang="en")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the UTF-8 text
    disposition = csv.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "invalid_service_records.findings.csv" in disposition
    assert csv.content.decode("utf-8-sig") == report.to_csv()
    assert csv.content.decode("utf-8-sig").splitlines()[0] == "row,column,rule,severity,value,message"
    limited = upload(client, path, max_findings=5).json()
    assert len(limited["findings"]) == 5 and limited["truncated"]


def test_chinese_file_name_in_report_and_download(client, samples):
    response = upload(client, samples["csv-utf8"], name="上报数据 2024.csv", format="csv")
    assert response.status_code == 200
    assert "filename*=UTF-8''%E4%B8%8A%E6%8A%A5" in response.headers["content-disposition"]
    doc = upload(client, samples["csv-utf8"], name="上报数据 2024.csv").json()
    assert doc["source"]["name"] == "上报数据 2024.csv"


def test_kind_inferred_given_or_not_inferable(client, samples):
    path = samples["csv-utf8"]
    assert upload(client, path).json()["kind"] == "service_record"
    as_staff = upload(client, path, kind="staff").json()
    assert as_staff["kind"] == "staff" and as_staff["rows_invalid"] == as_staff["rows_total"]
    assert "file.missing_column" in as_staff["counts"]["by_rule"]
    unknown = client.post("/v1/validate", files={"file": ("x.csv", b"alpha,beta\n1,2\n")})
    assert unknown.status_code == 400 and error_of(unknown) == "input.kind_not_inferred"


@pytest.mark.parametrize("fmt", ["json", "html", "csv"])
def test_id_numbers_are_masked_in_every_answer(client, samples, fmt):
    for sample in ("csv-utf8", "csv-gb18030-office", "jsonl"):
        path = samples[sample]
        ids = ids_in(path)
        assert len(ids) > 100
        body = upload(client, path, format=fmt).text
        assert re.search(r"[0-9]{6}\*{5,8}[0-9]{3}[0-9X]", body), "no masked ID in the answer: the test proves nothing"
        leaked = [i for i in ids if i in body]
        assert not leaked, f"{sample} as {fmt}: full ID numbers in the answer: {leaked[:3]}"


def test_short_and_odd_id_values_do_not_take_the_server_down(client):
    records = [{"station_code": "110105001", "client_id": v, "sex": "2", "birth_status": "1",
                "service_date": "2023-04-19", "city_code": "110105"} for v in ("x", "12345", "", "1.10105E+17")]
    response = client.post("/v1/validate", json=records, params={"kind": "service_record"})
    assert response.status_code == 200, response.text
    assert response.json()["rows_invalid"] >= 3
    csv = "station_code,client_id,sex,birth_status,service_date,city_code\n110105001,123,2,1,2023-04-19,110105\n"
    assert client.post("/v1/validate", files={"file": ("short.csv", csv.encode())}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_data_that_trips_the_reader_is_never_a_server_error(client):
    """A column named ``*`` or a lone surrogate: a coded 4xx (or a report), never a 5xx."""
    for name, content in [("star.json", b'[{"*": 1, "": 2}]'), ("surrogate.json", b'[{"client_id": "\\ud800x"}]'),
                          ("surrogate.jsonl", b'{"client_id": "\\ud800x"}\n')]:
        response = client.post("/v1/validate", files={"file": (name, content)}, params={"kind": "service_record"})
        assert response.status_code in (200, 400, 422), (name, response.text)
        if response.status_code != 200:
            assert error_of(response).startswith("input.")
    body = client.post("/v1/validate", content=b'[{"client_id": "\\udc00"}]',
                       headers={"content-type": "application/json"})
    assert body.status_code == 400 and error_of(body) == "request.invalid_json"


# ------------------------------------------------------------------------------------------------ bad requests


def test_not_multipart_nor_json(client):
    response = client.post("/v1/validate", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    assert response.status_code == 415 and error_of(response) == "request.not_multipart"
    bare = client.post("/v1/validate", content=b"x")
    assert bare.status_code == 415 and error_of(bare) == "request.not_multipart"
    english = client.post("/v1/validate", content=b"x", params={"lang": "en"})
    assert english.json()["error"]["message"].startswith("send a multipart")


def test_multipart_without_file_field(client):
    response = client.post("/v1/validate", files={"upload": ("a.csv", b"a,b\n1,2\n")})
    assert response.status_code == 400 and error_of(response) == "request.no_file"
    form_only = client.post("/v1/validate", data={"file": "not a file"}, files={"other": ("a.csv", b"x")})
    assert form_only.status_code == 400 and error_of(form_only) == "request.no_file"


def test_unknown_kind_and_bad_parameters(client, samples):
    response = upload(client, samples["csv-utf8"], kind="no_such_kind", lang="en")
    assert response.status_code == 400 and error_of(response) == "input.unknown_kind"
    assert response.json()["error"]["message"] == "unknown record kind: no_such_kind"
    for params in ({"format": "pdf"}, {"lang": "fr"}, {"max_findings": "-1"}, {"max_findings": "many"}):
        bad = upload(client, samples["csv-utf8"], **params)
        assert bad.status_code == 400 and error_of(bad) == "request.invalid_parameter", params


def test_invalid_json_bodies(client):
    for body in (b'{"a": 1}', b"[1, 2", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"42"):
        response = client.post("/v1/validate", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400 and error_of(response) == "request.invalid_json", body[:20]
    not_objects = client.post("/v1/validate", json=[1, 2], params={"kind": "service_record"})
    assert not_objects.status_code == 400 and error_of(not_objects) == "input.json"


def test_empty_binary_and_unsupported_files(client):
    empty = client.post("/v1/validate", files={"file": ("empty.csv", b"")})
    assert empty.status_code == 400 and error_of(empty) == "input.empty"
    assert "empty.csv" in empty.json()["error"]["message"]  # the client's name, never the spool path
    assert "fpschema-" not in empty.json()["error"]["message"]
    binary = client.post("/v1/validate", files={"file": ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)})
    assert binary.status_code == 400 and error_of(binary) == "input.binary"
    exe = client.post("/v1/validate", files={"file": ("setup.exe", b"MZ\x90\x00")})
    assert exe.status_code == 400 and error_of(exe) == "input.format"
    not_xlsx = client.post("/v1/validate", files={"file": ("book.xlsx", b"not a zip at all")})
    assert not_xlsx.status_code == 400 and error_of(not_xlsx) == "input.spreadsheet"


def test_zip_bomb_xlsx(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * 20_000_000 + b">")  # 20 MB of one byte: ratio ~1000
    assert len(buf.getvalue()) < MAIN_LIMIT
    response = client.post("/v1/validate", files={"file": ("bomb.xlsx", buf.getvalue())})
    assert response.status_code == 400 and error_of(response) == "input.zip_bomb"


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\x.csv", "/etc/cron.d/x.csv", "report\u202ecsv.exe",
                                  "a\x00b.csv", "line\nbreak.csv", "..", "\u200bzero.csv"])
def test_bad_file_names_are_refused(client, name):
    content = (FIXTURES / "valid_service_records.csv").read_bytes()
    body, content_type = multipart("PLACEHOLDER", content)
    body = body.replace(b"PLACEHOLDER", name.encode("utf-8"))
    response = client.post("/v1/validate", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert error_of(response) in ("request.bad_filename", "request.bad_multipart")
    if "\n" not in name:  # a raw newline breaks the part's headers themselves
        assert error_of(response) == "request.bad_filename"


def test_oversize_body_by_header_and_by_count(server, client):
    head = (b"POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAIN_LIMIT * 50))
    status, doc = status_and_json(raw_http(server.port, head))
    assert status == 413 and doc["error"]["code"] == "request.too_large"

    def chunks():  # no Content-Length: chunked transfer, so only counting can stop it
        body, _ = multipart("big.csv", b"a,b\n" + b"1,2\n" * (MAIN_LIMIT // 2))
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    _, content_type = multipart("big.csv", b"")
    response = client.post("/v1/validate", content=chunks(), headers={"content-type": content_type})
    assert response.status_code == 413 and error_of(response) == "request.too_large"
    json_body = b"[" + b'{"a": 1},' * (MAIN_LIMIT // 9) + b"{}]"
    too_big_json = client.post("/v1/validate", content=json_body, headers={"content-type": "application/json"})
    assert too_big_json.status_code == 413


def test_truncated_upload(server, client):
    content = (FIXTURES / "valid_service_records.csv").read_bytes()
    body, content_type = multipart("cut.csv", content)
    # 1. the client promises more bytes than it sends and goes away: the server notes it and frees the slot
    before = server.log_text().count("refused: request.incomplete")
    head = (f"POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body) + 5000}\r\n\r\n").encode()
    raw_http(server.port, head + body[: len(body) // 2], shutdown=True, read_timeout=3)
    deadline = time.monotonic() + 10
    while server.log_text().count("refused: request.incomplete") == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log_text().count("refused: request.incomplete") == before + 1
    server.wait_idle()
    # 2. the whole Content-Length arrives but the multipart body stops before its closing boundary
    cut = body[: len(body) - 40]
    response = client.post("/v1/validate", content=cut, headers={"content-type": content_type})
    assert response.status_code == 400 and error_of(response) == "request.incomplete"
    assert client.get("/healthz").json()["active"] == 0


def test_slow_upload_times_out(server):
    content = (FIXTURES / "valid_service_records.csv").read_bytes()
    body, content_type = multipart("slow.csv", content)
    head = (f"POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    started = time.monotonic()
    answer = raw_http(server.port, head + body[:100], read_timeout=10)  # then stall: read_timeout is 1 s
    status, doc = status_and_json(answer)
    assert status == 408 and doc["error"]["code"] == "request.timeout"
    assert 0.9 < time.monotonic() - started < 8
    server.wait_idle()


# ------------------------------------------------------------------------------------------------ limits


@pytest.fixture(scope="module")
def tight(tmp_path_factory) -> Iterator[LiveServer]:
    """One validation at a time, a short time limit, room for a big upload."""
    with live_server(tmp_path_factory.mktemp("tight"), reference_date=REF.isoformat(), max_concurrent=1,
                     time_limit=0.3, max_upload_bytes=80_000_000, read_timeout=10, retry_after=7,
                     slot_wait=0.3) as live:
        yield live


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    frame, _ = generator.generate("service_record", 200_000, seed=5, defects="all", defect_rate=0.2)
    return writer.write(frame, tmp_path_factory.mktemp("big") / "big.csv", "service_record", fmt="csv")


def _small_upload(server: LiveServer) -> httpx.Response:
    small = b"station_code,client_id,sex,birth_status,service_date,city_code\n110105001,110105199003070025,2,1,2023-04-19,110105\n"
    return httpx.post(f"{server.url}/v1/validate", files={"file": ("small.csv", small)}, timeout=30)


def _busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert error_of(response) == "request.busy"
    assert response.headers["retry-after"] == "7"


def test_a_slow_upload_holds_no_validation_slot(tight):
    """A body still arriving holds an upload place only: the one validation slot stays free for others."""
    body, content_type = multipart("held.csv", b"a,b\n" * 1000)
    head = (f"POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", tight.port)) as held:
        held.sendall(head + body[:200])
        deadline = time.monotonic() + 10
        while httpx.get(f"{tight.url}/healthz", timeout=5).json()["uploads"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert httpx.get(f"{tight.url}/healthz", timeout=5).json()["uploads"] == 1
        assert tight.active() == 0
        assert _small_upload(tight).status_code == 200
    tight.wait_idle()


def test_validation_over_the_time_limit_and_busy_meanwhile(tight, big_csv):
    results: dict[str, httpx.Response] = {}

    def send_big() -> None:
        with big_csv.open("rb") as fh:
            results["big"] = httpx.post(f"{tight.url}/v1/validate", files={"file": ("big.csv", fh)}, timeout=120)

    worker = threading.Thread(target=send_big)
    worker.start()
    deadline = time.monotonic() + 30
    while tight.active() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    _busy(_small_upload(tight))  # the big one is uploading or validating: not queued, refused at once
    worker.join(120)
    big = results["big"]
    assert big.status_code == 504 and error_of(big) == "request.timeout"
    tight.wait_idle(60)  # the slot is held until the abandoned validation really ends, then freed
    assert _small_upload(tight).status_code == 200
    assert "validation over the time limit" in tight.log_text()


# ------------------------------------------------------------------------------------------------ schemathesis


def test_schemathesis_finds_no_server_error(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks as openapi_checks

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = [not_a_server_error, openapi_checks.status_code_conformance, openapi_checks.content_type_conformance,
              openapi_checks.response_schema_conformance]
    failures, ran = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [schemathesis.GenerationMode.POSITIVE]
        if operation.definition.raw.get("parameters") or "requestBody" in operation.definition.raw:
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                nonlocal ran
                ran += 1
                case.call_and_validate(checks=checks)

            try:
                check()
            except Exception as exc:  # collect, so that one report names every failing operation
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:2000]}")
    assert ran >= 100
    assert not failures, "\n\n".join(failures)
    assert "internal error" not in server.log_text()


# ------------------------------------------------------------------------------------------------ the log


def test_log_holds_no_id_number(server, client, samples):
    """Upload files full of real ID numbers (also in the file name and query), then search the whole log."""
    ids: set[str] = set()
    for sample in ("csv-utf8", "csv-gb18030-office", "jsonl"):
        ids |= ids_in(samples[sample])
        for fmt in ("json", "csv"):
            assert upload(client, samples[sample], format=fmt).status_code == 200
    one = sorted(ids)[0]
    assert upload(client, samples["csv-utf8"], name=f"{one}.csv").status_code == 200
    assert upload(client, samples["csv-utf8"], kind=one).status_code == 400
    assert client.get(f"/v1/schemas/{one}").status_code == 404
    assert client.get(f"/{one}", params={"q": one}).status_code == 404
    records = [json.loads(line) for line in (FIXTURES / "service_records.jsonl").read_text("utf-8").splitlines()]
    assert client.post("/v1/validate", json=records).status_code == 200
    text = server.log_text()
    assert text.count("POST /v1/validate 200") >= 8 and "validated kind=service_record" in text
    assert "GET /v1/schemas/{name} 404" in text and "GET <unmatched> 404" in text
    found = set(ID18.findall(text)) | set(ID15.findall(text))
    assert not (found & ids), f"ID numbers in the log: {sorted(found & ids)[:3]}"
    assert one not in text
