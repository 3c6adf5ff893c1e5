"""Local plumbing shared by `make run`, the end-to-end tests and the benchmarks.

Starts the Pub/Sub emulator and the function (functions-framework) as child processes bound to
127.0.0.1, and talks to the emulator over its REST API. Everything started here is stopped by its
process group when the context manager exits.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import requests

__all__ = [
    "ROOT",
    "Emulator",
    "RunningFunction",
    "emulator_available",
    "free_port",
    "function_command",
    "run_emulator",
    "run_function",
]

ROOT: Final = Path(__file__).resolve().parents[1]
_READY_TIMEOUT_SECONDS: Final = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_available() -> str:
    """Why the Pub/Sub emulator cannot run here, or "" when it can."""
    if not shutil.which("gcloud"):
        return "the Google Cloud CLI (gcloud) is not installed"
    if not shutil.which("java"):
        return "Java, which the Pub/Sub emulator needs, is not installed"
    return ""


def _wait_until(ready: Any, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before it was ready")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready after {_READY_TIMEOUT_SECONDS:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with_group = os.getpgid(process.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def _child(
    command: list[str], env: Mapping[str, str], log_path: Path | None, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        _stop(process)
        if log_path:
            log.close()  # type: ignore[union-attr]


@dataclass(frozen=True)
class Emulator:
    """A running Pub/Sub emulator and the REST calls the harness needs."""

    host: str  # 127.0.0.1:PORT, the value of PUBSUB_EMULATOR_HOST
    project: str

    def _url(self, path: str) -> str:
        return f"http://{self.host}/v1/projects/{self.project}/{path}"

    def topic(self, name: str) -> str:
        """Create a topic; returns its full name."""
        requests.put(self._url(f"topics/{name}"), json={}, timeout=10).raise_for_status()
        return f"projects/{self.project}/topics/{name}"

    def subscription(self, name: str, topic: str, **settings: Any) -> str:
        """Create a subscription with REST settings (pushConfig, retryPolicy, deadLetterPolicy...)."""
        body = {"topic": topic, **settings}
        requests.put(self._url(f"subscriptions/{name}"), json=body, timeout=10).raise_for_status()
        return f"projects/{self.project}/subscriptions/{name}"

    def push_subscription(
        self, name: str, topic: str, endpoint: str, dead_letter_topic: str, max_attempts: int = 5
    ) -> str:
        """A push subscription with fast exponential backoff and a dead-letter policy."""
        return self.subscription(
            name,
            topic,
            pushConfig={"pushEndpoint": endpoint},
            ackDeadlineSeconds=60,
            retryPolicy={"minimumBackoff": "1s", "maximumBackoff": "3s"},
            deadLetterPolicy={"deadLetterTopic": dead_letter_topic, "maxDeliveryAttempts": max_attempts},
        )

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message; returns its message id."""
        message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
        if attributes:
            message["attributes"] = dict(attributes)
        response = requests.post(
            f"http://{self.host}/v1/{topic}:publish", json={"messages": [message]}, timeout=10
        )
        response.raise_for_status()
        return str(response.json()["messageIds"][0])

    def publish_json(self, topic: str, value: Any, attributes: Mapping[str, str] | None = None) -> str:
        return self.publish(topic, json.dumps(value).encode(), attributes)

    def pull(self, subscription: str, max_messages: int = 100) -> list[dict[str, Any]]:
        """Pull and acknowledge up to max_messages; returns them with data decoded."""
        response = requests.post(
            f"http://{self.host}/v1/{subscription}:pull",
            json={"maxMessages": max_messages, "returnImmediately": True},
            timeout=10,
        )
        response.raise_for_status()
        received = response.json().get("receivedMessages", [])
        if received:
            ack_ids = [r["ackId"] for r in received]
            requests.post(
                f"http://{self.host}/v1/{subscription}:acknowledge", json={"ackIds": ack_ids}, timeout=10
            ).raise_for_status()
        return [
            {
                "data": base64.b64decode(r["message"].get("data", "")),
                "attributes": r["message"].get("attributes", {}),
                "message_id": r["message"].get("messageId"),
            }
            for r in received
        ]


@contextmanager
def run_emulator(project: str = "local-test", log_path: Path | None = None) -> Iterator[Emulator]:
    """Start the Pub/Sub emulator on a free 127.0.0.1 port (about 10 s) and stop it after."""
    why_not = emulator_available()
    if why_not:
        raise RuntimeError(why_not)
    host = f"127.0.0.1:{free_port()}"
    command = [
        "gcloud",
        "beta",
        "emulators",
        "pubsub",
        "start",
        f"--project={project}",
        f"--host-port={host}",
    ]
    with _child(command, os.environ, log_path) as process:
        emulator = Emulator(host, project)
        _wait_until(
            lambda: requests.get(emulator._url("topics"), timeout=2).ok, "the Pub/Sub emulator", process
        )
        yield emulator


@dataclass(frozen=True)
class RunningFunction:
    """The function served by functions-framework: its base URL and process id."""

    url: str
    pid: int

    def peak_memory_kib(self) -> int:
        """Peak resident memory (VmHWM) of the function's process and its workers, in KiB."""
        return sum(_status_kib(pid, "VmHWM") for pid in self.pids())

    def worker_memory_kib(self) -> int:
        """Resident memory (VmRSS) now of the processes that serve requests (gunicorn's workers), in KiB."""
        return sum(_status_kib(pid, "VmRSS") for pid in _children(self.pid) or [self.pid])

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the function's process and its workers have used so far."""
        return sum(_cpu_ticks(pid) for pid in self.pids()) / os.sysconf("SC_CLK_TCK")

    def pids(self) -> list[int]:
        """The function's process and its workers."""
        return [self.pid, *_children(self.pid)]


def _status_kib(pid: int, key: str) -> int:
    status = Path(f"/proc/{pid}/status")
    lines = status.read_text().splitlines() if status.exists() else []
    return sum(int(line.split()[1]) for line in lines if line.startswith(f"{key}:"))


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0
    fields = stat.read_text().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    direct = [int(child) for child in path.read_text().split()] if path.exists() else []
    return [grandchild for child in direct for grandchild in (child, *_children(child))]


def function_command(source: Path, port: int) -> list[str]:
    """The command that serves `handle_pubsub` from `source` on 127.0.0.1:`port`, as the platform does."""
    return [
        sys.executable, "-m", "functions_framework",
        "--target", "handle_pubsub", "--source", str(source),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


@contextmanager
def run_function(
    env: Mapping[str, str],
    log_path: Path | None = None,
    threads: int | None = None,
    source: Path = ROOT / "main.py",
    port: int | None = None,
    *,
    root: Path = ROOT,
) -> Iterator[RunningFunction]:
    """Serve `handle_pubsub` from `source` (the product's main.py) with functions-framework.

    `port` (default: a free one) lets a caller point a push subscription at it before it starts;
    `root` is the checkout whose `lib` it imports (another one lets a benchmark compare versions).
    """
    port = port or free_port()
    child_env = {**os.environ, **env}
    if threads is not None:
        child_env["THREADS"] = str(threads)
    with _child(function_command(source, port), child_env, log_path, cwd=root) as process:
        url = f"http://127.0.0.1:{port}"
        _wait_until(
            lambda: requests.get(url, timeout=2).status_code in {400, 404, 405}, "the function", process
        )
        yield RunningFunction(url, process.pid)
