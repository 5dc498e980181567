"""The compiled inner loop: requests through proxies, deployment queues and replicas, between two ticks.

Example::

    state = KernelState.allocate(rates=np.full((1, 2), 5.0), unit_s=60.0, seed=42, ...)
    start_replica(state, job=0, ready_at=0.0, now=0.0)
    advance(state, t_end=10.0)      # simulate every job up to t=10 s, no policy involved

Why compiled: a 6-hour, 10-job run is about 2.5 million requests, each several events; a Python
event loop spends minutes on that, a numba loop a second. Only the per-request work lives here.
Everything decided at a tick (which replica to add or remove, pods, the quota, policies) stays in
Python (:mod:`farod.sim.cluster`, :mod:`farod.sim.engine`), which calls :func:`advance` from one
tick to the next and edits replicas between calls with :func:`start_replica`/:func:`remove_replica`.

The compiled functions take the whole state as one :class:`Arrays` named tuple (numba compiles a
named tuple to a struct). The helpers are inlined into :func:`_advance`, which runs without numba's
reference counting (``_nrt=False``: it allocates nothing, its scratch request lives in ``Arrays``), so
reading ``s.replica_i`` in the request loop costs no atomic increment -- about twice as fast as
counting references for every array the loop touches.

Jobs do not interact between two ticks (they only share the quota, which moves at ticks), so
:func:`advance` simulates them one after the other, each with its own small event heap.

A request of job ``j``:

1. arrives at the proxy (Poisson process whose rate is the trace count of the current unit divided by
   the unit length; the gap is redrawn at a unit boundary, which is exact for a memoryless process),
   or at the next time of a given ``schedule`` (the artifact's arrivals, :func:`exact_arrivals`);
2. reaches the deployment after a proxy delay (requests in transit are kept sorted by that time);
3. is assigned to the ready replica with the fewest requests in flight, if one has fewer than
   ``max_ongoing``; otherwise waits in the deployment queue, or is rejected (latency +inf) if the
   job's ``queue_cap`` requests already wait (with ``observe_drops`` the rejection also enters the
   observed window statistics with its two proxy delays as latency, as the Faro artifact's metrics had
   it); every job starts with the run's cap, and :meth:`KernelState.set_queue_cap` changes one job's between ticks
   (an admission limit, Ray Serve's ``max_queued_requests``);
4. is served FIFO by its replica, one request at a time, then pays a second proxy delay on the way
   back. A replica that frees a slot takes the head of the deployment queue.

Random numbers: every job has its own SplitMix64 stream, drawn in the job's arrival order only, so the
i-th request of a job has the same arrival time, delays and service time under every policy (common
random numbers make policy comparisons less noisy) and the same seed gives the same run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numba
import numpy as np

# Replica states.
FREE, STARTING, READY, DRAINING, DRAINED = 0, 1, 2, 3, 4

# Columns of the per-replica float table.
READY_AT, BUSY_UNTIL, DRAINED_AT = 0, 1, 2
# Columns of the per-replica int table.
STATE, HEAD, LENGTH = 0, 1, 2
# Columns of a request (local queues, deployment queue, transit, next arrival).
ARRIVAL, BACK_DELAY, SERVICE, REACH = 0, 1, 2, 3
# Columns of the per-job float table.
LAST_EVENT, ONGOING_INTEGRAL = 0, 1
# Columns of the per-job int table.
(ONGOING, ARRIVED, QUEUE_HEAD, QUEUE_LENGTH, TRANSIT, UNIT, HEAP_SIZE, READY_COUNT, RING_NEXT, RING_COUNT, SCHEDULED,
 REJECTED) = range(12)
# Columns of the per-job distribution table: shifted lognormals (shape, loc s, scale s).
SERVICE_DIST, PROXY_DIST = 0, 3
# Columns of the completion ring (window statistics).
RING_TIME, RING_LATENCY, RING_SERVICE = 0, 1, 2

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


class Arrays(NamedTuple):
    """The state the compiled functions work on (J jobs, R replica slots, U trace units, N outputs)."""

    rates: np.ndarray  # (J, U) arrival rate (req/s) of each trace unit
    unit_s: float
    dist: np.ndarray  # (J, 6) service and proxy shifted lognormals, seconds
    max_ongoing: int
    queue_cap: np.ndarray  # (J,) requests that may wait in each job's deployment queue
    observe_drops: bool  # rejected requests enter the window statistics (latency: their proxy delays)
    schedule: np.ndarray  # (N,) given arrival times, job after job, each job's sorted; empty: Poisson
    schedule_start: np.ndarray  # (J + 1,) where each job's times start in ``schedule``; empty: Poisson
    rng: np.ndarray  # (J,) uint64 stream states
    next_request: np.ndarray  # (J, 4) the job's next arrival
    replica_f: np.ndarray  # (J, R, 3)
    replica_i: np.ndarray  # (J, R, 3)
    local: np.ndarray  # (J, R, M, 3) requests assigned to each replica, a ring of max_ongoing
    queue: np.ndarray  # (J, Q, 3) the deployment queue, a ring (Q >= every queue_cap)
    transit: np.ndarray  # (J, T, 4) sorted by REACH
    heap_time: np.ndarray  # (J, R) one pending event per replica at most
    heap_slot: np.ndarray  # (J, R)
    ready: np.ndarray  # (J, R) slots of the ready replicas
    job_f: np.ndarray  # (J, 2)
    job_i: np.ndarray  # (J, 12)
    arrivals: np.ndarray  # (J, U) requests that arrived in each unit
    ring: np.ndarray  # (J, W, 3) latest completions
    out_job: np.ndarray  # (N,) int16 finished requests: job,
    out_unit: np.ndarray  # (N,) int16 (int32 for very long traces) arrival unit,
    out_latency: np.ndarray  # (N,) float32 latency in s (+inf: rejected)
    out_count: np.ndarray  # (1,) int64 filled length of the out_* arrays
    request: np.ndarray  # (4,) the request being delivered (scratch)


@dataclasses.dataclass
class KernelState:
    """All mutable state of the request-level simulation; ``arrays`` is what the compiled code takes."""

    arrays: Arrays  # replaced when the output arrays grow, so hold the state, not its arrays

    @classmethod
    def allocate(
        cls,
        *,
        rates: np.ndarray,
        unit_s: float,
        seed: int,
        service: np.ndarray,
        proxy: np.ndarray,
        slots: int,
        max_ongoing: int,
        queue_cap: int,
        ring_size: int,
        transit_size: int,
        expected_requests: int,
        observe_drops: bool = False,
        schedule: list[np.ndarray] | None = None,
    ) -> "KernelState":
        """Empty cluster; ``service``/``proxy`` are (J, 3) arrays of (shape, loc s, scale s).

        ``schedule``: per job, its arrival times (else a Poisson process at ``rates``)."""
        jobs, units = rates.shape
        starts = np.cumsum([0] + [len(times) for times in schedule]) if schedule is not None else []
        state = cls(Arrays(
            rates=np.ascontiguousarray(rates, dtype=np.float64),
            unit_s=float(unit_s),
            dist=np.ascontiguousarray(np.hstack([service, proxy]), dtype=np.float64),
            max_ongoing=int(max_ongoing),
            queue_cap=np.full(jobs, int(queue_cap), dtype=np.int64),
            observe_drops=bool(observe_drops),
            schedule=np.concatenate([np.zeros(0), *(schedule or [])]).astype(np.float64),
            schedule_start=np.asarray(starts, dtype=np.int64),
            rng=_seed_streams(seed, jobs),
            next_request=np.zeros((jobs, 4)),
            replica_f=np.zeros((jobs, slots, 3)),
            replica_i=np.zeros((jobs, slots, 3), dtype=np.int64),
            local=np.zeros((jobs, slots, max_ongoing, 3)),
            queue=np.zeros((jobs, max(queue_cap, 1), 3)),
            transit=np.zeros((jobs, transit_size, 4)),
            heap_time=np.zeros((jobs, slots)),
            heap_slot=np.zeros((jobs, slots), dtype=np.int64),
            ready=np.zeros((jobs, slots), dtype=np.int64),
            job_f=np.zeros((jobs, 2)),
            job_i=np.zeros((jobs, 12), dtype=np.int64),
            arrivals=np.zeros((jobs, units), dtype=np.int64),
            ring=np.zeros((jobs, ring_size, 3)),
            out_job=np.zeros(expected_requests, dtype=np.int16),
            out_unit=np.zeros(expected_requests, dtype=np.int16 if units <= np.iinfo(np.int16).max else np.int32),
            out_latency=np.zeros(expected_requests, dtype=np.float32),
            out_count=np.zeros(1, dtype=np.int64),
            request=np.zeros(4),
        ))
        for job in range(jobs):
            _draw_next(state.arrays, job, 0.0, 0)
        return state

    def grow_output(self) -> None:
        """Double the finished-request arrays (the trace's counts are only the Poisson means)."""
        size = 2 * len(self.arrays.out_latency)
        grown = {}
        for name in ("out_job", "out_unit", "out_latency"):
            old = getattr(self.arrays, name)
            grown[name] = np.zeros(size, dtype=old.dtype)
            grown[name][: len(old)] = old
        self.arrays = self.arrays._replace(**grown)

    def set_queue_cap(self, job: int, cap: int) -> None:
        """Let at most ``cap`` requests of ``job`` wait from now on (those already waiting stay); the
        queue rings grow, unrolled, when ``cap`` is longer than they are."""
        arrays = self.arrays
        size = arrays.queue.shape[1]
        if cap > size:
            index = (arrays.job_i[:, QUEUE_HEAD, None] + np.arange(size)[None, :]) % size
            grown = np.zeros((arrays.queue.shape[0], max(cap, 2 * size), 3))
            grown[:, :size] = np.take_along_axis(arrays.queue, index[:, :, None], axis=1)
            arrays.job_i[:, QUEUE_HEAD] = 0
            self.arrays = arrays._replace(queue=grown)
        self.arrays.queue_cap[job] = cap

    def finished(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(job, arrival unit, latency s) of every finished or rejected request so far."""
        arrays = self.arrays
        count = int(arrays.out_count[0])
        return arrays.out_job[:count], arrays.out_unit[:count], arrays.out_latency[:count]


def advance(state: KernelState, t_end: float) -> None:
    """Simulate every job up to ``t_end``, events at ``t_end`` included: a tick sees what happened by then."""
    while _advance(state.arrays, t_end):
        state.grow_output()


def start_replica(state: KernelState, *, job: int, ready_at: float, now: float) -> int:
    """Put a new replica of ``job`` in a free slot, serving from ``ready_at``; returns the slot."""
    return _start_replica(state.arrays, job, ready_at, now)


def remove_replica(state: KernelState, *, job: int, slot: int) -> bool:
    """Stop sending requests to a replica; True if it still drains requests in flight."""
    return _remove_replica(state.arrays, job, slot)


def window_stats(state: KernelState, *, since: float) -> np.ndarray:
    """Per job: (completions, mean latency s, p99 latency s, mean service s) of requests finished after ``since``
    (completions and latencies include observed rejections, see ``observe_drops``)."""
    return _window_stats(state.arrays, since)


def warm_up() -> None:
    """Load (or, the first time on a machine, compile) every compiled function, e.g. before forking workers."""
    one = np.array([[0.0, 0.001, 0.0]])
    state = KernelState.allocate(
        rates=np.ones((1, 1)), unit_s=60.0, seed=0, service=one, proxy=one, slots=1, max_ongoing=1, queue_cap=1,
        ring_size=8, transit_size=8, expected_requests=8,
    )  # fmt: skip
    slot = start_replica(state, job=0, ready_at=1.0, now=0.0)
    advance(state, 60.0)
    window_stats(state, since=0.0)
    remove_replica(state, job=0, slot=slot)


def exact_arrivals(counts: np.ndarray, unit_s: float, seed: int) -> list[np.ndarray]:
    """Per job, arrival times as the Faro artifact made them: each unit's exact count, the first at the
    unit's start, then exponential gaps of ``unit_s / count`` (a unit may spill into the next; the last
    unit's spill is held at the trace's end, so every request belongs to a unit of the trace)."""
    schedule = []
    for job, per_unit in enumerate(np.asarray(counts, dtype=np.int64)):
        rng = np.random.default_rng([seed, job])
        per_unit = np.maximum(per_unit, 0)
        units = np.repeat(np.arange(len(per_unit)), per_unit)
        gaps = rng.exponential(1.0, units.size) * (unit_s / np.maximum(per_unit, 1))[units]
        elapsed = np.cumsum(gaps) - gaps  # within the whole job; made relative to each unit's first below
        firsts = np.cumsum(per_unit) - per_unit
        times = units * unit_s + elapsed - elapsed[firsts[units]] if units.size else elapsed
        schedule.append(np.sort(np.minimum(times, len(per_unit) * unit_s * (1 - 1e-12))))
    return schedule


def _seed_streams(seed: int, jobs: int) -> np.ndarray:
    sequence = np.random.SeedSequence(seed)
    return sequence.generate_state(jobs, dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# Compiled part: ``s`` is the :class:`Arrays` of the run.


@numba.njit(cache=True, inline="always")
def _uniform(rng, job):
    """A float in (0, 1] from the job's SplitMix64 stream."""
    rng[job] += _GOLDEN
    z = rng[job]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)) + np.uint64(1)) * _TWO_TO_MINUS_53


