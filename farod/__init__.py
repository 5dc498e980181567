"""farod: an SLO-aware autoscaler for Ray Serve inference jobs sharing a fixed quota.

Layers, each importing only those below it::

    model      queueing latency, utility, allocation solver (pure numpy/scipy)
    forecast   per-minute load forecasters (statsmodels)
    policies   pure decision logic: observation in, desired replicas out
    signals    Prometheus readings          actuators   Ray Serve / RayService / dry-run
    daemon     the live control loop        sim         trace-driven simulator and suites

The command line (:mod:`farod.cli`) is a thin layer over all of them.
"""

__version__ = "0.1.0"
