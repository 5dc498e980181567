"""Reversal hysteresis: the memory of each job's last move, and Faro's plans weighing it, on a fake clock."""

import numpy as np
from policy_fakes import observe, reading, specs

from farod.policies import create
from farod.policies.moves import RecentMoves

MINUTES = 40


def test_a_move_is_remembered_for_the_window_and_replaced_by_the_next():
    moves = RecentMoves(window_s=600)
    moves.saw("a/m", 3, now=0)
    assert moves.last_move("a/m", now=0) == 0  # the first target seen is no move
    moves.saw("a/m", 5, now=100)
    moves.saw("a/m", 5, now=200)  # the same target again moves nothing
    assert [moves.last_move("a/m", now=t) for t in (100, 700, 701)] == [1, 1, 0]
    moves.saw("a/m", 4, now=300)
    assert moves.last_move("a/m", now=800) == -1
    assert moves.last_move("b/m", now=800) == 0


def _policy(**params):
    params = {"forecaster": "last", "headroom_quantiles": "", "replan_after_s": 0, "reversal_cost": 0.5,
              "reversal_window_s": 600, **params}
    return create("faro-sum", jobs=specs("a", "b", service_time_ms=180.0), quota={"cpu": 8}, params=params)


def _plan_after(policy, moved: dict[str, tuple[int, int]], *, at: float) -> dict[str, int]:
    """Targets go from moved[job][0] to [1] at 10 s; then the plan at ``at`` (a needs 5, b 3 replicas)."""
    history = {"a": np.full(MINUTES, 20 * 60.0), "b": np.full(MINUTES, 4 * 60.0)}
    for t, side in ((0, 0), (10, 1)):
        policy.react(observe(t, quota=8, **{k: reading(history=h, replicas=moved[k][side]) for k, h in history.items()}))
    return policy.plan(observe(at, quota=8, **{k: reading(history=h, replicas=4) for k, h in history.items()})).replicas


def test_a_plan_does_not_undo_a_recent_move_for_a_small_gain():
    undo = {"a": (5, 4), "b": (3, 4)}  # moving a back up and b back down gains ~0.4 utility
    assert _plan_after(_policy(reversal_cost=0), undo, at=300) == {"a/m": 5, "b/m": 3}
    assert _plan_after(_policy(), undo, at=300) == {"a/m": 4, "b/m": 4}  # 2 replicas x 0.5 > 0.4
    assert _plan_after(_policy(), undo, at=700) == {"a/m": 5, "b/m": 3}  # the window has passed


def test_a_move_in_the_same_direction_costs_no_more():
    onward = {"a": (3, 4), "b": (5, 4)}
    assert _plan_after(_policy(), onward, at=300) == {"a/m": 5, "b/m": 3}


def test_stale_readings_are_no_moves():
    policy = _policy()
    history = np.full(MINUTES, 20 * 60.0)
    # a stale reading's target (9 here) is no evidence: counted, it would make 4 -> 9 -> 4 a move down
    for t, a in ((0, reading(history=history, replicas=4)), (10, reading(history=history, replicas=9, stale=True))):
        policy.react(observe(t, quota=8, a=a, b=reading(history=history, replicas=4)))
    assert _plan_after(policy, {"a": (4, 4), "b": (4, 4)}, at=300) == {"a/m": 5, "b/m": 3}
