"""Verified labels and per-person undo/redo, rebuilt by replaying journal events (no I/O of its own).

:class:`LabelHistory` is the in-memory half of a :class:`~nblabel.session.Session`: the session appends
events to its :class:`~nblabel.store.LabelStore` and hands every event it reads back to
:meth:`LabelHistory.apply`, so the labels, the class list and the undo stacks are always a replay of the
journal, never a local guess.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nblabel.store import CorruptJournalError, Event

__all__ = ["LabelHistory", "owner"]


def owner(user: str | None, origin: str | None) -> tuple[str, str | None]:
    """Whose undo history an event belongs to: the named ``user``, else the session instance that made it.

    A named user gets one history across notebooks and restarts; sessions without a user each get their own.
    Events from journals written before ``origin`` was recorded (user and origin None) share one history.
    """
    return ("user", user) if user is not None else ("session", origin)


class LabelHistory:
    """Verified labels, class list and per-owner undo/redo stacks, rebuilt by replaying journal events.

    Each owner (see :func:`owner`) has a linear history: their new change clears their redo stack, and their
    ``undo`` reverts their own most recent change still in effect, never someone else's.  An undo (or redo)
    restores an item only if it still holds the label that change left; an item someone else changed since
    keeps their label.  Nothing here is stored on its own: replaying the same events always rebuilds the same
    stacks, which is what makes ``Session.open`` restore undo history.
    """

    def __init__(self, ids: list[str], classes: list[str]) -> None:
        self.index = {item: i for i, item in enumerate(ids)}
        self.classes = list(classes)
        self.class_index = {name: j for j, name in enumerate(self.classes)}
        self.verified = np.full(len(ids), -1, dtype=np.int32)
        self.seq = 0
        # Per owner; each entry is one action: [(item index, label before, label after), ...] in order.
        self.undo_stacks: dict[tuple[str, str | None], list[list[tuple[int, int, int]]]] = {}
        self.redo_stacks: dict[tuple[str, str | None], list[list[tuple[int, int, int]]]] = {}

    def apply(self, events: Sequence[Event]) -> set[int]:
        """Apply events in ``seq`` order; return the indices whose verified label may have changed."""
        changed: set[int] = set()
        start = 0
        while start < len(events):
            stop = start + 1
            while stop < len(events) and events[stop].action == events[start].action:
                stop += 1
            changed |= self._apply_action(events[start:stop])
            start = stop
        if events:
            self.seq = events[-1].seq
        return changed

    def check_items(self, ids: str | Sequence[str]) -> list[str]:
        """Check item ids of a change; return them once each, in the caller's order."""
        items = [ids] if isinstance(ids, str) else list(ids)
        if not items:
            raise ValueError(
                "expected at least one item id; got none. Fix: pass an id or a non-empty list of ids."
            )
        bad = [i for i in items if not isinstance(i, str) or i not in self.index]
        if bad:
            raise ValueError(
                f"expected item ids of this session (strings from session.ids); got unknown {bad[:5]}. "
                "Fix: map row numbers to ids with session.ids[i]."
            )
        return list(dict.fromkeys(items))  # one event per item even if the caller repeated one

    def check_class(self, cls: str | int) -> str:
        """Check a class given by name or index; return its name."""
        classes = self.classes
        if isinstance(cls, str):
            if cls not in classes:
                raise ValueError(
                    f"expected a class name from {classes}; got {cls!r}. "
                    f"Fix: session.add_class({cls!r}) first."
                )
            return cls
        if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool) and 0 <= cls < len(classes):
            return classes[int(cls)]
        raise ValueError(
            f"expected a class name or an index in 0..{len(classes) - 1}; got {cls!r}. "
            "Fix: pass one of session.classes or add the class with session.add_class(name)."
        )

    def _apply_action(self, action: Sequence[Event]) -> set[int]:
        who = owner(action[0].user, action[0].origin)
        kind = action[0].kind
        if kind in ("undo", "redo"):
            undo, redo = self.undo_stacks.setdefault(who, []), self.redo_stacks.setdefault(who, [])
            source, target = (undo, redo) if kind == "undo" else (redo, undo)
            if not source:  # another session of this owner emptied the stack first: a no-op
                return set()
            changes = source.pop()
            steps = reversed(changes) if kind == "undo" else changes
            for i, before, after in steps:
                expect, new = (after, before) if kind == "undo" else (before, after)
                if self.verified[i] == expect:  # else someone changed it since: their label stays
                    self.verified[i] = new
            target.append(changes)
            return {i for i, _, _ in changes}
        # One action may add classes and then label with them (import_labels): classes first, labels after.
        changes = []
        for e in action:
            if e.kind == "add_class":
                # Two sessions may add the same name concurrently; the first one in the log wins.
                if e.cls not in self.class_index:
                    self.class_index[str(e.cls)] = len(self.classes)
                    self.classes.append(str(e.cls))
                continue
            item = self.index.get(str(e.item))
            cls = -1 if e.kind == "unlabel" else self.class_index.get(str(e.cls))
            if item is None or cls is None:
                raise CorruptJournalError(
                    f"journal event {e.seq} ({e.kind} {e.item!r} {e.cls!r}) names an item or class the "
                    "journal does not hold; it was edited by something other than nblabel. Fix: restore a "
                    "backup, or start a new journal and import an export of this one."
                )
            changes.append((item, int(self.verified[item]), cls))
            self.verified[item] = cls
        if changes:
            self.undo_stacks.setdefault(who, []).append(changes)
            self.redo_stacks.pop(who, None)
        return {i for i, _, _ in changes}
