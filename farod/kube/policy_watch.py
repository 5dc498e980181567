"""Hot reload of the policy ConfigMap: watch it through the API, apply only what validates.

Example::

    watcher = PolicyWatcher(api_client=api_client, namespace="ml", name="farod-config",
                            key="farod.yaml", parse=parse_config_text, events=recorder,
                            on_apply=daemon.reload, initial=config, initial_text=mounted_text)
    watcher.start()
    config = watcher.current          # the last good config

Why watch the API rather than the mounted file: a ConfigMap mounted with ``subPath`` never updates,
and a plain mount updates after the kubelet's sync period, up to minutes later. A watch sees the edit
at once. An edit is parsed with the daemon's own validator (``parse``, injected -- this module does
not know the schema) and handed to ``on_apply`` (the daemon swaps its policy at the next decision;
it may refuse too, e.g. a change of jobs that needs a restart). Accepted, it replaces
:attr:`PolicyWatcher.current` and posts a ``PolicyApplied`` Event regarding the ConfigMap; refused
by either, the last good config stays, a ``PolicyRejected`` Event (Warning) carries the one-line
message and :attr:`rejected` is set (``on_rejected`` lets the daemon export it as a metric). The
text the process started from (``initial_text``) is not news and posts nothing. :attr:`generation`
counts applied configs. The watch restarts from the last seen ``resourceVersion`` when the
server closes it, and from a fresh list after an error (after a jittered pause).

Nothing an edit or the stream carries can end the watch: a parser or ``on_apply`` that raises
anything at all (an integer of 400 digits, YAML nested 1000 deep) is a rejected edit, a line of the
stream that is not an event is skipped, and any other error restarts the watch. Every call carries
a request timeout (the watch's read timeout is its server-side timeout plus ``request_timeout_s``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Generic, TypeVar

import kubernetes
import structlog

from farod.errors import FarodError
from farod.kube.background import Background
from farod.kube.client import API_ERRORS
from farod.kube.events import EventRecorder

log = structlog.get_logger(__name__)
Config = TypeVar("Config")
_UNSEEN = object()  # no text seen yet (a ConfigMap without the key is text None, and news)


def _unexpected(name: str, exc: Exception) -> str:
    """One line for a failure the parser did not turn into its own message."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"configmap {name}: unusable ({type(exc).__name__}{': ' + detail if detail else ''})"


class PolicyWatcher(Background, Generic[Config]):
    """Keeps the last good config parsed from ``data[key]`` of one ConfigMap."""

    def __init__(
        self,
        *,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        name: str,
        key: str,
        parse: Callable[[str], Config],
        events: EventRecorder | None = None,
        initial: Config | None = None,
        initial_text: str | None = None,
        on_apply: Callable[[Config], None] | None = None,
        on_rejected: Callable[[bool], None] | None = None,
        watch_timeout_s: int = 300,
        request_timeout_s: float = 5.0,
    ):
        super().__init__(thread_name=f"watch-{name}")
        self._core = kubernetes.client.CoreV1Api(api_client)
        self.namespace, self.name, self.key = namespace, name, key
        self._parse, self._events = parse, events
        self._on_apply, self._on_rejected = on_apply, on_rejected
        self.watch_timeout_s = watch_timeout_s
        self.request_timeout_s = request_timeout_s
        self.current: Config | None = initial
        self.generation = 0
        self.rejected = False
        self.last_error: str | None = None
        self._last_text: object = _UNSEEN if initial_text is None else initial_text
        self._watch: kubernetes.watch.Watch | None = None

    def handle(self, configmap: kubernetes.client.V1ConfigMap) -> None:
        """Consider one version of the ConfigMap; unchanged text is ignored."""
        text = (configmap.data or {}).get(self.key)
        if text == self._last_text:
            return
        self._last_text = text
        try:
            if text is None:
                raise FarodError(f"configmap {self.name}: no key {self.key!r}")
            config = self._parse(text)
            if self._on_apply:
                self._on_apply(config)
        except Exception as exc:  # noqa: BLE001 - any failure of an edit is a rejection, never a dead watch
            message = str(exc) if isinstance(exc, FarodError) else _unexpected(self.name, exc)
            self._set_rejected(True, message)
            log.warning("policy_rejected", configmap=self.name, error=message)
            self._post(configmap, reason="PolicyRejected", note=message, type="Warning")
            return
        self.current = config
        self.generation += 1
        self._set_rejected(False, None)
        log.info("policy_applied", configmap=self.name, generation=self.generation)
        self._post(configmap, reason="PolicyApplied", note=f"applied {self.key} at resourceVersion "
                   f"{configmap.metadata.resource_version}", type="Normal")

    def _set_rejected(self, rejected: bool, error: str | None) -> None:
        self.rejected, self.last_error = rejected, error
        if self._on_rejected:
            self._on_rejected(rejected)

    def _post(self, configmap, *, reason: str, note: str, type: str) -> None:
        if self._events is None:
            return
        regarding = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": self.namespace, "name": self.name}
        if configmap.metadata.uid:
            regarding["uid"] = configmap.metadata.uid
        self._events.post(regarding=regarding, reason=reason, note=note, action="Reload", type=type)

    def run(self) -> None:
        """Watch until :meth:`stop`, resuming after server timeouts and any error."""
        resource_version = None
        while not self.stopping.is_set():
            self._watch = kubernetes.watch.Watch()
            try:
                for event in self._watch.stream(
                    self._core.list_namespaced_config_map,
                    self.namespace,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=resource_version,
                    timeout_seconds=self.watch_timeout_s,
                    _request_timeout=(self.request_timeout_s, self.watch_timeout_s + self.request_timeout_s),
                ):
                    configmap = event.get("object") if isinstance(event, dict) else None
                    if not isinstance(configmap, kubernetes.client.V1ConfigMap) or configmap.metadata is None:
                        continue  # a blank or garbled line of the stream is not an event
                    resource_version = configmap.metadata.resource_version
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.handle(configmap)
            except Exception as exc:  # noqa: BLE001 - the watch must outlive anything the server sends
                if self.stopping.is_set():
                    break
                level = log.warning if isinstance(exc, (*API_ERRORS, ValueError)) else log.error
                level("policy_watch_error", configmap=self.name, error=repr(exc)[:300])
                resource_version = None
                self.stopping.wait(random.uniform(0.5, 1.5))

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._watch is not None:
            self._watch.stop()
        self.stop_thread(timeout_s)
