"""Admission limits: a plan's accept rates as Ray Serve's ``max_queued_requests``, per deployment.

Example::

    >>> queue_limit(rate=20.0, service_time_s=0.154, replicas=2, accept_rate=0.6, max_ongoing=4)
    1
    >>> queue_limit(rate=20.0, service_time_s=0.154, replicas=2, accept_rate=1.0, max_ongoing=4) is None
    True

``faro-penaltysum`` may plan to serve only a fraction ``a`` of a job's requests (its accept rate):
under heavy overload the best allocation sacrifices some load so that what is served meets the SLO.
A plan's accept rate is only a number; what makes it real is the deployment rejecting the excess.
Ray Serve does that itself: a deployment with ``max_queued_requests: Q`` answers 503 to a request
that finds ``Q`` requests already waiting at its caller (the proxy) for a free replica slot, and a
waiting request is one no replica has taken yet (each of ``c`` replicas takes up to
``max_ongoing_requests`` = ``m``). So at most ``N = c·m + Q`` requests are in the deployment, and the
deployment is an M/M/c/N queue. Its blocking probability ``B(N)`` (the fraction rejected,
:func:`farod.model.queueing.blocking_probability`) falls with ``Q``; the limit is the shortest queue
that rejects no more than the plan sheds:

    Q = min { Q >= 1 : B(c·m + Q) <= max(1 - a, B(c·m + MAX_QUEUE) + FREE_DROP) }

at the plan's expected load (the mean over its horizon and scenarios), with its replicas ``c``.

- ``1 - a``: the plan's drop rate. A longer queue would serve more of the excess, late.
- ``B(c·m + MAX_QUEUE) + FREE_DROP``: with more load than the replicas can serve, ``B`` cannot fall
  below ``1 - c/(λ·s)`` however long the queue: the excess is lost either way, and a long queue only
  makes every served request wait. Queueing then stops where it still cuts rejections by more than
  ``FREE_DROP`` (0.1%, the drop the penalty charges nothing for).
- ``Q >= 1``: Ray Serve takes -1 (no limit) or a positive integer.

The model is M/M/c: inference times vary less than exponential ones, so the real deployment
rejects somewhat less than ``B`` says -- the limit errs on serving more. A job whose accept rate is 1
gets no limit (``None``): the deployment's own setting applies, and a limit an earlier plan set is
lifted. :func:`plan_limits` gives every planned job one or the other, so a limit never outlives the
plan that wanted it; jobs a plan leaves out (held: stale signals) keep what is in force
(:func:`farod.policies.guards.guard_queue_limits`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from farod.model.problem import PlanProblem
from farod.model.queueing import blocking_probability

MAX_QUEUE = 1000  # the longest limit considered: at any load, queueing beyond buys nothing
FREE_DROP = 0.001  # rejections the drop penalty does not charge (farod.model.utility)


def queue_limit(*, rate: float, service_time_s: float, replicas: int, accept_rate: float,
                max_ongoing: int) -> int | None:
    """The ``max_queued_requests`` that makes ``accept_rate`` real (module docstring); None: no limit."""
    if accept_rate >= 1.0 or replicas <= 0 or rate <= 0:
        return None
    queue = np.arange(1, MAX_QUEUE + 1)
    blocked = blocking_probability(rate, service_time_s, replicas, replicas * max_ongoing + queue)
    allowed = max(1.0 - accept_rate, blocked[-1] + FREE_DROP)
    return int(queue[np.flatnonzero(blocked <= allowed)[0]])


def plan_limits(problem: PlanProblem, allocation: Mapping[str, int], accept_rate: Mapping[str, float], *,
                max_ongoing: int) -> dict[str, int | None]:
    """Per planned job, its limit (None: lift it) at the problem's expected load and the allocation."""
    return {
        job.name: queue_limit(rate=float(np.mean(job.expected_rates)), service_time_s=job.service_time_ms / 1000.0,
                              replicas=int(allocation[job.name]), accept_rate=float(accept_rate[job.name]),
                              max_ongoing=max_ongoing)
        for job in problem.jobs
    }
