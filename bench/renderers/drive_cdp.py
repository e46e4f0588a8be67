"""The browser half of bench/bench_map_renderers.py without node: Chromium driven over the DevTools protocol.

The same steps, caps and JSON rows as ``drive.mjs`` (playwright-core), for machines that have a Python and a
Chromium but no node, such as the GPU machines the README's hardware-WebGL rows come from. The lasso differs
in two ways that keep it the hexagon it is meant to be (``Browser.move``'s ``drain`` and the first move after
the press in ``run_page``), so its "selected / inside" row checks out with a fast driver too. Standard library
only: Chromium runs with ``--remote-debugging-pipe`` (the protocol on file descriptors 3 and 4, messages ended
by a NUL byte), the page is served from this folder by ``http.server``, and the mouse is CDP's
``Input.dispatchMouseEvent``, which returns once the page has handled the event (as playwright's mouse does).

Before the pages, a probe page reports the WebGL renderer the flags gave (``WEBGL_debug_renderer_info``) and
the browser's GPU report (``SystemInfo.getInfo``) as one ``{"gpu": ...}`` row, so a table says what drew it.
``--require-hardware`` stops the run when that renderer is a software one (SwiftShader, llvmpipe).

    python drive_cdp.py --chromium /usr/bin/chromium --sizes 100000,1000000 --repeats 3 \
        --flags "--use-angle=swiftshader --enable-unsafe-swiftshader"
    python drive_cdp.py --chromium ./chromium-headless-shell --probe-only \
        --flags "--enable-gpu --use-angle=vulkan"

Rows go to stdout, one JSON object a line, and to ``--out`` as they come.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import queue
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# As drive.mjs: mouse moves per edge of the lasso hexagon, pan moves, wheel steps, recolours per page.
LASSO_MOVES = 2
PAN_STEPS = 4
ZOOM_STEPS = 3
RECOLOURS = 3
LASSO_TARGETS = (10_000, 100_000)
# Time caps (s); a 1M-point step in software WebGL on a loaded 2-core machine can take tens of seconds.
CAP = {"load": 60, "draw": 180, "step": 60, "lasso": 90, "settle": 10, "probe": 30}

# Flags every launch gets (tests/browser/lab.mjs's, less the WebGL backend, which --flags names).
BASE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--password-store=basic",
    "--window-size=900,900",
    "--remote-debugging-pipe",
]
SOFTWARE_RENDERERS = ("swiftshader", "llvmpipe", "softpipe", "software")

PROBE_JS = """(() => {
  const canvas = () => document.createElement("canvas");
  const gl = canvas().getContext("webgl2") || canvas().getContext("webgl");
  if (!gl) return {webgl: null};
  const ext = gl.getExtension("WEBGL_debug_renderer_info");
  return {
    webgl: gl instanceof WebGL2RenderingContext ? 2 : 1,
    vendor: ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : gl.getParameter(gl.VENDOR),
    renderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
    version: gl.getParameter(gl.VERSION),
    maxTextureSize: gl.getParameter(gl.MAX_TEXTURE_SIZE),
    userAgent: navigator.userAgent,
  };
})()"""


class Timeout(Exception):
    """A step ran past its cap (seconds in args[0]); the page is abandoned."""


class PageError(Exception):
    """An exception thrown in the page, or a protocol error."""


class Browser:
    """One Chromium with a fresh profile, one page attached in flat mode, over --remote-debugging-pipe."""

    def __init__(self, chromium: str, flags: list[str], log: Path | None) -> None:
        self.profile = tempfile.mkdtemp(prefix="nblabel-cdp-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Chromium reads commands from fd 3 and writes replies to fd 4: move the child's ends there.
        high = [os.dup(fd) for fd in (to_chrome_r, from_chrome_w)]

        def place_fds() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.log = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed in close())
        cmd = [chromium, *BASE_FLAGS, *flags, f"--user-data-dir={self.profile}", "about:blank"]
        # close_fds=False: the dup2 copies must survive into Chromium; every other descriptor of this process
        # is non-inheritable (PEP 446) and closes at exec.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=place_fds,
            close_fds=False,
        )
        for fd in (to_chrome_r, from_chrome_w, *high):
            os.close(fd)
        self.out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self.inp = os.fdopen(from_chrome_r, "rb", buffering=0)
        self.next_id = 0
        self.replies: dict[int, queue.Queue] = {}
        self.events: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.session: str | None = None
        self.mouse = (0.0, 0.0)
        self.buttons = 0

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = self.inp.read(1 << 16)
            if not chunk:
                for q in list(self.replies.values()):
                    q.put({"error": {"message": "browser closed the pipe"}})
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg and msg["id"] in self.replies:
                    self.replies[msg["id"]].put(msg)
                elif "method" in msg:
                    self.events.put(msg)

    def send(
        self, method: str, params: dict | None = None, timeout: float = 60, browser: bool = False
    ) -> dict:
        """One protocol command, to the page unless ``browser``: its result, or PageError / Timeout."""
        with self.lock:
            self.next_id += 1
            cid = self.next_id
            self.replies[cid] = queue.Queue()
        msg: dict[str, Any] = {"id": cid, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        self.out.write(json.dumps(msg).encode() + b"\0")
        try:
            reply = self.replies[cid].get(timeout=timeout)
        except queue.Empty:
            raise Timeout(timeout) from None
        finally:
            self.replies.pop(cid, None)
        if "error" in reply:
            raise PageError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    def open_page(self, width: int = 900, height: int = 900) -> None:
        """Attach to a new page target with a fixed viewport (the plot is 800x800 at its top left)."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, timeout=CAP["load"], browser=True)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def goto(self, url: str, timeout: float) -> None:
        """Navigate and wait for the page's load event."""
        self.send("Page.navigate", {"url": url}, timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(timeout)
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                raise Timeout(timeout) from None
            if ev.get("method") == "Page.loadEventFired" and ev.get("sessionId") == self.session:
                return

    def page_errors(self) -> list[str]:
        """Uncaught exceptions the page reported so far (events drained)."""
        errors = []
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return errors
            if ev.get("method") == "Runtime.exceptionThrown":
                details = ev["params"]["exceptionDetails"]
                errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))

    def evaluate(self, expression: str, timeout: float) -> Any:
        """Evaluate ``expression`` in the page, awaiting a promise; its value (JSON), or PageError/Timeout."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "userGesture": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "?")
            raise PageError(text.split("\n")[0])
        return result["result"].get("value")

    def call(self, fn: str, *args: Any, timeout: float) -> Any:
        """``window.bench.<fn>(...args)`` in the page."""
        return self.evaluate(f"window.bench.{fn}(...{json.dumps(list(args))})", timeout)

    def _mouse(self, kind: str, x: float, y: float, timeout: float, **extra: Any) -> None:
        params = {
            "type": kind,
            "x": x,
            "y": y,
            "button": "left" if self.buttons or kind != "mouseMoved" else "none",
        }
        params.update(buttons=self.buttons, **extra)
        self.send("Input.dispatchMouseEvent", params, timeout=timeout)

    def move(self, x: float, y: float, steps: int = 1, timeout: float = 60, drain: bool = False) -> None:
        """Mouse move to (x, y) in ``steps`` evenly spaced events, as playwright's mouse.move.

        ``drain``: after each event, wait until the page has run its pending zero-delay timers. A person's
        mouse sends at most an event a frame; this driver can send the next before the page's timers run,
        and regl-scatterplot extends its lasso from a throttle on such a timer, so undrained moves would
        drop most of the lasso's vertices (2.6k of 10k points selected in a trial run here).
        """
        x0, y0 = self.mouse
        for k in range(1, steps + 1):
            self._mouse("mouseMoved", x0 + (x - x0) * k / steps, y0 + (y - y0) * k / steps, timeout)
            if drain:
                self.evaluate("new Promise((r) => setTimeout(r, 0))", timeout)
        self.mouse = (x, y)

    def down(self, timeout: float = 60) -> None:
        self.buttons = 1
        self._mouse("mousePressed", *self.mouse, timeout, clickCount=1)

    def up(self, timeout: float = 60) -> None:
        self.buttons = 0
        self._mouse("mouseReleased", *self.mouse, timeout, clickCount=1)

    def wheel(self, dy: float, timeout: float = 60) -> None:
        self._mouse("mouseWheel", *self.mouse, timeout, deltaX=0, deltaY=dy)

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True, timeout=10)
        except (Timeout, PageError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.out, self.inp):
            f.close()
        if self.log is not subprocess.DEVNULL:
            self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve ``folder`` on a free localhost port in a thread; the server and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


def probe(chromium: str, flags: list[str], base: str, log: Path | None) -> dict:
    """The WebGL renderer and the browser's GPU report under ``flags``: {flags, webgl, gpu, hardware}."""
    browser = Browser(chromium, flags, log)
    try:
        browser.open_page()
        browser.goto(f"{base}/index.html", CAP["probe"])
        webgl = browser.evaluate(PROBE_JS, CAP["probe"])
        info = browser.send("SystemInfo.getInfo", browser=True, timeout=CAP["probe"])
        gpu = info.get("gpu", {})
        report = {
            "devices": gpu.get("devices"),
            "driverBugWorkarounds": len(gpu.get("driverBugWorkarounds", [])),
            "featureStatus": gpu.get("featureStatus"),
            "aux": {
                k: v
                for k, v in gpu.get("auxAttributes", {}).items()
                if k.startswith(("gl", "vulkan", "angle")) and "Extensions" not in k
            },
        }
    except (Timeout, PageError, OSError) as err:
        return {"flags": flags, "error": f"{type(err).__name__}: {err}", "hardware": False}
    finally:
        browser.close()
    renderer = (webgl or {}).get("renderer") or ""
    hardware = bool(renderer) and not any(s in renderer.lower() for s in SOFTWARE_RENDERERS)
    return {"flags": flags, "webgl": webgl, "gpu": report, "hardware": hardware}