@numba.njit(cache=True, inline="always")
def _shifted_lognormal(s, job, column):
    dist = s.dist
    shape = dist[job, column]
    if shape == 0.0:
        return dist[job, column + 1] + dist[job, column + 2]
    normal = math.sqrt(-2.0 * math.log(_uniform(s.rng, job))) * math.cos(2.0 * math.pi * _uniform(s.rng, job))
    return dist[job, column + 1] + dist[job, column + 2] * math.exp(shape * normal)


@numba.njit(cache=True, inline="always")
def _draw_request(s, job, arrival, unit):
    """The job's next request arrives at ``arrival``: draw its delays and service time."""
    next_request = s.next_request
    next_request[job, ARRIVAL] = arrival
    next_request[job, REACH] = arrival + _shifted_lognormal(s, job, PROXY_DIST)
    next_request[job, BACK_DELAY] = _shifted_lognormal(s, job, PROXY_DIST)
    next_request[job, SERVICE] = _shifted_lognormal(s, job, SERVICE_DIST)
    s.job_i[job, UNIT] = unit


@numba.njit(cache=True, inline="always")
def _draw_next(s, job, t, unit):
    """Draw the job's next arrival after ``t`` (in trace unit ``unit``) with its delays and service time."""
    rates, job_i, schedule_start = s.rates, s.job_i, s.schedule_start
    units = rates.shape[1]
    if schedule_start.shape[0] > 0:
        index = schedule_start[job] + job_i[job, SCHEDULED]
        if index < schedule_start[job + 1]:
            job_i[job, SCHEDULED] += 1
            arrival = s.schedule[index]
            _draw_request(s, job, arrival, int(arrival / s.unit_s))
            return
        unit = units
    while unit < units:
        rate = rates[job, unit]
        unit_end = (unit + 1) * s.unit_s
        if rate > 0.0:
            candidate = t - math.log(_uniform(s.rng, job)) / rate
            if candidate < unit_end:
                _draw_request(s, job, candidate, unit)
                return
        t = unit_end
        unit += 1
    s.next_request[job, ARRIVAL] = np.inf
    job_i[job, UNIT] = units


