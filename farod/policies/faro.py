"""Faro: forecast every job, then solve for the allocation that maximizes the cluster's utility.

Example::

    >>> from farod.jobs import JobSpec
    >>> from farod.policies.base import JobObservation, Observation
    >>> jobs = {f"{app}/m": JobSpec(application=app, deployment="m", slo_ms=720, service_time_ms=180) for app in "ab"}
    >>> policy = Faro(jobs=jobs, quota={"cpu": 8}, params=FaroParams(forecaster="last"), objective="sum")
    >>> seen = {"a/m": JobObservation(history=np.full(30, 1800.0), replicas=2),  # 30 req/s
    ...         "b/m": JobObservation(history=np.full(30, 60.0), replicas=2)}    # 1 req/s
    >>> decision = policy.plan(Observation(now=1800, jobs=seen, quota={"cpu": 8}))
    >>> decision.replicas, decision.reason
    ({'a/m': 7, 'b/m': 1}, 'sum expected over quantiles 0.1,0.3,0.5,0.7,0.9')

Every ``plan_interval_s`` (300 s) each job's next ``horizon`` minutes are forecast and the exact solver
(:func:`farod.model.solver.solve`) picks the integer replicas that maximize the objective (``sum``,
``fair``, ``fairsum`` or ``penaltysum``) of the jobs' utilities under the quota. Between plans the
reactive fallback adds a replica where the SLO keeps being missed (:mod:`farod.policies.fallback`).

Things the paper's implementation left on the table, which matter as much as the forecast:

- **Plan for the forecast distribution, not one quantile** (``mode: expected``, the default of
  ``sum`` and ``penaltysum``; ``fair`` and ``fairsum`` keep the earlier planner, :class:`SpreadParams`). Each
  job's utility is its expected utility over the forecast quantile levels ``expected_levels``
  (weighted by the probability each stands for, :func:`level_weights`); utility tables stay per job,
  so the exact knapsack still solves it exactly (:class:`farod.model.problem.PlanJob` scenarios).
  Under contention a single quantile over-sizes every job at once; the expectation weighs a replica
  by how likely it is to be needed (at 16-20 CPUs this halves the gap to the oracle, see README).
- **Replan when the world leaves the forecast** (:mod:`farod.policies.replan`): between plans, a job
  whose request rate stays above its forecast band for ``replan_after_s`` triggers a full plan at
  once, its forecast scaled to the observed level -- if the last plan expected the job to meet its SLO
  and the latency model says its replicas cannot at that rate (a departure they absorb, or a miss the
  plan chose under contention, moves nothing); at most one such plan per
  ``replan_min_interval_s``. ``change_cost`` makes every replica moved cost utility, so plans only
  move replicas for a real gain (hysteresis on moves, which bounds the churn of replanning), and
  ``reversal_cost`` makes undoing a job's move of the last ``reversal_window_s`` cost more
  (:mod:`farod.policies.moves`).
- **Calibrate the forecast's spread online** (:mod:`farod.policies.spread`): per job, the forecast's
  distances from its median are scaled until ``replan_band`` holds the 10-s readings as often as it
  claims (5% beyond each edge), so a job burstier today than its history gets its headroom in every
  plan rather than an early replan after each burst. An early replan needs a rate beyond both bands,
  the calibrated one and the forecaster's own.
- **Calibrate the latency model online** (:mod:`farod.policies.calibration`): the service time
  follows the measured processing time, and the latency model's tail (one request's p99 without a
  wait) what the measured p99 implies; the plans see both. The service time's is on by default
  (not for ``oracle``), the tail's is opt-in.

- **Spare quota buys pessimism.** Poisson bursts inside a minute and forecast errors both hurt, so a
  solution that leaves quota idle is wasteful: while it does, the problem is solved again at the next
  higher forecast quantile (``headroom_quantiles``), with each job's previous allocation as its
  minimum. Pessimism is therefore only ever paid for with replicas nobody else wanted; it never takes a
  replica away from a job that the less pessimistic solution gave it.
- **Idle quota is never the plan.** ``fairsum`` penalizes the spread between jobs, so under overload
  it prefers an idle replica to one that would lift a single job above the others (on the
  bundled trace at 16 CPUs a quarter of ``faro-fairsum``'s plans left up to 6 CPUs idle, scaling
  satisfied jobs down; the fallback then handed the replicas back half a minute later, to whichever
  jobs missed their SLO worst). Raising the quantile cannot fix that -- it is the objective, not the
  forecast, that declines the replicas -- so when every level leaves quota idle, the last solution is
  kept as every job's minimum and the spare replicas go where they add the most utility (``sum``).
  Every job is at least as well off as in the objective's own optimum.
- **New replicas are not there at once.** A replica asked for now serves after ``startup_s`` (35 s
  when a worker must start), so the model is told: for the first ``startup_s / step_s`` steps only
  ``min(c, current)`` replicas serve (``PlanJob.startup_steps``). Scaling down has no such delay.

``oracle`` is this policy fed the true future counts (the forecast ``oracle`` model: exact counts at
the median, Poisson quantiles around them), with the same headroom: a limit no real policy should beat.
It keeps the planner it was measured with (``mode: quantile``, no early replans, no change cost).
It maximizes ``sum``, not the paper's ``fairsum``. Where every job can be made whole the two pick the
same allocations (any optimum gives every job utility 1), but under contention ``fairsum`` gives the
worst-off job replicas at the expense of the total -- at 20 CPUs on day 9 a job that needs about four
replicas gets two and stays hopeless, and the jobs they came from miss too -- so a ``fairsum`` oracle
loses to ``faro-sum`` by more than knowing the future gains (violation 0.30 vs 0.24 on day 9, 0.32 vs
0.23 on day 10). The violation rate and lost utility add up over jobs; their limit is the sum.
``objective`` selects another (``fairsum`` is the paper's oracle, a limit only without contention).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from farod.errors import FarodError, require
from farod.jobs import JobSpec, fitting_replicas, remaining
from farod.model import solver
from farod.model.problem import PlanJob, PlanProblem
from farod.model.queueing import latency
from farod.model.utility import OBJECTIVES, UTILITIES
from farod.policies.admission import plan_limits
from farod.policies.base import Decision, JobObservation, JobPlan, Observation
from farod.policies.calibration import Calibration
from farod.policies.moves import RecentMoves
from farod.policies.predictive import ForecastParams, JobForecast, Predictive
from farod.policies.replan import Band, BandWatch, PlannedBands
from farod.policies.spread import SpreadCalibration

# Objectives that penalize the spread between jobs: they may decline a replica that would widen it.
_SPREAD_OBJECTIVES = ("fairsum",)
MODES = ("quantile", "expected")


def level_weights(levels) -> np.ndarray:
    """Probability each quantile level stands for: the mass between the midpoints to its neighbours."""
    levels = np.asarray(levels, dtype=float)
    edges = np.concatenate([[0.0], (levels[1:] + levels[:-1]) / 2.0, [1.0]])
    return np.diff(edges)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaroParams(ForecastParams):
    quantile: float = 0.7  # the forecast quantile of the first solve (chosen by simulation, see README)
    # Tried in turn while quota is idle (the levels above ``quantile``).
    headroom_quantiles: tuple[float, ...] = (0.7, 0.8, 0.9, 0.95, 0.99)
    utility: str = "relaxed"  # "relaxed" (min(1, SLO/L), Faro's) or "step"
    startup_s: float = 35.0  # seconds before a new replica serves
    percentile: float = 99.0  # latency percentile the SLO is about
    max_rho: float = 0.95  # utilization cap of the latency model
    # "quantile": size the first solve for ``quantile``; "expected": maximize the expected utility over
    # ``expected_levels`` (each level weighs the probability between the midpoints to its neighbours).
    # (Defaults chosen by simulation on two days of traffic, see README.)
    mode: str = "expected"
    expected_levels: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    # Early replanning (farod.policies.replan): replan when a job's request rate stays outside its
    # forecast band (quantiles ``replan_band``) for ``replan_after_s``; 0 turns it off.
    replan_after_s: float = 20.0
    replan_band: tuple[float, ...] = (0.05, 0.95)
    replan_min_interval_s: float = 30.0  # no early replan sooner than this after any plan
    replan_below: bool = False  # also replan when load stays below the band (not only above)
    # Only for surprises: a job whose last plan already expected it to miss (utility below this) does not
    # trigger one -- under contention the plan chose that, and a replan would shuffle replicas among misses.
    replan_min_planned_utility: float = 0.9
    # ... and only if the model's latency at the observed rate exceeds the SLO by this fraction: a dial
    # from reacting to every predicted miss (0) to only large ones, fewer replica moves (README: churn).
    replan_risk_margin: float = 0.1
    # Also replan early when a job's calibrated service time has moved by more than this fraction since
    # the last plan sized it (a wrong profile at start, a new model version); 0 turns it off.
    replan_service_drift: float = 0.1
    change_cost: float = 0.01  # utility a plan gives up per replica it moves (hysteresis on moves)
    # ... and more per replica it moves against the job's last move within reversal_window_s
    # (farod.policies.moves): a plan undoing a recent move is mostly chasing forecast noise.
    reversal_cost: float = 0.02
    reversal_window_s: float = 1800.0
    # Forecast spread calibration (farod.policies.spread): per job, the forecast's distances from its
    # median above and below are scaled until the replan_band holds the readings as often as it claims;
    # learning rate per 10-s reading, 0 turns it off.
    spread_calibration_rate: float = 0.02
    # Online calibration (farod.policies.calibration, docs/plan.md): learning rates per 10-s reading,
    # 0 turns each off. The service time's is on: within noise with a true profile, far better with a
    # wrong one. The tail's is off: it costs churn with a true model (for heavy tails 0.02 with reversal_cost 0; README).
    service_calibration_rate: float = 0.02  # service time <- measured mean processing time (~9 min)
    latency_calibration_rate: float = 0.0  # model's tail <- measured p99 minus the model's wait (0.02: ~9 min)
    calibration_bounds: tuple[float, ...] = (0.5, 2.0)  # of the service time over the profiled
    # Admission limits (farod.policies.admission): each plan's accept rates become the deployments'
    # max_queued_requests (only penaltysum sheds load); max_ongoing_requests is the deployments' own.
    admission: bool = False
    max_ongoing_requests: int = 4

    def __post_init__(self):
        super().__post_init__()
        require(self.mode in MODES, f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        require(all(0 < q < 1 for q in self.expected_levels)
                and list(self.expected_levels) == sorted(set(self.expected_levels)) and self.expected_levels,
                "expected_levels must be increasing and in (0, 1), got " + ",".join(map(str, self.expected_levels)))
        require(self.replan_after_s >= 0, f"replan_after_s must be >= 0, got {self.replan_after_s}")
        require(len(self.replan_band) == 2 and 0 < self.replan_band[0] < 0.5 < self.replan_band[1] < 1,
                "replan_band must be two quantiles, low < 0.5 < high, got " + ",".join(map(str, self.replan_band)))
        require(self.replan_min_interval_s >= 0, f"replan_min_interval_s must be >= 0, got {self.replan_min_interval_s}")
        require(0 <= self.replan_min_planned_utility <= 1,
                f"replan_min_planned_utility must be in [0, 1], got {self.replan_min_planned_utility}")
        require(self.change_cost >= 0, f"change_cost must be >= 0, got {self.change_cost}")
        require(self.reversal_cost >= 0, f"reversal_cost must be >= 0, got {self.reversal_cost}")
        require(self.reversal_window_s >= 0, f"reversal_window_s must be >= 0, got {self.reversal_window_s}")
        require(0 <= self.replan_risk_margin <= 10, f"replan_risk_margin must be in [0, 10], got {self.replan_risk_margin}")
        require(0 <= self.replan_service_drift <= 10, f"replan_service_drift must be in [0, 10], got {self.replan_service_drift}")
        require(self.max_ongoing_requests >= 1, f"max_ongoing_requests must be >= 1, got {self.max_ongoing_requests}")
        for name in ("service_calibration_rate", "latency_calibration_rate", "spread_calibration_rate"):
            require(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}")
        require(len(self.calibration_bounds) == 2 and 0 < self.calibration_bounds[0] <= 1 <= self.calibration_bounds[1],
                "calibration_bounds must be two numbers, low <= 1 <= high, got " + ",".join(map(str, self.calibration_bounds)))
        require(self.utility in UTILITIES, f"utility must be one of {', '.join(UTILITIES)}, got {self.utility!r}")
        require(all(0 < q < 1 for q in self.headroom_quantiles)
                and list(self.headroom_quantiles) == sorted(set(self.headroom_quantiles)),
                "headroom_quantiles must be increasing and in (0, 1), got "
                + ",".join(map(str, self.headroom_quantiles)))
        require(self.startup_s >= 0, f"startup_s must be >= 0, got {self.startup_s}")
        require(0 < self.percentile < 100, f"percentile must be in (0, 100), got {self.percentile}")
        require(0 < self.max_rho < 1, f"max_rho must be in (0, 1), got {self.max_rho}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpreadParams(FaroParams):
    """``faro-fair`` and ``faro-fairsum`` keep the earlier planner by default. Measured for
    ``faro-fairsum`` (5 seeds): the expectation cost another 0.02 violation at 16-20 CPUs on both days;
    early replans with the change cost helped on day 10 at 20-36 CPUs but cost on day 9 at every quota
    and on day 10 at 16 CPUs. Each can still be turned on."""

    mode: str = "quantile"
    replan_after_s: float = 0.0
    change_cost: float = 0.0
    reversal_cost: float = 0.0
    spread_calibration_rate: float = 0.0  # measured with it: 0.006 more violation at 16 CPUs, 0.007-0.013 less at 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class PenaltyParams(FaroParams):
    """``faro-penaltysum`` makes its accept rates real by default (admission limits): measured on days 9
    and 10 (5 seeds) it cut the violation rate by 0.04-0.10 at 16-20 CPUs at equal lost utility, and by
    up to 0.0002 at 32-36 CPUs for up to 0.003 more lost utility (README, "Overload")."""

    admission: bool = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class OracleParams(FaroParams):
    # "sum": the objective the comparison's metrics add up (see the module docstring for fairsum's).
    objective: str = "sum"
    # The reference limit keeps the planner it was measured with: one quantile plus headroom, no early
    # replans (its band is the true counts' Poisson noise), no change costs, no calibration.
    mode: str = "quantile"
    replan_after_s: float = 0.0
    change_cost: float = 0.0
    reversal_cost: float = 0.0
    service_calibration_rate: float = 0.0
    spread_calibration_rate: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        require(self.objective in OBJECTIVES, f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")


class Faro(Predictive):
    Params = FaroParams

    def __init__(
        self,
        *,
        jobs: Mapping[str, JobSpec],
        quota: Mapping[str, float],
        params: FaroParams,
        objective: str,
        name: str | None = None,
        future: Mapping[str, np.ndarray] | None = None,
        train: Mapping[str, np.ndarray] | None = None,
    ):
        if objective not in OBJECTIVES:
            raise FarodError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        super().__init__(jobs=jobs, params=params, future=future, train=train)
        self.objective = objective
        self.name = name or f"faro-{objective}"
        self._watch = None if not params.replan_after_s else BandWatch(
            after_s=params.replan_after_s, min_interval_s=params.replan_min_interval_s,
            tick_s=params.tick_interval_s, step_s=params.step_s, below=params.replan_below)
        self._spread = SpreadCalibration(rate=params.spread_calibration_rate, band=tuple(params.replan_band))
        self._spread_bands = PlannedBands(step_s=params.step_s) if params.spread_calibration_rate else None
        self._moves = RecentMoves(window_s=params.reversal_window_s) if params.reversal_cost else None
        self._shifts: dict[str, float] = {}  # level shifts of the jobs an early replan is for
        self._planned_utility: dict[str, float] = {}  # per job, what the last plan expected
        self._planned_service: dict[str, float | None] = {}  # per job, the service time it was sized for
        self._calibration = Calibration(
            {key: job.service_time_ms for key, job in self.jobs.items()},
            told_tail_ms={key: job.service_tail_ms for key, job in self.jobs.items()},
            service_rate=params.service_calibration_rate, tail_rate=params.latency_calibration_rate,
            bounds=tuple(params.calibration_bounds), percentile=params.percentile, max_rho=params.max_rho)

    def service_time_ms(self, key: str) -> float | None:
        calibrated = self._calibration.service_time_ms(key)
        return super().service_time_ms(key) if calibrated is None else calibrated

    def plan(self, observation: Observation) -> Decision:
        self._learn(observation)
        return super().plan(observation)

    def react(self, observation: Observation) -> Decision:
        self._learn(observation)
        departed = self._watch.departures(observation) if self._watch else {}
        shifts = {key: shift for key, shift in departed.items() if self._surprised(key, observation.jobs[key])}
        drifted = self._drifted(observation.now) if self._watch else {}
        if not shifts and not drifted:
            return super().react(observation)
        self._shifts = shifts
        try:
            decision = super().plan(observation)
        finally:
            self._shifts = {}
        why = [f"{key} x{shift:.2f} left the forecast band" for key, shift in sorted(shifts.items())]
        why += [f"{key} service time {was:.0f} -> {now:.0f} ms" for key, (was, now) in sorted(drifted.items())]
        return dataclasses.replace(decision, reason=f"early replan ({', '.join(why)}): {decision.reason}")

    def _drifted(self, now: float) -> dict[str, tuple[float, float]]:
        """Jobs whose calibrated service time moved by more than ``replan_service_drift`` since the last
        plan sized them, with (then, now): that plan gave them replicas for another speed."""
        drift = self.params.replan_service_drift
        if not drift or not self._watch.settled(now):
            return {}
        moved = {key: (was, self.service_time_ms(key)) for key, was in self._planned_service.items() if was}
        return {key: (was, now_ms) for key, (was, now_ms) in moved.items() if abs(now_ms / was - 1.0) > drift}

    def _learn(self, observation: Observation) -> None:
        """Every reading corrects the latency model and the forecast spread the next plans use, and
        shows which way each job's replicas moved last."""
        self._calibration.observe(observation)
        if self._moves:
            for key, reading in observation.jobs.items():
                if not reading.stale:
                    self._moves.saw(key, reading.replicas, now=observation.now)
        if self._spread_bands:
            for key, rps, edges in self._spread_bands.readings(observation):
                self._spread.observe(key, rps, low=edges.low, high=edges.high)

    def _surprised(self, key: str, reading: JobObservation) -> bool:
        """Is a job that left its band worth an early replan? Only if its last plan expected it to meet
        its SLO and, by the plans' model, its replicas would now miss it at the rate it sees.

        A departure from the band alone is no reason to move replicas: a job with spare capacity absorbs
        it, and a job the plan already let miss (contention) would only take replicas from others that
        miss too (README, "Closer to the oracle").
        """
        expected_to_meet = self._planned_utility.get(key, 1.0) >= self.params.replan_min_planned_utility
        return expected_to_meet and self._at_risk(key, reading)

    def _at_risk(self, key: str, reading: JobObservation) -> bool:
        """Would the job miss its SLO (by more than the risk margin) at the rate it sees now with the
        replicas it has?"""
        service_ms = self.service_time_ms(key)
        if service_ms is None or reading.replicas < 1:
            return True
        tail_ms = self._calibration.tail_ms(key)
        predicted_s = latency(reading.request_rate, service_ms / 1000.0, reading.replicas,
                              percentile=self.params.percentile, max_rho=self.params.max_rho,
                              tail=None if tail_ms is None else tail_ms / 1000.0)
        return 1000.0 * float(predicted_s) > self.jobs[key].slo_ms * (1.0 + self.params.replan_risk_margin)

    def levels(self) -> list[tuple[float, ...]]:
        """The forecast levels of each solve in turn: the first (one quantile, or the expected levels),
        then one headroom quantile at a time above it."""
        first = (self.params.quantile,) if self.params.mode == "quantile" else self.params.expected_levels
        return [first, *((q,) for q in self.params.headroom_quantiles if q > first[-1])]

    def quantiles(self) -> tuple[float, ...]:
        band = (*self.params.replan_band, 0.5) if self._watch or self._spread_bands else ()
        return tuple(sorted({q for levels in self.levels() for q in levels} | set(band)))

    def decide(self, observation: Observation, forecasts: Mapping[str, JobForecast]) -> Decision:
        own = {key: JobForecast(f.quantiles, f.rates * self._shifts.get(key, 1.0)) for key, f in forecasts.items()}
        forecasts = {key: self._spread.widen(key, f) for key, f in own.items()}
        if self._spread_bands or self._watch:
            self._draw_bands(observation.now, own=own, calibrated=forecasts)
        held = [(self.jobs[key], reading.replicas) for key, reading in observation.jobs.items()
                if key in self.jobs and key not in forecasts]
        quota = remaining(observation.quota, held)
        floors = {key: self.jobs[key].min_replicas for key in forecasts}
        try:
            for levels in self.levels():
                problem = self._problem(observation, forecasts, quota, levels, floors)
                solution = solver.solve(problem)
                if not self._quota_idle(problem, solution.allocation):
                    break
                floors = solution.allocation  # pessimism only adds replicas
            else:
                if self.objective in _SPREAD_OBJECTIVES:
                    solution = self._spend_idle_quota(problem, solution.allocation)
        except FarodError as exc:  # e.g. held jobs leave less than the others' minimums
            return Decision.hold("plan", reason=f"no feasible plan: {exc}")
        plans = {
            key: JobPlan(
                forecast_rps={q: forecasts[key].at(q).round(3).tolist() for q in levels},
                predicted_latency_ms=solution.predicted_latency_ms[key],
                utility=solution.utility[key],
                accept_rate=solution.accept_rate[key],
                replicas=solution.allocation[key],
            )
            for key in forecasts
        }
        self._planned_utility = dict(solution.utility)
        self._planned_service = {key: self.service_time_ms(key) for key in forecasts}
        limits = plan_limits(problem, solution.allocation, solution.accept_rate,
                             max_ongoing=self.params.max_ongoing_requests) if self.params.admission else {}
        return Decision(replicas=solution.allocation, kind="plan", plans=plans, objective=solution.objective,
                        problem=problem, queue_limits=limits,
                        reason=f"{self.objective} at quantile {levels[0]:g}" if len(levels) == 1 else
                        f"{self.objective} expected over quantiles {','.join(f'{q:g}' for q in levels)}")

    def _draw_bands(self, now: float, *, own: Mapping[str, JobForecast], calibrated: Mapping[str, JobForecast]) -> None:
        """Remember this plan's bands: the calibrated ones teach the spread, and an early replan needs a
        surprise by both them and the forecaster's own."""
        bands = self._bands(calibrated)
        if self._spread_bands:
            self._spread_bands.planned(now, bands)
        if self._watch:
            own_bands = self._bands(own)
            self._watch.planned(now, {key: band.union(own_bands[key]) for key, band in bands.items()})

    def _bands(self, forecasts: Mapping[str, JobForecast]) -> dict[str, Band]:
        low, high = self.params.replan_band
        return {key: Band(low=f.at(low), middle=f.at(0.5), high=f.at(high)) for key, f in forecasts.items()}

    def _spend_idle_quota(self, problem: PlanProblem, allocation: Mapping[str, int]) -> solver.Solution:
        """``allocation`` plus the replicas its objective left idle, placed for the most total utility."""
        jobs = tuple(dataclasses.replace(job, min_replicas=allocation[job.name]) for job in problem.jobs)
        filled = solver.solve(dataclasses.replace(problem, jobs=jobs, objective="sum")).allocation
        return solver.evaluate(problem, filled)

    def _problem(self, observation, forecasts, quota, levels, floors) -> PlanProblem:
        weights = tuple(level_weights(levels)) if len(levels) > 1 else None
        jobs = tuple(
            PlanJob(
                **(self.jobs[key].shape() | {"min_replicas": floors[key]}),
                name=key,
                service_time_ms=self.service_time_ms(key),
                service_tail_ms=self._calibration.tail_ms(key),
                rates=np.stack([forecast.at(q) for q in levels]) if weights else forecast.at(levels[0]),
                scenario_weights=weights,
                current_replicas=observation.jobs[key].replicas,
                startup_steps=self.params.startup_s / self.params.step_s,
                last_move=self._moves.last_move(key, now=observation.now) if self._moves else 0,
            )
            for key, forecast in forecasts.items()
        )
        return PlanProblem(jobs=jobs, quota=quota, objective=self.objective, utility=self.params.utility,
                           percentile=self.params.percentile, max_rho=self.params.max_rho,
                           change_cost=self.params.change_cost, reversal_cost=self.params.reversal_cost)

    def _quota_idle(self, problem: PlanProblem, allocation: Mapping[str, int]) -> bool:
        """Could any job get one more replica within the quota and its bounds?"""
        left = remaining(problem.quota, [(self.jobs[job.name], allocation[job.name]) for job in problem.jobs])
        return any(
            (job.max_replicas is None or allocation[job.name] < job.max_replicas)
            and fitting_replicas(self.jobs[job.name], left) >= 1
            for job in problem.jobs
        )