def run_page(
    chromium: str, flags: list[str], base: str, renderer: str, n: int, repeat: int, emit, log
) -> None:
    """One fresh browser, one renderer's page at ``n`` points: every step of drive.mjs, rows to ``emit``."""
    tag = {"renderer": renderer, "n": n, "repeat": repeat}
    browser = Browser(chromium, flags, log)
    step = "load"
    try:
        browser.open_page()
        browser.goto(f"{base}/index.html?renderer={renderer}", CAP["load"])
        deadline = time.monotonic() + CAP["load"]
        while not browser.evaluate("!!window.bench", CAP["load"]):
            if time.monotonic() > deadline:
                raise Timeout(CAP["load"])
            time.sleep(0.02)
        browser.call("setup", n, timeout=CAP["load"])

        step = "first draw"
        emit({**tag, "step": step, **browser.call("firstDraw", timeout=CAP["draw"])})
        browser.send("HeapProfiler.collectGarbage", timeout=CAP["step"])
        heap = browser.send("Runtime.getHeapUsage", timeout=CAP["step"])
        emit({**tag, "step": "JS heap after first draw", "mib": heap["usedSize"] / 2**20})

        step = "recolour"
        for _ in range(RECOLOURS):
            emit({**tag, "step": step, **browser.call("recolour", 1, timeout=CAP["step"])})
        # A click's update: 1 % of the points change colour.
        step = "recolour 1%"
        for _ in range(RECOLOURS):
            emit({**tag, "step": step, **browser.call("recolour", 0.01, timeout=CAP["step"])})

        # Pan and zoom before the lassos: plotly's lasso at 1M may run past its cap and end the page.
        step = "pan"
        browser.call("resetView", timeout=CAP["step"])
        browser.call("setMode", "pan", timeout=CAP["step"])
        cx, cy = browser.call("centre", timeout=CAP["step"])
        browser.move(cx, cy)
        browser.down(timeout=CAP["step"])
        for k in range(1, PAN_STEPS + 1):
            browser.move(cx + 12 * k, cy + 6 * k, timeout=CAP["step"])
            emit({**tag, "step": "pan step", "ms": browser.call("afterInput", timeout=CAP["step"])})
        browser.up(timeout=CAP["step"])
        emit(
            {
                **tag,
                "step": "pan release",
                "ms": browser.call("settled", CAP["settle"] * 1000, timeout=CAP["step"]),
            }
        )

        step = "zoom"
        browser.call("resetView", timeout=CAP["step"])
        browser.move(cx, cy)
        for _ in range(ZOOM_STEPS):
            browser.wheel(-120, timeout=CAP["step"])
            emit({**tag, "step": "zoom step", "ms": browser.call("afterInput", timeout=CAP["step"])})
        emit(
            {
                **tag,
                "step": "zoom end",
                "ms": browser.call("settled", CAP["settle"] * 1000, timeout=CAP["step"]),
            }
        )

        # A lasso holding over half the points would reach past the plot area: at 100k only 10k is measured.
        for target in [t for t in LASSO_TARGETS if t <= n / 2]:
            step = f"lasso {target // 1000}k"
            browser.call("resetView", timeout=CAP["step"])
            browser.call("setMode", "lasso", timeout=CAP["step"])
            lasso = browser.call("lassoPath", target, timeout=CAP["step"])
            browser.call("armSelection", timeout=CAP["step"])
            # The path is not closed by hand: both renderers close a lasso themselves, and regl-scatterplot
            # reads a release where the press was as a click.
            t0 = time.perf_counter()
            lasso_deadline = time.monotonic() + CAP["lasso"]
            (x0, y0), (x1, y1) = lasso["page"][:2]
            browser.move(x0, y0)
            browser.down(timeout=CAP["step"])
            # regl-scatterplot starts a lasso at the first move after the press, not at the press: a first
            # move 2 px along the first edge, as a hand makes, keeps the lasso the hexagon (without it the
            # lasso cuts the corner to the middle of the first edge, ~5% of the points).
            step_len = max(1e-9, ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
            browser.move(x0 + 2 * (x1 - x0) / step_len, y0 + 2 * (y1 - y0) / step_len, drain=True)
            for x, y in lasso["page"][1:]:
                browser.move(x, y, LASSO_MOVES, max(0.1, lasso_deadline - time.monotonic()), drain=True)
            browser.up(timeout=CAP["step"])
            drag_ms = (time.perf_counter() - t0) * 1000
            moves = 1 + LASSO_MOVES * (len(lasso["page"]) - 1)
            result = browser.call("lassoResult", CAP["step"] * 1000, timeout=CAP["step"] + 5)
            if not result:
                raise Timeout(CAP["step"])
            emit({**tag, "step": step, "ms": result["ms"], "moveMs": drag_ms / moves,
                  "selected": result["count"], "inside": lasso["inside"]})  # fmt: skip
            browser.call("armSelection", timeout=CAP["step"])

        errors = browser.page_errors()
        if errors:
            emit({**tag, "step": "page errors", "error": "; ".join(errors)})
    except Timeout as err:
        emit({**tag, "step": step, "timeout": float(err.args[0]) * 1000})
    except (PageError, OSError) as err:
        emit({**tag, "step": step, "error": str(err).split("\n")[0]})
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", required=True, help="a Chromium or chromium-headless-shell executable")
    parser.add_argument("--flags", default="", help="extra Chromium flags (the WebGL backend), one string")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of points")
    parser.add_argument("--repeats", type=int, default=3, help="pages per renderer and size")
    parser.add_argument("--renderers", default="plotly,regl,widget")
    parser.add_argument("--out", type=Path, help="also write the rows here, one JSON object a line")
    parser.add_argument("--log", type=Path, help="append Chromium's own output here")
    parser.add_argument("--probe-only", action="store_true", help="print the {gpu: ...} row and stop")
    parser.add_argument(
        "--require-hardware", action="store_true", help="stop if the WebGL renderer is software"
    )
    args = parser.parse_args()
    flags = shlex.split(args.flags)
    renderers = args.renderers.split(",")
    absent = [r for r in renderers if not (HERE / "dist" / f"{r}.js").exists()]
    if absent:
        sys.exit(f"no page bundles {absent} in {HERE / 'dist'}: run node bench/renderers/build.mjs first")
    out = args.out.open("w") if args.out else None

    def emit(row: dict) -> None:
        line = json.dumps(row)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    server, base = serve(HERE)
    try:
        found = probe(args.chromium, flags, base, args.log)
        emit({"gpu": found})
        if args.probe_only:
            return
        if args.require_hardware and not found["hardware"]:
            sys.exit(f"software or no WebGL under {flags}: {found.get('webgl') or found.get('error')}")
        t0 = time.perf_counter()
        load_before = os.getloadavg()[0]
        for repeat in range(args.repeats):
            for n in [int(s) for s in args.sizes.split(",")]:
                # Interleaved as drive.mjs: alternate which renderer goes first, so load falls on both alike.
                order = renderers if repeat % 2 == 0 else renderers[::-1]
                for renderer in order:
                    run_page(args.chromium, flags, base, renderer, n, repeat, emit, args.log)
        emit({"run": {"wall_s": time.perf_counter() - t0, "load_before": load_before,
                      "load_after": os.getloadavg()[0], "cores": os.cpu_count()}})  # fmt: skip
    finally:
        server.shutdown()
        if out:
            out.close()


if __name__ == "__main__":
    main()
