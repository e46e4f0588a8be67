// The map: regl-scatterplot (the renderer of jupyter-scatter) on one WebGL context shared by every map of the
// page. Each point is a row [x, y, colour code, 0] of the layout scaled into [-1, 1] (mapview.js); a recolour
// changes the codes in place and redraws with the spatial index of the first draw, so positions are never sent
// or indexed again. Lasso, pan and wheel zoom are regl-scatterplot's own; the box is drawn here (see boxLayer);
// the small toolbar here picks the mouse mode.

import createScatterplot, { createRenderer } from "regl-scatterplot";
import {
  areaOf,
  indicesInBox,
  linearScale,
  normalizeLayout,
  pageToNormalized,
  pointRows,
  recodeRows,
  sameList,
} from "./mapview.js";

function cssVar(el, name, fallback) {
  const value = getComputedStyle(el).getPropertyValue(name).trim();
  return value || fallback;
}

// One WebGL context per page for all maps, as jupyter-scatter does: a browser allows a page about 16 contexts,
// and a notebook may show many widgets. The renderer goes when the last map of its window is destroyed.
const renderers = new WeakMap(); // window -> {renderer, users}

function acquireRenderer(win) {
  let entry = renderers.get(win);
  if (!entry || entry.renderer.isDestroyed) {
    entry = { renderer: createRenderer(), users: 0 };
    renderers.set(win, entry);
  }
  entry.users += 1;
  return entry.renderer;
}

function releaseRenderer(win) {
  const entry = renderers.get(win);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users > 0) return;
  entry.renderer.destroy();
  renderers.delete(win);
}

/** The map's mouse modes: [mode, button text, title]. */
const MAP_MODES = [
  ["lasso", "lasso", "drag a lasso around points to list them in the grid"],
  ["box", "box", "drag a rectangle around points to list them in the grid"],
  ["pan", "pan", "drag to pan; the wheel zooms in every mode"],
];

const MODE_SETTINGS = {
  lasso: { mouseMode: "lasso" },
  box: { mouseMode: "panZoom" }, // under the box overlay, which takes the mouse
  pan: { mouseMode: "panZoom" },
};

/**
 * Mount a map into `el`. Callbacks: onSelect(indices) after a lasso or box (sorted item indices, possibly
 * none), onHover(index, clientX, clientY), onUnhover(), onClick(index). Returns {setPoints, setColors,
 * setHighlight, refreshTheme, resetView, zoomTo, destroy}; the methods that draw return promises.
 *
 * Test hook (read-only, for tests/browser/driver.mjs and the benchmarks): `el.nblabelMap` has view() (the
 * canvas's page box and the layout range in view), toPage(i) (item i's page pixel) and code(i) (its colour
 * code); `el.dataset.points`, `el.dataset.ringColor` and `el.dataset.mode` say what is drawn.
 */