@numba.njit(cache=True, inline="always")
def _sift_up(s, job, i, time):
    """Move parents later than ``time`` down from position ``i``; returns where ``time`` belongs."""
    heap_time, heap_slot = s.heap_time, s.heap_slot
    while i > 0:
        parent = (i - 1) >> 1
        if heap_time[job, parent] <= time:
            break
        heap_time[job, i] = heap_time[job, parent]
        heap_slot[job, i] = heap_slot[job, parent]
        i = parent
    return i


@numba.njit(cache=True, inline="always")
def _heap_push(s, job, time, slot):
    i = _sift_up(s, job, s.job_i[job, HEAP_SIZE], time)
    s.job_i[job, HEAP_SIZE] += 1
    s.heap_time[job, i] = time
    s.heap_slot[job, i] = slot


@numba.njit(cache=True, inline="always")
def _heap_delete(s, job, index):
    """Remove entry ``index``: move the last entry there and restore the heap order both ways."""
    heap_time, heap_slot = s.heap_time, s.heap_slot
    last = s.job_i[job, HEAP_SIZE] - 1
    s.job_i[job, HEAP_SIZE] = last
    if index == last:
        return
    time = heap_time[job, last]
    slot = heap_slot[job, last]
    i = _sift_up(s, job, index, time)
    while True:
        child = 2 * i + 1
        if child >= last:
            break
        if child + 1 < last and heap_time[job, child + 1] < heap_time[job, child]:
            child += 1
        if heap_time[job, child] >= time:
            break
        heap_time[job, i] = heap_time[job, child]
        heap_slot[job, i] = heap_slot[job, child]
        i = child
    heap_time[job, i] = time
    heap_slot[job, i] = slot


