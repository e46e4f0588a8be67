// In-page half of bench/bench_map_renderers.py: the same synthetic points for every renderer, and the timings
// (performance.now()) of what a person does with the map. A renderer is an adapter (plotly_entry.js,
// regl_entry.js, widget_entry.js) with one interface; install(adapter) exposes window.bench for
// bench/renderers/drive.mjs.

/** Seeded PRNG (mulberry32): the same points in every page and every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BLOBS = 50;
export const CLASSES = 10;

/**
 * `n` points in 50 Gaussian blobs (centres uniform in [-10, 10]^2, spreads 0.3-1.2), blob b of class b % 10:
 * what the widget receives from the kernel, xy float32 (n, 2) interleaved and the class codes int32 (n,).
 */
export function makePoints(n, seed = 1) {
  const rand = rng(seed);
  const centres = Array.from({ length: BLOBS }, () => [20 * rand() - 10, 20 * rand() - 10, 0.3 + 0.9 * rand()]);
  const xy = new Float32Array(2 * n);
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(rand() * BLOBS);
    const [cx, cy, s] = centres[b];
    // Box-Muller: two normal deviates from two uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const phi = 2 * Math.PI * rand();
    xy[2 * i] = cx + s * r * Math.cos(phi);
    xy[2 * i + 1] = cy + s * r * Math.sin(phi);
    codes[i] = b % CLASSES;
  }
  return { xy, codes };
}

/** Resolve after `k` animation frames: the frame that paints what was just drawn has been produced. */
export function frames(k = 2) {
  return new Promise((resolve) => {
    const step = () => (--k <= 0 ? resolve() : requestAnimationFrame(step));
    requestAnimationFrame(step);
  });
}

/**
 * Resolve when what was drawn is on screen: two animation frames, then a one-pixel read from every canvas in
 * `el`. The read waits for the GPU (SwiftShader: the rasterising threads) to finish the queued draws, which
 * animation frames alone do not, so a slow raster is charged to the step that caused it. plotly draws into
 * WebGL canvases; regl-scatterplot draws in its own WebGL canvas and copies each frame into a 2-D one.
 */
export async function painted(el) {
  await frames(2);
  const pixel = new Uint8Array(4);
  for (const canvas of el.querySelectorAll("canvas")) {
    const gl = canvas.getContext("webgl2") || canvas.getContext("webgl");
    if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    else canvas.getContext("2d")?.getImageData(0, 0, 1, 1);
  }
}

/** Vertices of a regular hexagon of radius `r` around (cx, cy), in data coordinates. */
function hexagon(cx, cy, r) {
  return Array.from({ length: 6 }, (_, k) => [cx + r * Math.cos((k * Math.PI) / 3), cy + r * Math.sin((k * Math.PI) / 3)]);
}

