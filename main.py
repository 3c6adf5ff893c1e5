"""Cloud Function entry point: `handle_pubsub` receives Pub/Sub pushes of GA4 events."""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING

import flask
import functions_framework
from cloudevents.http import CloudEvent

from lib.delivery.messages import message_from_cloud_event
from lib.errors import ConfigError, TransientError
from lib.logs import log, set_trace

if TYPE_CHECKING:
    from lib.delivery.forwarder import Forwarder

_lock = threading.Lock()


@functools.cache
def _build() -> Forwarder:
    # Imported here: the mapping tables, phonenumbers and requests load on the first push,
    # which keeps `import main` (the instance's start) fast.
    from lib.delivery.forwarder import build_forwarder

    return build_forwarder()


def _instance() -> Forwarder:
    """The forwarder, built on the first push (nothing heavy happens at import time)."""
    with _lock:
        return _build()


@functions_framework.cloud_event
def handle_pubsub(cloud_event: CloudEvent) -> None:
    """Map and forward the GA4 events of one push; raise TransientError to have it redelivered."""
    set_trace(flask.request.headers.get("X-Cloud-Trace-Context"), os.environ.get("GOOGLE_CLOUD_PROJECT"))
    _instance().process(message_from_cloud_event(cloud_event))


@functions_framework.errorhandler(TransientError)
def _redeliver(error: TransientError) -> tuple[str, int]:
    log("WARNING", "push not acknowledged; Pub/Sub will redeliver", detail=str(error))
    return "retry later", 503


@functions_framework.errorhandler(ConfigError)
def _misconfigured(error: ConfigError) -> tuple[str, int]:
    log("CRITICAL", "configuration error; fix the variable and redeploy", detail=str(error))
    return "misconfigured", 503
