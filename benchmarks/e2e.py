"""The function under load through functions-framework, against a Pinterest stand-in, vs a floor.

    python -m benchmarks.e2e [--pushes 2000] [--concurrency 64] [--light-pushes 600]
        [--light-concurrency 16] [--latency-ms 50] [--threads 80] [--rounds 3] [--baseline DIR]

Sends single-event Pub/Sub push requests (all on 127.0.0.1) to:
  1. a function that does nothing (the floor of this machine and functions-framework),
  2. our function with batching off (BATCH_WINDOW_MS=0: one Pinterest request per push),
  3. our function with the default batching settings,
in interleaved rounds (each round starts every function afresh, in a rotated order, so drift in
the machine's load falls on all of them alike). Under load (`--pushes` at `--concurrency`) it
prints, per function: pushes (= events) per second, Pinterest calls per 1,000 events, p50 and p99
push latency, CPU per push (user + system of the function's processes from /proc, load phase
only, the lowest of the rounds) and the worker's resident memory after the load. At light load
(`--light-pushes` at `--light-concurrency`) it prints the p50 latency with batching off and on,
and what batching adds (the median of the rounds' differences). `--baseline DIR` measures the
function of another checkout (e.g. `git worktree add /tmp/base HEAD~1`) in the same rounds.
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
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import requests

from dev.harness import ROOT, free_port, run_function

TOKEN: Final = "bench-token"
NOOP_SOURCE: Final = Path(__file__).with_name("noop_function.py")
FLOOR: Final = "do-nothing function"
OFF: Final = "batching off"
ON: Final = "defaults"


@dataclass(frozen=True)
class Setup:
    """One function to measure: its name, environment and source (and the checkout it runs from)."""

    name: str
    env: Mapping[str, str]
    source: Path = ROOT / "main.py"
    root: Path = ROOT

    @property
    def calls_pinterest(self) -> bool:
        return self.source != NOOP_SOURCE


@dataclass(frozen=True)
class Run:
    """One load against one freshly started function."""

    pushes_per_second: float
    calls_per_1000: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_push: float
    worker_mib: float
    failures: int


@dataclass
class Rounds:
    """Every round's run of each setup, by setup name."""

    heavy: dict[str, list[Run]] = field(default_factory=lambda: defaultdict(list))
    light: dict[str, list[Run]] = field(default_factory=lambda: defaultdict(list))

    def failures(self) -> int:
        return sum(run.failures for runs in (*self.heavy.values(), *self.light.values()) for run in runs)


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


def push_bodies(count: int) -> list[bytes]:
    """`count` Pub/Sub push requests, each of one purchase event (fresh times, distinct message ids)."""
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


def _load(url: str, bodies: Sequence[bytes], concurrency: int) -> tuple[float, list[float], int]:
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


def _run(setup: Setup, pushes: int, concurrency: int, args: argparse.Namespace, base_url: str) -> Run:
    bodies = push_bodies(pushes)
    standin_url = base_url.removesuffix("/v5")
    with (
        tempfile.TemporaryDirectory() as logs,  # the function logs as deployed (LOG_MODE=console)
        run_function(
            setup.env,
            log_path=Path(logs) / "function.log",
            threads=args.threads,
            source=setup.source,
            root=setup.root,
        ) as function,
    ):
        _load(function.url, bodies[:concurrency], concurrency)  # warm up the instance
        requests.post(f"{standin_url}/_standin/reset", timeout=10)
        cpu_before = function.cpu_seconds()
        seconds, latencies, failures = _load(function.url, bodies, concurrency)
        cpu = function.cpu_seconds() - cpu_before
        memory = function.worker_memory_kib() / 1024
    calls = len(requests.get(f"{standin_url}/_standin/requests", timeout=30).json())
    quantiles = statistics.quantiles(latencies, n=100)
    return Run(
        pushes_per_second=pushes / seconds,
        calls_per_1000=calls / pushes * 1000,
        p50_ms=quantiles[49] * 1000,
        p99_ms=quantiles[98] * 1000,
        cpu_ms_per_push=cpu / pushes * 1000,
        worker_mib=memory,
        failures=failures,
    )