/** Points of interleaved `xy` inside a convex polygon whose vertices go counter-clockwise. */
function countInside(xy, poly) {
  let count = 0;
  const m = poly.length;
  for (let i = 0; i < xy.length; i += 2) {
    const px = xy[i];
    const py = xy[i + 1];
    let inside = true;
    for (let k = 0; k < m && inside; k++) {
      const [ax, ay] = poly[k];
      const [bx, by] = poly[(k + 1) % m];
      inside = (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0;
    }
    if (inside) count++;
  }
  return count;
}

/** Expose the benchmark steps to the driver; each resolves with milliseconds (or a small report). */
export function install(adapter) {
  const el = document.getElementById("map");
  let data = null;
  let recolours = 0;
  let lastInput = 0;
  let lastUp = 0;
  let selected = null; // the first selection reported after armSelection(): {at, count}
  let armed = false;
  // Time stamps of the latest input event and mouse-up, taken before any listener of the renderer runs.
  for (const type of ["mousemove", "wheel", "mouseup", "mousedown"]) {
    window.addEventListener(type, (ev) => {
      lastInput = ev.timeStamp;
      if (type === "mouseup") lastUp = ev.timeStamp;
    }, { capture: true, passive: true });
  }
  let renderer = null;

  window.bench = {
    name: adapter.name,
    /** Generate the points (not timed) and create the renderer in #map. */
    setup(n) {
      data = makePoints(n);
      // plotly reports a lasso twice, first with no points, and a cleared selection as null: the first
      // non-empty list after arming is the lasso's.
      renderer = adapter.create(el, (indices) => {
        if (armed && !selected && indices && indices.length) selected = { at: performance.now(), count: indices.length };
      });
      return { n };
    },
    /**
     * Wire arrays -> first frame showing all points in their colours: {ms, jsMs}, jsMs until the renderer's
     * promise resolved (plotly: its draw calls issued; regl-scatterplot: its own next frame drawn).
     */
    async firstDraw() {
      const t0 = performance.now();
      await renderer.draw(data.xy, data.codes);
      const jsMs = performance.now() - t0;
      await painted(el);
      return { ms: performance.now() - t0, jsMs };
    },
    /**
     * New class codes for a `fraction` of the points (1: an LP update that moved them all; 0.01: a click's
     * update) -> the frame that shows them, as above; ourMs: the renderer's own report of the time of our code
     * before its frame, where it has one (the widget's map).
     */
    async recolour(fraction = 1) {
      recolours += 1;
      const next = Int32Array.from(data.codes);
      const step = Math.max(1, Math.round(1 / fraction));
      for (let i = recolours % step; i < next.length; i += step) next[i] = (data.codes[i] + recolours) % CLASSES;
      const t0 = performance.now();
      await renderer.recolour(next);
      const jsMs = performance.now() - t0;
      await painted(el);
      const ms = performance.now() - t0;
      return renderer.ourRecolourMs ? { ms, jsMs, ourMs: renderer.ourRecolourMs() } : { ms, jsMs };
    },
    /**
     * A hexagon around the middle of the map holding about `target` points: its vertices in page pixels for
     * the driver's mouse, and the exact number of points inside.
     */
    lassoPath(target) {
      const { xy } = data;
      let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
      for (let i = 0; i < xy.length; i += 2) {
        x0 = Math.min(x0, xy[i]); x1 = Math.max(x1, xy[i]);
        y0 = Math.min(y0, xy[i + 1]); y1 = Math.max(y1, xy[i + 1]);
      }
      const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
      let [lo, hi] = [0, Math.max(x1 - x0, y1 - y0)];
      for (let it = 0; it < 25; it++) {
        const mid = (lo + hi) / 2;
        if (countInside(xy, hexagon(cx, cy, mid)) < target) lo = mid;
        else hi = mid;
      }
      const poly = hexagon(cx, cy, hi);
      return { inside: countInside(xy, poly), page: poly.map(([x, y]) => renderer.toPage(x, y)) };
    },
    setMode(mode) {
      return renderer.setMode(mode);
    },
    /** Clear the selection and wait for its echoes; lassoResult() then waits for the next selection. */
    async armSelection() {
      armed = false;
      await renderer.clearSelection();
      await frames(2);
      selected = null;
      armed = true;
    },
    /** Wait (up to `timeoutMs`) for the selected indices: ms from the mouse-up to them, and their number. */
    async lassoResult(timeoutMs) {
      const t0 = performance.now();
      while (!selected && performance.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 5));
      if (!selected) return null;
      return { ms: selected.at - lastUp, count: selected.count };
    },
    /** After an input event sent by the driver: ms from that event until the frames after it are painted. */
    async afterInput() {
      await painted(el);
      return performance.now() - lastInput;
    },
    /** After the last event of a gesture: ms until the renderer's own redraw after the gesture is painted. */
    async settled(timeoutMs) {
      await renderer.settled(lastInput, timeoutMs);
      await painted(el);
      return performance.now() - lastInput;
    },
    resetView() {
      return renderer.resetView();
    },
    /** The centre of the plot area, in page pixels. */
    centre() {
      const box = el.getBoundingClientRect();
      return [box.left + box.width / 2, box.top + box.height / 2];
    },
  };
}
