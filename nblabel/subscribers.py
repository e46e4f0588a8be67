"""Who hears of a session's new states, in version order, and where their failures go.

:class:`Subscribers` is the session's list of ``(callback, on_error)`` pairs.  :meth:`Subscribers.deliver`
hands the newest snapshot to each of them once (a snapshot superseded before delivery is skipped); an
exception in a callback, or one the session reports from background propagation, is kept as
:attr:`Subscribers.error` and passed to the error callbacks.  It has one lock of its own, taken with no
session lock held (see the lock rule in :mod:`nblabel.session`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nblabel.state import SessionState

__all__ = ["Subscribers"]

_Callback = Callable[["SessionState"], None]
_ErrorCallback = Callable[[BaseException], None]


class Subscribers:
    """Subscriptions to one session's states; deliveries in version order, failures kept and passed on."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # orders deliveries; never taken under the session's locks
        self._entries: list[tuple[_Callback, _ErrorCallback | None]] = []
        self._delivered = 0
        #: The last exception of a callback or of background propagation; cleared by ``Session.wait``.
        self.error: BaseException | None = None

    def subscribe(self, callback: _Callback, on_error: _ErrorCallback | None = None) -> Callable[[], None]:
        """Add a subscriber; return the function that removes it (see :meth:`Session.subscribe`)."""
        entry = (callback, on_error)
        with self._lock:
            self._entries.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._entries:
                    self._entries.remove(entry)

        return unsubscribe

    def deliver(self, newest: Callable[[], SessionState]) -> None:
        """Hand the newest snapshot (read under this lock) to subscribers unless they have seen it."""
        with self._lock:
            state = newest()
            if state.version <= self._delivered:
                return
            self._delivered = state.version
            for callback, on_error in list(self._entries):
                try:
                    callback(state)
                except Exception as exc:
                    self.report(exc, on_error)

    def report(self, exc: BaseException, only: _ErrorCallback | None = None) -> None:
        """Keep ``exc`` as :attr:`error` and pass it to ``only``, or else to every error callback."""
        self.error = exc
        handlers = [only] if only is not None else [h for _, h in list(self._entries)]
        for handler in handlers:
            if handler is not None:
                handler(exc)
