"""The map at 100k and 1M points: the widget's map (regl-scatterplot), plain regl-scatterplot, plotly.

Three renderers draw the same synthetic points (50 Gaussian blobs in 2-D, 10 colours, generated in the page
from one seed) in an 800x800 plot, each in a fresh headless Debian Chromium (software WebGL: SwiftShader),
driven by ``bench/renderers/drive.mjs`` with playwright-core's mouse:

- ``widget``: the widget's own map, ``js/src/scatter.js`` (regl-scatterplot on the page's shared WebGL
  context, colours changed in place), fed as ``js/src/view.js`` feeds it;
- ``regl``: regl-scatterplot called directly with column arrays, as a plain user of the library would;
- ``plotly``: the widget's map up to 0.2 (``bench/renderers/plotly_map.js``: one scattergl trace per colour
  group, ``Plotly.react``), kept for the comparison that made the widget switch.

Times are ``performance.now()`` in the page:

- first draw: the wire arrays (xy float32, class codes int32) -> the second animation frame after the renderer
  says it has drawn, and the part until its promise resolves (plotly: after its draw calls are issued;
  regl-scatterplot: after its own next frame);
- recolour: new class codes for every point (an LP update that moved them all), and for 1 % of them (a click's
  update) -> drawn, likewise; for the widget also the time of our own code before regl-scatterplot's frame;
- pan / zoom: each mouse move of a drag (wheel step) -> the second frame after it; then the last event -> the
  renderer's own redraw after the gesture (plotly redraws the whole plot on release / after a wheel timer);
- lasso: a hexagon around the middle of the map holding ~10k (~100k) points, drawn with the mouse: the cost
  of each mouse move while drawing, and mouse-up -> the selected indices handed to the page.

Renderers are interleaved (each repeat runs them all, alternating the order) and every cell is the median
over the repeats' samples with [min–max]. A step past its cap is reported as a timeout and ends that page.

``--driver cdp`` runs the same steps from ``bench/renderers/drive_cdp.py`` (Python's standard library over
the DevTools protocol, no node or playwright): that is how the hardware-WebGL rows come from a GPU machine
that has neither (``bench/renderers/pack_chromium.sh`` packs Chromium for it, ``device_run.sh`` runs it
there), and ``--rows`` prints their saved rows here. Such a run starts with a ``{"gpu": ...}`` row, the WebGL
renderer string (``WEBGL_debug_renderer_info``) and Chromium's GPU report, and the header names it.

Usage::

    python bench/bench_map_renderers.py                       # 100k and 1M, 3 repeats, all three renderers
    python bench/bench_map_renderers.py --sizes 20000 --repeats 1 --renderers widget
    python bench/bench_map_renderers.py --rows bench/results/map_renderers.jsonl   # print a saved run again
    python bench/bench_map_renderers.py --driver cdp --sizes 20000 --repeats 1   # the same without node
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from tables import print_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from labserver import find_chromium, missing_prerequisites  # noqa: E402

from nblabel.viewmodel import STATE_FIELDS  # noqa: E402
from nblabel.widget import _WIRE_DTYPES  # noqa: E402  (the wire format is the widget's, whatever draws it)

RENDERERS = {
    "widget": "widget map (regl-scatterplot)",
    "regl": "regl-scatterplot",
    "plotly": "plotly scattergl",
}
PAGE_DIR = ROOT / "bench" / "renderers"

# (row label, driver step, value key, step whose timeout / error empties the row)
ROWS = [
    ("time to first draw (ms)", "first draw", "ms", "first draw"),
    ("  of which until its promise resolves (ms)", "first draw", "jsMs", "first draw"),
    ("JS heap after first draw (MiB)", "JS heap after first draw", "mib", "first draw"),
    ("recolour, every point changes colour (ms)", "recolour", "ms", "recolour"),
    ("  of which until its promise resolves (ms)", "recolour", "jsMs", "recolour"),
    ("  of which our code before the frame (ms)", "recolour", "ourMs", "recolour"),
    ("recolour, 1 % of the points change colour (ms)", "recolour 1%", "ms", "recolour 1%"),
    ("  of which until its promise resolves (ms)", "recolour 1%", "jsMs", "recolour 1%"),
    ("  of which our code before the frame (ms)", "recolour 1%", "ourMs", "recolour 1%"),
    ("pan: mouse move -> frame (ms per move)", "pan step", "ms", "pan"),
    ("pan: release -> redrawn (ms)", "pan release", "ms", "pan"),
    ("zoom: wheel step -> frame (ms per step)", "zoom step", "ms", "zoom"),
    ("zoom: last wheel step -> settled (ms)", "zoom end", "ms", "zoom"),
    ("lasso 10k: each mouse move while drawing (ms)", "lasso 10k", "moveMs", "lasso 10k"),
    ("lasso 10k: mouse-up -> selected indices (ms)", "lasso 10k", "ms", "lasso 10k"),
    ("lasso 10k: selected / inside the hexagon", "lasso 10k", "selected", "lasso 10k"),
    ("lasso 100k: each mouse move while drawing (ms)", "lasso 100k", "moveMs", "lasso 100k"),
    ("lasso 100k: mouse-up -> selected indices (ms)", "lasso 100k", "ms", "lasso 100k"),
    ("lasso 100k: selected / inside the hexagon", "lasso 100k", "selected", "lasso 100k"),
]


def build() -> dict[str, dict[str, int]]:
    """Bundle the pages (bench/renderers/build.mjs); returns each renderer's minified size and gzip size."""
    out = subprocess.run(
        ["node", str(PAGE_DIR / "build.mjs")], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# Software WebGL for drive_cdp.py here, as tests/browser/lab.mjs gives drive.mjs.
SOFTWARE_FLAGS = "--use-angle=swiftshader --enable-unsafe-swiftshader"


def drive(sizes: list[int], repeats: int, renderers: str, save: Path, driver: str = "node") -> list[dict]:
    """Run the browser half; its JSON rows (measurements, timeouts, errors) also go to ``save`` as they come.

    ``driver``: ``node`` (drive.mjs, playwright-core) or ``cdp`` (drive_cdp.py). The last row,
    ``{"run": {...}}``, holds the run's wall time and the machine's load before and after.
    """
    common = [
        "--chromium",
        str(find_chromium()),
        "--sizes",
        ",".join(map(str, sizes)),
        "--repeats",
        str(repeats),
        "--renderers",
        renderers,
    ]
    if driver == "cdp":
        cmd = [sys.executable, str(PAGE_DIR / "drive_cdp.py"), *common, "--flags", SOFTWARE_FLAGS]
    else:
        cmd = ["node", str(PAGE_DIR / "drive.mjs"), *common]
    save.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    # A run takes tens of minutes: the rows go to disk one by one, so a cut-off run still has its numbers.
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) as proc, save.open("w") as out:
        assert proc.stdout is not None
        for line in proc.stdout:
            # drive_cdp.py ends with its own run row; this one, with the load, stands for both drivers.
            if line.startswith("{") and not line.startswith('{"run"'):
                rows.append(json.loads(line))
                out.write(line)
                out.flush()
        run = {
            "wall_s": time.perf_counter() - t0,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }
        out.write(json.dumps({"run": run}) + "\n")
    if proc.returncode != 0:
        sys.exit(f"{Path(cmd[1]).name} failed ({proc.returncode}); rows so far in {save}")
    return [*rows, {"run": run}]


