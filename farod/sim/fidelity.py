"""Fidelity presets: farod's request path, or the Faro artifact's, one setting per behaviour.

Example (``sim.yaml``)::

    fidelity: artifact        # every setting below takes the artifact's value ...
    pod_scope: shared         # ... unless given: here, everything as the artifact but pods are shared

or ``farod compare --fidelity artifact``. The Faro artifact's own simulator differs from farod's in a
handful of behaviours; each is a setting here, so a figure can be reproduced as the artifact measured
it, and each difference measured on its own:

=========================  =================================  ===========================================
setting                    farod (default)                    artifact
=========================  =================================  ===========================================
``profiled_service_ms``    the true mean (154.3 ms)           180 ms (the profile its policies were given)
``grant_order``            ``round_robin`` over jobs          ``job_order`` (the first job takes all it asks)
``ungranted``              ``pending`` until it fits          ``drop`` after ``grant_retries`` (4) more ticks
``pod_scope``              ``shared`` (any job, 3-s start)    ``job``: an idle pod serves only its job; the
                                                              quota it holds frees when reaped (30 s), then
                                                              another job's pod cold-starts (35 s)
``drops_in_mean_latency``  ``false``                          ``true``: a rejected request counts in the
                                                              observed latency with its proxy delays (~9 ms)
``arrivals``               ``poisson`` (Poisson count per     ``exact``: the trace's count, the first at the
                           unit, Poisson process inside)      unit's start, exponential gaps of unit/count
``queue_reject``           ``at_cap`` (50 wait at most)       ``above_cap``: rejects only above 50 waiting
``while_scaling``          ``accept`` new targets             ``ignore`` them while the job's replicas start
                                                              or wait for quota (its executor is busy)
``faro_quantile``          the policy's (0.7)                 0.6
``faro_startup_s``         the policy's (35 s)                65 s
=========================  =================================  ===========================================

Why farod's defaults differ: a policy should be told the service time it will get (an honest profile);
round-robin grants and pending retries are what Kubernetes and the Ray autoscaler do with a
ResourceQuota; KubeRay workers of one shape serve any Serve application of the cluster; a rejected
request has no latency, and averaging 9-ms rejections in hides an overload from latency-based
policies; Poisson counts are what a day of independent users gives; the queue holds what it says; a
decision is never lost because an earlier one is still being carried out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRESETS = ("farod", "artifact")
CHOICES = {
    "grant_order": ("round_robin", "job_order"),
    "ungranted": ("pending", "drop"),
    "pod_scope": ("shared", "job"),
    "arrivals": ("poisson", "exact"),
    "queue_reject": ("at_cap", "above_cap"),
    "while_scaling": ("accept", "ignore"),
}
ARTIFACT: Mapping[str, Any] = {
    "profiled_service_ms": 180.0,
    "grant_order": "job_order",
    "ungranted": "drop",
    "grant_retries": 4,
    "pod_scope": "job",
    "drops_in_mean_latency": True,
    "arrivals": "exact",
    "queue_reject": "above_cap",
    "while_scaling": "ignore",
    "faro_quantile": 0.6,
    "faro_startup_s": 65.0,
}
FIELDS = tuple(ARTIFACT)


def preset(name: str) -> Mapping[str, Any]:
    """The settings a preset changes from farod's defaults (none for ``farod``)."""
    return ARTIFACT if name == "artifact" else {}


def faro_params(name: str, *, quantile: float | None, startup_s: float | None,
                max_ongoing: int | None = None) -> dict[str, Any]:
    """Parameters a Faro policy (``faro-*``) gets from the simulation config; others get none."""
    if not name.startswith("faro-"):
        return {}
    values = {"quantile": quantile, "startup_s": startup_s, "max_ongoing_requests": max_ongoing}
    return {key: value for key, value in values.items() if value is not None}
