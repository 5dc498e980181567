"""A stand-in model for the end-to-end scenario: one request at a time, a fixed service time.

Each replica sleeps ``service_time_ms`` per request and serves one request at a time (an asyncio
lock), so a deployment with ``c`` replicas is close to an M/D/c queue -- the system farod's latency
model describes -- without spending the machine's two cores on real inference. Requests queue at the
replica (``max_ongoing_requests=8``) rather than in the router: with ``max_ongoing_requests=1`` Ray's
router re-probes busy replicas with backoff up to 0.5 s, which leaves replicas idle and caps a
deployment far below ``c / service_time``.
The scenario deploys it declaratively (``import_path: tests.e2e.serve_app:app``) with
``args: {service_time_ms: ...}``.
"""

from __future__ import annotations

import asyncio

from ray import serve


@serve.deployment(max_ongoing_requests=8, ray_actor_options={"num_cpus": 1})
class Classifier:
    def __init__(self, service_time_ms: float):
        self._service_time_s = service_time_ms / 1000.0
        self._busy = asyncio.Lock()

    async def __call__(self, request) -> str:
        async with self._busy:
            await asyncio.sleep(self._service_time_s)
        return "ok"


def app(args: dict) -> serve.Application:
    return Classifier.options(name="classifier").bind(float(args.get("service_time_ms", 100)))
