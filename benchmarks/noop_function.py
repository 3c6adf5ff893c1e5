"""A function that does nothing: the ceiling functions-framework and this machine allow."""

import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def handle_pubsub(cloud_event: CloudEvent) -> None:
    """Accept the push and do nothing with it."""
    del cloud_event
