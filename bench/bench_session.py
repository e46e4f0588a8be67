"""Journal throughput and click latency of a Session, with and without background label propagation.

    python bench/bench_session.py           # n = 100k items
    python bench/bench_session.py --quick   # n = 20k items

Prints markdown tables.  "click latency" is the wall time of ``session.label(id, cls)`` as the widget sees it
(the call returns after the journal commit); "predictions ready" is the time from the click until a state
with propagation caught up is available (``wait()`` in background mode; the same call in synchronous mode).
"click -> predictions, per stage" splits the synchronous click into the journal commit, the LP update, the
quality scores, the snapshot, and the widget's state message (row diff + packing; sending excluded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nblabel.session import Session  # noqa: E402
from nblabel.store import LabelStore  # noqa: E402
from nblabel.viewmodel import STATE_FIELDS, row_patch  # noqa: E402
from nblabel.widget import _ITEMSIZE, pack_arrays  # noqa: E402


def blobs(n: int, d: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 3
    y = rng.integers(0, c, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3


def journal_throughput(directory: Path, n_events: int) -> list[tuple[str, float]]:
    ids = [str(i) for i in range(1000)]
    store = LabelStore.create(directory / "bench.nblabel.db", ids=ids, given=np.full(1000, -1), meta={})
    rows = []
    t0 = time.perf_counter()
    for j in range(n_events):
        store.append([("label", ids[j % 1000], "a")])
    rows.append(("1 event per commit (one click)", n_events / (time.perf_counter() - t0)))
    batch = 100
    t0 = time.perf_counter()
    for j in range(n_events // batch):
        store.append([("label", ids[(j * batch + k) % 1000], "b") for k in range(batch)])
    rows.append(
        (f"{batch} events per commit (one multi-select click)", n_events / (time.perf_counter() - t0))
    )
    t0 = time.perf_counter()
    events = store.read()
    rows.append(("replay read (events/s)", len(events) / (time.perf_counter() - t0)))
    store.close()
    return rows


def clicks(session: Session, items: list[str], y: np.ndarray, background: bool) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"click": [], "ready": []}
    for item in items:
        t0 = time.perf_counter()
        session.label(item, int(y[int(item)]))
        t1 = time.perf_counter()
        if background:
            session.wait()
        t2 = time.perf_counter()
        out["click"].append(t1 - t0)
        out["ready"].append(t2 - t0)
    return out


def timed(obj: object, name: str, bucket: list[float]) -> None:
    """Replace ``obj.name`` by a wrapper that appends each call's wall time to ``bucket``."""
    inner = getattr(obj, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            bucket.append(time.perf_counter() - t0)

    setattr(obj, name, wrapper)


def stages(session: Session, items: list[str], y: np.ndarray) -> dict[str, list[float]]:
    """Synchronous clicks, timed per stage (the session must not be in background mode)."""
    names = ("journal commit", "LP update", "quality scores", "snapshot", "widget message", "total")
    out: dict[str, list[float]] = {k: [] for k in names}
    timed(session._store, "append", out["journal commit"])
    timed(session._scorer.propagator, "update", out["LP update"])
    timed(session._scorer, "_derive", out["quality scores"])
    timed(session, "_make_state", out["snapshot"])
    for item in items:
        before = session.state
        t0 = time.perf_counter()
        session.label(item, int(y[int(item)]))
        after = session.state
        w0 = time.perf_counter()
        sent = {k: getattr(before, k) for k in STATE_FIELDS}
        changed = {k: getattr(after, k) for k in STATE_FIELDS if getattr(after, k) is not sent[k]}
        pack_arrays(row_patch(changed, sent, _ITEMSIZE))
        out["widget message"].append(time.perf_counter() - w0)
        out["total"].append(time.perf_counter() - t0)
    for obj, name in (
        (session._store, "append"),
        (session._scorer.propagator, "update"),
        (session._scorer, "_derive"),
        (session, "_make_state"),
    ):
        delattr(obj, name)
    return out


def burst(session: Session, items: list[str], y: np.ndarray) -> tuple[float, float]:
    """Fire clicks back to back (a key held down); return (mean click latency, total until caught up)."""
    t0 = time.perf_counter()
    lat = []
    for item in items:
        c0 = time.perf_counter()
        session.label(item, int(y[int(item)]))
        lat.append(time.perf_counter() - c0)
    session.wait()
    return statistics.mean(lat), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 20k instead of 100k")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    d, c, n_clicks = 64, 10, 30 if args.quick else 50
    X, y = blobs(n, d, c)
    given = y.copy()
    rng = np.random.default_rng(1)
    noisy = rng.choice(n, n // 10, replace=False)
    given[noisy] = rng.integers(0, c, noisy.size)
    given[rng.random(n) < 0.5] = -1

    with tempfile.TemporaryDirectory(dir=os.environ.get("NBLABEL_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        print(f"## Journal throughput (SQLite WAL, synchronous=FULL; {tmp})\n")
        print("| operation | events/s |\n|---|---:|")
        for name, rate in journal_throughput(tmp, 300 if args.quick else 1000):
            print(f"| {name} | {rate:,.0f} |")

        t0 = time.perf_counter()
        s = Session(X, given=given, classes=[f"c{j}" for j in range(c)], journal=tmp / "s.nblabel.db", k=10)
        build = time.perf_counter() - t0
        s.close()
        t0 = time.perf_counter()
        s = Session.open(tmp / "s.nblabel.db")
        reopen = time.perf_counter() - t0
        print(f"\n## Session at n = {n:,} (d = {d}, {c} classes, k = 10)\n")
        print("| step | seconds |\n|---|---:|")
        print(f"| create (fingerprint, journal, kNN graph, first LP) | {build:.1f} |")
        print(f"| reopen (embeddings + cached graph + replay + LP) | {reopen:.1f} |")

        order = [str(i) for i in rng.permutation(n)]
        per_stage = stages(s, order[3 * n_clicks : 4 * n_clicks], y)
        sync = clicks(s, order[:n_clicks], y, background=False)
        s.start_background()
        back = clicks(s, order[n_clicks : 2 * n_clicks], y, background=True)
        burst_lat, burst_total = burst(s, order[2 * n_clicks : 3 * n_clicks], y)
        s.close()

        print(f"\n## Click -> predictions, per stage at n = {n:,} (synchronous LP, {n_clicks} clicks; ms)\n")
        print("| stage | p50 | p95 |\n|---|---:|---:|")
        for name, values in per_stage.items():
            print(f"| {name} | {pct(values, 50):.1f} | {pct(values, 95):.1f} |")
        print(f"\n## Click latency at n = {n:,} ({n_clicks} single-item clicks each; ms)\n")
        print("| mode | click returns p50 | p95 | predictions ready p50 | p95 |\n|---|---:|---:|---:|---:|")
        for name, r in (("synchronous LP", sync), ("background LP", back)):
            print(
                f"| {name} | {pct(r['click'], 50):.1f} | {pct(r['click'], 95):.1f} | "
                f"{pct(r['ready'], 50):.1f} | {pct(r['ready'], 95):.1f} |"
            )
        print(
            f"\nBurst of {n_clicks} back-to-back clicks in background mode: mean click "
            f"{burst_lat * 1e3:.1f} ms, all predictions caught up after {burst_total * 1e3:.0f} ms "
            f"({n_clicks * 1e3 * statistics.mean(sync['ready']):.0f} ms if each click reran LP "
            "synchronously)."
        )


if __name__ == "__main__":
    main()