@numba.njit(cache=True, inline="always")
def _begin_service(s, job, slot, now):
    head = s.replica_i[job, slot, HEAD]
    finish = now + s.local[job, slot, head, SERVICE]
    s.replica_f[job, slot, BUSY_UNTIL] = finish
    _heap_push(s, job, finish, slot)


@numba.njit(cache=True, inline="always")
def _assign(s, job, slot, request):
    """Append a request (ARRIVAL, BACK_DELAY, SERVICE) to a replica's local queue."""
    replica_i = s.replica_i
    position = (replica_i[job, slot, HEAD] + replica_i[job, slot, LENGTH]) % s.max_ongoing
    for column in range(3):
        s.local[job, slot, position, column] = request[column]
    replica_i[job, slot, LENGTH] += 1


@numba.njit(cache=True, inline="always")
def _take_from_queue(s, job, slot):
    head = s.job_i[job, QUEUE_HEAD]
    _assign(s, job, slot, s.queue[job, head])
    s.job_i[job, QUEUE_HEAD] = (head + 1) % s.queue.shape[1]
    s.job_i[job, QUEUE_LENGTH] -= 1


@numba.njit(cache=True, inline="always")
def _fill_from_queue(s, job, slot, now):
    """A replica just became ready: give it waiting requests up to its in-flight limit."""
    while s.replica_i[job, slot, LENGTH] < s.max_ongoing and s.job_i[job, QUEUE_LENGTH] > 0:
        _take_from_queue(s, job, slot)
    if s.replica_i[job, slot, LENGTH] > 0:
        _begin_service(s, job, slot, now)


