"""No acknowledged label is lost when the labeling process is killed with SIGKILL at a random moment."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nblabel.session import Session

REPO = Path(__file__).resolve().parents[1]

# The child labels items one by one and prints "id class" only after label() has returned, i.e. after the
# journal commit: every printed line is a label the user was told is saved.
CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nblabel.session import Session

    path, start, background = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    if start == 0:
        s = Session(X, classes=["a", "b", "c"], journal=path, k=5, background=background)
    else:
        s = Session.open(path, background=background)
    print("ready", flush=True)
    i = start
    while True:
        item, cls = str(i % 300), i % 3
        s.label(item, cls)
        print(item, cls, flush=True)
        i += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_never_loses_an_acknowledged_label(tmp_path):
    path = tmp_path / "crash.nblabel.db"
    rng = random.Random(1234)
    acknowledged: dict[str, int] = {}
    start = 0
    for round_ in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(start), str(round_ % 2)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            deadline = time.monotonic() + rng.uniform(0.05, 0.6)
            lines = []
            while time.monotonic() < deadline:
                lines.append(child.stdout.readline())
            os.kill(child.pid, signal.SIGKILL)
            # Lines already in the pipe were printed before the kill, so they were acknowledged too.
            lines += child.stdout.read().splitlines()
        finally:
            child.kill()
            child.wait()
        assert child.returncode == -signal.SIGKILL, child.stderr.read()
        printed = [line.split() for line in lines if line.strip()]
        assert printed, "the child acknowledged no label before it was killed"
        for item, cls in printed:
            acknowledged[item] = int(cls)
        start += len(printed) + 1  # the child may have committed one more label it never printed

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        s = Session.open(path)
        verified = s.state.verified
        items = np.array([int(i) for i in acknowledged])
        np.testing.assert_array_equal(verified[items], [acknowledged[str(i)] for i in items])
        assert s._store.integrity_check() == "ok"
        s.close()
