"""Command line: `python -m lib.cli preview|publish|replay ...` (see the README)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from lib.config import load_mapping_config
from lib.errors import ConfigError, InvalidEvent
from lib.mapping import map_events
from lib.pubsub import parse_events

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_NOT_ALL_SENT: Final = 1
EXIT_USAGE: Final = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the body that would be sent; one JSON line on stderr per event left out."""
    config = load_mapping_config()
    try:
        events = parse_events(_read_input(args.file), config.max_message_bytes)
    except OSError as error:
        err.write(f"preview: cannot read input: {error.strerror}\n")
        return EXIT_USAGE
    except InvalidEvent as error:
        err.write(json.dumps({"reason": str(error.reason), "detail": error.detail}) + "\n")
        return EXIT_USAGE
    now = time.time() if args.now is None else args.now
    mapped = map_events(events, message_id=args.message_id, config=config, now=now)
    out.write(
        json.dumps({"data": [m.event for m in mapped if m.event is not None]}, ensure_ascii=False) + "\n"
    )
    for m in mapped:
        if m.error is not None:
            line = {"index": m.index, "outcome": type(m.error).__name__, "reason": str(m.error.reason)}
            err.write(json.dumps({**line, "detail": m.error.detail}) + "\n")
    return EXIT_OK if all(m.event is not None for m in mapped) else EXIT_NOT_ALL_SENT


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    preview = commands.add_parser("preview", help="print the Pinterest request body for GA4 events")
    preview.add_argument(
        "file", help="a JSON file with a GA4 event object or an array of them, or - for stdin"
    )
    preview.add_argument("--now", type=float, help="the current time as Unix seconds (default: the clock)")
    preview.add_argument("--message-id", default="preview", help="the message id event_ids derive from")
    preview.set_defaults(run=_preview)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, out or sys.stdout, err or sys.stderr)
    except ConfigError as error:
        (err or sys.stderr).write(f"configuration error: {error}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
