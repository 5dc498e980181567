"""Every autoscaling policy by name, built with validated parameters and wrapped in the shared guards.

Example::

    >>> jobs = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720, service_time_ms=180)}
    >>> policy = create("aiad", jobs=jobs, quota={"cpu": 32}, params={"upscale_delay_s": 60})
    >>> policy.name, policy.tick_interval_s, policy.plan_interval_s
    ('aiad', 10.0, None)
    >>> create("hpa", jobs=jobs, quota={"cpu": 32})
    Traceback (most recent call last):
    ...
    farod.errors.FarodError: unknown policy 'hpa' (known: faro-sum, faro-fair, ...)

The simulator and the daemon call :func:`create` and drive the result through the
:class:`~farod.policies.base.Policy` contract. Parameters (all optional, defaults documented on each
policy's ``Params`` dataclass) come from a config file or the command line; a name the policy does not
know, or a value out of range, raises :class:`~farod.errors.FarodError` naming it. Every policy also
accepts the guard limits ``max_scale_up`` / ``max_scale_down`` (:mod:`farod.policies.guards`).

========================  =====================================================================
``faro-sum``              forecast + exact solver, maximize total utility (:mod:`.faro`)
``faro-fair``             ... maximize the worst job's utility
``faro-fairsum``          ... total utility minus N times the spread
``faro-penaltysum``       ... total utility with load shedding (accept rates as admission limits)
``oracle``                ``faro-sum`` fed the true future (needs ``future=``): the limit
``mark``                  forecast each job alone, size it for its peak at 72 % (:mod:`.mark`)
``aiad``                  ±1 replica after 30 s above / 600 s below the SLO (:mod:`.reactive`)
``oneshot``               jump to replicas · latency / SLO, same delays (:mod:`.reactive`)
``rayserve``              Ray Serve's default queue-length autoscaler (:mod:`.rayserve`)
``fairshare``             static even split of the quota (:mod:`.fairshare`)
``cilantro``              learns attainment vs replicas per job online, optimistic welfare (:mod:`.cilantro`)
``replay``                the replica counts recorded in the trace: what you ran (:mod:`.replay`)
========================  =====================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.policies.base import Policy
from farod.policies.cilantro import Cilantro
from farod.policies.fairshare import FairShare
from farod.policies.faro import Faro, FaroParams, OracleParams, PenaltyParams, SpreadParams
from farod.policies.guards import Guarded, StepLimits
from farod.policies.mark import Mark
from farod.policies.params import parse, unknown_parameter
from farod.policies.rayserve import RayServe
from farod.policies.reactive import Aiad, Oneshot
from farod.policies.replay import Recording, Replay


@dataclasses.dataclass(frozen=True)
class _Entry:
    params_class: type
    build: Callable[..., Policy]  # (jobs=, quota=, params=, future=, train=, recording=) -> Policy
    reads_future: bool = False
    reads_recording: bool = False


def _faro(objective: str) -> Callable[..., Policy]:
    return lambda *, recording=None, **kwargs: Faro(objective=objective, **kwargs)


def _oracle(*, params: OracleParams, recording=None, **kwargs) -> Policy:
    return Faro(objective=params.objective, name="oracle", params=params, **kwargs)


def _forecasting(policy_class: type) -> Callable[..., Policy]:
    return lambda *, future=None, recording=None, **kwargs: policy_class(**kwargs)


def _reactive(policy_class: type) -> Callable[..., Policy]:
    return lambda *, future=None, train=None, recording=None, **kwargs: policy_class(**kwargs)


def _replay(*, jobs, params, recording, **_) -> Policy:
    return Replay(jobs=jobs, params=params, recording=recording)


_REGISTRY: dict[str, _Entry] = {
    "faro-sum": _Entry(FaroParams, _faro("sum")),
    "faro-fair": _Entry(SpreadParams, _faro("fair")),
    "faro-fairsum": _Entry(SpreadParams, _faro("fairsum")),
    "faro-penaltysum": _Entry(PenaltyParams, _faro("penaltysum")),
    "oracle": _Entry(OracleParams, _oracle, reads_future=True),
    "mark": _Entry(Mark.Params, _forecasting(Mark)),
    "aiad": _Entry(Aiad.Params, _reactive(Aiad)),
    "oneshot": _Entry(Oneshot.Params, _reactive(Oneshot)),
    "rayserve": _Entry(RayServe.Params, _reactive(RayServe)),
    "fairshare": _Entry(FairShare.Params, _reactive(FairShare)),
    "cilantro": _Entry(Cilantro.Params, _reactive(Cilantro)),
    "replay": _Entry(Replay.Params, _replay, reads_recording=True),
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)
# What a live deployment can run: the oracle needs the future and replay a recording, both from a trace.
LIVE_NAMES: tuple[str, ...] = tuple(name for name, entry in _REGISTRY.items()
                                    if not (entry.reads_future or entry.reads_recording))  # fmt: skip
_GUARD_PARAMS = frozenset(field.name for field in dataclasses.fields(StepLimits))


def create(
    name: str,
    *,
    jobs: Mapping[str, JobSpec],
    quota: Mapping[str, float],
    params: Mapping[str, Any] | None = None,
    future: Mapping[str, np.ndarray] | None = None,
    train: Mapping[str, np.ndarray] | None = None,
    recording: Recording | None = None,
) -> Policy:
    """Build policy ``name`` for ``jobs`` under ``quota``.

    ``future`` (job key -> the trace's counts per minute from minute 0) is read by ``oracle`` only.
    ``train`` (job key -> earlier days, days x minutes, aligned with the history) feeds the forecasters
    of the predictive policies; without it they forecast from today's history alone. ``recording``
    (the trace's recorded replicas) is what ``replay`` replays.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise FarodError(f"unknown policy {name!r} (known: {', '.join(NAMES)})")
    params = dict(params or {})
    known = parameter_names(name)
    for key in params:
        if key not in known:
            raise unknown_parameter(name, key, known)
    limits = parse(name, StepLimits, {k: v for k, v in params.items() if k in _GUARD_PARAMS})
    policy_params = parse(name, entry.params_class, {k: v for k, v in params.items() if k not in _GUARD_PARAMS})
    if entry.reads_future:
        _check_future(name, jobs, future)
    else:
        future = None  # only the oracle may see the future
    policy = entry.build(jobs=jobs, quota=quota, params=policy_params, future=future, train=train, recording=recording)
    return Guarded(policy, limits=limits)


def params_class(name: str) -> type:
    """The parameters dataclass of policy ``name`` (the guard limits are :class:`StepLimits`)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise FarodError(f"unknown policy {name!r} (known: {', '.join(NAMES)})")
    return entry.params_class


def parameter_names(name: str) -> frozenset[str]:
    """Every parameter policy ``name`` accepts (its own and the guard limits); empty for an unknown name."""
    if name not in _REGISTRY:
        return frozenset()
    return frozenset(field.name for field in dataclasses.fields(params_class(name))) | _GUARD_PARAMS


def _check_future(name: str, jobs: Mapping[str, JobSpec], future: Mapping[str, np.ndarray] | None) -> None:
    if future is None:
        raise FarodError(f"policy {name}: needs the true future arrivals (future=), e.g. from the trace")
    missing = sorted(set(jobs) - set(future))
    if missing:
        raise FarodError(f"policy {name}: future: no arrivals for job {missing[0]!r}")


__all__ = ["LIVE_NAMES", "NAMES", "Recording", "create", "parameter_names", "params_class"]
