// Browser half of bench/bench_map_renderers.py: serves bench/renderers/ on localhost, opens each renderer's
// page in a fresh headless Chromium (tests/browser/lab.mjs: Debian's chromium, SwiftShader WebGL), runs the
// steps of harness.js with the mouse, and prints one JSON line per measurement:
//   {renderer, n, repeat, step, ms, ...} or {renderer, n, repeat, step, timeout: ms} or {..., error}.
//
//   node drive.mjs --chromium /usr/bin/chromium --sizes 100000,1000000 --repeats 3
//
// Renderers are interleaved: each repeat runs every size with both, in alternating order, so the load of the
// machine at any moment falls on both alike. A step past its time cap is reported and the page abandoned.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch, parseArgs } from "../../tests/browser/lab.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const sizes = String(args.sizes ?? "100000,1000000").split(",").map(Number);
const repeats = Number(args.repeats ?? 3);
const renderers = String(args.renderers ?? "plotly,regl,widget").split(",");
const RECOLOURS = Number(args.recolours ?? 3);
const LASSO_TARGETS = [10_000, 100_000];
const PAN_STEPS = 4;
const ZOOM_STEPS = 3;
const LASSO_MOVES = 2; // mouse moves per edge of the hexagon
// Time caps (ms); a 1M-point step in software WebGL on a loaded 2-core machine can take tens of seconds.
const CAP = { load: 60_000, draw: 180_000, step: 60_000, lasso: 90_000, settle: 10_000 };

const TYPES = { ".html": "text/html", ".js": "text/javascript" };
const server = http.createServer((req, res) => {
  const file = path.join(here, decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (!file.startsWith(here) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
  fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${server.address().port}`;

class Timeout extends Error {}

/** `promise`, or a Timeout after `ms` (the page keeps running; the caller abandons it). */
function within(ms, promise) {
  let timer;
  const cap = new Promise((_, reject) => { timer = setTimeout(() => reject(new Timeout(String(ms))), ms); });
  return Promise.race([promise, cap]).finally(() => clearTimeout(timer));
}

const emit = (row) => console.log(JSON.stringify(row));

/**
 * Drag the mouse along `points` (page pixels) with the button down. The path is not closed by hand: both
 * renderers close a lasso themselves, and regl-scatterplot reads a release where the press was as a click.
 */
async function lassoDrag(page, points) {
  await page.mouse.move(points[0][0], points[0][1]);
  await page.mouse.down();
  for (const [x, y] of points.slice(1)) await page.mouse.move(x, y, { steps: LASSO_MOVES });
  await page.mouse.up();
}

async function runPage(renderer, n, repeat) {
  const tag = { renderer, n, repeat };
  const browser = await launch(args.chromium, { width: 900, height: 900 });
  const { page } = browser;
  let step = "load";
  try {
    await within(CAP.load, page.goto(`${base}/index.html?renderer=${renderer}`, { waitUntil: "load" }));
    await within(CAP.load, page.waitForFunction(() => window.bench, null, { timeout: CAP.load }));
    await within(CAP.load, page.evaluate((size) => window.bench.setup(size), n));

    step = "first draw";
    emit({ ...tag, step, ...(await within(CAP.draw, page.evaluate(() => window.bench.firstDraw()))) });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("HeapProfiler.collectGarbage");
    const heap = await cdp.send("Runtime.getHeapUsage");
    emit({ ...tag, step: "JS heap after first draw", mib: heap.usedSize / 2 ** 20 });

    step = "recolour";
    for (let k = 0; k < RECOLOURS; k++) {
      emit({ ...tag, step, ...(await within(CAP.step, page.evaluate(() => window.bench.recolour(1)))) });
    }
    // A click's update: 1 % of the points change colour.
    step = "recolour 1%";
    for (let k = 0; k < RECOLOURS; k++) {
      emit({ ...tag, step, ...(await within(CAP.step, page.evaluate(() => window.bench.recolour(0.01)))) });
    }

    // Pan and zoom before the lassos: plotly's lasso at 1M may run past its cap and end the page.
    step = "pan";
    await within(CAP.step, page.evaluate(() => window.bench.resetView()));
    await within(CAP.step, page.evaluate(() => window.bench.setMode("pan")));
    const [cx, cy] = await page.evaluate(() => window.bench.centre());
    await page.mouse.move(cx, cy);
    await within(CAP.step, page.mouse.down());
    for (let k = 1; k <= PAN_STEPS; k++) {
      await within(CAP.step, page.mouse.move(cx + 12 * k, cy + 6 * k));
      emit({ ...tag, step: "pan step", ms: await within(CAP.step, page.evaluate(() => window.bench.afterInput())) });
    }
    await within(CAP.step, page.mouse.up());
    emit({ ...tag, step: "pan release", ms: await within(CAP.step, page.evaluate((c) => window.bench.settled(c), CAP.settle)) });

    step = "zoom";
    await within(CAP.step, page.evaluate(() => window.bench.resetView()));
    await page.mouse.move(cx, cy);
    for (let k = 0; k < ZOOM_STEPS; k++) {
      await within(CAP.step, page.mouse.wheel(0, -120));
      emit({ ...tag, step: "zoom step", ms: await within(CAP.step, page.evaluate(() => window.bench.afterInput())) });
    }
    emit({ ...tag, step: "zoom end", ms: await within(CAP.step, page.evaluate((c) => window.bench.settled(c), CAP.settle)) });

    // A lasso holding more than half the points would reach past the plot area; at 100k only 10k is measured.
    for (const target of LASSO_TARGETS.filter((t) => t <= n / 2)) {
      step = `lasso ${target / 1000}k`;
      await within(CAP.step, page.evaluate(() => window.bench.resetView()));
      await within(CAP.step, page.evaluate(() => window.bench.setMode("lasso")));
      const lasso = await within(CAP.step, page.evaluate((t) => window.bench.lassoPath(t), target));
      await within(CAP.step, page.evaluate(() => window.bench.armSelection()));
      const t0 = Date.now();
      await within(CAP.lasso, lassoDrag(page, lasso.page));
      const dragMs = Date.now() - t0;
      const moves = LASSO_MOVES * (lasso.page.length - 1);
      const result = await within(CAP.step, page.evaluate((cap) => window.bench.lassoResult(cap), CAP.step));
      if (!result) throw new Timeout(String(CAP.step));
      emit({ ...tag, step, ms: result.ms, moveMs: dragMs / moves, selected: result.count, inside: lasso.inside });
      await within(CAP.step, page.evaluate(() => window.bench.armSelection()));
    }

    if (browser.events.pageErrors.length) emit({ ...tag, step: "page errors", error: browser.events.pageErrors.join("; ") });
  } catch (err) {
    if (err instanceof Timeout) emit({ ...tag, step, timeout: Number(err.message) });
    else emit({ ...tag, step, error: String(err.message ?? err).split("\n")[0] });
  } finally {
    await within(20_000, browser.close()).catch(() => emit({ ...tag, step: "close", error: "browser did not close" }));
  }
}

try {
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const n of sizes) {
      const order = repeat % 2 === 0 ? renderers : [...renderers].reverse();
      for (const renderer of order) await runPage(renderer, n, repeat);
    }
  }
} finally {
  server.close();
}
