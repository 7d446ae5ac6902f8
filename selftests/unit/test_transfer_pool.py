"""The transfer pool's scheduling: bounded overall and per host, test order, errors, closing.

Pure threading (a job here is a plain function; the slot's WorkerPool starts no process until a
transfer asks it for a worker), so the rules are checked without a site.
"""

from __future__ import annotations

import threading
import time

import pytest

from se_dualstack.transfer.cases import Endpoint, TpcCase, TransferSettings
from se_dualstack.transfer.pool import LEG, PoolClosed, TransferPool, case_hosts


def _pool(concurrency: int, per_host: int) -> TransferPool:
    return TransferPool(None, concurrency, per_host)


class Load:
    """Records how many jobs run at once, overall and per host."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.total = self.peak_total = 0
        self.order: list[str] = []

    def job(self, key: str, hosts: tuple[str, ...], seconds: float = 0.05):
        def fn(slot: object) -> str:
            with self.lock:
                self.order.append(key)
                self.total += 1
                self.peak_total = max(self.peak_total, self.total)
                for h in hosts:
                    self.now[h] = self.now.get(h, 0) + 1
                    self.peak[h] = max(self.peak.get(h, 0), self.now[h])
            time.sleep(seconds)
            with self.lock:
                self.total -= 1
                for h in hosts:
                    self.now[h] -= 1
            return f"{key} on {type(slot).__name__}"
        return fn


def _run(pool: TransferPool, load: Load, jobs: list[tuple[str, tuple[str, ...]]],
         seconds: float = 0.05) -> list[object]:
    """Submit every job, collect every result in order, close the pool."""
    try:
        for key, hosts in jobs:
            pool.submit(key, hosts, load.job(key, hosts, seconds))
        return [pool.result(key) for key, _ in jobs]
    finally:
        pool.close()


def test_bounded_overall_and_per_host() -> None:
    pool, load = _pool(4, 1), Load()
    keys = [(f"d{i % 3}-{i}", (f"d{i % 3}",)) for i in range(12)]
    got = _run(pool, load, keys)
    assert got == [f"{k} on Slot" for k, _ in keys], f"results not per key: {got}"
    assert max(load.peak.values()) == 1, f"per-host limit 1 exceeded: {load.peak}"
    assert load.peak_total == 3, f"three hosts, limit 1 each: expected 3 at once, saw {load.peak_total}"


def test_third_party_copy_counts_on_both_hosts() -> None:
    pool, load = _pool(3, 1), Load()
    jobs = [("tpc", ("d1", "d2")), ("x1", ("d1",)), ("x2", ("d2",))]
    _run(pool, load, jobs, 0.1)
    assert load.peak == {"d1": 1, "d2": 1}, f"a copy between d1 and d2 must hold both: {load.peak}"


def test_one_third_party_copy_at_a_time_between_two_hosts() -> None:
    """Their leg is read from both ends' kernels: two copies between them at once would mix."""
    pool, load = _pool(4, 4), Load()
    cases = [TpcCase(p, 6, Endpoint(p, "door", 1, "/s/a/t"), Endpoint(p, "door", 1, "/s/b/t"), "a", "b",
                     False, mode=m) for p, m in (("davs", "pull"), ("davs", "push"), ("gsiftp", ""))]
    jobs = [(c.id, case_hosts(c)) for c in cases] + [("x", ("a",))]
    _run(pool, load, jobs, 0.1)
    assert load.peak[f"{LEG}a/b"] == 1, load.peak
    assert load.peak["a"] == 2, "a round trip to one end still runs beside the copy"


def test_asked_for_job_runs_next_and_unsubmitted_job_falls_back() -> None:
    pool, load = _pool(1, 1), Load()
    started, gate = threading.Event(), threading.Event()

    def first(slot: object) -> None:
        load.order.append("k0")
        started.set()
        gate.wait(5)

    try:
        pool.submit("k0", ("h",), first)
        for i in range(1, 5):
            pool.submit(f"k{i}", ("h",), load.job(f"k{i}", ("h",), 0.0))
        assert started.wait(5), "the first job never started"
        waiter = threading.Thread(target=pool.result, args=("k4",))
        waiter.start()  # a test asks for k4 while k0 still holds the one slot
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (pool._queue and pool._queue[0].key == "k4"):
            time.sleep(0.005)  # until result() has moved k4 to the front (a state, not a delay)
        gate.set()
        waiter.join(5)
        late = pool.result("late", fallback=(("h",), load.job("late", ("h",), 0.0), ()))
    finally:
        pool.close()
    assert load.order[:2] == ["k0", "k4"], f"the job a test waits for must jump the queue: {load.order}"
    assert late == "late on Slot", late


def test_a_slot_takes_work_it_has_warm_workers_for_unless_a_test_waits() -> None:
    pool, order = _pool(1, 1), []
    started, gate = threading.Event(), threading.Event()

    def job(key: str, wait: bool = False):
        def fn(slot: object) -> None:
            order.append(key)
            if wait:
                started.set()
                gate.wait(5)
        return fn

    try:
        pool.submit("v6-a", ("h",), job("v6-a", wait=True), affinity=(6,))
        assert started.wait(5), "v6-a never started"  # it holds the one slot: the rest queue
        for key, fam in (("v4-a", 4), ("v6-b", 6), ("v4-b", 4), ("v6-c", 6)):
            pool.submit(key, ("h",), job(key), affinity=(fam,))
        gate.set()
        deadline = time.monotonic() + 5
        while len(order) < 5 and time.monotonic() < deadline:  # no result() yet: nothing wanted
            time.sleep(0.01)
        for key in ("v4-a", "v6-b", "v4-b", "v6-c"):
            pool.result(key)
    finally:
        pool.close()
    assert order[:3] == ["v6-a", "v6-b", "v6-c"], f"IPv6 jobs first on the IPv6-warm slot: {order}"
    assert set(order) == {"v6-a", "v6-b", "v6-c", "v4-a", "v4-b"}, order


def test_error_reaches_the_waiting_test_and_close_drops_queued_jobs() -> None:
    pool = _pool(1, 1)
    gate = threading.Event()

    def boom(slot: object) -> None:
        raise ValueError("refusing a URL outside the test directory")

    pool.submit("bad", ("h",), boom)
    with pytest.raises(ValueError, match="outside the test directory"):
        pool.result("bad")
    started = threading.Event()

    def slow(slot: object) -> None:
        started.set()
        gate.wait(5)

    pool.submit("slow", ("h",), slow)
    pool.submit("queued", ("h",), lambda slot: "never")
    assert started.wait(5), "the slow job never started"  # it holds the one slot until the gate
    closer = threading.Thread(target=pool.close)
    closer.start()  # close drops the queued job, then waits for the running one
    with pytest.raises(PoolClosed, match="did not run"):
        pool.result("queued")
    gate.set()
    closer.join(5)
    assert not closer.is_alive(), "close must return once the running job ends"
    with pytest.raises(PoolClosed):
        pool.submit("after", ("h",), lambda slot: None)


def test_a_slot_keeps_one_warm_worker_pool_per_settings() -> None:
    pool = _pool(1, 1)
    slot = pool.slots[0]
    one, other = TransferSettings(), TransferSettings(proxy="/tmp/other-credential")
    try:
        assert slot.workers(one) is slot.workers(TransferSettings()), "same settings: the same warm workers"
        assert slot.workers(other) is not slot.workers(one), "other credential: other workers"
    finally:
        pool.close()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _pool(0, 1)
