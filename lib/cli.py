"""Command line: `python -m lib.cli preview|publish|replay|report ...` (see the README)."""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TextIO

from lib.commands import report
from lib.commands.publish import InputError, message_for, read_events
from lib.commands.replay import REASONS, format_report, replay
from lib.config import load_mapping_config
from lib.delivery.messages import parse_events
from lib.delivery.publishing import new_publisher, publish_all
from lib.errors import ConfigError, InvalidEvent, Reason
from lib.mapping import map_events

__all__ = ["main"]

_EXIT_OK: Final = 0
_EXIT_NOT_ALL_SENT: Final = 1
_EXIT_USAGE: Final = 2
_REPLAY_WAIT_SECONDS: Final[float] = inspect.signature(replay).parameters["wait"].default
# What to do about a reason `preview` reports, where the fix is not obvious from the reason.
_HINTS: Final[Mapping[str, str]] = {
    Reason.EVENT_TOO_OLD: "pass --now with a Unix time near the event's, or raise MAX_EVENT_AGE_DAYS",
    Reason.EVENT_IN_FUTURE: "pass --now with a Unix time near the event's",
    Reason.NO_MATCH_KEY: "send user_data.email_address, or ip_override with user_agent",
}
_NO_CREDENTIALS: Final = (
    "no Google credentials found: run `gcloud auth application-default login`, "
    "or set PUBSUB_EMULATOR_HOST to use the Pub/Sub emulator"
)
_Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


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


def _shown(path: str) -> str:
    return "standard input" if path == "-" else path


def _unreadable(command: str, path: str, error: OSError) -> str:
    return f"{command}: cannot read {_shown(path)}: {error.strerror}\n"


def _needs_credentials(run: _Command) -> _Command:
    """publish and replay: missing Google credentials are one line and exit 2, not a traceback."""

    @functools.wraps(run)
    def guarded(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return run(args, out, err)
        except DefaultCredentialsError:
            err.write(f"{args.command}: {_NO_CREDENTIALS}\n")
            return _EXIT_USAGE

    return guarded


def _preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the body that would be sent; one JSON line on stderr per event left out."""
    config = load_mapping_config()
    try:
        events = parse_events(_read_input(args.file), config.max_message_bytes)
    except OSError as error:
        err.write(_unreadable("preview", args.file, error))
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
            hint = {"hint": _HINTS[m.error.reason]} if m.error.reason in _HINTS else {}
            err.write(json.dumps({**line, "detail": m.error.detail, **hint}) + "\n")
    return _EXIT_OK if all(m.event is not None for m in mapped) else _EXIT_NOT_ALL_SENT


@_needs_credentials
def _publish(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Publish one message per event; print each message id, and one JSON line on stderr per failure."""
    try:
        messages = [message_for(event) for event in read_events(_read_input(args.file))]
    except OSError as error:
        err.write(_unreadable("publish", args.file, error))
        return _EXIT_USAGE
    except InputError as error:
        err.write(f"publish: {error}\n")
        return _EXIT_USAGE
    results = publish_all(new_publisher(), args.topic, messages)
    for result in results:
        if result.message_id:
            out.write(f"{result.message_id}\n")
        else:
            err.write(json.dumps({"index": result.index, "error": result.error}) + "\n")
    return _EXIT_OK if all(result.message_id for result in results) else _EXIT_NOT_ALL_SENT


@_needs_credentials
def _replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Move parked messages back to the events topic; print the counts per reason."""
    done = replay(
        args.subscription,
        args.topic,
        reason=args.reason,
        limit=args.max,
        dry_run=args.dry_run,
        wait=args.wait,
    )
    out.write(format_report(done))
    if done.error:
        err.write(f"replay: stopped: {done.error}\n")
        return _EXIT_USAGE
    return _EXIT_NOT_ALL_SENT if done.failed else _EXIT_OK


def _report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the match-quality report of the function's log lines in every input.

    Exit status 1 when an input holds none of them (the report of the others is still printed).
    """
    lines: list[report.Line] = []
    status = _EXIT_OK
    for number, path in enumerate(args.files):
        try:
            found = report.parse(_read_input(path).decode("utf-8", "replace"), source=number)
        except OSError as error:
            err.write(_unreadable("report", path, error))
            return _EXIT_USAGE
        if not found:
            err.write(f"report: {_shown(path)} holds none of the function's log lines\n")
            status = _EXIT_NOT_ALL_SENT
        lines += found
    if lines:
        built = report.build(lines)
        out.write(json.dumps(report.to_json(built)) + "\n" if args.json else report.format_text(built))
    return status


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


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return seconds


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
    command.add_argument(
        "--wait",
        type=_seconds,
        default=_REPLAY_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"stop when no message came for SECONDS (default {_REPLAY_WAIT_SECONDS:g})",
    )
    command.set_defaults(run=_replay)
    command = commands.add_parser("report", help="match quality per event name, from the function's logs")
    command.add_argument(
        "files",
        nargs="*",
        default=["-"],
        metavar="FILE",
        help="log lines as the function writes them, or a `gcloud logging read --format=json` export; "
        "- (the default) for stdin",
    )
    command.add_argument("--json", action="store_true", help="print the report as one JSON object")
    command.set_defaults(run=_report)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    run: _Command = args.run
    try:
        return run(args, out or sys.stdout, err or sys.stderr)
    except ConfigError as error:
        (err or sys.stderr).write(f"configuration error: {error}\n")
        return _EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