def _setups(args: argparse.Namespace, base_url: str) -> list[Setup]:
    ours = {
        "PINTEREST_AD_ACCOUNT_ID": "549000000000",
        "PINTEREST_ACCESS_TOKEN": TOKEN,
        "PINTEREST_API_BASE_URL": base_url,
    }
    off = {**ours, "BATCH_WINDOW_MS": "0"}
    setups = [Setup(FLOOR, {}, NOOP_SOURCE), Setup(OFF, off), Setup(ON, ours)]
    if args.baseline:
        root = Path(args.baseline).resolve()
        setups += [
            Setup(f"baseline {name}", env, root / "main.py", root) for name, env in ((OFF, off), (ON, ours))
        ]
    return setups


def _measure(args: argparse.Namespace, base_url: str) -> Rounds:
    setups = _setups(args, base_url)
    rounds = Rounds()
    for number in range(args.rounds):
        shift = number % len(setups)
        for setup in setups[shift:] + setups[:shift]:
            rounds.heavy[setup.name].append(_run(setup, args.pushes, args.concurrency, args, base_url))
            if setup.calls_pinterest:
                light = _run(setup, args.light_pushes, args.light_concurrency, args, base_url)
                rounds.light[setup.name].append(light)
            print(f"round {number + 1}/{args.rounds}: {setup.name} measured", file=sys.stderr, flush=True)
    return rounds


def _span(values: Sequence[float], digits: int = 1) -> str:
    low, high = min(values), max(values)
    return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def _print(rounds: Rounds, args: argparse.Namespace) -> None:
    print(
        f"{args.pushes} pushes of one event at concurrency {args.concurrency}, THREADS {args.threads}, "
        f"stand-in +{args.latency_ms:g} ms, {args.rounds} interleaved round(s); "
        "median (range) of the rounds, CPU the lowest"
    )
    floor_cpu = min(run.cpu_ms_per_push for run in rounds.heavy[FLOOR])
    columns = ("events/s", "calls/1000 ev", "p50 ms", "p99 ms", "CPU ms/push", "x floor", "worker MiB")
    print(f"{'':26}" + "".join(f"{c:>22}" for c in columns))
    for name, runs in rounds.heavy.items():
        cpu = min(run.cpu_ms_per_push for run in runs)
        calls = _span([r.calls_per_1000 for r in runs]) if name != FLOOR else "-"
        cells = (
            _span([r.pushes_per_second for r in runs], 0),
            calls,
            _span([r.p50_ms for r in runs]),
            _span([r.p99_ms for r in runs]),
            f"{cpu:.3f}",
            f"{cpu / floor_cpu:.2f}",
            _span([r.worker_mib for r in runs]),
        )
        print(f"{name:26}" + "".join(f"{c:>22}" for c in cells))
    print(f"light load: {args.light_pushes} pushes at concurrency {args.light_concurrency}")
    for prefix in sorted({name.removesuffix(OFF).removesuffix(ON) for name in rounds.light}):
        off, on = rounds.light[prefix + OFF], rounds.light[prefix + ON]
        added = [b.p50_ms - a.p50_ms for a, b in zip(off, on, strict=True)]
        print(
            f"  {prefix or 'ours, '}p50 batching off {_span([r.p50_ms for r in off])} ms, "
            f"on {_span([r.p50_ms for r in on])} ms: batching adds {_span(added)} ms; "
            f"calls/1000 ev on {_span([r.calls_per_1000 for r in on])}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--light-pushes", type=int, default=600)
    parser.add_argument("--light-concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--threads", type=int, default=80, help="THREADS of functions-framework, as deployed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout whose function is measured in the same rounds")
    args = parser.parse_args()
    with standin(args.latency_ms) as base_url:
        rounds = _measure(args, base_url)
    _print(rounds, args)
    failures = rounds.failures()
    if failures:
        print(f"{failures} push(es) failed", file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
