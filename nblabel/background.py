"""Label propagation on one worker thread; changes that arrive while it runs are folded into its next run.

:class:`Background` owns the worker thread, the rows waiting for it and the wait/notify logic; the session
drives it with three callables: ``prepare(changed)`` copies what a run needs (called holding the session's
lock), ``run(inputs)`` propagates and publishes (called holding no lock), ``report(exc)`` keeps a failure
(see :class:`~nblabel.subscribers.Subscribers`).  Its condition is built on the session's ``_lock``, so a
change and the hand-over of its rows are one step under that lock; the lock rule itself is written where the
session defines its locks (:meth:`nblabel.session.Session._setup`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Background"]

_Inputs = TypeVar("_Inputs")


class Background(Generic[_Inputs]):
    """One worker thread that propagates whenever rows wait; requests that arrive meanwhile coalesce.

    Parameters
    ----------
    lock : threading.RLock
        The session's lock: :meth:`submit` is called holding it, ``prepare`` runs under it, and waiting
        releases it.
    prepare : callable
        ``prepare(changed) -> inputs``, with ``changed`` the set of rows submitted since the last run; called
        holding ``lock``, so it may read the session's history.
    run : callable
        ``run(inputs)``: propagate and publish; called holding no lock, so changes go on while it runs.
    report : callable
        ``report(exc)`` for an exception of ``run``; the worker then goes on with the next request.
    name : str
        The thread's name.

    """

    def __init__(
        self,
        lock: threading.RLock,
        prepare: Callable[[set[int]], _Inputs],
        run: Callable[[_Inputs], None],
        report: Callable[[BaseException], None],
        name: str = "nblabel-lp",
    ) -> None:
        self._cond = threading.Condition(lock)
        self._prepare, self._run, self._report, self._name = prepare, run, report, name
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._dirty: set[int] = set()  # rows waiting for the worker
        self._stale = False  # the worker has something to do
        self._busy = False  # a run is under way

    @property
    def running(self) -> bool:
        """Whether a worker takes submissions (False once it has drained and decided to stop)."""
        return self._thread is not None

    def start(self) -> None:
        """Start the worker; nothing happens if one is running."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Let the worker finish what is waiting, then end it and return; nothing happens if none runs.

        A :meth:`submit` that comes after the worker's last run is refused (the caller propagates itself),
        so no row is left waiting for a worker that has gone.
        """
        with self._cond:
            thread = self._thread
            if thread is None:
                return
            self._stopping = True
            self._cond.notify_all()
        thread.join()

    def submit(self, changed: set[int]) -> bool:
        """Hand rows to the worker (caller holds the lock); False when no worker takes them.

        Rows submitted while a run is under way are propagated together in the next one.
        """
        with self._cond:
            if self._thread is None:
                return False
            self._dirty |= changed
            self._stale = True
            self._cond.notify_all()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing waits and no run is under way; False if ``timeout`` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._stale and not self._busy, timeout=timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stale or self._stopping)
                if not self._stale:  # stopping with nothing left to do
                    # Under the lock, so a submit from now on sees no worker and its caller propagates.
                    self._thread = None
                    return
                changed, self._dirty, self._stale = self._dirty, set(), False
                inputs = self._prepare(changed)  # under the lock: run must not need it (lock order)
                self._busy = True
            try:
                self._run(inputs)
            except Exception as exc:  # surfaced through report (the session's .error), never swallowed
                self._report(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
