"""Online calibration of each job's forecast spread: bands that hold as often as they claim.

Example::

    >>> spread = SpreadCalibration(rate=0.5, band=(0.05, 0.95))
    >>> for rps in (12.0, 12.0, 9.0):         # twice above a band of 7..10 req/s, then inside it
    ...     spread.observe("a/m", rps, low=7.0, high=10.0)
    >>> [round(factor, 2) for factor in spread.factors("a/m")]     # (above, below) the median
    [2.52, 0.93]
    >>> forecast = JobForecast((0.5, 0.9), np.array([[8.0], [9.0]]))
    >>> spread.widen("a/m", forecast).rates.ravel().round(2).tolist()    # 8 + 2.52 x (9 - 8)
    [8.0, 10.52]

The forecasters' quantiles come from their errors on earlier days. Today's traffic does not always
agree: measured in simulation (day 9, 36 CPUs), the share of 10-s readings above a job's 0.95 band
ranged from 0 to 16% across the ten jobs instead of 5%. A band that is too narrow under-sizes the job
in every plan, and its surges then trigger early replans (replicas moved twice); one that is too
wide holds replicas that other jobs need.

Adaptive conformal inference (Gibbs and Candès, 2021) corrects that online, per job and per side:
``up`` scales the forecast's distances above its median and ``down`` those below. Every reading
above the band multiplies ``up`` by ``exp(rate · (1 − α))``, every other one by ``exp(−rate · α)``
(α = 0.05, the band's nominal share above), and the same below; in the long run the share outside
each edge is α. The readings are the 30-s request rates every tick sees (live and simulated alike),
so the corrected spread also covers the short-term noise the latency depends on. Factors stay within
``BOUNDS``. Rate 0 turns the correction off (the forecaster's own quantiles).
"""

from __future__ import annotations

import math

import numpy as np

from farod.policies.predictive import JobForecast

BOUNDS = (0.25, 4.0)  # of the forecaster's own distances from the median


class SpreadCalibration:
    def __init__(self, *, rate: float, band: tuple[float, float]):
        self.rate = float(rate)
        self.low_share, self.high_share = band[0], 1.0 - band[1]
        self._factors: dict[str, tuple[float, float]] = {}

    def factors(self, key: str) -> tuple[float, float]:
        """The job's (above, below) factors on its forecast's distances from the median."""
        return self._factors.get(key, (1.0, 1.0))

    def observe(self, key: str, rps: float | None, *, low: float, high: float) -> None:
        """One reading of the job's request rate against the band edges planned for now."""
        if rps is None or not math.isfinite(rps):
            return
        up, down = self.factors(key)
        up *= math.exp(self.rate * ((rps > high) - self.high_share))
        down *= math.exp(self.rate * ((rps < low) - self.low_share))
        self._factors[key] = (float(np.clip(up, *BOUNDS)), float(np.clip(down, *BOUNDS)))

    def widen(self, key: str, forecast: JobForecast) -> JobForecast:
        """The forecast with its distances from the median scaled by the job's factors."""
        up, down = self.factors(key)
        if (up, down) == (1.0, 1.0):
            return forecast
        median = forecast.at(0.5)
        scale = np.array([up if q > 0.5 else down for q in forecast.quantiles])[:, None]
        return JobForecast(forecast.quantiles, np.maximum(median + scale * (forecast.rates - median), 0.0))
