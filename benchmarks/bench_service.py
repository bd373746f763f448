"""Load the upload service on loopback: many uploads of one generated CSV from concurrent clients.

    .venv/bin/python benchmarks/bench_service.py                       # 500 uploads, 16 clients, 2,000 rows
    .venv/bin/python benchmarks/bench_service.py --uploads 1000 --rows 10000 --clients 8

Starts ``python -m fpschema.service`` in a subprocess on a free 127.0.0.1 port with max_concurrent equal to
the number of clients (so no upload is refused with 503: every non-200 answer counts as a failure), sends
the uploads from a thread per client (httpx), and prints throughput, p50/p95/max latency, failures and the
server's resident memory (VmRSS) and peak (VmHWM) from /proc/<pid>/status after the first and the last
uploads, to show that memory stays flat. Not a test: figures depend on the machine. Needs the service extra
and httpx.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, folder: Path, max_concurrent: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FPSCHEMA_")}
    env.update({"FPSCHEMA_MAX_CONCURRENT": str(max_concurrent), "FPSCHEMA_LOG_FILE": str(folder / "service.log"),
                "FPSCHEMA_REFERENCE_DATE": "2024-06-30"})
    process = subprocess.Popen([sys.executable, "-m", "fpschema.service", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited at start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--checkpoint", type=int, default=100, help="uploads between memory readings")
    args = parser.parse_args()

    from fpschema.io import writer
    from fpschema.testdata import generator

    folder = Path(tempfile.mkdtemp(prefix="fpschema-bench-service-"))
    frame, _ = generator.generate("service_record", args.rows, seed=7, defects="all", defect_rate=0.05)
    path = writer.write(frame, folder / "services.csv", "service_record", fmt="csv")
    payload = path.read_bytes()
    port = free_port()
    server = start_server(port, folder, args.clients)
    url = f"http://127.0.0.1:{port}/v1/validate"

    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    readings: list[tuple[int, dict[str, float]]] = [(0, memory(server.pid))]
    issued = 0

    def client() -> None:
        nonlocal issued
        with httpx.Client(timeout=300) as http:
            while True:
                with lock:
                    if issued >= args.uploads:
                        return
                    issued += 1
                started = time.perf_counter()
                try:
                    response = http.post(url, files={"file": ("services.csv", payload)})
                    ok = response.status_code == 200 and response.json()["rows_total"] == args.rows
                    problem = None if ok else f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        failures.append(problem)
                    done = len(latencies)
                    if done % args.checkpoint == 0 or done == args.uploads:
                        readings.append((done, memory(server.pid)))

    try:
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)

    cuts = statistics.quantiles(latencies, n=100)
    print(f"fpschema serve: {args.uploads} uploads of {args.rows:,} rows ({len(payload) / 1024:.0f} KB CSV), "
          f"{args.clients} concurrent clients, max_concurrent={args.clients}, loopback, {os.cpu_count()} CPUs")
    print(f"  wall {wall:.1f} s · throughput {args.uploads / wall:.1f} uploads/s "
          f"({args.uploads * args.rows / wall:,.0f} rows/s)")
    print(f"  latency p50 {cuts[49] * 1000:.0f} ms · p95 {cuts[94] * 1000:.0f} ms · max {max(latencies) * 1000:.0f} ms")
    print(f"  failed requests: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
    print("  server memory (MB) after N uploads:")
    for done, mem in readings:
        print(f"    {done:>5}: VmRSS {mem['VmRSS']:7.1f}  VmHWM {mem['VmHWM']:7.1f}")
    first = next(m for d, m in readings if d >= args.checkpoint)
    last = readings[-1][1]
    print(f"  RSS growth from upload {args.checkpoint} to {args.uploads}: {last['VmRSS'] - first['VmRSS']:+.1f} MB; "
          f"peak growth: {last['VmHWM'] - first['VmHWM']:+.1f} MB")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
