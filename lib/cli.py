"""Command line: `python -m lib.cli preview|publish|replay ...` (see the README)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, TextIO

from lib.commands.publish import InputError, message_for, publish, read_events
from lib.commands.replay import REASONS, format_report, replay
from lib.config import load_mapping_config
from lib.delivery.messages import parse_events
from lib.errors import ConfigError, InvalidEvent
from lib.mapping import map_events

__all__ = ["main"]

_EXIT_OK: Final = 0
_EXIT_NOT_ALL_SENT: Final = 1
_EXIT_USAGE: Final = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(_EXIT_USAGE)


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
        return _EXIT_USAGE
    except InvalidEvent as error:
        err.write(json.dumps({"reason": str(error.reason), "detail": error.detail}) + "\n")
        return _EXIT_USAGE
    now = time.time() if args.now is None else args.now
    mapped = map_events(events, config=config, now=now)
    out.write(
        json.dumps({"data": [m.event for m in mapped if m.event is not None]}, ensure_ascii=False) + "\n"
    )
    for m in mapped:
        if m.error is not None:
            line = {"index": m.index, "outcome": type(m.error).__name__, "reason": str(m.error.reason)}
            err.write(json.dumps({**line, "detail": m.error.detail}) + "\n")
    return _EXIT_OK if all(m.event is not None for m in mapped) else _EXIT_NOT_ALL_SENT


def _publish(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Publish one message per event; print each message id, and one JSON line on stderr per failure."""
    try:
        messages = [message_for(event) for event in read_events(_read_input(args.file))]
    except OSError as error:
        err.write(f"publish: cannot read input: {error.strerror}\n")
        return _EXIT_USAGE
    except InputError as error:
        err.write(f"publish: {error}\n")
        return _EXIT_USAGE
    results = publish(args.topic, messages)
    for result in results:
        if result.message_id:
            out.write(f"{result.message_id}\n")
        else:
            err.write(json.dumps({"index": result.index, "error": result.error}) + "\n")
    return _EXIT_OK if all(result.message_id for result in results) else _EXIT_NOT_ALL_SENT


def _replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Move parked messages back to the events topic; print the counts per reason."""
    report = replay(args.subscription, args.topic, reason=args.reason, limit=args.max, dry_run=args.dry_run)
    out.write(format_report(report))
    if report.error:
        err.write(f"replay: stopped: {report.error}\n")
        return _EXIT_USAGE
    return _EXIT_NOT_ALL_SENT if report.failed else _EXIT_OK


def _resource(kind: str) -> Callable[[str], str]:
    """An argparse type for `projects/P/<kind>/NAME`."""

    def check(value: str) -> str:
        if not re.fullmatch(rf"projects/[^/\s]+/{kind}/[^/\s]+", value):
            raise argparse.ArgumentTypeError(f"must look like projects/PROJECT/{kind}/NAME")
        return value

    return check


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    preview = commands.add_parser("preview", help="print the Pinterest request body for GA4 events")
    preview.add_argument(
        "file", help="a JSON file with a GA4 event object or an array of them, or - for stdin"
    )
    preview.add_argument("--now", type=float, help="the current time as Unix seconds (default: the clock)")
    preview.set_defaults(run=_preview)
    topic = {"required": True, "type": _resource("topics"), "metavar": "projects/P/topics/T"}
    command = commands.add_parser("publish", help="publish GA4 events to a topic, one message per event")
    command.add_argument("--topic", **topic, help="the topic to publish to")
    command.add_argument("file", help="a JSON object, an array of them, or JSON lines, or - for stdin")
    command.set_defaults(run=_publish)
    command = commands.add_parser("replay", help="move dead-lettered messages back to the events topic")
    command.add_argument(
        "--subscription",
        required=True,
        type=_resource("subscriptions"),
        metavar="projects/P/subscriptions/S",
        help="the dead-letter topic's pull subscription",
    )
    command.add_argument("--topic", **topic, help="the events topic to publish them to")
    command.add_argument("--reason", choices=REASONS, metavar="REASON", help="only those parked for REASON")
    command.add_argument("--max", type=_positive, metavar="N", help="replay at most N messages")
    command.add_argument("--dry-run", action="store_true", help="count only: publish and acknowledge nothing")
    command.set_defaults(run=_replay)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.run
    try:
        return run(args, out or sys.stdout, err or sys.stderr)
    except ConfigError as error:
        (err or sys.stderr).write(f"configuration error: {error}\n")
        return _EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
