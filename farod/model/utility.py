"""From predicted latency to utility, and from per-job utilities to one cluster objective.

Example::

    >>> relaxed_utility(latency=np.array([0.5, 1.44]), slo=0.72).round(2).tolist()
    [1.0, 0.5]
    >>> objective_value("fairsum", np.array([1.0, 0.5]))
    0.5

Faro's insight is that a step utility (1 if the SLO is met, else 0) gives an optimizer nothing to climb:
every infeasible allocation looks equally bad. The *relaxed* utility ``min(1, SLO/L)`` decays smoothly
with latency, so the solver can trade a small miss on one job for a large gain on another. Utilities
are averaged over the forecast horizon, then combined across jobs (docs/plan.md):

* ``sum``: total (weighted) utility -- efficiency;
* ``fair``: the worst job's utility, ties broken by the sum -- max-min fairness;
* ``fairsum``: ``Σ U − N·(max U − min U)`` -- efficiency with a strong penalty on spread;
* ``penaltysum``: ``sum`` where each job may also shed load: accepting a fraction ``a`` lowers the load
  the latency model sees to ``λ·a`` and multiplies the utility by ``1 − P(1 − a)``, P being the
  piecewise-linear drop penalty below.
"""

from __future__ import annotations

import numpy as np

OBJECTIVES = ("sum", "fair", "fairsum", "penaltysum")
UTILITIES = ("relaxed", "step")

# The drop penalty P(d) as a function of the dropped fraction d = 1 - accept rate (Faro).
_PENALTY_X = np.array([0.0, 0.001, 0.03, 0.08, 1.0])
_PENALTY_Y = np.array([0.0, 0.0, 0.25, 0.5, 1.0])

# Accept rates the penaltysum objective chooses from: dense where the penalty bends.
ACCEPT_RATES = np.unique(
    1.0 - np.concatenate([_PENALTY_X, [0.005, 0.01, 0.02, 0.05], np.linspace(0.1, 1.0, 10)])
)[::-1]


def relaxed_utility(latency, slo) -> np.ndarray:
    """``min(1, SLO / L)``; an infinite latency has utility 0."""
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.asarray(slo, dtype=float) / np.asarray(latency, dtype=float))


def step_utility(latency, slo) -> np.ndarray:
    """1 where the SLO is met, else 0."""
    return (np.asarray(latency, dtype=float) <= np.asarray(slo, dtype=float)).astype(float)


def utility(kind: str, latency, slo) -> np.ndarray:
    return relaxed_utility(latency, slo) if kind == "relaxed" else step_utility(latency, slo)


def drop_penalty(accept_rate) -> np.ndarray:
    """Utility factor ``1 − P(1 − a)`` for accepting a fraction ``a`` of the requests."""
    return 1.0 - np.interp(1.0 - np.asarray(accept_rate, dtype=float), _PENALTY_X, _PENALTY_Y)


def objective_value(name: str, utilities, weights=None) -> float:
    """Combine per-job utilities (already including any drop penalty) into the cluster objective.

    ``weights`` apply to ``sum`` and ``penaltysum``; the fairness objectives compare raw utilities.
    """
    u = np.asarray(utilities, dtype=float)
    if u.size == 0:
        return 0.0
    if name in ("sum", "penaltysum"):
        return float(u.sum() if weights is None else np.dot(np.asarray(weights, dtype=float), u))
    if name == "fair":
        return float(u.min())
    if name == "fairsum":
        return float(u.sum() - u.size * (u.max() - u.min()))
    raise ValueError(f"unknown objective {name!r}")
