// The map: regl-scatterplot (the renderer of jupyter-scatter) on one WebGL context shared by every map of the
// page. Each point is a row [x, y, colour code, 0] of the layout scaled into [-1, 1] (mapview.js); a recolour
// changes the codes in place and redraws with the spatial index of the first draw, so positions are never sent
// or indexed again. Pan, wheel zoom and the drawing of a lasso or box are regl-scatterplot's; which points a
// lasso or box selects is decided here, from every position the mouse took (see selectionPath). The small
// toolbar here picks the mouse mode.

import createScatterplot, { createRenderer } from "regl-scatterplot";
import {
  areaOf,
  indicesInBox,
  indicesInPolygon,
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
  lasso: { mouseMode: "lasso", lassoType: "freeform" },
  box: { mouseMode: "lasso", lassoType: "rectangle" },
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
  el.append(canvas, bar);

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
    // shift-drag lassoes in pan mode; no merge or remove keys: a lasso lists what it surrounds, nothing else.
    actionKeyMap: { lasso: "shift" },
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
  let mode = "lasso";
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

  // ---- lasso and box: the selection comes from the mouse's own path. regl-scatterplot's lasso throttles mouse
  // moves and drops those still pending at the mouse-up, so its shape can end short of where the mouse did
  // (a box most of all: its corner is the last move it took). Every position is kept here, from the press on
  // the canvas to the release, and the points inside that path are the selection.
  let selectionPath = null; // page pixels while the button is down in lasso or box mode
  let lastPath = null; // the path of the latest release
  const onPathDown = (ev) => {
    // Every mode: a shift-drag lassoes in pan mode too.
    if (ev.button === 0) selectionPath = [[ev.clientX, ev.clientY]];
  };
  const onPathMove = (ev) => {
    if (selectionPath) selectionPath.push([ev.clientX, ev.clientY]);
  };
  const onPathUp = (ev) => {
    if (!selectionPath) return;
    selectionPath.push([ev.clientX, ev.clientY]);
    lastPath = selectionPath;
    selectionPath = null;
  };
  canvas.addEventListener("pointerdown", onPathDown);
  win.addEventListener("pointermove", onPathMove);
  win.addEventListener("pointerup", onPathUp);

  /** The points inside the latest path: its box in box mode, its polygon in lasso mode. */
  function pathSelection() {
    if (!norm) return [];
    const view = hookView();
    const path = (lastPath || []).map(([x, y]) => pageToNormalized(x, y, view, norm));
    if (path.length < 2) return [];
    if (mode === "box") {
      const [[x0, y0], [x1, y1]] = [path[0], path[path.length - 1]];
      return Array.from(indicesInBox(norm.nx, norm.ny, { x0, x1, y0, y1 }));
    }
    return Array.from(indicesInPolygon(norm.nx, norm.ny, path));
  }

  plot.subscribe("lassoStart", () => {
    lassoing = true;
  });
  plot.subscribe("lassoEnd", () => {
    lassoing = false;
    onSelect(pathSelection());
    plot.select(Array.from(highlight), { preventEvent: true });
  });
  plot.subscribe("select", ({ points }) => {
    // A lasso's own selection is replaced at its end (lassoEnd); a click selects the point under the mouse.
    if (!lassoing && points.length === 1) onClick(points[0]);
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

  // ---- the mode toolbar
  const buttons = new Map();
  function setMode(next) {
    mode = next;
    plot.set(MODE_SETTINGS[mode]);
    el.dataset.mode = mode;
    for (const [m, b] of buttons) b.setAttribute("aria-pressed", String(m === mode));
  }
  for (const [m, text, title] of MAP_MODES) {
    const b = doc.createElement("button");
    b.textContent = text;
    b.title = title;
    b.dataset.testid = `nbl-map-${m}`;
    b.addEventListener("click", () => setMode(m));
    buttons.set(m, b);
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
      canvas.removeEventListener("pointerdown", onPathDown);
      win.removeEventListener("pointermove", onPathMove);
      win.removeEventListener("pointerup", onPathUp);
      plot.destroy();
      releaseRenderer(win);
      delete el.nblabelMap;
      canvas.remove();
      bar.remove();
    },
  };
}
