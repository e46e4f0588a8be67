"""Embedding throughput, single process vs Ray Data on this machine; a session's memory on mapped shards.

Throughput: the same images (PNG files, generated) and the same encoder (resnet18, random weights, 64 px
input) embedded by one process (``Encoder.embed``, torch on every core) and by :func:`embed_with_ray` on a
local Ray instance (one actor per core, one torch thread each), alternately, ``--repeats`` times.  Ray's own
start (``ray.init``) is timed once apart; each Ray run includes starting its actors and loading the model in
them, and writing the shards.

Memory: the peak resident set (VmHWM) of a fresh process that builds a Session over n x 64 embeddings read
into RAM (``np.load``) or memory-mapped (``np.load(mmap_mode="r")``, as ``open_embeddings`` gives them).

    python bench/bench_embed_ray.py                      # 512 images x 3 repeats; memory at 300k x 64
    python bench/bench_embed_ray.py --images 256 --repeats 2 --memory-n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import print_table

ROOT = Path(__file__).resolve().parents[1]
ENCODER = {"model": "resnet18", "image_size": 64}
# A cheap graph (the memory compared is the embeddings', not the graph's): a fixed ef skips the recall search.
GRAPH = {"k": 10, "M": 8, "ef_construction": 16, "ef": 32, "num_threads": 2}


def _make_images(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = folder / f"c{i % 4}"
        cls.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(cls / f"{i:05d}.png")


def _single(folder: Path) -> float:
    import torch

    from nblabel.data import from_folder
    from nblabel.embed import Encoder

    torch.set_num_threads(os.cpu_count() or 1)
    source = from_folder(folder)
    start = time.perf_counter()
    encoder = Encoder(
        ENCODER["model"],
        pretrained=False,
        image_size=ENCODER["image_size"],
        device="cpu",
        cache_dir=False,
        progress=False,
        num_workers=0,
    )
    encoder.embed(source)
    return time.perf_counter() - start


def _ray(folder: Path, out: Path, cpus: int) -> float:
    from nblabel.data import from_folder
    from nblabel.distributed import embed_with_ray

    source = from_folder(folder)
    start = time.perf_counter()
    embed_with_ray(
        source,
        out,
        pretrained=False,
        image_size=ENCODER["image_size"],
        model=ENCODER["model"],
        rows_per_shard=max(1, len(source) // (2 * cpus)),
        concurrency=cpus,
        num_cpus_per_worker=1,
        overwrite=True,
    )
    return time.perf_counter() - start


def throughput(n: int, repeats: int) -> list[dict]:
    import ray

    cpus = os.cpu_count() or 1
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        _make_images(folder, n)
        start = time.perf_counter()
        for attempt in range(3):  # Ray gives its node 30 s to register: a loaded machine can miss that
            try:
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
                break
            except Exception:
                ray.shutdown()
                if attempt == 2:
                    raise
        ray.data.DataContext.get_current().enable_progress_bars = False
        init_s = time.perf_counter() - start
        try:
            single, distributed = [], []
            for _ in range(repeats):  # alternated, so a change in the machine's load hits both alike
                single.append(_single(folder))
                distributed.append(_ray(folder, Path(tmp) / "shards", cpus))
        finally:
            ray.shutdown()
    for name, times in (
        ("single process (torch, all cores)", single),
        (f"Ray local, {cpus} actors", distributed),
    ):
        rate = [n / t for t in times]
        rows.append(
            {
                "how": name,
                "images": n,
                "wall s (median)": round(statistics.median(times), 1),
                "images/s (median)": round(statistics.median(rate), 1),
                "images/s (min-max)": f"{min(rate):.1f}-{max(rate):.1f}",
            }
        )
    rows.append({"how": "ray.init (once)", "images": "", "wall s (median)": round(init_s, 1)})
    return rows


def _child(path: str, mapped: bool, workdir: str) -> dict:
    """In a fresh process: load (or map) the embeddings, open a Session, report peak RSS after each step."""

    def peak_mb() -> float:
        return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024

    from nblabel import Session

    row = {"embeddings": "memory-mapped" if mapped else "in RAM", "start MB": round(peak_mb())}
    X = np.load(path, mmap_mode="r") if mapped else np.load(path)
    row["loaded MB"] = round(peak_mb())
    start = time.perf_counter()
    with Session(X, journal=Path(workdir) / "s.nblabel.db", **GRAPH):
        row["session s"] = round(time.perf_counter() - start, 1)
        row["session peak MB"] = round(peak_mb())
    return row


def _run_child(path: Path, mapped: bool, work: Path) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from bench_embed_ray import _child; "
        "print(json.dumps(_child(sys.argv[2], sys.argv[3] == '1', sys.argv[4])))"
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = [sys.executable, "-c", code, str(ROOT / "bench"), str(path), str(int(mapped)), str(work)]
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(n: int) -> list[dict]:
    """Peak RSS of sessions over the same n x 64 embeddings, in RAM and mapped, the graph built once.

    The first process (mapped) builds the kNN graph; the graph file is then copied beside the other two
    journals, so both measured sessions load the same graph and differ only in how they hold the embeddings.
    """
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        centres = rng.standard_normal((50, 64)).astype(np.float32)
        X = centres[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, 64), dtype=np.float32)
        np.save(path, X / np.linalg.norm(X, axis=1, keepdims=True))
        del X
        size = f"{n} x 64 ({n * 256 / 1e6:.0f} MB)"
        build = Path(tmp) / "build"
        build.mkdir()
        rows.append({"n x d": size, **_run_child(path, True, build), "graph": "built"})
        (graph_file,) = build.glob("s.nblabel.db-graph-*.npz")
        for mapped in (False, True):
            work = Path(tmp) / ("mapped" if mapped else "ram")
            work.mkdir()
            shutil.copy(graph_file, work / graph_file.name)
            rows.append({"n x d": size, **_run_child(path, mapped, work), "graph": "loaded"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-n", type=int, default=300_000)
    parser.add_argument("--skip", choices=["throughput", "memory"], default=None)
    args = parser.parse_args()
    if args.skip != "memory":
        print("\nSession peak RSS (VmHWM), embeddings in RAM vs memory-mapped:\n")
        print_table(memory(args.memory_n))
    if args.skip != "throughput":
        print(f"\nEmbedding throughput on this machine ({os.cpu_count()} cores):\n")
        print_table(throughput(args.images, args.repeats))


if __name__ == "__main__":
    main()
