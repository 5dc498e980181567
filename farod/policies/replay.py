"""Replay: the replica counts a trace recorded, i.e. what the user actually ran, as a policy.

Example::

    recording = Recording(unit_s=60, replicas={"a/m": np.array([2, 3, np.nan, 5])})
    policy = Replay(jobs=jobs, recording=recording, params=ReplayParams())
    policy.react(Observation(now=130, jobs={}, quota={"cpu": 8})).replicas
    # -> {'a/m': 3}

``farod compare`` puts it beside every policy, so the table answers "how would farod have done on my
traffic, against what I run today?" on the same requests and metrics. At ``now`` it asks for the count
recorded for the unit ``now + lead_s`` falls in (``lead_s``: ask ahead by the replica start-up time so
the replicas run when the record says they ran); units without a record repeat the last recorded count
(before the first record: the first). The shared guards (bounds, step limits) and the quota apply as to
any policy: a replay under a smaller quota gets what fits.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from farod.errors import FarodError, require
from farod.jobs import JobSpec
from farod.policies.base import Decision, Observation
from farod.policies.params import Configured


@dataclasses.dataclass(frozen=True, kw_only=True)
class Recording:
    """Recorded running replicas per job key, one value per trace unit (NaN: not recorded)."""

    unit_s: float
    replicas: Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplayParams:
    tick_interval_s: float = 10.0  # how often the recorded count is asserted
    lead_s: float = 0.0  # ask for a unit's count this long before the unit starts

    def __post_init__(self):
        require(math.isfinite(self.tick_interval_s) and self.tick_interval_s > 0,
                f"tick_interval_s must be > 0, got {self.tick_interval_s}")  # fmt: skip
        require(math.isfinite(self.lead_s) and self.lead_s >= 0, f"lead_s must be >= 0, got {self.lead_s}")


class Replay(Configured):
    name = "replay"
    Params = ReplayParams

    def __init__(self, *, jobs: Mapping[str, JobSpec], recording: Recording | None, params: ReplayParams):
        super().__init__(jobs=jobs, params=params)
        if recording is None:
            raise FarodError("policy replay: the trace records no replicas (a 'replicas' field per line, "
                             "as `farod trace export` writes)")  # fmt: skip
        self.unit_s = recording.unit_s
        self.schedule = {key: _held(key, recording.replicas.get(key)) for key in self.jobs}

    def react(self, observation: Observation) -> Decision:
        return Decision(replicas={key: self.at(key, observation.now) for key in self.schedule}, kind="react",
                        reason="recorded replicas")  # fmt: skip

    def at(self, key: str, now: float) -> int:
        counts = self.schedule[key]
        unit = int((now + self.params.lead_s) // self.unit_s)
        return int(counts[min(max(unit, 0), counts.size - 1)])


def _held(key: str, recorded: np.ndarray | None) -> np.ndarray:
    """The recorded counts with every unrecorded unit holding the previous record (leading: the first)."""
    values = None if recorded is None else np.asarray(recorded, dtype=float)
    if values is None or values.size == 0 or np.isnan(values).all():
        raise FarodError(f"policy replay: the trace records no replicas for job {key!r}")
    known = ~np.isnan(values)
    last = np.maximum.accumulate(np.where(known, np.arange(values.size), -1))
    last[last < 0] = np.flatnonzero(known)[0]
    return values[last].astype(int)
