"""Peak memory of a Session at scale: n items x d = 64, with 10 or 100 classes.

Each configuration runs in a fresh process and reports its peak resident set size (``ru_maxrss``) after
each phase: the embeddings, the session (kNN graph, full propagation, quality scores), and 20 clicks
answered by the fast update. Prints a markdown table.

    python bench/bench_scale_memory.py                       # n = 100k, 10 and 100 classes
    python bench/bench_scale_memory.py --sizes 1000000       # the 1M row (minutes: the hnswlib build)
    python bench/bench_scale_memory.py --code ../nblabel-0.1.0   # the same with another checkout's nblabel
    python bench/bench_scale_memory.py --reopen scale-1m/blobs-1000000.nblabel.db   # a bench_scale_1m one

``--reopen`` measures a session of ``bench_scale_1m.py`` (Gaussian blobs, its journal and cached graph)
reopened with the verified labels its clicks left, then ``--clicks`` more clicks, the widget's first map
(``landmark_layout``) and the clusters computed afresh. The journal is copied into a scratch folder first
(a reopen and its clicks write to it) and the graph and embeddings are linked beside it, read-only; the
scratch folder is kept across ``--repeat`` runs, so a second reopen finds the side files the first one
wrote (the clusters' file is removed: they are computed in every run).

The graph's memory is set by hnswlib's ``M`` and the data, not by ``ef_construction``, which only sets
how hard the build searches; ``--ef-construction`` (default 16) makes the build cheaper. On a loaded 2-core
machine even that takes most of an hour at 1M, so ``--lattice`` gives the session a graph with known
neighbours instead (items on a 2-D torus grid, each linked to its 10 nearest grid points) and reports the
size of the hnswlib index it does not build: ``n * (4 d + 8 M + 12)`` bytes for level 0 (hnswlib's layout,
M = 16) plus ~5 % for the upper levels. A session holds the index only while it builds the lists, before
the graph's matrices and propagation exist, so the index is reported, not added to the peak.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import print_table

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, in MB."""
    import resource

    with open("/proc/self/statm") as fh:
        current = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return current / 1e6, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # maxrss: KiB