@numba.njit(cache=True, inline="always")
def _record(s, job, arrival, latency):
    n = s.out_count[0]
    s.out_job[n] = job
    s.out_unit[n] = int(arrival / s.unit_s)
    s.out_latency[n] = latency
    s.out_count[0] = n + 1


@numba.njit(cache=True, inline="always")
def _observe(s, job, now, latency, service):
    """Enter a finished request in the ring the window statistics read (``service`` NaN: rejected)."""
    ring, job_i = s.ring, s.job_i
    ring_size = ring.shape[1]
    position = job_i[job, RING_NEXT]
    ring[job, position, RING_TIME] = now
    ring[job, position, RING_LATENCY] = latency
    ring[job, position, RING_SERVICE] = service
    job_i[job, RING_NEXT] = (position + 1) % ring_size
    job_i[job, RING_COUNT] = min(job_i[job, RING_COUNT] + 1, ring_size)


@numba.njit(cache=True, inline="always")
def _deliver(s, job, now, request):
    """A request reaches the deployment: least-loaded ready replica, else the queue, else rejected."""
    job_i, ready, replica_i = s.job_i, s.ready, s.replica_i
    best = -1
    best_length = s.max_ongoing
    for k in range(job_i[job, READY_COUNT]):
        slot = ready[job, k]
        length = replica_i[job, slot, LENGTH]
        if length < best_length:
            best, best_length = slot, length
            if length == 0:
                break
    if best >= 0:
        _assign(s, job, best, request)
        job_i[job, ONGOING] += 1
        if best_length == 0:
            _begin_service(s, job, best, now)
    elif job_i[job, QUEUE_LENGTH] < s.queue_cap[job]:
        position = (job_i[job, QUEUE_HEAD] + job_i[job, QUEUE_LENGTH]) % s.queue.shape[1]
        for column in range(3):
            s.queue[job, position, column] = request[column]
        job_i[job, QUEUE_LENGTH] += 1
        job_i[job, ONGOING] += 1
    else:
        _record(s, job, request[ARRIVAL], np.inf)
        job_i[job, REJECTED] += 1
        if s.observe_drops:  # the 503 goes back through the proxy: what a latency metric then sees
            _observe(s, job, now, now - request[ARRIVAL] + request[BACK_DELAY], np.nan)


