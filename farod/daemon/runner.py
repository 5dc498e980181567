"""``farod run``: wire a validated config into a controller, a scheduler and the HTTP endpoints.

Example::

    daemon = Daemon(load_config("farod.yaml"))
    daemon.start()          # HTTP endpoints + apscheduler jobs in background threads
    daemon.wait()           # until SIGTERM / SIGINT (or daemon.stop())

Scheduling is apscheduler 3.x: a reactive tick every ``intervals.tick_s`` and, for predictive
policies, a plan every ``intervals.plan_s`` (the first one at start, right after the history
backfill). The backfill (:mod:`farod.daemon.history`) also yields the earlier days the policy's
forecasters learn from (``train``); the policy is built with them, and so is every reloaded one.
Both jobs run on ONE worker thread with ``max_instances=1`` and ``coalesce=True``: a slow decision
delays the next instead of overlapping it, and missed runs collapse into one, so two decisions never
race on the cluster. Every delay, cooldown and hysteresis window lives in the policy
and is measured on the observation's wall-clock ``now``, never in ticks -- changing ``tick_s`` does
not change what "30 s above the SLO" means.

SIGTERM or SIGINT sets an event; :meth:`Daemon.stop` then shuts the scheduler down *waiting* for the
running decision, so a stop lands between actuations and never leaves a half-applied decision.

Hooks for the Kubernetes integration (:mod:`farod.kube` or similar): ``is_leader`` (asked before every
actuation; a follower runs as dry-run and exports no per-job series), ``quota`` (called at every
decision, e.g. a ResourceQuota reader), :meth:`Daemon.reload` (a validated config from a ConfigMap
watch: the new policy, cadence, safety limits and static quota take over at the next decision; a change
of any other field is refused as needing a restart, never announced as applied) and
:attr:`Daemon.threads` (background threads whose death fails ``/readyz``).
``Daemon.controller.listeners`` receives every decision record (Events).

``/readyz`` is 200 only while the controller is ready (fewer than ``misses_before_unready`` misses in a
row), no decision has been running for longer than ``stall_after_s`` (a call without a timeout that
hangs is a failed probe, not a frozen daemon that looks fine) and every thread in
:attr:`Daemon.threads`, the scheduler's included, is alive. Stopping waits for the running decision
at most ``stop_grace_s``: every call it makes has its own timeout, and a decision that still has not
finished can no longer write once the Lease is released (the actuator checks leadership right before
each write).
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timezone
from collections.abc import Callable, Mapping

import numpy as np
import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry

from farod import policies
from farod.actuators.base import Actuator, WriteGate, always_write
from farod.actuators.dryrun import DryRunActuator
from farod.actuators.rayserve import RayServeActuator
from farod.daemon.config import Config
from farod.daemon.controller import Controller
from farod.daemon.history import ArrivalHistory
from farod.daemon.metrics import DaemonMetrics
from farod.daemon.server import start_server
from farod.errors import FarodError, FieldError
from farod.policies.base import Policy
from farod.schema import path
from farod.signals.prometheus import PrometheusSignals, PrometheusUnavailable

# What a reload applies; a change of any other config field needs a restart.
LIVE_FIELDS = ("policy", "forecaster", "intervals", "safety", "quota_config")
RESTART_FIELD_PATHS = {"quota_resource_quota": "quota.from_resource_quota"}  # where the file says it


def build_policy(config: Config, *, quota: Mapping[str, float],
                 train: Mapping[str, np.ndarray] | None = None) -> Policy:
    """The configured policy, with the daemon's cadence and forecaster filled in where it takes them.

    ``train`` is the earlier days of :class:`~farod.daemon.history.ArrivalHistory`, for the forecasters.
    A bad parameter is reported on its config path (``policy.params.quantile``); the ``intervals`` and
    ``forecaster`` values it fills in are checked by the config schema before.
    """
    try:
        return policies.create(config.policy.name, jobs=config.jobs_by_key, quota=quota,
                               params=policy_params_for(config, config.policy.name), train=train)
    except FieldError as exc:
        raise FarodError(f"{path('policy', 'params', exc.field)}: {exc.problem}") from None


def policy_params_for(config: Config, name: str) -> dict:
    """The parameters the daemon gives policy ``name`` (``farod compare --from-config`` gives the same).

    ``intervals`` and ``forecaster`` are daemon-level settings; they become policy parameters only for
    policies whose parameters have those fields (a reactive policy has no forecaster), and never
    override a value the configured policy's own ``params`` set. The ``forecaster`` section applies as
    a whole (its parameters belong to its model): not at all where ``params`` names a forecaster.
    """
    own = dict(config.policy.params) if name == config.policy.name else {}
    defaults = {"tick_interval_s": config.intervals.tick_s, "plan_interval_s": config.intervals.plan_s}
    if not {"forecaster", "forecaster_params"} & set(own):
        if config.forecaster.name != "default":
            defaults["forecaster"] = config.forecaster.name
        if config.forecaster.params:
            defaults["forecaster_params"] = dict(config.forecaster.params)
    accepted = policies.parameter_names(name)
    return {**{key: value for key, value in defaults.items() if key in accepted}, **own}


def build_actuator(config: Config, *, may_write: WriteGate = always_write) -> Actuator:
    rayserve = config.actuator.rayserve
    if config.actuator.kind == "rayservice":
        raise FarodError("actuator.kind: rayservice runs inside Kubernetes (see the Helm chart); "
                         "pass its actuator to Daemon(actuator=...)")
    real = RayServeActuator(url=rayserve.url, bearer_token_file=rayserve.bearer_token_file,
                            timeout_s=rayserve.timeout_s, take_over_autoscaling=rayserve.take_over_autoscaling,
                            tls_verify=rayserve.tls_verify, ca_file=rayserve.ca_file,
                            allow_insecure_http=rayserve.allow_insecure_http, may_write=may_write)
    return DryRunActuator(reader=real) if config.actuator.kind == "dry-run" else real


def build_signals(config: Config) -> PrometheusSignals:
    prometheus = config.prometheus
    return PrometheusSignals(url=prometheus.url, window_s=prometheus.window_s, stale_after_s=prometheus.stale_after_s,
                             timeout_s=prometheus.timeout_s, bearer_token_file=prometheus.bearer_token_file,
                             tls_verify=prometheus.tls_verify, ca_file=prometheus.ca_file,
                             allow_insecure_http=prometheus.allow_insecure_http, use_recording_rules=prometheus.use_recording_rules,
                             namespace=prometheus.namespace)


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        is_leader: Callable[[], bool] | None = None,
        quota: Callable[[], Mapping[str, float]] | None = None,
        actuator: Actuator | None = None,
        signals: PrometheusSignals | None = None,
        registry: CollectorRegistry | None = None,
        stall_after_s: float | None = None,
        stop_grace_s: float = 15.0,  # + the Lease release (two calls) stays within the pod's 30-s grace
    ):
        if quota is None:
            if config.quota_resource_quota:
                raise FarodError("quota.from_resource_quota: needs the Kubernetes quota reader (kubernetes.enabled)")
            quota = lambda: dict(self.config.quota)  # noqa: E731 - follows reloads
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = DaemonMetrics(registry=self.registry, leading=is_leader)
        self.stall_after_s = stall_after_s or max(60.0, 6 * config.intervals.tick_s)
        self.stop_grace_s = stop_grace_s
        self.threads: list = []  # objects with an ``alive`` property and a ``thread_name``
        self._deciding_since: float | None = None
        policy = build_policy(config, quota=quota())
        signals = signals or build_signals(config)
        self.history = ArrivalHistory(signals=signals, jobs=config.jobs_by_key,
                                      hours=config.prometheus.backfill_hours, days=config.prometheus.backfill_days,
                                      step_s=_history_step_s(policy))
        self.train: Mapping[str, np.ndarray] | None = None  # set once the history is loaded
        self._policy_lock = threading.Lock()  # a reload and the train's arrival build policies one at a time
        self.controller = Controller(
            jobs=config.jobs_by_key, policy=policy, signals=signals,
            actuator=actuator or build_actuator(config), metrics=self.metrics, quota=quota, clock=clock,
            is_leader=is_leader or (lambda: True), safety=config.safety, window_s=config.prometheus.window_s,
            history=self.history,
            tick_s=config.intervals.tick_s, misses_before_unready=config.prometheus.misses_before_unready)
        self.controller.listeners.append(lambda record: self._adopt_train())
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(1)},
                                             job_defaults={"max_instances": 1, "coalesce": True,
                                                           "misfire_grace_time": None})
        self.server = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self, *, serve_http: bool = True) -> None:
        if serve_http:
            self.server = start_server(host=self.config.server.host, port=self.config.server.port,
                                       registry=self.registry, ready=lambda: self.unready_reason() is None,
                                       unready_reason=self.unready_reason)
        self._backfill()
        self._schedule(self.controller.policy)
        self.scheduler.start()

    def unready_reason(self) -> str | None:
        """Why ``/readyz`` fails (None: ready)."""
        if not self.controller.ready:
            return f"{self.controller.misses} decisions in a row could not read the cluster or Prometheus"
        started = self._deciding_since
        if started is not None and time.monotonic() - started > self.stall_after_s:
            return f"a decision has been running for more than {self.stall_after_s:g} s"
        if self.scheduler.running and not self.scheduler._thread.is_alive():  # noqa: SLF001 - no public probe
            return "the scheduler thread died"
        dead = [thread.thread_name for thread in self.threads if not thread.alive]
        return f"background thread died: {', '.join(dead)}" if dead else None

    def _decide(self, kind: str) -> None:
        """The scheduler's job: one decision, timed for the stall check of ``/readyz``."""
        self._deciding_since = time.monotonic()
        try:
            self.controller.decide(kind)
        finally:
            self._deciding_since = None

    def reload(self, config: Config) -> None:
        """Adopt a validated config's policy, cadence, safety and quota at the next decision.

        A change of any other field (jobs, actuator, Prometheus, server, Kubernetes settings, where the
        quota comes from) raises :class:`FarodError` naming it: it needs a restart, which ``helm
        upgrade`` does through the pod template's config checksum.
        """
        compared = [*type(config).model_fields, *RESTART_FIELD_PATHS]
        restart = [RESTART_FIELD_PATHS.get(name, name) for name in compared
                   if name not in LIVE_FIELDS and getattr(config, name) != getattr(self.config, name)]
        if restart:
            raise FarodError(f"{', '.join(restart)}: changing {'it' if len(restart) == 1 else 'them'} needs a "
                             "restart (helm upgrade restarts the pod); nothing of this edit was applied")
        with self._policy_lock:
            updated = self.config.model_copy(update={name: getattr(config, name) for name in LIVE_FIELDS})
            quota = dict(updated.quota) if not updated.quota_resource_quota else self.controller.quota()
            policy = build_policy(updated, quota=quota, train=self.train)
            self.config = updated  # the static quota the controller reads follows it
            self.controller.safety = config.safety
            self.controller.swap_policy(policy)
        if self.scheduler.running:
            self._schedule(policy)

    def stop_on_signals(self) -> None:
        """From now on SIGTERM/SIGINT stop the daemon between decisions (call before :meth:`start`, so a
        SIGTERM while starting does not kill the process mid-start)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stopping.set())

    def wait(self) -> None:
        """Block until SIGTERM/SIGINT or :meth:`stop`; then stop cleanly between decisions."""
        self.stop_on_signals()
        while not self._stopping.wait(0.5):
            pass
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self.scheduler.running:  # the running decision finishes its actuation first, within the grace
            waiter = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            waiter.start()
            waiter.join(self.stop_grace_s)
            if waiter.is_alive():
                structlog.get_logger("farod").warning("stop_grace_exceeded", grace_s=self.stop_grace_s)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        structlog.get_logger("farod").info("stopped", decisions=self.controller.decisions)

    def _backfill(self) -> None:
        """Load the history before the first plan, so the policy starts with the earlier days.

        With Prometheus not reachable yet, the first plan that reaches it loads the history (holding
        until then), and the policy is rebuilt with the earlier days after that decision.
        """
        try:
            self.history.refresh(self.controller.clock())
        except PrometheusUnavailable as exc:
            structlog.get_logger("farod").warning("backfill_failed", error=str(exc))
            return
        self._adopt_train()

    def _adopt_train(self) -> None:
        """Once, when the history is first loaded: the policy from now on learns from its earlier days."""
        if self.train is not None or not self.history.loaded:
            return
        train = self.history.train
        with self._policy_lock:
            if train:
                self.controller.swap_policy(build_policy(self.config, quota=self.controller.quota(), train=train))
            self.train = train
        structlog.get_logger("farod").info("backfilled", anchor=self.history.anchor, days=self.history.days,
                                           train_days={key: len(rows) for key, rows in train.items()})

    def _schedule(self, policy: Policy) -> None:
        intervals = self.config.intervals
        self.scheduler.add_job(self._decide, "interval", args=("react",), seconds=intervals.tick_s,
                               id="react", replace_existing=True)
        if policy.plan_interval_s is not None:
            self.scheduler.add_job(self._decide, "interval", args=("plan",), seconds=intervals.plan_s,
                                   id="plan", replace_existing=True, next_run_time=datetime.now(timezone.utc))
        elif self.scheduler.get_job("plan"):
            self.scheduler.remove_job("plan")


def _history_step_s(policy: Policy) -> float:
    """The history's resolution is the policy's forecast step (one minute unless it says otherwise)."""
    return float(getattr(policy.params, "step_s", 60.0))
