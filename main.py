"""Cloud Function entry point: `handle_pubsub` receives Pub/Sub pushes of GA4 events."""

from __future__ import annotations

import gc
import os
import sys
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Final

import flask
import functions_framework
from cloudevents.http import CloudEvent

from lib.delivery.messages import message_from_cloud_event
from lib.errors import ConfigError, TransientError
from lib.logs import log, set_trace

if TYPE_CHECKING:
    from lib.delivery.forwarder import Forwarder

# How long a request thread may hold the GIL while others wait (CPython's default is 5 ms). A
# push needs a few milliseconds of CPU before it delivers; in shorter turns, pushes that arrive
# together are read and mapped side by side and so can all join one batch, instead of each
# finding the others not yet started and sending alone.
_SWITCH_INTERVAL_SECONDS: Final = 0.001


class _Instance:
    """The forwarder, built by the first push (nothing heavy happens at import time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.forwarder: Forwarder | None = None

    def get(self) -> Forwarder:
        with self._lock:
            if self.forwarder is None:
                # Imported here: the mapping tables, phonenumbers and requests load on the first
                # push, which keeps `import main` (the instance's start) fast.
                from lib.delivery.forwarder import build_forwarder

                self.forwarder = build_forwarder()
                _settle()
            return self.forwarder


def _settle() -> None:
    """Once the forwarder is built: tune the interpreter for many concurrent pushes."""
    # The modules and tables loaded so far live as long as the instance: the garbage collector's
    # full passes no longer scan them (freezing takes no time, unlike a collection before it).
    gc.freeze()
    sys.setswitchinterval(_SWITCH_INTERVAL_SECONDS)


_instance = _Instance()


def _arrive() -> None:
    """From its first moment in the function, a push counts as one that can still join a batch."""
    forwarder = _instance.forwarder  # None until the first push built it
    if forwarder is not None and flask.request.method == "POST":
        stack = flask.g.arrival = ExitStack()
        flask.g.push = stack.enter_context(forwarder.batcher.push())


def _leave(error: BaseException | None) -> None:
    del error
    stack = flask.g.pop("arrival", None)
    if stack is not None:
        stack.close()


# functions-framework imports this module inside its app's context; a plain `import main` (a tool
# timing the import) has none, and no requests to count.
if flask.has_app_context():
    flask.current_app.before_request(_arrive)
    flask.current_app.teardown_request(_leave)


@functions_framework.cloud_event
def handle_pubsub(cloud_event: CloudEvent) -> None:
    """Map and forward the GA4 events of one push; raise TransientError to have it redelivered."""
    set_trace(flask.request.headers.get("X-Cloud-Trace-Context"), os.environ.get("GOOGLE_CLOUD_PROJECT"))
    _instance.get().process(message_from_cloud_event(cloud_event), push=flask.g.get("push"))


@functions_framework.errorhandler(TransientError)
def _redeliver(error: TransientError) -> tuple[str, int]:
    log("WARNING", "push not acknowledged; Pub/Sub will redeliver", detail=str(error))
    return "retry later", 503


@functions_framework.errorhandler(ConfigError)
def _misconfigured(error: ConfigError) -> tuple[str, int]:
    log("CRITICAL", "configuration error; fix the variable and redeploy", detail=str(error))
    return "misconfigured", 503
