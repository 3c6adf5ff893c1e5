"""Cold start: process start -> first push answered, our function vs a function that does nothing.

    python -m benchmarks.coldstart [--starts 7] [--threads 80] [--baseline DIR]

Starts functions-framework afresh each time (alternating ours and the do-nothing function), sends
one single-event push the moment its port accepts a connection (Cloud Run holds the first request
until the port opens, then sends it) and stops the clock when the answer arrives. Ours delivers
that push to a Pinterest stand-in that answers at once. Prints the median (and range) of the
starts, for the first push answered and for the port opening, and ours minus the floor.
`--baseline DIR` starts the function of another checkout too, in the same alternation.

Bytecode is compiled first, as the deployed function's build does (its buildpack runs
`compileall`): each function starts once unmeasured with a private bytecode cache, which the
measured starts then read.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Final

from benchmarks.e2e import NOOP_SOURCE, TOKEN, push_bodies, standin
from dev.harness import ROOT, free_port, function_command

_POLL_SECONDS: Final = 0.001
_GIVE_UP_SECONDS: Final = 60.0


@dataclass(frozen=True)
class Start:
    """One start: seconds from the process's start until its port opened and its first push was answered."""

    port_open: float
    answered: float
    status: int


def _connect(port: int, process: subprocess.Popen[bytes]) -> HTTPConnection:
    deadline = time.monotonic() + _GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the function exited with status {process.returncode} before it listened")
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=_GIVE_UP_SECONDS)
        except OSError:
            time.sleep(_POLL_SECONDS)
            continue
        connection = HTTPConnection("127.0.0.1", port, timeout=_GIVE_UP_SECONDS)
        connection.sock = sock
        return connection
    raise RuntimeError(f"the function did not listen within {_GIVE_UP_SECONDS:.0f} s")


def _start_once(source: Path, root: Path, env: Mapping[str, str], body: bytes) -> Start:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        function_command(source, port),
        cwd=root,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        connection = _connect(port, process)
        port_open = time.perf_counter() - started
        connection.request("POST", "/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        answered = time.perf_counter() - started
        connection.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return Start(port_open, answered, response.status)


def _environment(base_url: str, cache: str, threads: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPYCACHEPREFIX": cache,
        "THREADS": str(threads),
        "PINTEREST_AD_ACCOUNT_ID": "549000000000",
        "PINTEREST_ACCESS_TOKEN": TOKEN,
        "PINTEREST_API_BASE_URL": base_url,
    }


def _span(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=7, help="measured starts of each function")
    parser.add_argument("--threads", type=int, default=80, help="THREADS of functions-framework, as deployed")
    parser.add_argument("--baseline", help="another checkout whose function is started in the same rounds")
    args = parser.parse_args()
    functions = {"do-nothing function": (NOOP_SOURCE, ROOT), "ours": (ROOT / "main.py", ROOT)}
    if args.baseline:
        baseline = Path(args.baseline).resolve()
        functions["baseline"] = (baseline / "main.py", baseline)
    body = push_bodies(1)[0]
    starts: dict[str, list[Start]] = {name: [] for name in functions}
    with standin(0) as base_url, tempfile.TemporaryDirectory() as cache:
        env = _environment(base_url, cache, args.threads)
        for source, root in functions.values():
            _start_once(source, root, env, body)  # fills the bytecode cache
        for _ in range(args.starts):
            for name, (source, root) in functions.items():
                starts[name].append(_start_once(source, root, env, body))
    print(f"process start -> first push answered, median (range) of {args.starts} starts")
    for name, runs in starts.items():
        failed = sum(run.status != 200 for run in runs)
        answered, port_open = _span([r.answered for r in runs]), _span([r.port_open for r in runs])
        print(
            f"  {name:20} answered {answered}   port open {port_open}"
            + (f"   {failed} answered non-200" if failed else "")
        )
    floor, *others = (statistics.median(r.answered for r in runs) for runs in starts.values())
    for name, answered in zip(list(starts)[1:], others, strict=True):
        print(f"  {name} - floor: {(answered - floor) * 1000:+.0f} ms")
    return 0 if all(run.status == 200 for runs in starts.values() for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
