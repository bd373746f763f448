"""The upload service under slow clients, and its peak memory for the largest bodies it accepts.

    .venv/bin/python benchmarks/bench_service_hostile.py slow --slow 120 --addresses 2 --honest 40
    .venv/bin/python benchmarks/bench_service_hostile.py memory
    .venv/bin/python benchmarks/bench_service_hostile.py worst --mb 5

``slow``: starts ``python -m fpschema.service`` with its default settings on 127.0.0.1 and opens ``--slow``
connections from ``--addresses`` other loopback addresses (127.0.1.1, 127.0.1.2, …: the service sees them as
other clients), a third each idle, trickling a request head (one byte a second) and trickling an upload body
(16 bytes a second); each one reopens when the service cuts it. Meanwhile ``--honest`` uploads of a 2,000-row
CSV are sent from 127.0.0.1 by ``--clients`` threads; a 503 is retried after its Retry-After until a 60 s
deadline. Prints how many succeeded (at the first try and in the end) and their latency, the slowest
``/healthz`` answer and what the service refused.

``memory``: for each of the largest JSON list of records (just under ``max_json_bytes``, as JSON and as HTML
output) and the largest multipart CSV upload (just under ``max_upload_bytes``) starts a fresh service, sends
the body once and prints the service's peak resident memory (VmHWM) before and after, and the answer.
``worst``: the same with bodies made of findings (every cell of every row invalid).
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_service import free_port, memory  # noqa: E402
from fpschema.io import writer  # noqa: E402
from fpschema.service.settings import Settings  # noqa: E402
from fpschema.testdata import generator

DEADLINE = 60.0  # seconds an honest client keeps retrying a 503


def start(folder: Path, **settings: object) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPSCHEMA_")}
    env.update({f"FPSCHEMA_{k.upper()}": str(v) for k, v in settings.items()})
    env.update({"FPSCHEMA_LOG_FILE": str(folder / "service.log"), "FPSCHEMA_REFERENCE_DATE": "2024-06-30"})
    process = subprocess.Popen([sys.executable, "-m", "fpschema.service", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def csv_bytes(rows: int, folder: Path) -> bytes:
    frame, _ = generator.generate("service_record", rows, seed=11, defects="all", defect_rate=0.2)
    return writer.write(frame, folder / f"rows{rows}.csv", "service_record", fmt="csv").read_bytes()


# ------------------------------------------------------------------------------------------------ slow clients


def slow_client(port: int, source: str, mode: str, stop_event: threading.Event, cuts: Counter) -> None:
    head = b"POST /v1/validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    while not stop_event.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
        except OSError:
            time.sleep(0.5)
            continue
        with sock:
            try:
                if mode == "body":
                    sock.sendall(head + b"Content-Length: 1000000\r\n\r\n--b\r\nContent-Disposition: form-data; "
                                 b'name="file"; filename="x.csv"\r\n\r\n')
                while not stop_event.is_set():
                    if mode == "head":
                        sock.sendall(b"X")
                    elif mode == "body":
                        sock.sendall(b"a,b\n" * 4)
                    sock.settimeout(1.0)
                    try:
                        sock.recv(65536)  # any answer (408, 503) or a close: the service cut this one
                    except TimeoutError:
                        continue
                    cuts[mode] += 1
                    break
            except OSError:
                cuts[mode] += 1
        stop_event.wait(0.2)  # then come back


def honest(url: str, content: bytes, deadline: float) -> tuple[int, float, int]:
    started, tries = time.monotonic(), 0
    transport = httpx.HTTPTransport(local_address="127.0.0.1")
    with httpx.Client(transport=transport, timeout=60) as client:
        while True:
            tries += 1
            response = client.post(f"{url}/v1/validate", files={"file": ("honest.csv", content)})
            if response.status_code != 503 or time.monotonic() > deadline:
                return response.status_code, time.monotonic() - started, tries
            time.sleep(float(response.headers.get("retry-after", "1")))


def run_slow(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fpschema-slow-"))
    process, url = start(folder)
    port = int(url.rsplit(":", 1)[1])
    content = csv_bytes(2000, folder)
    stop_event = threading.Event()
    cuts: Counter = Counter()
    modes = ("idle", "head", "body")
    threads = [threading.Thread(target=slow_client, daemon=True,
                                args=(port, f"127.0.1.{1 + i % args.addresses}", modes[i % 3], stop_event, cuts))
               for i in range(args.slow)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    worst = [0.0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            started = time.monotonic()
            try:
                httpx.get(f"{url}/healthz", timeout=10)
                worst[0] = max(worst[0], time.monotonic() - started)
            except httpx.TransportError:
                worst[0] = float("inf")
            done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deadline = time.monotonic() + DEADLINE
    started = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        results = list(pool.map(lambda _: honest(url, content, deadline), range(args.honest)))
    elapsed = time.monotonic() - started
    done.set()
    stop_event.set()
    watcher.join()
    refused = Counter(line.rsplit(" ", 1)[-1] for line in (folder / "service.log").read_text().splitlines()
                      if " refused: " in line)
    stop(process)
    ok = [r for r in results if r[0] == 200]
    latencies = sorted(r[1] for r in ok)
    first = sum(1 for r in results if r[0] == 200 and r[2] == 1)
    print(f"service defaults; {args.slow} slow connections from {args.addresses} other addresses "
          f"(idle/head/body thirds), {args.honest} honest uploads of {len(content)} bytes from {args.clients} threads")
    print(f"honest: {len(ok)}/{args.honest} succeeded ({first} at the first try) in {elapsed:.1f} s; "
          f"statuses {dict(Counter(r[0] for r in results))}")
    if latencies:
        print(f"latency incl. retries: p50 {statistics.median(latencies):.2f} s, "
              f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s, max {latencies[-1]:.2f} s")
    print(f"slowest /healthz: {worst[0] * 1000:.0f} ms; slow clients cut: {dict(cuts)}; refusals: {dict(refused)}")


# ------------------------------------------------------------------------------------------------ memory


def run_memory(args: argparse.Namespace) -> None:
    defaults = Settings()
    folder = Path(tempfile.mkdtemp(prefix="fpschema-mem-"))
    rows = 300_000
    big_csv = csv_bytes(rows, folder)
    per_row = len(big_csv) / rows
    room = defaults.max_upload_bytes - 400  # the multipart envelope
    csv_body = big_csv[: big_csv.rfind(b"\n", 0, int(room)) + 1] if len(big_csv) > room else big_csv
    frame, _ = generator.generate("service_record", 60_000, seed=12, defects="all", defect_rate=0.2)
    records = [{k: (None if v is None else str(v)) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    json_body = b"["
    for record in records:
        piece = json.dumps(record, ensure_ascii=False).encode()
        if len(json_body) + len(piece) + 2 > defaults.max_json_bytes:
            break
        json_body += piece + b","
    json_body = json_body.rstrip(b",") + b"]"
    cases = [("JSON records -> json", json_body, "json", True), ("JSON records -> html", json_body, "html", True),
             ("multipart CSV -> json", csv_body, "json", False), ("multipart CSV -> html", csv_body, "html", False)]
    print(f"defaults: max_upload_bytes={defaults.max_upload_bytes} max_json_bytes={defaults.max_json_bytes} "
          f"max_findings={defaults.max_findings}; CSV {per_row:.0f} bytes a row")
    for label, body, fmt, is_json in cases:
        process, url = start(folder)
        before = memory(process.pid)
        started = time.monotonic()
        if is_json:
            response = httpx.post(f"{url}/v1/validate", content=body, params={"format": fmt, "kind": "service_record"},
                                  headers={"content-type": "application/json"}, timeout=300)
        else:
            response = httpx.post(f"{url}/v1/validate", params={"format": fmt},
                                  files={"file": ("big.csv", body)}, timeout=300)
        seconds = time.monotonic() - started
        after = memory(process.pid)
        stop(process)
        print(f"{label}: body {len(body) / 1e6:.1f} MB -> {response.status_code} "
              f"{response.headers.get('content-type', '')[:16]} {len(response.content) / 1e6:.1f} MB in {seconds:.1f} s; "
              f"peak RSS {before['VmHWM']:.0f} MB idle -> {after['VmHWM']:.0f} MB")


def run_worst(args: argparse.Namespace) -> None:
    """Bodies made of findings: every cell of every row invalid (``x``), the shortest rows that hold them,
    up to ``--mb`` megabytes (default: the largest body allowed), as CSV upload and as JSON records."""
    from fpschema import contract

    defaults = Settings()
    folder = Path(tempfile.mkdtemp(prefix="fpschema-worst-"))
    names = [f.name for f in contract.fields("service_record")]
    row = (",".join("x" for _ in names) + "\n").encode()
    csv_limit = min(int(args.mb * 1e6) if args.mb else defaults.max_upload_bytes, defaults.max_upload_bytes) - 2000
    rows = min((csv_limit - 300) // len(row), defaults.max_rows)
    csv_body = (",".join(names) + "\n").encode() + row * rows
    record = json.dumps(dict.fromkeys(names, "x"), separators=(",", ":")).encode()
    json_limit = min(int(args.mb * 1e6) if args.mb else defaults.max_json_bytes, defaults.max_json_bytes) - 10
    json_body = b"[" + b",".join([record] * (json_limit // (len(record) + 1))) + b"]"
    for label, body, fmt, is_json in [("worst CSV -> json", csv_body, "json", False),
                                      ("worst CSV -> html", csv_body, "html", False),
                                      ("worst JSON -> json", json_body, "json", True),
                                      ("worst JSON -> html", json_body, "html", True)]:
        process, url = start(folder, time_limit=600)
        before = memory(process.pid)
        started = time.monotonic()
        if is_json:
            response = httpx.post(f"{url}/v1/validate", content=body, params={"format": fmt, "kind": "service_record"},
                                  headers={"content-type": "application/json"}, timeout=700)
        else:
            response = httpx.post(f"{url}/v1/validate", params={"format": fmt, "kind": "service_record"},
                                  files={"file": ("worst.csv", body)}, timeout=700)
        seconds = time.monotonic() - started
        after = memory(process.pid)
        stop(process)
        total = ""
        if fmt == "json" and response.status_code == 200:
            doc = response.json()
            total = f", {sum(doc['counts']['by_severity'].values())} findings ({len(doc['findings'])} listed)"
        print(f"{label}: body {len(body) / 1e6:.1f} MB -> {response.status_code} "
              f"{len(response.content) / 1e6:.1f} MB in {seconds:.1f} s{total}; "
              f"peak RSS {before['VmHWM']:.0f} MB idle -> {after['VmHWM']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    slow = sub.add_parser("slow")
    slow.add_argument("--slow", type=int, default=120)
    slow.add_argument("--addresses", type=int, default=2)
    slow.add_argument("--honest", type=int, default=40)
    slow.add_argument("--clients", type=int, default=8)
    sub.add_parser("memory")
    worst = sub.add_parser("worst")
    worst.add_argument("--mb", type=float, default=0, help="body size in MB (default: the largest allowed)")
    args = parser.parse_args()
    {"slow": run_slow, "memory": run_memory, "worst": run_worst}[args.mode](args)


if __name__ == "__main__":
    main()
