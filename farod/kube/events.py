"""Kubernetes Events (``events.k8s.io/v1``) that tell people what farod did, without flooding them.

Example::

    recorder = EventRecorder(api_client=api_client, namespace="ml", instance="farod-7c9d-x2")
    recorder.post(regarding=rayservice_ref("ml", "serving"), reason="PolicyApplied",
                  note="policy faro-fairsum", action="Reload")
    scaling = ScalingEvents(recorder=recorder, regarding=rayservice_ref("ml", "serving"))
    scaling.observe(before={"a/m": 2}, after={"a/m": 4}, quota_used={"cpu": 1.0})   # ScaledUp, QuotaSaturated

Two kinds of aggregation keep ``kubectl get events`` readable. :class:`ScalingEvents` speaks only when
something changed -- the daemon re-asserts its targets every tick, which is not news -- and puts all
jobs of one decision into a single ``ScaledUp`` or ``ScaledDown`` event; ``QuotaSaturated`` is posted
when the quota fills up, not on every tick it stays full. And :class:`EventRecorder` folds a repeat of
the same (object, reason, note) within ``series_window_s`` into the first Event's ``series`` (count,
lastObservedTime), as client-go's event correlator does. Posting is best effort: an API error is
logged and never stops a decision. Each call gives up after ``timeout_s``, and the daemon posts its
scaling Events through an :class:`EventSender` -- a queue and a thread of their own -- so even a slow
API server never delays a decision.
"""

from __future__ import annotations

import datetime
import queue
import time
import uuid
from collections.abc import Callable, Mapping

import kubernetes
import structlog

from farod.kube.background import Background

log = structlog.get_logger(__name__)

REPORTING_CONTROLLER = "farod.io/farod"
NOTE_LIMIT = 1024  # bytes; the API server rejects longer notes


def rayservice_ref(namespace: str, name: str) -> dict:
    """The ``regarding`` reference of a KubeRay RayService."""
    return {"apiVersion": "ray.io/v1", "kind": "RayService", "namespace": namespace, "name": name}


def _micro_time(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truncate(note: str) -> str:
    encoded = note.encode()
    return note if len(encoded) <= NOTE_LIMIT else encoded[: NOTE_LIMIT - 3].decode(errors="ignore") + "..."


class EventRecorder:
    """Post Events about objects; repeats within ``series_window_s`` update one Event's series.

    An Event lives in the namespace of the object it regards (the API server insists); ``namespace``
    is for objects without one.
    """

    def __init__(
        self,
        *,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        instance: str,
        series_window_s: float = 600.0,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
    ):
        self._api = kubernetes.client.EventsV1Api(api_client)
        self.namespace, self.instance = namespace, instance
        self.series_window_s = series_window_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._recent: dict[tuple, tuple[str, str, int, float]] = {}  # key -> (namespace, name, count, first seen)

    def post(self, *, regarding: Mapping[str, str], reason: str, note: str, action: str, type: str = "Normal") -> bool:
        """Post (or count a repeat of) one Event; False when the API refused it."""
        now = self._clock()
        note = _truncate(note)
        key = (tuple(sorted(regarding.items())), reason, note, type)
        try:
            if key in self._recent and now - self._recent[key][3] < self.series_window_s:
                namespace, name, count, first_seen = self._recent[key]
                patch = {"series": {"count": count + 1, "lastObservedTime": _micro_time(now)}}
                self._api.patch_namespaced_event(name, namespace, patch, _request_timeout=self.timeout_s)
                self._recent[key] = (namespace, name, count + 1, first_seen)
            else:
                namespace = regarding.get("namespace") or self.namespace
                name = self._create(namespace=namespace, regarding=regarding, reason=reason, note=note,
                                    action=action, type=type, now=now)
                self._recent[key] = (namespace, name, 1, now)
        except Exception as exc:  # noqa: BLE001 - API errors, timeouts: an Event is never worth a failure
            log.warning("event_failed", reason=reason, error=str(getattr(exc, "reason", exc))[:200])
            self._recent.pop(key, None)
            return False
        return True

    def _create(self, *, namespace, regarding, reason, note, action, type, now) -> str:
        name = f"{regarding['name']}.{uuid.uuid4().hex[:12]}"
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": _micro_time(now),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self.instance,
            "action": action,
            "reason": reason,
            "note": note,
            "type": type,
            "regarding": dict(regarding),
        }
        self._api.create_namespaced_event(namespace, body, _request_timeout=self.timeout_s)
        return name


class ScalingEvents:
    """``ScaledUp`` / ``ScaledDown`` per decision that changed replicas, ``QuotaSaturated`` on filling up."""

    def __init__(self, *, recorder: EventRecorder, regarding: Mapping[str, str], saturated_at: float = 0.999):
        self.recorder, self.regarding, self.saturated_at = recorder, dict(regarding), saturated_at
        self._saturated = False

    def observe(self, *, before: Mapping[str, int], after: Mapping[str, int], quota_used: Mapping[str, float]) -> None:
        """Report one applied allocation; ``quota_used`` is the used fraction per resource."""
        changes = {job: (before.get(job, 0), replicas) for job, replicas in sorted(after.items())}
        ups = [f"{job} {old}->{new}" for job, (old, new) in changes.items() if new > old]
        downs = [f"{job} {old}->{new}" for job, (old, new) in changes.items() if new < old]
        if ups:
            self.recorder.post(regarding=self.regarding, reason="ScaledUp", note=", ".join(ups), action="Scale")
        if downs:
            self.recorder.post(regarding=self.regarding, reason="ScaledDown", note=", ".join(downs), action="Scale")
        full = sorted(resource for resource, used in quota_used.items() if used >= self.saturated_at)
        if full and not self._saturated:
            self.recorder.post(
                regarding=self.regarding,
                reason="QuotaSaturated",
                note=f"quota fully allocated: {', '.join(full)}; jobs grow only by shrinking others",
                action="Scale",
                type="Warning",
            )
        self._saturated = bool(full)


class EventSender(Background):
    """Runs Event posts queued by :meth:`submit` one after the other on a thread of its own."""

    def __init__(self, *, capacity: int = 100):
        super().__init__(thread_name="events")
        self._queue: queue.Queue[Callable[[], object]] = queue.Queue(capacity)

    def submit(self, post: Callable[[], object]) -> bool:
        """Queue ``post``; False (and a log line) when the queue is full, e.g. the API server hangs."""
        try:
            self._queue.put_nowait(post)
        except queue.Full:
            log.warning("event_dropped", queued=self._queue.qsize())
            return False
        return True

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                post = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            post()
