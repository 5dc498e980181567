"""Trace-driven simulation of Ray Serve jobs sharing a quota, driving the very same policy objects.

Example::

    from farod.sim import Scenario, run
    scenario = Scenario(trace=read_trace(path), quota={"cpu": 32}, seed=42)
    run(scenario, farod.policies.create("aiad", jobs=scenario.jobs, quota=scenario.quota)).record

Modules, one concept each:

- :mod:`.config` -- parameters (Faro evaluation defaults, overridable from a YAML/JSON file);
- :mod:`.kernel` -- the compiled request-level loop (arrivals, proxies, queues, replicas);
- :mod:`.cluster` -- pods, the quota, start-up and reaping: what a scaling request becomes;
- :mod:`.engine` -- one run: the policy schedule, observations, the record;
- :mod:`.metrics` -- the Faro evaluation metrics from per-request latencies;
- :mod:`.suite` -- many runs (policies x quotas x seeds) on local cores or a Ray cluster;
- :mod:`.report` -- the table and the figures.
"""

from farod.sim.config import SimConfig, load_config
from farod.sim.engine import RunResult, Scenario, Timeline, run

__all__ = ["RunResult", "Scenario", "SimConfig", "Timeline", "load_config", "run"]