def cell(samples: list[float], failures: list[str], runs: int) -> str:
    """Median [min–max] of the samples; timeouts / errors of the step named after them.

    Whole numbers, except one decimal where the largest sample is under 100 (a GPU's frames are ms apart).
    """
    text = ""
    if samples:
        med = statistics.median(samples)
        digits = 1 if max(samples) < 100 else 0
        text = f"{med:,.{digits}f}"
        if len(samples) > 1:
            text += f" [{min(samples):,.{digits}f}–{max(samples):,.{digits}f}]"
    if failures:
        text += (" " if text else "") + f"({len(failures)} of {runs}: {', '.join(sorted(set(failures)))})"
    return text or "not reached"


def table(rows: list[dict], sizes: list[int], repeats: int, renderers: list[str]) -> list[dict[str, str]]:
    """One markdown row per measure, a column per (size, renderer); rows no renderer measured are left out."""
    values: dict[tuple, list[float]] = defaultdict(list)
    inside: dict[tuple, list[int]] = defaultdict(list)
    failed: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        key = (r["renderer"], r["n"], r["step"])
        if "timeout" in r:
            failed[key].append(f"timed out > {r['timeout'] / 1000:.0f} s")
        elif "error" in r:
            failed[key].append(f"error: {r['error'][:80]}")
        else:
            for name in ("ms", "jsMs", "ourMs", "mib", "moveMs", "selected"):
                if name in r:
                    values[(*key, name)].append(r[name])
            if "inside" in r:
                inside[key].append(r["inside"])
    columns = [(n, renderer) for n in sizes for renderer in renderers]
    out = []
    for label, step, name, owner in ROWS:
        if not any(key[2:] == (step, name) for key in values) and not any(key[2] == owner for key in failed):
            continue
        row = {"measure": label}
        for n, renderer in columns:
            head = f"{RENDERERS[renderer]}, " + (f"{n / 10**6:g}M" if n >= 10**6 else f"{n / 1000:g}k")
            if step.startswith("lasso") and int(step.split()[1][:-1]) * 1000 > n / 2:
                row[head] = "n/a"
                continue
            samples = values[(renderer, n, step, name)]
            if name == "selected" and samples:
                expected = statistics.median(inside[(renderer, n, step)])
                row[head] = f"{statistics.median(samples):,.0f} / {expected:,.0f}"
                continue
            row[head] = cell(samples, failed[(renderer, n, owner)], repeats)
        out.append(row)
    return out


