"""The function instance: its forwarder, built by the first push, and each push counted from its arrival.

functions-framework serves `main.handle_pubsub` from a Flask app. Hooks on that app enter every
push into the batcher as its request begins, so a batch waits for pushes still being read (they
can still join it), not only for those already mapping.
"""

from __future__ import annotations

import gc
import sys
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Final

import flask

if TYPE_CHECKING:
    from lib.delivery.forwarder import Forwarder, Outcomes
    from lib.delivery.messages import Message

__all__ = ["Instance"]

# How long a request thread may hold the GIL while others wait (CPython's default is 5 ms). A
# push needs a few milliseconds of CPU before it delivers; in shorter turns, pushes that arrive
# together are read and mapped side by side and so can all join one batch, instead of each
# finding the others not yet started and sending alone.
_SWITCH_INTERVAL_SECONDS: Final = 0.001


class Instance:
    """The forwarder, built by the first push (nothing heavy happens at import time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.forwarder: Forwarder | None = None

    def install(self, app: flask.Flask) -> None:
        """Count each push from the start of its request, on the app that serves the function."""
        app.before_request(self._arrive)
        app.teardown_request(self._leave)

    def process(self, message: Message) -> Outcomes:
        """Handle one push's message (raises TransientError when it must be redelivered)."""
        return self._built().process(message, push=flask.g.get("push"))

    def _built(self) -> Forwarder:
        with self._lock:
            if self.forwarder is None:
                # Imported here: the mapping tables, phonenumbers and requests load on the first
                # push, which keeps `import main` (the instance's start) fast.
                from lib.delivery.forwarder import build_forwarder

                self.forwarder = build_forwarder()
                _settle()
            return self.forwarder

    def _arrive(self) -> None:
        forwarder = self.forwarder  # None until the first push built it
        if forwarder is not None and flask.request.method == "POST":
            stack = flask.g.arrival = ExitStack()
            flask.g.push = stack.enter_context(forwarder.batcher.push())

    @staticmethod
    def _leave(error: BaseException | None) -> None:
        del error
        stack = flask.g.pop("arrival", None)
        if stack is not None:
            stack.close()


def _settle() -> None:
    """Once the forwarder is built: tune the interpreter for many concurrent pushes."""
    # The modules and tables loaded so far live as long as the instance: the garbage collector's
    # full passes no longer scan them (freezing takes no time, unlike a collection before it).
    gc.freeze()
    sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)
