"""The last word before the cluster: whatever a policy asked for, what is applied fits the quota.

Example::

    >>> jobs = {"a/m": JobSpec(application="a", deployment="m", slo_ms=720),
    ...         "b/m": JobSpec(application="b", deployment="m", slo_ms=720)}
    >>> fit_quota({"a/m": 6, "b/m": 1}, current={"a/m": 2, "b/m": 3}, jobs=jobs, quota={"cpu": 5})
    {'a/m': 4, 'b/m': 1}
    >>> ordered_changes({"a/m": 4, "b/m": 1}, current={"a/m": 2, "b/m": 3})
    [('b/m', 1), ('a/m', 4)]

Policies are trusted to be good, not to be right: a bug, a stale ResourceQuota or a reload that
shrank the quota must not make farod ask for more than the cluster may run. So the daemon passes
every allocation through :func:`limit_steps` (the config's whole-cluster safety limits) and
:func:`fit_quota` right before the actuator, and the actuator applies :func:`ordered_changes`:
downscales before upscales, so even the intermediate states of one decision fit the quota.

:func:`fit_quota` takes replicas away from upscales first (the largest increase first: those are
the asks the cluster cannot grant), and only when the current allocation itself is over the quota
(the quota shrank) from the jobs furthest above their minimum. It never goes below a job's
``min_replicas``; if the minimums alone exceed the quota, the minimums are what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping

from farod.jobs import JobSpec
from farod.jobs import remaining


def fit_quota(targets: Mapping[str, int], *, current: Mapping[str, int], jobs: Mapping[str, JobSpec],
              quota: Mapping[str, float]) -> dict[str, int]:
    """``targets`` reduced until they fit ``quota``; jobs not in ``targets`` are not touched."""
    fitted = dict(targets)

    def over() -> bool:
        left = remaining(quota, [(jobs[key], replicas) for key, replicas in fitted.items()])
        return any(amount < -1e-9 for amount in left.values())

    while over():
        growing = [key for key in fitted if fitted[key] > max(current.get(key, 0), jobs[key].min_replicas)]
        shrinkable = growing or [key for key in fitted if fitted[key] > jobs[key].min_replicas]
        if not shrinkable:
            break
        if growing:
            key = max(growing, key=lambda k: (fitted[k] - current.get(k, 0), k))
        else:
            key = max(shrinkable, key=lambda k: (fitted[k] - jobs[k].min_replicas, k))
        fitted[key] -= 1
    return fitted


def limit_steps(targets: Mapping[str, int], *, current: Mapping[str, int], max_added: int = 0,
                max_removed: int = 0) -> dict[str, int]:
    """At most ``max_added`` replicas added and ``max_removed`` removed over all jobs (0: no limit).

    The budget is shared one replica at a time, round robin, so one job cannot take all of it.
    """
    limited = {key: current.get(key, wanted) for key, wanted in targets.items()}
    for sign, budget in ((1, max_added), (-1, max_removed)):
        wanting = [key for key in targets if (targets[key] - limited[key]) * sign > 0]
        budget = budget or sum(abs(targets[key] - limited[key]) for key in wanting)
        while budget > 0 and wanting:
            for key in list(wanting):
                if budget == 0:
                    break
                limited[key] += sign
                budget -= 1
                if limited[key] == targets[key]:
                    wanting.remove(key)
    return limited


def ordered_changes(targets: Mapping[str, int], *, current: Mapping[str, int]) -> list[tuple[str, int]]:
    """``targets`` as an apply order: downscales, then upscales, then re-asserted unchanged targets."""
    def rank(key: str) -> int:
        change = targets[key] - current.get(key, targets[key])
        return 0 if change < 0 else 1 if change > 0 else 2

    return sorted(targets.items(), key=lambda item: (rank(item[0]), item[0]))


def quota_used(targets: Mapping[str, int], *, jobs: Mapping[str, JobSpec], quota: Mapping[str, float],
               ) -> dict[str, float]:
    """Fraction of each quota resource ``targets`` use (farod_quota_used_ratio)."""
    left = remaining(quota, [(jobs[key], replicas) for key, replicas in targets.items()])
    return {resource: (amount - left[resource]) / amount if amount > 0 else 0.0
            for resource, amount in quota.items()}