def webgl_line(gpu: dict | None) -> str:
    """What drew the pages: the WebGL renderer string and flags of a drive_cdp.py run, else drive.mjs's."""
    if gpu is None:
        return "Headless Debian Chromium, software WebGL (SwiftShader)"
    kind = "hardware" if gpu["hardware"] else "software"
    webgl = gpu.get("webgl") or {}
    flags = " ".join(gpu["flags"])
    return f"Headless Chromium ({kind} WebGL: {webgl.get('renderer', 'none')}; flags `{flags}`)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of points")
    parser.add_argument("--repeats", type=int, default=3, help="pages per renderer and size")
    parser.add_argument(
        "--renderers", default=",".join(RENDERERS), help=f"comma-separated, of {list(RENDERERS)}"
    )
    parser.add_argument("--rows", type=Path, help="print the tables of a saved run (its JSON lines) instead")
    parser.add_argument(
        "--driver", choices=["node", "cdp"], default="node", help="drive.mjs (playwright) or drive_cdp.py"
    )
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        sys.exit(f"bench_map_renderers needs: {', '.join(missing)}")
    bundles = build()
    if args.rows:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        rows = drive(
            sizes,
            args.repeats,
            args.renderers,
            ROOT / "bench" / "results" / "map_renderers.jsonl",
            args.driver,
        )
    run = next((r["run"] for r in rows if "run" in r), None)
    gpu = next((r["gpu"] for r in rows if "gpu" in r), None)
    rows = [r for r in rows if "run" not in r and "gpu" not in r]
    sizes = sorted({r["n"] for r in rows})
    repeats = len({r["repeat"] for r in rows})
    renderers = [key for key in RENDERERS if any(r["renderer"] == key for r in rows)]
    versions = {
        name: json.loads((ROOT / "js" / "node_modules" / name / "package.json").read_text())["version"]
        for name in ("plotly.js", "regl-scatterplot")
    }
    per_item_state = sum(_WIRE_DTYPES[f].itemsize for f in STATE_FIELDS)
    per_item_xy = 2 * _WIRE_DTYPES["xy"].itemsize
    kib, mib = 1024, 2**20
    print(
        webgl_line(gpu) + ", 800x800 plot; "
        f"plotly.js {versions['plotly.js']} (the widget's partial bundle up to 0.2: core + scattergl), "
        f"regl-scatterplot {versions['regl-scatterplot']}; {repeats} repeats, renderers interleaved, "
        + (
            f"{run['wall_s'] / 60:.1f} min in all; 1-min load average {run['load_before']:.1f} before and "
            f"{run['load_after']:.1f} after on {run.get('cores', os.cpu_count())} cores"
            if run
            else "the run was cut off"
        )
        + (
            ".\n"
            if gpu and gpu["hardware"]
            else " (the machine was shared with other jobs, "
            "so compare the renderers with each other, not with a quiet machine or a GPU).\n"
        )
    )
    print("Bytes shipped (each renderer alone, and the widget's whole bundle, esbuild-minified):\n")
    widget_js = (ROOT / "nblabel" / "static" / "widget.js").read_bytes()
    bundles["lib-widget"] = {"bytes": len(widget_js), "gzip": len(gzip.compress(widget_js, 9))}
    names = {**RENDERERS, "widget": "the widget's whole bundle (nblabel/static/widget.js)"}
    print_table([
        {"renderer": names[key], "minified (KiB)": f"{bundles[f'lib-{key}']['bytes'] / kib:,.0f}",
         "gzip -9 (KiB)": f"{bundles[f'lib-{key}']['gzip'] / kib:,.0f}"}
        for key in ("regl", "plotly", "widget")
    ])  # fmt: skip
    print(
        "\nPoint data from the kernel, the same whichever renderer draws it: the layout once "
        f"({per_item_xy} B per point, {per_item_xy * 10**6 / mib:.1f} MiB at 1M), a full state "
        f"{per_item_state} B per point ({per_item_state * 10**6 / mib:.1f} MiB at 1M) of which the colour is "
        f"the {_WIRE_DTYPES['predicted'].itemsize}-byte class code; a click's state carries only the points "
        "that changed.\n"
    )
    print("Median [min–max] over the repeats' samples:\n")
    print_table(table(rows, sizes, repeats, renderers))


if __name__ == "__main__":
    main()