@numba.njit(cache=True, inline="always")
def _complete(s, job, slot, now):
    """The replica's head request finishes; it takes the next one, or finishes draining."""
    replica_i, local, job_i = s.replica_i, s.local, s.job_i
    head = replica_i[job, slot, HEAD]
    arrival = local[job, slot, head, ARRIVAL]
    service = local[job, slot, head, SERVICE]
    latency = now + local[job, slot, head, BACK_DELAY] - arrival
    _record(s, job, arrival, latency)
    _observe(s, job, now, latency, service)
    job_i[job, ONGOING] -= 1
    replica_i[job, slot, HEAD] = (head + 1) % s.max_ongoing
    replica_i[job, slot, LENGTH] -= 1
    if replica_i[job, slot, STATE] == READY and job_i[job, QUEUE_LENGTH] > 0:
        _take_from_queue(s, job, slot)
    if replica_i[job, slot, LENGTH] > 0:
        _begin_service(s, job, slot, now)
    elif replica_i[job, slot, STATE] == DRAINING:
        replica_i[job, slot, STATE] = DRAINED
        s.replica_f[job, slot, DRAINED_AT] = now


@numba.njit(cache=True, inline="always")
def _become_ready(s, job, slot, now):
    s.replica_i[job, slot, STATE] = READY
    s.ready[job, s.job_i[job, READY_COUNT]] = slot
    s.job_i[job, READY_COUNT] += 1
    _fill_from_queue(s, job, slot, now)


@numba.njit(cache=True, inline="always")
def _enter_transit(s, job):
    """Insert the job's next request among those in transit, keeping them sorted by REACH."""
    transit, next_request = s.transit, s.next_request
    count = s.job_i[job, TRANSIT]
    if count == transit.shape[1]:
        raise ValueError("more requests in transit than the simulator holds")
    reach = next_request[job, REACH]
    i = count
    while i > 0 and transit[job, i - 1, REACH] > reach:
        for column in range(4):
            transit[job, i, column] = transit[job, i - 1, column]
        i -= 1
    for column in range(4):
        transit[job, i, column] = next_request[job, column]
    s.job_i[job, TRANSIT] = count + 1


@numba.njit(cache=True, inline="always")
def _leave_transit(s, job, request):
    transit = s.transit
    for column in range(4):
        request[column] = transit[job, 0, column]
    count = s.job_i[job, TRANSIT] - 1
    for i in range(count):
        for column in range(4):
            transit[job, i, column] = transit[job, i + 1, column]
    s.job_i[job, TRANSIT] = count