export function createScatter(el, { onSelect, onHover, onUnhover, onClick }) {
  const doc = el.ownerDocument;
  const win = doc.defaultView;
  const bar = doc.createElement("div");
  bar.className = "nbl-map-modes";
  bar.dataset.testid = "nbl-map-modes";
  const canvas = doc.createElement("canvas");
  canvas.className = "nbl-map-canvas";
  // Box mode: a layer over the canvas takes the mouse. regl-scatterplot's rectangle lasso throttles mouse
  // moves and drops those still pending at the mouse-up, so its box can end short of where the mouse did;
  // this box ends where the mouse is released, and selects the points inside by their coordinates.
  const boxLayer = doc.createElement("div");
  boxLayer.className = "nbl-map-box-layer";
  boxLayer.dataset.testid = "nbl-map-box-layer";
  boxLayer.hidden = true;
  const boxRect = doc.createElement("div");
  boxRect.className = "nbl-map-box-rect";
  boxRect.hidden = true;
  boxLayer.appendChild(boxRect);
  el.append(canvas, boxLayer, bar);

  const renderer = acquireRenderer(win);
  const colors = () => ({
    backgroundColor: cssVar(el, "--jp-layout-color0", "#ffffff"),
    ring: cssVar(el, "--jp-ui-font-color0", "#000000"),
  });
  const theme = colors();
  const plot = createScatterplot({
    renderer,
    canvas,
    width: "auto",
    height: "auto",
    backgroundColor: theme.backgroundColor,
    pointColorActive: theme.ring,
    pointColorHover: theme.ring,
    pointSize: 5,
    // A point keeps its size in pixels when zooming, as a marker does; zooming in separates points instead.
    pointScaleMode: "constant",
    pointColor: ["#9e9e9e"],
    colorBy: "valueA",
    sizeBy: "valueA",
    // The keys belong to the widget (Escape, number keys); a double click resets the view instead.
    deselectOnEscape: false,
    deselectOnDblClick: false,
    actionKeyMap: { lasso: "shift", merge: "meta" },
    // Every mouse position of a lasso counts (the defaults drop moves closer than 10 ms / 3 px apart), so the
    // lasso selects the points inside the path the mouse drew.
    lassoMinDelay: 0,
    lassoMinDist: 1,
    ...MODE_SETTINGS.lasso,
  });
  el.dataset.ringColor = theme.ring;

  let rows = null; // [x, y, code, 0] per point, kept for recolours
  let norm = null; // normalizeLayout's result
  let spatialIndex = null;
  let spec = null; // {codes, colors, sizes}
  let highlight = [];
  let lassoing = false;
  let destroyed = false;
  let pointer = [0, 0];
  /** Timings of the last draw (ms), for benchmarks: js = our code before regl-scatterplot's frame. */
  const timings = { points: null, colors: null };

  // regl-scatterplot refuses a draw while one is in flight: draws run one after the other, and a recolour asked
  // for meanwhile runs once, with the newest colours.
  let chain = Promise.resolve();
  let recolourQueued = false;
  const enqueue = (fn) => {
    chain = chain.catch(() => undefined).then(() => (destroyed ? undefined : fn()));
    return chain;
  };

  const palette = () => ({ pointColor: spec ? spec.colors : ["#9e9e9e"], pointSize: spec ? spec.sizes : [5] });
  let shownPalette = null;

  function drawRows(options) {
    return plot.draw(rows, { zDataType: "categorical", select: Array.from(highlight), ...options });
  }

  function setPoints(px, py) {
    return enqueue(async () => {
      const t0 = performance.now();
      norm = normalizeLayout(px, py);
      rows = pointRows(norm.nx, norm.ny, spec && spec.codes.length === px.length ? spec.codes : null);
      const { centre, half } = norm;
      shownPalette = palette();
      plot.set({
        ...shownPalette,
        xScale: linearScale([centre[0] - half, centre[0] + half]),
        yScale: linearScale([centre[1] - half, centre[1] + half]),
      });
      const js = performance.now() - t0;
      await drawRows({});
      spatialIndex = plot.get("spatialIndex");
      // regl-scatterplot's own start view shows [-1, 1] across the canvas's shorter side only.
      await fitView(false);
      timings.points = { js, total: performance.now() - t0 };
      el.dataset.points = String(px.length);
    });
  }

  function recolour() {
    recolourQueued = false;
    if (!rows || !spec || spec.codes.length !== rows.length) return undefined;
    const t0 = performance.now();
    const changed = recodeRows(rows, spec.codes);
    const next = palette();
    if (!sameList(shownPalette.pointColor, next.pointColor) || !sameList(shownPalette.pointSize, next.pointSize)) {
      plot.set(next);
      shownPalette = next;
    }
    if (changed === 0) {
      timings.colors = { changed, js: performance.now() - t0, total: performance.now() - t0 };
      return undefined;
    }
    // Same positions, same spatial index: regl-scatterplot rebuilds only its state texture.
    const drawn = drawRows({ spatialIndex, preventFilterReset: true });
    const js = performance.now() - t0;
    return drawn.then(() => {
      timings.colors = { changed, js, total: performance.now() - t0 };
    });
  }

  plot.subscribe("lassoStart", () => {
    lassoing = true;
  });
  plot.subscribe("lassoEnd", () => {
    lassoing = false;
  });
  plot.subscribe("select", ({ points }) => {
    // The lasso's points are distinct; a typed sort puts 100k of them in order in a few milliseconds.
    if (lassoing) onSelect(Array.from(Int32Array.from(points).sort()));
    else if (points.length === 1) onClick(points[0]);
    // The widget's selection decides what is drawn selected (a click in "similar" mode sets the anchor only).
    plot.select(Array.from(highlight), { preventEvent: true });
  });
  plot.subscribe("pointOver", (i) => onHover(i, pointer[0], pointer[1]));
  plot.subscribe("pointOut", () => onUnhover());
  const onPointer = (ev) => {
    pointer = [ev.clientX, ev.clientY];
  };
  canvas.addEventListener("pointermove", onPointer);
  /** Show the whole map (the layout's box fitted into the canvas, whatever its aspect ratio). */
  function fitView(transition) {
    if (!norm || destroyed) return Promise.resolve();
    return plot.zoomToArea(norm.extent, transition ? { transition: true, transitionDuration: 250 } : {});
  }
  const onDblClick = () => fitView(true);
  canvas.addEventListener("dblclick", onDblClick);

  // ---- box mode (see boxLayer)
  let boxStart = null;
  function boxCorners(ev) {
    const box = boxLayer.getBoundingClientRect();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [clamp(ev.clientX, box.left, box.right), clamp(ev.clientY, box.top, box.bottom), box];
  }
  function onBoxDown(ev) {
    if (ev.button !== 0 || !norm) return;
    boxLayer.setPointerCapture(ev.pointerId);
    const [x, y] = boxCorners(ev);
    boxStart = [x, y];
    onBoxMove(ev);
  }
  function onBoxMove(ev) {
    if (!boxStart) return;
    const [x, y, box] = boxCorners(ev);
    Object.assign(boxRect.style, {
      left: `${Math.min(x, boxStart[0]) - box.left}px`,
      top: `${Math.min(y, boxStart[1]) - box.top}px`,
      width: `${Math.abs(x - boxStart[0])}px`,
      height: `${Math.abs(y - boxStart[1])}px`,
    });
    boxRect.hidden = false;
  }
  function onBoxUp(ev) {
    if (!boxStart) return;
    const [x, y] = boxCorners(ev);
    const start = boxStart;
    boxStart = null;
    boxRect.hidden = true;
    // A press without a drag is not a box.
    if (Math.abs(x - start[0]) < 3 && Math.abs(y - start[1]) < 3) return;
    const view = hookView();
    const [x0, y0] = pageToNormalized(start[0], start[1], view, norm);
    const [x1, y1] = pageToNormalized(x, y, view, norm);
    onSelect(Array.from(indicesInBox(norm.nx, norm.ny, { x0, x1, y0, y1 })));
    plot.select(Array.from(highlight), { preventEvent: true });
  }
  // The wheel still zooms in box mode: the layer hands it to the canvas, where regl-scatterplot's camera is.
  function onBoxWheel(ev) {
    ev.preventDefault();
    canvas.dispatchEvent(new WheelEvent("wheel", ev));
  }
  boxLayer.addEventListener("pointerdown", onBoxDown);
  boxLayer.addEventListener("pointermove", onBoxMove);
  boxLayer.addEventListener("pointerup", onBoxUp);
  boxLayer.addEventListener("wheel", onBoxWheel, { passive: false });

  // ---- the mode toolbar
  const buttons = new Map();
  function setMode(mode) {
    plot.set(MODE_SETTINGS[mode]);
    boxLayer.hidden = mode !== "box";
    el.dataset.mode = mode;
    for (const [m, b] of buttons) b.setAttribute("aria-pressed", String(m === mode));
  }
  for (const [mode, text, title] of MAP_MODES) {
    const b = doc.createElement("button");
    b.textContent = text;
    b.title = title;
    b.dataset.testid = `nbl-map-${mode}`;
    b.addEventListener("click", () => setMode(mode));
    buttons.set(mode, b);
    bar.appendChild(b);
  }
  const reset = doc.createElement("button");
  reset.textContent = "reset view";
  reset.title = "show the whole map (or double-click the map)";
  reset.dataset.testid = "nbl-map-reset";
  reset.addEventListener("click", () => fitView(true));
  bar.appendChild(reset);
  setMode("lasso");

  /** The canvas's box in page pixels and the layout range it shows (x to the right, y up). */
  function hookView() {
    const box = canvas.getBoundingClientRect();
    const xScale = plot.get("xScale");
    const yScale = plot.get("yScale");
    return {
      left: box.left, top: box.top, width: box.width, height: box.height,
      xrange: xScale ? xScale.domain() : null, yrange: yScale ? yScale.domain() : null,
      timings: JSON.parse(JSON.stringify(timings)),
    };
  }

  el.nblabelMap = Object.freeze({
    view: hookView,
    /** Item i's colour code as drawn now (an index into the colours of the last setColors). */
    code(i) {
      return rows ? rows[i][2] : null;
    },
    /** Item i's position in page pixels as drawn now. */
    toPage(i) {
      const { left, top, width, height, xrange, yrange } = hookView();
      const x = norm.centre[0] + norm.nx[i] * norm.half;
      const y = norm.centre[1] + norm.ny[i] * norm.half;
      return [left + ((x - xrange[0]) / (xrange[1] - xrange[0])) * width, top + ((yrange[1] - y) / (yrange[1] - yrange[0])) * height];
    },
  });

  return {
    setPoints,
    setColors(next) {
      spec = next;
      if (!rows || recolourQueued) return chain;
      recolourQueued = true;
      return enqueue(recolour);
    },
    setHighlight(indices) {
      highlight = Array.from(indices);
      if (rows && !destroyed) plot.select(highlight, { preventEvent: true });
      return Promise.resolve();
    },
    refreshTheme() {
      // The selection rings take the theme's text colour (dark on light, light on dark), the gap inside them
      // the background's.
      const next = colors();
      plot.set({ backgroundColor: next.backgroundColor, pointColorActive: next.ring, pointColorHover: next.ring });
      el.dataset.ringColor = next.ring;
      return Promise.resolve();
    },
    /** Show the whole map (what "reset view" and a double click do). */
    resetView() {
      return fitView(false);
    },
    /** Zoom to the bounding box of some items (a cluster card, "zoom to selection"). */
    zoomTo(indices) {
      const area = norm && areaOf(indices, norm.nx, norm.ny);
      if (!area) return Promise.resolve();
      return plot.zoomToArea(area, { transition: true, transitionDuration: 250 });
    },
    destroy() {
      destroyed = true;
      canvas.removeEventListener("pointermove", onPointer);
      canvas.removeEventListener("dblclick", onDblClick);
      boxLayer.removeEventListener("pointerdown", onBoxDown);
      boxLayer.removeEventListener("pointermove", onBoxMove);
      boxLayer.removeEventListener("pointerup", onBoxUp);
      boxLayer.removeEventListener("wheel", onBoxWheel);
      plot.destroy();
      releaseRenderer(win);
      delete el.nblabelMap;
      canvas.remove();
      boxLayer.remove();
      bar.remove();
    },
  };
}
