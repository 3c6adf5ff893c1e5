"""How fast one core maps GA4 events, against a floor measured in the same run.

    python -m benchmarks.transform [--events N]

Prints events per second, best of five interleaved rounds, for the purchase fixture (JSON parse
+ map + JSON dump of the body), the floor (JSON parse + the same SHA-256 calls + JSON dump of the
result) and their ratio, and the time of `import main` (in a fresh interpreter, and once
functions-framework, which serves it, is loaded).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lib.mapping import MappingConfig, map_events

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_764_317_200


def _rate(work: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        work()
    return count / (time.perf_counter() - started)


def _best_rates(works: list[Callable[[], object]], count: int, rounds: int = 5) -> list[float]:
    """Events per second of each work, best of `rounds` interleaved rounds (this machine is noisy)."""
    for work in works:
        work()  # warm caches (pycountry, phonenumbers metadata), as a running instance has them
    best = [0.0] * len(works)
    for _ in range(rounds):
        best = [max(b, _rate(work, count // rounds)) for b, work in zip(best, works, strict=True)]
    return best


def _import_seconds(before: str) -> float:
    """Best of 5 fresh interpreters: seconds to `import main` after running `before`."""
    code = f"{before}; import time; t = time.perf_counter(); import main; print(time.perf_counter() - t)"
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        for _ in range(5)
    ]
    return min(float(run.stdout) for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    count = parser.parse_args().events
    raw = (ROOT / "tests" / "data" / "ga4" / "purchase.json").read_bytes()
    config = MappingConfig()

    def transform() -> str:
        [mapped] = map_events([json.loads(raw)], config=config, now=NOW)
        return json.dumps({"data": [mapped.event]})

    body = json.loads(transform())["data"][0]
    digests = [value for value in body["user_data"].values() if isinstance(value, list) for _ in value]
    normalised = [f"value-{i}" for i in range(len(digests))]

    def floor() -> str:
        event = json.loads(raw)
        hashed = [hashlib.sha256(text.encode()).hexdigest() for text in normalised]
        return json.dumps({"data": [{**event, "hashed": hashed}]})

    ours, baseline = _best_rates([transform, floor], count)
    print(f"events:            {count} x purchase fixture ({len(digests)} SHA-256 calls each)")
    print(f"transform:         {ours:,.0f} events/s ({1e6 / ours:.1f} µs/event)")
    print(f"floor:             {baseline:,.0f} events/s ({1e6 / baseline:.1f} µs/event)")
    print(f"ratio to floor:    {baseline / ours:.2f}x (aim: at most 3x)")
    print(
        f"import main:       {_import_seconds('pass') * 1000:.0f} ms in a fresh interpreter, "
        f"{_import_seconds('import functions_framework') * 1000:.0f} ms after functions-framework (the host)"
    )


if __name__ == "__main__":
    main()
