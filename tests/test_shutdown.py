"""SIGTERM while pushes are in flight: every acknowledged event has reached Pinterest.

The function runs under functions-framework's gunicorn exactly as deployed; a shutdown lets the
requests in flight finish, and a batch belongs to one of them, so what is pending is sent.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time

import requests

from dev.harness import run_function
from dev.pinterest_standin import StandIn

GOOD = {"event_name": "purchase", "ip_override": "203.0.113.9", "user_agent": "UA/1"}


def test_sigterm_flushes_what_is_pending(tmp_path):
    acknowledged: list[str] = []
    stop = threading.Event()
    with StandIn(token="t", latency=0.05) as standin:
        env = {
            "PINTEREST_AD_ACCOUNT_ID": "549000000000",
            "PINTEREST_ACCESS_TOKEN": "t",
            "PINTEREST_API_BASE_URL": standin.base_url,
            "BATCH_WINDOW_MS": "300",
        }
        with run_function(env, log_path=tmp_path / "function.log", threads=16) as function:

            def pusher(worker: int) -> None:
                session = requests.Session()
                for n in range(10_000):
                    if stop.is_set():
                        return
                    message_id = f"w{worker}-{n}"
                    data = base64.b64encode(
                        json.dumps(
                            {**GOOD, "transaction_id": message_id, "event_time": int(time.time())}
                        ).encode()
                    ).decode()
                    body = {
                        "message": {"data": data, "messageId": message_id},
                        "subscription": "projects/p/s/s",
                    }
                    try:
                        response = session.post(function.url, json=body, timeout=10)
                    except requests.RequestException:
                        return  # the server is gone: this push was not acknowledged, Pub/Sub would redeliver
                    if response.status_code == 200:
                        acknowledged.append(message_id)

            workers = [threading.Thread(target=pusher, args=(w,)) for w in range(8)]
            for worker in workers:
                worker.start()
            time.sleep(1.5)
            os.killpg(os.getpgid(function.pid), signal.SIGTERM)
            time.sleep(2)
            stop.set()
            for worker in workers:
                worker.join(timeout=20)
        delivered = {event["custom_data"]["order_id"] for event in standin.events()}
    assert len(acknowledged) > 20
    assert set(acknowledged) <= delivered
