"""Cloud Function entry point: `handle_pubsub` receives Pub/Sub pushes of GA4 events."""

from __future__ import annotations

import os

import flask
import functions_framework
from cloudevents.http import CloudEvent

from lib.delivery.instance import Instance
from lib.delivery.messages import message_from_cloud_event
from lib.errors import ConfigError, TransientError
from lib.logs import log, set_trace

_instance = Instance()

# functions-framework imports this module inside its app's context; a plain `import main` (a tool
# timing the import) has none, and no requests to count.
if flask.has_app_context():
    _instance.install(flask.current_app)


@functions_framework.cloud_event
def handle_pubsub(cloud_event: CloudEvent) -> None:
    """Map and forward the GA4 events of one push; raise TransientError to have it redelivered."""
    set_trace(flask.request.headers.get("X-Cloud-Trace-Context"), os.environ.get("GOOGLE_CLOUD_PROJECT"))
    _instance.process(message_from_cloud_event(cloud_event))


@functions_framework.errorhandler(TransientError)
def _redeliver(error: TransientError) -> tuple[str, int]:
    log("WARNING", "push not acknowledged; Pub/Sub will redeliver", detail=str(error))
    return "retry later", 503


@functions_framework.errorhandler(ConfigError)
def _misconfigured(error: ConfigError) -> tuple[str, int]:
    log("CRITICAL", "configuration error; fix the variable and redeploy", detail=str(error))
    return "misconfigured", 503
