"""What a person reads after a comparison: a table on the terminal and PNG figures.

Example::

    print(table(records))
    # -> policy         cpus  runs  violation  lost util  p99 ms  dropped  avg replicas  actions/h  decision ms  plan ms
    #    aiad            32      1      0.095       1.71    4214    11175          31.4       12.3         0.02      nan
    bar_chart(records, "out/compare.png"); timeline_figure(result.timeline, "out/timeline-aiad.png", title="aiad")

Rows are (policy, quota) in the order given, each the mean over its runs (seeds x plan phases); the
``replay`` policy's row reads ``replay (what you ran)`` (its records keep the name ``replay``).
``actions/h`` is the churn (changes of a job's replica target per simulated hour), ``decision ms``
the median time of any decision, ``plan ms`` that of the predictive ones alone (``nan`` for policies
without plans). Figures use matplotlib's Agg backend (no display needed): a bar chart of violation
rate and lost utility per policy and quota, and per policy a per-job timeline -- arrivals and replicas
over time, and each minute's p99 latency against the SLO (rejections make a minute's p99 infinite:
drawn at the top of the axis).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from farod.sim.engine import Timeline

_COLUMNS = (
    ("violation", "slo_violation_rate", "{:.3f}"),
    ("lost util", "lost_utility", "{:.2f}"),
    ("p99 ms", "p99_ms", "{:.0f}"),
    ("dropped", "dropped", "{:.0f}"),
    ("avg replicas", "avg_replicas", "{:.1f}"),
    ("actions/h", "scaling_actions_per_hour", "{:.1f}"),
    ("decision ms", "decision_ms_p50", "{:.2f}"),
    ("plan ms", "plan_ms_p50", "{:.1f}"),
)
_MAX_TIMELINE_JOBS = 10
# How a row reads for a person; the JSON records keep the policy's name.
_LABELS = {"replay": "replay (what you ran)"}


def label(policy: str) -> str:
    return _LABELS.get(policy, policy)


def grouped(records: Sequence[dict]) -> list[tuple[str, float, list[dict]]]:
    """(policy, cpus, records over seeds and plan phases), in first-seen order."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for record in records:
        groups.setdefault((record["policy"], record["cpus"]), []).append(record)
    return [(policy, cpus, runs) for (policy, cpus), runs in groups.items()]


def _value(run: dict, field: str) -> float | None:
    if field == "scaling_actions_per_hour":  # churn: replica changes per simulated hour
        return run["scaling_actions"] / (run["minutes"] * run["unit_s"] / 3600.0)
    return run.get(field)


def _mean(runs: list[dict], field: str) -> float:
    values = [value for run in runs if (value := _value(run, field)) is not None]
    return float(np.mean(values)) if values else float("nan")


def table(records: Sequence[dict]) -> str:
    groups = grouped(records)
    width = max([16] + [len(label(policy)) + 2 for policy, _, _ in groups])
    header = f"{'policy':<{width}}{'cpus':>6}{'runs':>7}" + "".join(f"{title:>14}" for title, _, _ in _COLUMNS)
    lines = [header]
    for policy, cpus, runs in groups:
        cells = "".join(f"{fmt.format(_mean(runs, field)):>14}" for _, field, fmt in _COLUMNS)
        lines.append(f"{label(policy):<{width}}{cpus:>6g}{len(runs):>7}" + cells)
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(records: Sequence[dict], path: str | os.PathLike) -> None:
    """Violation rate and lost utility (mean over seeds) per policy, one bar per quota."""
    plt = _pyplot()
    groups = grouped(records)
    names = list(dict.fromkeys(policy for policy, _, _ in groups))
    quotas = list(dict.fromkeys(cpus for _, cpus, _ in groups))
    figure, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.6 * len(names)), 4.5))
    width = 0.8 / len(quotas)
    positions = np.arange(len(names))
    for axis, (title, field) in zip(axes, [("SLO violation rate", "slo_violation_rate"), ("lost utility", "lost_utility")]):
        for q, cpus in enumerate(quotas):
            values = [_mean(runs, field) for policy in names for p, c, runs in groups if p == policy and c == cpus]
            axis.bar(positions + q * width - 0.4 + width / 2, values, width, label=f"{cpus:g} CPUs")
        axis.set_xticks(positions, [label(name) for name in names], rotation=30, ha="right")
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def timeline_figure(timeline: Timeline, path: str | os.PathLike, *, title: str) -> None:
    """Per job (the first ten): arrivals and replicas per minute; per-minute p99 against the SLO."""
    plt = _pyplot()
    from matplotlib import ticker

    shown = min(len(timeline.keys), _MAX_TIMELINE_JOBS)
    figure, axes = plt.subplots(shown, 2, figsize=(13, 1.9 * shown + 0.8), sharex=True, squeeze=False)
    minutes = np.arange(timeline.arrivals.shape[1]) * timeline.unit_s / 60
    for j in range(shown):
        load, latency = axes[j]
        load.plot(minutes, timeline.arrivals[j], color="tab:gray", lw=0.8)
        load.set_ylabel("req/unit", fontsize=7)
        replicas = load.twinx()
        replicas.step(minutes, timeline.replicas[j], where="post", color="tab:blue", lw=1.0)
        replicas.set_ylabel("replicas", fontsize=7, color="tab:blue")
        load.set_title(timeline.keys[j], fontsize=8, loc="left")
        p99 = timeline.p99_ms[j]
        ceiling = 10 * timeline.slo_ms[j]
        latency.plot(minutes, np.minimum(p99, ceiling), color="tab:red", lw=0.8)
        latency.axhline(timeline.slo_ms[j], color="black", ls="--", lw=0.8)
        latency.set_yscale("log")
        latency.set_ylim(timeline.slo_ms[j] / 10, ceiling * 1.1)
        # Fixed ticks: matplotlib's automatic log ticks cost seconds per figure of this many axes.
        latency.yaxis.set_major_locator(ticker.FixedLocator(timeline.slo_ms[j] * np.array([0.1, 1, 10])))
        latency.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        latency.yaxis.set_minor_locator(ticker.NullLocator())
        latency.set_ylabel("p99 ms", fontsize=7)
    axes[-1][0].set_xlabel("minute")
    axes[-1][1].set_xlabel("minute")
    extra = f" (first {shown} of {len(timeline.keys)} jobs)" if shown < len(timeline.keys) else ""
    figure.suptitle(f"{title}{extra}: arrivals (gray), replicas (blue); p99 (red) vs SLO (dashed)", fontsize=10)
    figure.subplots_adjust(left=0.06, right=0.97, bottom=0.4 / figure.get_figheight(), top=1 - 0.5 / figure.get_figheight(),
                           wspace=0.25, hspace=0.45)  # fmt: skip
    figure.savefig(path, dpi=90)
    plt.close(figure)
