"""Pushes per second through functions-framework, three ways, against a Pinterest stand-in.

    python -m benchmarks.e2e [--pushes 2000] [--concurrency 64] [--latency-ms 50]

Sends N single-event Pub/Sub push requests at concurrency C (all on 127.0.0.1) to:
  1. a function that does nothing (the ceiling of this machine and functions-framework),
  2. our function with batching off (BATCH_WINDOW_MS=0: one Pinterest request per push),
  3. our function with the default batching settings,
and prints for each: pushes (= events) per second, Pinterest requests per 1,000 events, p50 and
p99 push latency, and the function's peak memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from dev.harness import ROOT, free_port, run_function

TOKEN = "bench-token"
NOOP_SOURCE = Path(__file__).with_name("noop_function.py")


@dataclass(frozen=True)
class Result:
    name: str
    pushes_per_second: float
    requests_per_1000: float | None
    p50_ms: float
    p99_ms: float
    peak_memory_mib: float
    failures: int


@contextmanager
def standin(latency_ms: float) -> Iterator[str]:
    """The Pinterest stand-in in its own process (so it doesn't share our GIL); yields its base URL."""
    command = [sys.executable, "-m", "dev.pinterest_standin", "--port", str(free_port()), "--token", TOKEN]
    process = subprocess.Popen(
        [*command, "--latency-ms", str(latency_ms)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _bodies(count: int) -> list[bytes]:
    event = json.loads((ROOT / "tests" / "data" / "ga4" / "purchase.json").read_text())
    event["x-sst-system_properties"]["request_start_time_ms"] = int(time.time() * 1000)
    data = base64.b64encode(json.dumps(event).encode()).decode()
    return [
        json.dumps(
            {
                "message": {"data": data, "messageId": f"bench-{n}"},
                "subscription": "projects/b/subscriptions/s",
            }
        ).encode()
        for n in range(count)
    ]


def _load(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """Send every body with `concurrency` workers; returns seconds, latencies, failures."""
    local = threading.local()
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    address = urlsplit(url)

    def send(body: bytes) -> None:
        # http.client, not requests: a lighter client leaves more of this machine to the server.
        nonlocal failures
        connection = getattr(local, "connection", None) or HTTPConnection(
            address.hostname, address.port, timeout=60
        )
        local.connection = connection
        started = time.perf_counter()
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            failures += response.status != 200

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, bodies))
    return time.perf_counter() - started, latencies, failures


def _run(name: str, env: Mapping[str, str], source: Path, args: argparse.Namespace, base_url: str) -> Result:
    bodies = _bodies(args.pushes)
    with (
        tempfile.TemporaryDirectory() as logs,  # the function logs as deployed (LOG_MODE=console)
        run_function(
            env, log_path=Path(logs) / "function.log", threads=args.concurrency, source=source
        ) as function,
    ):
        _load(function.url, bodies[: args.concurrency], args.concurrency)  # warm up the instance
        requests.post(f"{base_url.removesuffix('/v5')}/_standin/reset", timeout=10)
        seconds, latencies, failures = _load(function.url, bodies, args.concurrency)
        memory = function.peak_memory_kib() / 1024
    records = requests.get(f"{base_url.removesuffix('/v5')}/_standin/requests", timeout=30).json()
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(
        name=name,
        pushes_per_second=len(bodies) / seconds,
        requests_per_1000=len(records) / len(bodies) * 1000 if source != NOOP_SOURCE else None,
        p50_ms=quantiles[49] * 1000,
        p99_ms=quantiles[98] * 1000,
        peak_memory_mib=memory,
        failures=failures,
    )


def _print(results: list[Result], args: argparse.Namespace) -> None:
    ceiling = results[0].pushes_per_second
    print(
        f"{args.pushes} pushes of one event, concurrency {args.concurrency}, stand-in +{args.latency_ms:g} ms"
    )
    columns = ("events/s", "% ceiling", "req/1000 ev", "p50 ms", "p99 ms", "peak MiB")
    print(f"{'':24} " + " ".join(f"{c:>11}" for c in columns))
    for r in results:
        per_1000 = "-" if r.requests_per_1000 is None else f"{r.requests_per_1000:.1f}"
        print(
            f"{r.name:24} {r.pushes_per_second:11.0f} {r.pushes_per_second / ceiling:11.0%} {per_1000:>11} "
            f"{r.p50_ms:11.1f} {r.p99_ms:11.1f} {r.peak_memory_mib:11.1f}"
            + (f"  {r.failures} failed" if r.failures else "")
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    with standin(args.latency_ms) as base_url:
        ours: dict[str, Any] = {
            "PINTEREST_AD_ACCOUNT_ID": "549000000000",
            "PINTEREST_ACCESS_TOKEN": TOKEN,
            "PINTEREST_API_BASE_URL": base_url,
        }
        results = [
            _run("do-nothing function", {}, NOOP_SOURCE, args, base_url),
            _run("ours, batching off", {**ours, "BATCH_WINDOW_MS": "0"}, ROOT / "main.py", args, base_url),
            _run("ours, defaults", ours, ROOT / "main.py", args, base_url),
        ]
    _print(results, args)
    return 0 if not any(r.failures for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