def lattice_graph(n: int, k: int = 10):
    """A fitted KnnGraph over a 2-D torus grid: each item's k nearest grid points, without hnswlib."""
    from nblabel.graph import KnnGraph, auto_temperature

    side = int(round(np.sqrt(n)))
    if side * side != n:
        raise ValueError(f"--lattice needs a square n; got {n}")
    offsets = sorted(
        ((dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if (dy, dx) != (0, 0)),
        key=lambda o: (o[0] ** 2 + o[1] ** 2, o),
    )[:k]
    r, c = np.divmod(np.arange(n, dtype=np.int32), side)
    nbrs = np.empty((n, k), np.int32)  # filled column by column: the bench's own temporaries stay small
    for j, (dy, dx) in enumerate(offsets):
        nbrs[:, j] = ((r + dy) % side) * side + (c + dx) % side
    dist2 = np.array([dy * dy + dx * dx for dy, dx in offsets], np.float32)
    g = KnnGraph(k=k)
    g.neighbors_ = nbrs
    g.similarities_ = np.broadcast_to(1.0 - 0.01 * dist2, (n, k)).astype(np.float32)
    g.T_ = auto_temperature(g.similarities_[: min(n, 10_000)] + 1e-4 * np.arange(k))
    g.ef_, g.recall_, g.dim_ = 64, 1.0, 64
    g._lists_changed()
    return g


def index_mb(n: int, d: int, M: int = 16) -> float:
    """hnswlib's memory for n items: level 0 (vector, 2M links, count, label) plus ~5 % upper levels."""
    return n * (4 * d + 8 * M + 12) * 1.05 / 1e6


def _child(
    n: int, d: int, c: int, ef_construction: int, clicks: int, workdir: str, lattice: bool, reopen: bool
) -> dict:
    """One configuration, in this (fresh) process.

    The journal lives in ``workdir``; it is removed afterwards but the graph cached beside it is kept, so the
    next configuration with the same data loads the graph instead of building it again. With ``reopen`` the
    session is then closed and reopened in the same process without its pre-review reference file (so it
    propagates the given labels alone once more) and without the graph's matrix (rebuilt), its peak measured
    from there (VmHWM reset through ``/proc/self/clear_refs``).
    """
    from nblabel.session import Session

    row: dict = {"n": n, "d": d, "classes": c}
    row["base_MB"] = _rss_mb()[1]
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4 * c, d)).astype(np.float32) * 2
    blob = rng.integers(0, 4 * c, n)
    X = centers[blob]
    for lo in range(0, n, 100_000):  # in chunks: the bench's own noise array would add a second X to the peak
        X[lo : lo + 100_000] += rng.standard_normal((min(100_000, n - lo), d), dtype=np.float32)
    y = blob % c
    given = np.where(rng.random(n) < 0.5, y, -1)  # half the items come with a label
    del blob
    row["X_MB"] = _rss_mb()[1]
    classes = [f"c{i}" for i in range(c)]
    journal = Path(workdir) / "j.nblabel.db"
    row["graph"] = "loaded" if any(Path(workdir).glob("j.nblabel.db-graph-*.npz")) else "built"
    if lattice:
        graph = lattice_graph(n)
        Session._load_or_build_graph = lambda self: graph  # the bench gives the graph; nothing is built
        row["graph"] = "lattice"
    try:
        t0 = time.perf_counter()
        # ef fixed: the automatic width would chase recall on this deliberately cheap index.
        s = Session(
            X, given=given, classes=classes, journal=journal, k=10, ef_construction=ef_construction, ef=64
        )
        row["session_s"] = time.perf_counter() - t0
        row["session_MB"] = _rss_mb()[1]
        times, modes = [], []
        for i in rng.choice(np.flatnonzero(given < 0), clicks, replace=False):
            t0 = time.perf_counter()
            s.label(str(i), classes[y[i]])
            times.append(time.perf_counter() - t0)
            modes.append(s._scorer.propagator.last_update_["mode"])
        row["click_ms_median"] = 1e3 * float(np.median(times))
        row["sparse"] = f"{modes.count('sparse')}/{len(modes)}"
        row["clicks_MB"], row["peak_MB"] = _rss_mb()[0], _rss_mb()[1]
        if lattice:
            # Not added: a session holds the index only while building the lists (embeddings + index +
            # lists, no matrices or propagation yet), and drops it before anything else is allocated.
            row["hnswlib index MB (build phase)"] = index_mb(n, d)
        s.close()
        if reopen:
            import gc

            del s
            if lattice:
                graph._lists_changed()  # drops the matrix: the reopened session rebuilds it
            gc.collect()
            for f in Path(workdir).glob("j.nblabel.db-reference-*"):
                f.unlink()
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
            row["before reopen MB"] = _peak_mb()
            t0 = time.perf_counter()
            s = Session(X, given=given, classes=classes, journal=journal)
            row["reopen s (reference recomputed)"] = time.perf_counter() - t0
            row["reopen peak MB"] = _peak_mb()
            s.close()
    finally:
        for f in Path(workdir).glob("j.nblabel.db*"):
            if "-graph-" not in f.name and "-embeddings" not in f.name:
                f.unlink()
    return row


