"""Background: one worker, requests made while it runs coalesce, failures are reported, stop drains."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nblabel.background import Background
from nblabel.scoring import Scorer
from nblabel.session import Session


class Recorder:
    """Drives a Background like a session does: a history under a lock, runs that can be held or fail."""

    def __init__(self, fail: set[int] | None = None, delay: float = 0.0) -> None:
        self.lock = threading.RLock()
        self.version = 0  # the "history": bumped under the lock with every submit
        self.submitted: set[int] = set()
        self.prepared: list[set[int]] = []
        self.done: list[int] = []  # the version each finished run reflects
        self.errors: list[BaseException] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail = fail or set()  # run numbers (from 0) that raise
        self.delay = delay
        self.bg: Background[tuple[int, int]] = Background(
            self.lock, self.prepare, self.run, self.errors.append
        )

    def prepare(self, changed: set[int]) -> tuple[int, int]:
        assert self.lock._is_owned()  # type: ignore[attr-defined]  # called under the session lock
        self.prepared.append(set(changed))
        return len(self.prepared) - 1, self.version

    def run(self, inputs: tuple[int, int]) -> None:
        number, version = inputs
        assert not self.lock._is_owned()  # type: ignore[attr-defined]  # runs holding no lock
        self.entered.set()
        assert self.release.wait(10)
        time.sleep(self.delay)
        if number in self.fail:
            raise FloatingPointError(f"run {number} failed")
        self.done.append(version)

    def change(self, rows: set[int]) -> bool:
        """One change: under the lock, update the history and hand its rows over."""
        with self.lock:
            self.version += 1
            self.submitted |= rows
            return self.bg.submit(rows)


def test_submissions_during_a_run_coalesce_into_the_next_one():
    r = Recorder()
    r.release.clear()
    r.bg.start()
    assert r.change({0})
    assert r.entered.wait(10)  # the worker is inside its first run
    threads = [threading.Thread(target=r.change, args=({i},)) for i in range(1, 41)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not r.bg.wait(timeout=0.05)  # still held inside the first run
    r.release.set()
    assert r.bg.wait(timeout=10)
    assert r.prepared == [{0}, set(range(1, 41))]  # 40 concurrent requests, one rerun
    assert r.done == [1, 41]  # wait returned after the run that saw the latest change
    r.bg.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.sets(st.integers(0, 30), min_size=1, max_size=4), min_size=1, max_size=12),
    n_threads=st.integers(1, 4),
    delay=st.sampled_from([0.0, 0.001]),
)
def test_every_row_is_propagated_and_wait_sees_the_latest_change(batches, n_threads, delay):
    r = Recorder(delay=delay)
    r.bg.start()
    chunks = [batches[i::n_threads] for i in range(n_threads)]
    threads = [threading.Thread(target=lambda c=c: [r.change(b) for b in c]) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert r.bg.wait(timeout=10)
    assert r.done[-1] == r.version == len(batches)  # the last run reflects every change
    assert set().union(*r.prepared) == r.submitted  # no row lost
    assert len(r.prepared) <= len(batches)  # never more runs than requests
    assert r.done == sorted(r.done)  # one run at a time, in order
    r.bg.stop()
    assert not r.bg.running and r.errors == []


def test_a_failed_run_is_reported_and_the_worker_goes_on():
    r = Recorder(fail={0})
    r.bg.start()
    r.change({1})
    assert r.bg.wait(timeout=10)
    assert len(r.errors) == 1 and isinstance(r.errors[0], FloatingPointError)
    assert r.bg.running
    r.change({2})
    assert r.bg.wait(timeout=10)
    assert r.done == [2] and r.prepared == [{1}, {2}]
    r.bg.stop()


def test_start_and_stop_are_idempotent_and_stop_drains_what_waits():
    r = Recorder()
    r.bg.stop()  # never started: nothing to do
    assert not r.bg.running and not r.change({0})  # no worker: the caller propagates itself
    r.release.clear()
    r.bg.start()
    first = r.bg._thread
    r.bg.start()
    assert r.bg._thread is first  # one worker
    r.change({1})
    assert r.entered.wait(10)
    r.change({2})  # waits behind the run under way
    stopper = threading.Thread(target=r.bg.stop)
    stopper.start()
    r.release.set()
    stopper.join(10)
    assert not stopper.is_alive() and not first.is_alive()
    assert r.prepared == [{1}, {2}] and r.done == [2, 3]  # what waited was run before the worker ended
    assert not r.bg.running and not r.change({3})
    r.bg.stop()
    r.bg.stop()
    assert r.bg.wait(timeout=0)  # nothing pending
    r.bg.start()  # and it starts again
    assert r.change({4}) and r.bg.wait(timeout=10) and r.done[-1] == r.version
    r.bg.stop()


def test_a_failed_background_run_becomes_session_error(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    s = Session(X, given=[i % 3 for i in range(60)], journal=tmp_path / "j.nblabel.db", k=5, background=True)
    failed = threading.Event()
    s.subscribe(lambda state: None, on_error=lambda exc: failed.set())

    def broken(scorer, inputs):
        raise MemoryError("injected")

    monkeypatch.setattr(Scorer, "run", broken)
    s.label("3", 0)  # committed at once; the worker's run fails
    assert failed.wait(10)
    assert isinstance(s.error, MemoryError) and s.state.pending and s.state.verified[3] == 0
    with pytest.raises(RuntimeError) as info:
        s.wait(timeout=10)
    assert info.value.__cause__ is not None and s.error is None  # wait hands the error over once
    s.close()
    assert not s.background
