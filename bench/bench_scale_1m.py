"""End to end at a million items: embeddings -> session ready -> graph recall -> first map -> clicks,
then clusters, outliers and duplicates on the same graph, with the peak memory of the process.

Each data kind of ``scale_data.py`` (Gaussian blobs, the worst case for a graph index; augmented digits, a
set with a low intrinsic dimension as real embeddings have) runs in its own process so that its peak RSS is
its own. A session is created with nblabel's defaults (the graph, its automatic query width and the first
propagation included), half the items with a given label; its journal and cached graph are kept in
``--cache`` so a rerun reopens them (the reopen time is printed too). Prints one markdown table.

    python bench/bench_scale_1m.py                      # n = 1M, both kinds (about an hour on 2 cores)
    python bench/bench_scale_1m.py --n 100000 --kinds digits
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scale_data import augmented_digits, blobs, exact_neighbors, recall
from tables import print_table

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: that one keeps the parent's peak across exec.
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _child(kind: str, n: int, cache: Path, clicks: int, sample: int) -> list[dict]:
    import nblabel
    from nblabel.layout import landmark_layout, neighbor_recall_2d

    rows: list[dict] = []

    def step(name: str, wall: float, cpu: float, **extra) -> None:
        row = {"data": kind, "n": n, "step": name, "wall s": wall, "CPU s": cpu, "peak RSS MB": _peak_mb()}
        row.update(extra)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)  # progress; stdout carries the result

    (X, y), wall, cpu = _timed(lambda: blobs(n) if kind == "blobs" else augmented_digits(n))
    step("embeddings generated (stand-in for an encoder)", wall, cpu, d=X.shape[1])
    rng = np.random.default_rng(0)
    given = np.where(rng.random(n) < 0.5, y, -1)
    classes = [str(c) for c in range(int(y.max()) + 1)]
    cache.mkdir(parents=True, exist_ok=True)
    journal = cache / f"{kind}-{n}.nblabel.db"
    reopen = journal.exists()
    names = [classes[g] if g >= 0 else None for g in given]
    session, wall, cpu = _timed(lambda: nblabel.Session(X, given=names, classes=classes, journal=journal))
    g = session.graph
    step(
        "session reopened (journal + cached graph)" if reopen else "session ready (graph, first propagation)",
        wall,
        cpu,
        ef=g._ef(),
        est_recall=getattr(g, "recall_", float("nan")),
    )
    xy, wall, cpu = _timed(lambda: landmark_layout(g))
    step("first map (landmarks)", wall, cpu, map_recall_2d=neighbor_recall_2d(g, xy))
    ids = session.ids
    lat = []
    for item in rng.integers(n, size=clicks):
        w0, c0 = time.perf_counter(), time.process_time()
        session.label(ids[item], classes[int(y[item])])
        _ = session.state
        lat.append((time.perf_counter() - w0, time.process_time() - c0))
    step(
        f"click -> predictions ready (median of {clicks})",
        statistics.median(w for w, _ in lat),
        statistics.median(c for _, c in lat),
        spread_s=max(w for w, _ in lat) - min(w for w, _ in lat),
    )
    for name, fn in (
        ("clusters (Leiden + exemplars + purity)", lambda: session.clusters()),
        ("outliers (top 50)", lambda: session.outliers(50)),
        ("near-duplicate groups", lambda: session.duplicates()),
    ):
        out, wall, cpu = _timed(fn)
        step(name, wall, cpu, rows_out=len(out))
    session.close()
    # Last, so that the brute-force check's own memory is not counted in the session's peak above.
    pick = np.sort(rng.choice(n, min(sample, n), replace=False))
    exact, wall, cpu = _timed(lambda: exact_neighbors(X, pick, g.k))
    found = recall(g.neighbors_[pick], exact)
    step(f"graph recall@{g.k} on {len(pick)} items vs exact", wall, cpu, recall=found)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--kinds", nargs="*", default=["digits", "blobs"])
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--sample", type=int, default=10_000, help="items whose exact neighbours check recall")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "scale-1m")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        rows = _child(args.child, args.n, args.cache, args.clicks, args.sample)
        print("RESULT " + json.dumps(rows), flush=True)
        return
    rows = []
    for kind in args.kinds:
        cmd = [sys.executable, __file__, "--child", kind, "--n", str(args.n), "--clicks", str(args.clicks)]
        cmd += ["--sample", str(args.sample), "--cache", str(args.cache)]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        mine = json.loads(out.rsplit("RESULT ", 1)[1])
        # Kept per kind: a 1M run takes long, and the other kind may still fail.
        (args.cache / f"result-{kind}-{args.n}.json").write_text(json.dumps(mine, indent=1))
        rows += mine
    print_table(rows)


if __name__ == "__main__":
    main()