def _peak_mb() -> float:
    # VmHWM of this process alone (ru_maxrss keeps the parent's peak across exec).
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _reopen_child(journal: str, clicks: int, clusters: bool) -> dict:
    """Reopen a ``bench_scale_1m.py`` blobs session from ``journal`` (already copied), as that bench does.

    Then ``clicks`` labels, the first map, and (``clusters``) the clusters, each step's peak RSS after it.
    """
    from scale_data import blobs

    import nblabel
    from nblabel.layout import landmark_layout

    path = Path(journal)
    n = int(path.name.split("-")[1].split(".")[0])
    kept = sorted(f.name.split(".db-")[1].split("-")[0] for f in path.parent.glob("*.db-*-*"))
    row: dict = {"n": n, "side files found": " ".join(kept)}
    X, y = blobs(n)
    rng = np.random.default_rng(0)  # the given labels of bench_scale_1m.py
    given = np.where(rng.random(n) < 0.5, y, -1)
    classes = [str(c) for c in range(int(y.max()) + 1)]
    names = [classes[g] if g >= 0 else None for g in given]
    del given
    row["X MB"] = _peak_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    s = nblabel.Session(X, given=names, classes=classes, journal=path)
    row["reopen s [CPU]"] = f"{time.perf_counter() - t0:.1f} [{time.process_time() - c0:.1f}]"
    row["verified"] = int((s.state.verified >= 0).sum())
    row["reopen peak MB"], row["ready MB"] = _peak_mb(), _rss_mb()[0]
    del names
    ids, cpu = s.ids, []
    for item in np.random.default_rng(1).integers(n, size=clicks):
        c0 = time.process_time()
        s.label(ids[item], classes[int(y[item])])
        _ = s.state
        cpu.append(time.process_time() - c0)
    row["click CPU ms median"] = 1e3 * float(np.median(cpu))
    row["clicks peak MB"] = _peak_mb()
    # The widget's first map, as its layout thread computes it (not cached: the final map replaces it).
    t0, c0 = time.perf_counter(), time.process_time()
    xy = landmark_layout(s.graph)
    row["first map s [CPU]"] = f"{time.perf_counter() - t0:.1f} [{time.process_time() - c0:.1f}]"
    row["first map peak MB"] = _peak_mb()
    del xy
    if clusters:
        t0 = time.perf_counter()
        s.clusters()
        row["clusters s"] = time.perf_counter() - t0
        row["clusters peak MB"] = _peak_mb()
    s.close()
    return row


def _reopen(args: argparse.Namespace, env: dict) -> list[dict]:
    src = args.reopen
    work = Path(tempfile.mkdtemp(prefix="nblabel-reopen-"))
    rows = []
    try:
        for f in src.parent.glob(f"{src.name}-*"):
            if "-graph-" in f.name or "-embeddings" in f.name:
                (work / f.name).symlink_to(f.resolve())  # read only: never written by a reopen
        for _ in range(args.repeat):
            for f in work.glob(f"{src.name}*"):
                if f.name == src.name or "-clusters-" in f.name or f.name.endswith(("-wal", "-shm")):
                    f.unlink()
            shutil.copyfile(src, work / src.name)
            cfg = {"journal": str(work / src.name), "clicks": args.clicks, "clusters": not args.no_clusters}
            out = _run_child("--reopen-child", cfg, env)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(out.returncode)
            rows.append({"code": args.code.name, **json.loads(out.stdout.strip().splitlines()[-1])})
            print("done", rows[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _run_child(flag: str, cfg: dict, env: dict) -> subprocess.CompletedProcess:
    """Run this script's ``flag`` mode on ``cfg`` in a fresh process (its peak RSS is its own)."""
    return subprocess.run(
        [sys.executable, __file__, flag, json.dumps(cfg)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    ap.add_argument("--classes", type=int, nargs="*", default=[10, 100])
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--ef-construction", type=int, default=16)
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout whose nblabel is measured")
    ap.add_argument("--lattice", action="store_true", help="known-neighbour graph, index size added")
    ap.add_argument("--then-reopen", action="store_true", help="reopen each session without its reference")
    ap.add_argument("--reopen", type=Path, help="journal of a bench_scale_1m.py blobs session to reopen")
    ap.add_argument("--repeat", type=int, default=1, help="reopens in a row (--reopen)")
    ap.add_argument("--no-clusters", action="store_true", help="skip the clusters (--reopen)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--reopen-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(**json.loads(args.child))), flush=True)
        return
    if args.reopen_child:
        print(json.dumps(_reopen_child(**json.loads(args.reopen_child))), flush=True)
        return
    env = {**os.environ, "PYTHONPATH": f"{args.code}{os.pathsep}{ROOT / 'bench'}"}
    if args.reopen:
        rows = _reopen(args, env)
        print(f"\ncode: {args.code}\n")
        print_table(rows)
        return
    rows = []
    for n in args.sizes:
        workdir = tempfile.mkdtemp(prefix=f"nblabel-mem-{n}-")
        for c in args.classes:
            cfg = {"n": n, "d": args.dim, "c": c, "ef_construction": args.ef_construction}
            cfg["clicks"], cfg["workdir"], cfg["lattice"] = args.clicks, workdir, args.lattice
            cfg["reopen"] = args.then_reopen
            out = _run_child("--child", cfg, env)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                rows.append({"n": n, "d": args.dim, "classes": c, "peak_MB": f"failed ({out.returncode})"})
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print("done", rows[-1], flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ncode: {args.code}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