@numba.njit(cache=True, _nrt=False)
def _advance(s, t_end):
    """Run every job to ``t_end``; returns True (early) when the output arrays are full."""
    job_f, job_i, heap_time, heap_slot, transit = s.job_f, s.job_i, s.heap_time, s.heap_slot, s.transit
    next_request, out_count, replica_i, arrivals = s.next_request, s.out_count, s.replica_i, s.arrivals
    capacity = s.out_latency.shape[0]
    request = s.request
    for job in range(s.rates.shape[0]):
        while True:
            t_heap = heap_time[job, 0] if job_i[job, HEAP_SIZE] > 0 else np.inf
            t_transit = transit[job, 0, REACH] if job_i[job, TRANSIT] > 0 else np.inf
            t_arrival = next_request[job, ARRIVAL]
            now = min(t_heap, t_transit, t_arrival)
            if now > t_end or now == np.inf:
                break
            if out_count[0] >= capacity:
                return True
            job_f[job, ONGOING_INTEGRAL] += job_i[job, ONGOING] * (now - job_f[job, LAST_EVENT])
            job_f[job, LAST_EVENT] = now
            if t_heap == now:
                slot = heap_slot[job, 0]
                _heap_delete(s, job, 0)
                if replica_i[job, slot, STATE] == STARTING:
                    _become_ready(s, job, slot, now)
                else:
                    _complete(s, job, slot, now)
            elif t_transit == now:
                _leave_transit(s, job, request)
                _deliver(s, job, now, request)
            else:
                arrivals[job, job_i[job, UNIT]] += 1
                job_i[job, ARRIVED] += 1
                _enter_transit(s, job)
                _draw_next(s, job, now, job_i[job, UNIT])
        if t_end < np.inf and t_end > job_f[job, LAST_EVENT]:
            job_f[job, ONGOING_INTEGRAL] += job_i[job, ONGOING] * (t_end - job_f[job, LAST_EVENT])
            job_f[job, LAST_EVENT] = t_end
    return False


@numba.njit(cache=True)
def _start_replica(s, job, ready_at, now):
    replica_i = s.replica_i
    slots = replica_i.shape[1]
    slot = 0
    while slot < slots and replica_i[job, slot, STATE] != FREE:
        slot += 1
    if slot == slots:
        raise ValueError("no free replica slot: more replicas than the quota holds")
    replica_i[job, slot, HEAD] = 0
    replica_i[job, slot, LENGTH] = 0
    s.replica_f[job, slot, READY_AT] = ready_at
    if ready_at <= now:
        _become_ready(s, job, slot, now)
    else:
        replica_i[job, slot, STATE] = STARTING
        _heap_push(s, job, ready_at, slot)
    return slot


@numba.njit(cache=True)
def _remove_replica(s, job, slot):
    replica_i, job_i, ready = s.replica_i, s.job_i, s.ready
    state = replica_i[job, slot, STATE]
    if state == STARTING:
        for index in range(job_i[job, HEAP_SIZE]):
            if s.heap_slot[job, index] == slot:
                _heap_delete(s, job, index)
                break
        replica_i[job, slot, STATE] = FREE
        return False
    count = job_i[job, READY_COUNT]
    for k in range(count):
        if ready[job, k] == slot:
            ready[job, k] = ready[job, count - 1]
            job_i[job, READY_COUNT] = count - 1
            break
    if replica_i[job, slot, LENGTH] > 0:
        replica_i[job, slot, STATE] = DRAINING
        return True
    replica_i[job, slot, STATE] = FREE
    return False


@numba.njit(cache=True)
def _window_stats(s, since):
    ring, job_i = s.ring, s.job_i
    jobs, ring_size = ring.shape[0], ring.shape[1]
    result = np.full((jobs, 4), np.nan)
    for job in range(jobs):
        latencies = np.empty(job_i[job, RING_COUNT])
        service_sum = 0.0
        served = 0
        n = 0
        position = job_i[job, RING_NEXT]
        while n < job_i[job, RING_COUNT]:
            position = (position - 1) % ring_size
            if ring[job, position, RING_TIME] <= since:
                break
            latencies[n] = ring[job, position, RING_LATENCY]
            service = ring[job, position, RING_SERVICE]
            if not math.isnan(service):  # an observed rejection has no service time
                service_sum += service
                served += 1
            n += 1
        result[job, 0] = n
        if n:
            result[job, 1] = latencies[:n].mean()
            result[job, 2] = np.percentile(latencies[:n], 99.0)
        if served:
            result[job, 3] = service_sum / served
    return result
