"""Tail latency of a replicated deployment as a function of load and replicas.

Example::

    >>> round(float(latency(rate=19.0, service_time=0.15, servers=3, percentile=90)), 3)  # seconds
    1.252

The model is the one Faro uses (documented for users in docs/plan.md):

* each replica is a server, requests arrive as a Poisson stream: M/M/c. The probability that a request
  waits is Erlang C, and the waiting time beyond that is exponential with rate ``c/s - λ``, so its
  q-th percentile is ``W_q = ln(C / (1 - q)) / (c/s - λ)`` (0 when ``C <= 1 - q``);
* inference times are nearly deterministic, and the M/D/c waiting time is about half the M/M/c one
  (Cosmetatos), so the predicted latency is ``s + W_q / 2``;
* a request's own latency without any wait is ``tail`` at the percentile (default ``s``: a constant
  service time). A heavier-tailed service distribution has ``tail`` well above ``s`` (its own p99 and
  the proxies' delays), and the whole of it adds to the wait: ``tail + W_q / 2``. Measured in
  simulation, the p99 latency's error of ``s + W_q / 2`` is nearly a constant offset over the
  utilizations a plan runs at, so one learned ``tail`` per job corrects it
  (:mod:`farod.policies.calibration`);
* near saturation the formula explodes, which makes optimizers chase noise; beyond the utilization cap
  ``max_rho`` the load is clipped to ``λ' = max_rho·c/s`` and the latency grows linearly with the excess
  load: ``L = (tail + W_q(λ')/2) · λ/λ'``.

Erlang C is computed from the regularized incomplete gamma function (``Σ_{k<c} a^k/k! · e^{-a}`` is the
Poisson CDF ``Q(c, a)``), so there are no factorials, it is stable for c up to many thousands and for
ρ → 1, and ``servers`` may be real-valued (the COBYLA baseline optimizes continuous replica counts).
Everything broadcasts: jobs × replica counts × forecast steps in one call.
"""

from __future__ import annotations

import numpy as np
from scipy import special

DEFAULT_PERCENTILE = 99.0
DEFAULT_MAX_RHO = 0.95


def erlang_c(servers, offered_load) -> np.ndarray:
    """Probability that an arriving request waits in an M/M/c queue (requires ``offered_load < servers``).

    >>> round(float(erlang_c(10, 8.0)), 4)
    0.4092
    """
    c = np.asarray(servers, dtype=float)
    a = np.asarray(offered_load, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # Poisson pmf at c and P(Poisson(a) <= c-1), both relative to e^{-a}: no overflow.
        log_pmf = c * np.log(np.where(a > 0, a, 1.0)) - a - special.gammaln(c + 1.0)
        pmf = np.where(a > 0, np.exp(log_pmf), 0.0)
        below = special.gammaincc(c, a)
        tail = pmf * c / (c - a)
        result = tail / (below + tail)
    return np.where(a > 0, result, 0.0)


def wait_percentile(rate, service_time, servers, *, percentile=DEFAULT_PERCENTILE) -> np.ndarray:
    """The ``percentile``-th percentile of the M/M/c waiting time, in the unit of ``service_time``.

    >>> [round(float(wait_percentile(8, 1, 10, percentile=q)), 3) for q in (80, 90, 95, 99)]
    [0.358, 0.704, 1.051, 1.856]
    """
    rate = np.asarray(rate, dtype=float)
    service_time = np.asarray(service_time, dtype=float)
    servers = np.asarray(servers, dtype=float)
    tail = 1.0 - np.asarray(percentile, dtype=float) / 100.0
    p_wait = erlang_c(servers, rate * service_time)
    drain_rate = servers / service_time - rate
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = np.log(p_wait / tail) / drain_rate
    return np.where(p_wait > tail, wait, 0.0)


def latency(rate, service_time, servers, *, percentile=DEFAULT_PERCENTILE, max_rho=DEFAULT_MAX_RHO,
            tail=None) -> np.ndarray:
    """Predicted ``percentile``-th percentile latency (M/D/c approximation with the utilization cap).

    ``rate`` in requests per time unit, ``service_time`` and ``tail`` (one request's latency at the
    percentile without waiting; default ``service_time``) in the same time unit, ``servers`` > 0.

    >>> round(float(latency(rate=19.0, service_time=0.15, servers=3, percentile=90, tail=0.3)), 3)
    1.402
    """
    rate = np.asarray(rate, dtype=float)
    service_time = np.asarray(service_time, dtype=float)
    servers = np.asarray(servers, dtype=float)
    capped_rate = np.minimum(rate, max_rho * servers / service_time)
    wait = wait_percentile(capped_rate, service_time, servers, percentile=percentile)
    with np.errstate(divide="ignore", invalid="ignore"):
        inflation = np.where(capped_rate > 0, rate / capped_rate, 1.0)
    # No replica and some load: nothing is ever served.
    own = service_time if tail is None else np.asarray(tail, dtype=float)
    return np.where((servers <= 0) & (rate > 0), np.inf, (own + wait / 2.0) * inflation)


def blocking_probability(rate, service_time, servers: int, capacity) -> np.ndarray:
    """Probability that an arrival finds an M/M/c/N system full (``capacity`` N >= ``servers`` c: requests
    in service or waiting), one value per capacity; the offered load may exceed the servers.

    >>> blocking_probability(2.0, 1.0, 1, [1, 2]).round(4).tolist()   # M/M/1/N: rho^N (1-rho) / (1-rho^(N+1))
    [0.6667, 0.5714]
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    load = float(rate) * float(service_time)
    if load <= 0:
        return np.zeros(capacity.shape)
    n = np.arange(int(capacity.max()) + 1)
    # log of the unnormalized stationary probabilities: a^n/n! up to c, then a^c/c! (a/c)^(n-c).
    log_p = np.where(n <= servers, n * np.log(load) - special.gammaln(n + 1.0),
                     servers * np.log(load) - special.gammaln(servers + 1.0) + (n - servers) * np.log(load / servers))
    return np.exp(log_p[capacity] - np.logaddexp.accumulate(log_p)[capacity])
