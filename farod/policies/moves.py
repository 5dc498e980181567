"""Which way each job's replicas moved last, if recently: the memory behind reversal hysteresis.

Example::

    >>> moves = RecentMoves(window_s=1800)
    >>> for now, replicas in [(0, 3), (10, 4), (20, 4)]:
    ...     moves.saw("a/m", replicas, now=now)
    >>> moves.last_move("a/m", now=20), moves.last_move("a/m", now=1811), moves.last_move("b/m", now=20)
    (1, 0, 0)

A plan that undoes a move made minutes ago is mostly chasing noise in the forecasts: in expected mode
a job's utility is smooth in its forecast, so two jobs' last replica can trade places at one plan and
trade back at the next (day 9 at 36 CPUs, seed 42: a replica went from job 4 to job 6 at minute 210
and back at 245). Faro prices a replica moved against a job's last move within ``window_s`` higher
than any other move (``reversal_cost``, :class:`farod.model.problem.PlanProblem`), a Schmitt trigger
on each job's replica count; README, "Closer to the oracle", has the churn it saves.

The moves are read off the targets the cluster is asked for, whoever set them (a plan, the fallback,
an operator), so a restarted daemon starts with no memory rather than a wrong one.
"""

from __future__ import annotations


class RecentMoves:
    """Per job: the last change of its replica target, as (direction, when)."""

    def __init__(self, *, window_s: float):
        self.window_s = float(window_s)
        self._target: dict[str, int] = {}
        self._moved: dict[str, tuple[int, float]] = {}

    def saw(self, job: str, replicas: int, *, now: float) -> None:
        """Record ``job``'s replica target at ``now``; a change from the last one seen is a move."""
        seen = self._target.get(job)
        if seen is not None and replicas != seen:
            self._moved[job] = (1 if replicas > seen else -1, now)
        self._target[job] = replicas

    def last_move(self, job: str, *, now: float) -> int:
        """+1 or -1 if ``job``'s replicas moved up or down within the window before ``now``, else 0."""
        direction, when = self._moved.get(job, (0, -float("inf")))
        return direction if now - when <= self.window_s else 0
