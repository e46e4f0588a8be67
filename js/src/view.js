// One rendered view of a Labeler: toolbar, class bar, status line, scatter and grid.
// WebGL (regl-scatterplot) is loaded only by scatter.js, so this file stays importable in unit tests with a fake
// scatter.

import { clusterColorCodes, clusterLegend, createClusterPanel } from "./clusters.js";
import { classColor, colorCodes, legend } from "./colors.js";
import { buildTile, markUpscaled, tileInfo } from "./grid.js";
import { classKeys, keyAction, keyHelp } from "./keys.js";
import { mountNoisePanel } from "./noise.js";
import { clampPage, pageCount, pageLabel, pageSlice } from "./paging.js";
import { TO_KERNEL } from "./protocol.js";
import { advance, clickSelect, movePosition, pruneLeft, selectAll, selectionSet, toggleItem } from "./selection.js";

/** Tile widths (px) of the size menu; thumbnails are drawn crisp (pixelated) when upscaled 2x or more. */
const TILE_SIZES = [
  ["72", "tiles: small"],
  ["108", "tiles: medium"],
  ["160", "tiles: large"],
  ["240", "tiles: huge"],
];

function h(doc, tag, { cls, testid, text, attrs } = {}) {
  const node = doc.createElement(tag);
  if (cls) node.className = cls;
  if (testid) node.dataset.testid = testid;
  if (text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function option(doc, value, text) {
  const opt = doc.createElement("option");
  opt.value = value;
  opt.textContent = text;
  return opt;
}

/**
 * Render a view into `el`. `makeScatter(container, callbacks)` builds the scatter (regl-scatterplot in the bundle,
 * a fake in tests). Returns a cleanup function.
 */
export function mountView({ model, el, store, makeScatter }) {
  const doc = el.ownerDocument;
  const off = [];
  let anchor = null; // item a shift-click extends from
  let cursor = null; // item the arrow keys move from (outlined tile)
  let follow = false; // keep the cursor's page shown when the list changes (after keys and auto-advance)
  let shownList = new Int32Array(0); // the grid's list as last drawn, to tell which items left it
  let scope = null; // Int32Array of items picked by a lasso: the grid shows these instead of the mode's list

  // ---------------------------------------------------------------- skeleton
  const root = h(doc, "div", { cls: "nbl-root", testid: "nbl-root", attrs: { tabindex: "0" } });
  // Lumino (JupyterLab) would otherwise take number keys, `a`, `z` and arrows as notebook shortcuts.
  root.setAttribute("data-lm-suppress-shortcuts", "true");

  const toolbar = h(doc, "div", { cls: "nbl-toolbar", testid: "nbl-toolbar" });
  const modeSel = h(doc, "select", { testid: "nbl-mode", attrs: { "aria-label": "mode" } });
  // The menus' entries come from the kernel (widget.py MODE_MENU, COLOR_BY_MENU): one list, no copy here.
  const options = model.get("options") || {};
  (options.mode || []).forEach(([v, t]) => modeSel.appendChild(option(doc, v, t)));
  const filterSel = h(doc, "select", { testid: "nbl-filter", attrs: { "aria-label": "filter" } });
  const colorSel = h(doc, "select", { testid: "nbl-color-by", attrs: { "aria-label": "colour by" } });
  (options.color_by || []).forEach(([v, t]) => colorSel.appendChild(option(doc, v, t)));
  const nextBatch = h(doc, "button", { testid: "nbl-next-batch", text: "next batch" });
  const flaggedOnly = h(doc, "label", { cls: "nbl-flagged-only", testid: "nbl-flagged-only", text: " only flagged" });
  const flaggedBox = h(doc, "input", { testid: "nbl-flagged-only-box", attrs: { type: "checkbox" } });
  flaggedOnly.prepend(flaggedBox);
  const tileSize = h(doc, "select", { testid: "nbl-tile-size", attrs: { "aria-label": "tile size" } });
  TILE_SIZES.forEach(([v, t]) => tileSize.appendChild(option(doc, v, t)));
  tileSize.value = "108";
  const zoomBtn = h(doc, "button", { testid: "nbl-zoom", text: "zoom to selection" });
  const newClass = h(doc, "input", { testid: "nbl-new-class-name", attrs: { placeholder: "new class", size: "12" } });
  const addClass = h(doc, "button", { testid: "nbl-add-class", text: "add class" });
  const undoBtn = h(doc, "button", { testid: "nbl-undo", text: "undo (z)" });
  const redoBtn = h(doc, "button", { testid: "nbl-redo", text: "redo (y)" });
  toolbar.append(modeSel, filterSel, flaggedOnly, nextBatch, colorSel, tileSize, zoomBtn, newClass, addClass, undoBtn, redoBtn);

  const classBar = h(doc, "div", { cls: "nbl-classes", testid: "nbl-classes" });
  const classButtons = h(doc, "div", { cls: "nbl-class-buttons" });
  const acceptBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-accept", text: "accept given (a)" });
  const takeBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-take-predicted", text: "take predicted (p)" });
  const unlabelBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-unlabel", text: "unlabel (u)" });
  classBar.append(classButtons, acceptBtn, takeBtn, unlabelBtn);

  const status = h(doc, "div", { cls: "nbl-status", testid: "nbl-status" });
  const countsEl = h(doc, "span", { cls: "nbl-counts", testid: "nbl-counts" });
  const selectedEl = h(doc, "span", { cls: "nbl-selected-count", testid: "nbl-selected-count" });
  const keyTargetEl = h(doc, "span", { cls: "nbl-key-target", testid: "nbl-key-target" });
  const savedEl = h(doc, "span", { cls: "nbl-saved", testid: "nbl-saved" });
  const busyEl = h(doc, "span", { cls: "nbl-busy", testid: "nbl-busy" });
  const errorEl = h(doc, "span", { cls: "nbl-error", testid: "nbl-error", attrs: { role: "alert" } });
  status.append(countsEl, selectedEl, keyTargetEl, savedEl, busyEl, errorEl);

  const main = h(doc, "div", { cls: "nbl-main" });
  const scatterBox = h(doc, "div", { cls: "nbl-scatter", testid: "nbl-scatter" });
  const scatterMsg = h(doc, "div", { cls: "nbl-scatter-msg", testid: "nbl-scatter-msg", text: "computing the 2-D layout…" });
  scatterBox.appendChild(scatterMsg);
  const plotBox = h(doc, "div", { cls: "nbl-plot" });
  const legendEl = h(doc, "div", { cls: "nbl-legend", testid: "nbl-legend" });
  scatterBox.append(plotBox, legendEl);
  const gridPane = h(doc, "div", { cls: "nbl-gridpane" });
  const pager = h(doc, "div", { cls: "nbl-pager", testid: "nbl-pager" });
  const prevBtn = h(doc, "button", { testid: "nbl-prev", text: "◀" });
  const pageLabelEl = h(doc, "span", { testid: "nbl-page-label" });
  const nextBtn = h(doc, "button", { testid: "nbl-next", text: "▶" });
  const scopeBtn = h(doc, "button", { testid: "nbl-clear-lasso", text: "clear lasso" });
  pager.append(prevBtn, pageLabelEl, nextBtn, scopeBtn);
  const grid = h(doc, "div", { cls: "nbl-grid", testid: "nbl-grid" });
  const clusterPanel = createClusterPanel(doc, {
    onOpen: openCluster,
    onSort: (sort) => setTraits({ cluster_sort: sort }),
    onResolution: (resolution) => setTraits({ resolution }),
  });
  gridPane.append(clusterPanel.el, pager, grid);
  main.append(scatterBox, gridPane);

  const help = h(doc, "div", { cls: "nbl-help", testid: "nbl-help" });
  help.textContent = keyHelp()
    .map(([k, what]) => `${k} ${what}`)
    .join(" · ");
  const tooltip = h(doc, "div", { cls: "nbl-tooltip", testid: "nbl-tooltip" });
  tooltip.hidden = true;

  // One small prompt for the class palette (key c) and for jumping to an id (key /).
  const palette = h(doc, "div", { cls: "nbl-palette", testid: "nbl-palette", attrs: { role: "dialog" } });
  const paletteInput = h(doc, "input", { testid: "nbl-palette-input", attrs: { "aria-label": "filter classes" } });
  const paletteList = h(doc, "div", { cls: "nbl-palette-list", testid: "nbl-palette-list" });
  palette.append(paletteInput, paletteList);
  palette.hidden = true;

  // Suspects mode: noise estimate and matrix (noise.js); a cell browses its items.
  const noise = mountNoisePanel({ model, doc, browse: (f) => setTraits({ mode: "browse", browse_filter: f, page: 0 }) });
  root.append(toolbar, classBar, status, noise.el, main, help, tooltip, palette);
  el.appendChild(root);

  // ---------------------------------------------------------------- helpers
  const classes = () => model.get("classes") || [];
  const pageSize = () => model.get("page_size");
  const selection = () => model.get("selection") || [];
  const list = () => scope || store.view.indices;

  function setTraits(values) {
    for (const [k, v] of Object.entries(values)) model.set(k, v);
    model.save_changes();
  }

  function setSelection(items) {
    setTraits({ selection: Array.from(items) });
  }

  function act(type, payload = {}, onDone = null) {
    store.request(type, payload, onDone);
  }

  /** Select `item` alone (null: nothing), put the cursor on it and show its page (if it is in the list). */
  function moveTo(item) {
    cursor = item;
    anchor = item;
    follow = item !== null;
    const values = { selection: item === null ? [] : [item] };
    const pos = item === null ? -1 : Array.prototype.indexOf.call(list(), item);
    if (pos >= 0) values.page = Math.floor(pos / pageSize());
    setTraits(values);
  }

  /**
   * Send an action on the selection, then move the selection to the next item of the list (auto-advance), so
   * the next key press never acts on items already reviewed, which may have left the grid. A refused action
   * gives its items their selection back, so the error refers to what is selected.
   */
  function actOnSelection(type, extra = {}) {
    const items = selection();
    if (items.length === 0) {
      errorEl.textContent = "select tiles (click, arrow keys) or points (lasso) first";
      return;
    }
    const next = advance(list(), items);
    act(type, { indices: items, ...extra }, (error) => {
      const now = selection();
      if (error && now.length <= 1 && (now[0] ?? null) === next) {
        cursor = items[0];
        setSelection(items);
      }
    });
    moveTo(next);
  }

  // ---------------------------------------------------------------- render parts
  function renderClasses() {
    const names = classes();
    const keys = classKeys(names);
    const counts = model.get("counts") || {};
    const buttons = names.map((name, i) => {
      const b = h(doc, "button", { cls: "nbl-class", testid: `nbl-class-${i}` });
      b.dataset.classIndex = String(i);
      b.dataset.key = keys[i];
      b.style.setProperty("--nbl-class-color", classColor(i));
      if (keys[i]) b.appendChild(h(doc, "kbd", { text: keys[i] }));
      b.appendChild(h(doc, "span", { cls: "nbl-class-name", text: name }));
      const v = (counts.verified_per_class || [])[i] ?? 0;
      const p = (counts.predicted || [])[i] ?? 0;
      const g = (counts.given || [])[i] ?? 0;
      b.appendChild(h(doc, "span", { cls: "nbl-class-count", text: `${g} given · ${v} ✓ · ${p} pred` }));
      b.addEventListener("click", () => actOnSelection(TO_KERNEL.LABEL, { cls: i }));
      return b;
    });
    classButtons.replaceChildren(...buttons);

    const current = model.get("browse_filter");
    const opts = [option(doc, "all", "all items"), option(doc, "unlabeled", "unlabeled"),
      option(doc, "unverified", "not verified"), option(doc, "flagged", "flagged")];
    names.forEach((name, i) => opts.push(option(doc, `class:${i}`, `label: ${name}`)));
    names.forEach((name, i) => opts.push(option(doc, `predicted:${i}`, `predicted: ${name}`)));
    filterSel.replaceChildren(...opts);
    filterSel.value = current;
  }

  function renderStatus() {
    const c = model.get("counts") || {};
    countsEl.textContent = `n ${c.n ?? 0} · labeled ${c.labeled ?? 0} · verified ${c.verified ?? 0} · flagged ${
      c.flagged ?? 0}`;
    const n = selection().length;
    selectedEl.textContent = n ? `${n} selected` : "";
    // What the next key press changes, including selected items the grid does not show right now.
    const shown = new Set(Array.from(grid.children, (t) => Number(t.dataset.index)));
    const hidden = selection().filter((i) => !shown.has(i)).length;
    keyTargetEl.textContent = n
      ? `a key press changes ${n} item${n === 1 ? "" : "s"}${hidden ? ` (${hidden} not on this page)` : ""}`
      : "";
    const req = store.requests;
    const saved = model.get("saved") && req.allSaved;
    const inFlight = req.inFlight > 0;
    savedEl.dataset.saved = String(saved);
    savedEl.textContent = saved ? "saved" : inFlight ? "saving…" : "not saved";
    const busy = Boolean(model.get("busy"));
    busyEl.dataset.busy = String(busy);
    busyEl.textContent = busy ? "updating predictions…" : "";
    errorEl.textContent = model.get("error") || store.lastError || "";
    root.dataset.sent = String(req.sent);
    root.dataset.acked = String(req.acked);
    root.dataset.saved = String(saved);
    root.dataset.busy = String(busy);
  }

  function renderToolbar() {
    const mode = model.get("mode");
    root.dataset.mode = mode;
    modeSel.value = mode;
    colorSel.value = model.get("color_by");
    filterSel.value = model.get("browse_filter"); // set from the legend or Python, not only from the menu
    filterSel.hidden = mode !== "browse";
    flaggedOnly.hidden = mode !== "suspects";
    flaggedBox.checked = Boolean(model.get("flagged_only"));
    nextBatch.hidden = mode !== "queue";
  }

  function renderGrid() {
    const items = list();
    const size = pageSize();
    const page = clampPage(model.get("page"), items.length, size);
    const shown = pageSlice(items, page, size);
    const selected = selectionSet(selection());
    const names = classes();
    const tiles = Array.from(shown, (i) => tileFor(i, selected, names));
    grid.replaceChildren(...tiles);
    if (!store.state) grid.appendChild(h(doc, "div", { cls: "nbl-grid-msg", testid: "nbl-grid-msg", text: "waiting for the kernel…" }));
    markUpscaled(tiles);
    pageLabelEl.textContent = (scope ? "lasso · " : "") + pageLabel(page, items.length, size);
    prevBtn.disabled = page === 0;
    nextBtn.disabled = page >= pageCount(items.length, size) - 1;
    scopeBtn.hidden = !scope;
    shownList = items;
    if (store.state) root.dataset.ready = "true";
    store.requestThumbs(shown);
  }

  function tileFor(i, selected, names) {
    const tile = buildTile(doc, tileInfo(i, store.state, store.thumbs.get(i), selected.has(i)), names);
    if (i === cursor) tile.classList.add("nbl-cursor");
    tile.dataset.cursor = String(i === cursor);
    return tile;
  }

  function updateTiles(indices) {
    const wanted = new Set(indices);
    const selected = selectionSet(selection());
    for (const tile of Array.from(grid.children)) {
      const i = Number(tile.dataset.index);
      if (!wanted.has(i)) continue;
      const next = tileFor(i, selected, classes());
      tile.replaceWith(next);
      markUpscaled([next]);
    }
  }

  // ---------------------------------------------------------------- scatter
  let scatter = null;
  function showScatterError(err) {
    scatterMsg.hidden = false;
    scatterMsg.textContent = `The scatter could not be drawn (${err && err.message ? err.message : err}); the grid still works.`;
  }

  function renderLegend() {
    const by = model.get("color_by");
    const active = model.get("mode") === "browse" ? model.get("browse_filter") : "";
    const rows = by === "cluster" ? clusterLegend(store.clusters && store.clusters.cards) : legend(by, classes());
    legendEl.replaceChildren(
      ...rows.map(([color, text, filter]) => {
        const row = h(doc, "span", { cls: "nbl-legend-item", testid: "nbl-legend-item", text });
        row.style.setProperty("--nbl-swatch", color);
        if (filter) {
          // A click lists that class in the grid; a second click on the same row lists everything again.
          row.dataset.filter = filter;
          row.dataset.active = String(filter === active);
          row.title = filter === active ? "show all items" : `show only ${text}`;
          row.addEventListener("click", () => {
            scope = null;
            setTraits({ mode: "browse", browse_filter: filter === active ? "all" : filter, page: 0 });
          });
        }
        return row;
      }),
    );
  }

  function colors() {
    const by = model.get("color_by");
    if (by !== "cluster") return colorCodes(store.state, by, classes().length);
    return clusterColorCodes(store.clusters && store.clusters.labels, store.state.given.length);
  }

  function colorScatter() {
    if (!scatter || !store.state) return;
    const version = store.state.version;
    // data-version on the map: the state whose colours it shows (tests and benchmarks wait for it).
    scatter
      .setColors(colors())
      .then(() => {
        if (version > Number(plotBox.dataset.version ?? -1)) plotBox.dataset.version = String(version);
      })
      .catch(showScatterError);
  }

  // ---------------------------------------------------------------- clusters (js/src/clusters.js)
  let clustersAsked = false;
  const wantsClusters = () => model.get("mode") === "cluster" || model.get("color_by") === "cluster";
  function renderClusters() {
    if (wantsClusters() && !clustersAsked) {
      clustersAsked = true;
      act(TO_KERNEL.REQUEST_CLUSTERS);
    }
    clusterPanel.el.hidden = model.get("mode") !== "cluster";
    if (clusterPanel.el.hidden) return;
    store.requestThumbs(clusterPanel.render(store.clusters, model.get("cluster"), store.thumbs));
  }

  function openCluster(c) {
    setTraits({ mode: "cluster", cluster: c, page: 0, selection: [] });
    const labels = store.clusters && store.clusters.labels;
    if (scatter && scatter.zoomTo && labels && store.layout) {
      const members = [];
      for (let i = 0; i < labels.length; i++) if (labels[i] === c) members.push(i);
      scatter.zoomTo(members).catch(showScatterError);
    }
  }

  // The layout takes a while on a big session: a ticking clock says the kernel is at work, not stuck.
  const win = doc.defaultView;
  const layoutStarted = Date.now();
  const layoutTicker = win.setInterval(() => {
    const seconds = Math.round((Date.now() - layoutStarted) / 1000);
    scatterMsg.textContent = `computing the 2-D layout… ${seconds} s (the grid works meanwhile)`;
  }, 1000);
  off.push(() => win.clearInterval(layoutTicker));

  function onLayout() {
    if (!store.layout) return;
    win.clearInterval(layoutTicker);
    try {
      scatter = scatter || makeScatter(plotBox, scatterCallbacks);
    } catch (err) {
      showScatterError(err);
      return;
    }
    if (store.state) scatter.setColors(colors());
    scatter
      .setPoints(store.layout.x, store.layout.y)
      .then(() => {
        scatterMsg.hidden = true;
        scatter.setHighlight(selection());
      })
      .catch(showScatterError);
  }

  function showTooltip(i, clientX, clientY) {
    const thumb = store.thumbs.get(i);
    if (!thumb) store.requestThumbs([i]);
    const info = tileInfo(i, store.state, thumb, false);
    const names = classes();
    tooltip.replaceChildren();
    if (info.url) tooltip.appendChild(h(doc, "img", { attrs: { src: info.url, alt: info.id } }));
    const nm = (c) => (c >= 0 ? names[c] ?? `#${c}` : "—");
    tooltip.appendChild(h(doc, "div", { text: info.id || `#${i}` }));
    tooltip.appendChild(h(doc, "div", { text: `given ${nm(info.given)} · verified ${nm(info.verified)}` }));
    tooltip.appendChild(h(doc, "div", { text: `predicted ${nm(info.predicted)} ${Number(info.confidence).toFixed(2)}` }));
    const box = root.getBoundingClientRect();
    tooltip.style.left = `${clientX - box.left + 12}px`;
    tooltip.style.top = `${clientY - box.top + 12}px`;
    tooltip.dataset.index = String(i);
    tooltip.dataset.x = String(clientX);
    tooltip.dataset.y = String(clientY);
    tooltip.hidden = false;
  }

  const scatterCallbacks = {
    onSelect(indices) {
      // A lasso around no point leaves the grid as it was ("clear lasso" lists the mode's items again).
      if (indices.length === 0) return;
      root.focus({ preventScroll: true });
      scope = Int32Array.from(indices);
      cursor = null;
      anchor = null;
      follow = false;
      setTraits({ selection: selectAll(scope), page: 0 });
      renderGrid();
      renderStatus();
    },
    onHover: showTooltip,
    onUnhover() {
      tooltip.hidden = true;
    },
    onClick(i) {
      root.focus({ preventScroll: true });
      if (model.get("mode") === "similar") setTraits({ anchor: i, page: 0 });
      else moveTo(i);
    },
  };

  // ---------------------------------------------------------------- events: page -> model/kernel
  function listen(target, type, fn, options) {
    target.addEventListener(type, fn, options);
    off.push(() => target.removeEventListener(type, fn, options));
  }

  // The map's canvas takes no focus, so without this the next key after a click or a lasso on the map
  // would go to the notebook (JupyterLab's shortcuts: `3` makes the active cell a heading).
  const focusRoot = () => root.focus({ preventScroll: true });
  listen(scatterBox, "pointerdown", focusRoot, true);
  listen(scatterBox, "pointerup", focusRoot, true);

  listen(modeSel, "change", () => {
    scope = null;
    setTraits({ mode: modeSel.value, page: 0 });
  });
  listen(filterSel, "change", () => setTraits({ browse_filter: filterSel.value, page: 0 }));
  listen(colorSel, "change", () => setTraits({ color_by: colorSel.value }));
  listen(flaggedBox, "change", () => setTraits({ flagged_only: flaggedBox.checked, page: 0 }));
  // After a menu choice the keys go back to the widget: a focused menu would take `p` or `2` as a choice.
  for (const menu of [modeSel, filterSel, colorSel, flaggedBox, tileSize]) listen(menu, "change", focusRoot);
  listen(tileSize, "change", () => {
    grid.style.setProperty("--nbl-tile-size", `${tileSize.value}px`);
    grid.dataset.tileSize = tileSize.value;
    renderGrid(); // new tiles re-check whether their images are upscaled enough to draw as pixels
  });
  listen(zoomBtn, "click", () => {
    if (scatter && selection().length) scatter.zoomTo(selection()).catch(showScatterError);
    else errorEl.textContent = "select tiles or points first, then zoom to them";
  });
  listen(nextBatch, "click", () => act(TO_KERNEL.REQUEST_VIEW));
  const submitClass = () => {
    const name = newClass.value.trim();
    if (!name) return;
    act(TO_KERNEL.ADD_CLASS, { name });
    newClass.value = "";
  };
  listen(addClass, "click", submitClass);
  listen(newClass, "keydown", (ev) => {
    if (ev.key === "Enter") submitClass();
  });
  listen(undoBtn, "click", () => act(TO_KERNEL.UNDO));
  listen(redoBtn, "click", () => act(TO_KERNEL.REDO));
  listen(acceptBtn, "click", () => actOnSelection(TO_KERNEL.ACCEPT));
  listen(takeBtn, "click", () => actOnSelection(TO_KERNEL.TAKE_PREDICTED));
  listen(unlabelBtn, "click", () => actOnSelection(TO_KERNEL.UNLABEL));
  const turnPage = (delta) => {
    follow = false;
    const items = list();
    setTraits({ page: clampPage(model.get("page") + delta, items.length, pageSize()) });
  };
  listen(prevBtn, "click", () => turnPage(-1));
  listen(nextBtn, "click", () => turnPage(1));
  listen(scopeBtn, "click", () => {
    scope = null;
    setTraits({ page: 0 });
    renderGrid();
  });

  listen(grid, "click", (ev) => {
    const tile = ev.target.closest(".nbl-tile");
    if (!tile) return;
    root.focus({ preventScroll: true });
    const items = list();
    const size = pageSize();
    const page = clampPage(model.get("page"), items.length, size);
    const pos = page * size + Array.prototype.indexOf.call(grid.children, tile);
    const next = clickSelect(selection(), anchor, items, pos, {
      shift: ev.shiftKey,
      toggle: ev.ctrlKey || ev.metaKey,
    });
    anchor = next.anchor;
    cursor = items[pos];
    follow = true;
    setSelection(next.selection);
  });
  listen(grid, "dblclick", (ev) => {
    const tile = ev.target.closest(".nbl-tile");
    if (tile) setTraits({ mode: "similar", anchor: Number(tile.dataset.index), page: 0 });
  });

  /** Tiles per grid row as laid out now (arrow up/down move by one row). */
  function gridColumns() {
    const tiles = Array.from(grid.children);
    if (tiles.length === 0) return 1;
    const top = tiles[0].offsetTop;
    const first = tiles.findIndex((t) => t.offsetTop !== top);
    return first < 0 ? tiles.length : first;
  }

  function moveCursor({ dx, dy, extend, cursorOnly }) {
    const items = list();
    const size = pageSize();
    const page = clampPage(model.get("page"), items.length, size);
    // A cursor on another page than the one shown (after paging) restarts at this page's first tile.
    const at = cursor === null ? -1 : Array.prototype.indexOf.call(items, cursor);
    const from = at >= page * size && at < (page + 1) * size ? cursor : null;
    const pos = movePosition(items, from, dx, dy, gridColumns(), page * size);
    if (pos < 0) return;
    const item = items[pos];
    if (extend) {
      const next = clickSelect(selection(), anchor ?? from ?? item, items, pos, { shift: true });
      cursor = item;
      anchor = next.anchor;
      follow = true;
      setTraits({ selection: next.selection, page: Math.floor(pos / size) });
    } else if (cursorOnly) {
      cursor = item;
      follow = true;
      setTraits({ page: Math.floor(pos / size) });
      renderGrid();
    } else {
      moveTo(item);
    }
  }

  listen(root, "keydown", (ev) => {
    const tag = ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    // A focused button takes Enter / Space itself.
    if (tag === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;
    const action = keyAction(ev, classKeys(classes()));
    if (!action) return;
    ev.preventDefault();
    ev.stopPropagation();
    switch (action.type) {
      case "label":
        // An open cluster with nothing selected: the key labels the cluster's core, as its card says.
        if (model.get("mode") === "cluster" && model.get("cluster") >= 0 && selection().length === 0) {
          act(TO_KERNEL.LABEL_CLUSTER, { cluster: model.get("cluster"), cls: action.cls });
        } else {
          actOnSelection(TO_KERNEL.LABEL, { cls: action.cls });
        }
        break;
      case "unknown_class":
        errorEl.textContent = `no class has key ${action.key}: press c to pick a class by name, or add one`;
        break;
      case "accept":
      case "take_predicted":
      case "unlabel":
        actOnSelection(action.type);
        break;
      case "undo":
      case "redo":
        act(action.type);
        break;
      case "select_all":
        setSelection(selectAll(list()));
        break;
      case "clear":
        anchor = null;
        setSelection([]);
        break;
      case "page":
        turnPage(action.delta);
        break;
      case "move":
        moveCursor(action);
        break;
      case "toggle":
        if (cursor === null) {
          moveCursor({ dx: 0, dy: 0 });
        } else {
          anchor = cursor;
          setSelection(toggleItem(selection(), cursor));
        }
        break;
      case "palette":
        openPalette("classes");
        break;
      case "find":
        openPalette("find");
        break;
      case "similar": {
        const first = selection()[0];
        if (first !== undefined) setTraits({ mode: "similar", anchor: first, page: 0 });
        break;
      }
      default:
        break;
    }
  });

  // ---------------------------------------------------------------- palette: classes by name, jump to an id
  let paletteKind = null; // "classes" | "find" while open
  let paletteActive = 0;

  function paletteMatches() {
    const q = paletteInput.value.trim().toLowerCase();
    const hits = classes()
      .map((name, i) => [name, i])
      .filter(([name]) => name.toLowerCase().includes(q));
    // Names that start with what was typed first, then the rest, each in class order.
    return [...hits.filter(([n]) => n.toLowerCase().startsWith(q)), ...hits.filter(([n]) => !n.toLowerCase().startsWith(q))];
  }

  function renderPalette() {
    if (paletteKind !== "classes") {
      paletteList.replaceChildren();
      return;
    }
    const keys = classKeys(classes());
    const hits = paletteMatches();
    paletteActive = Math.min(paletteActive, Math.max(0, hits.length - 1));
    paletteList.replaceChildren(
      ...hits.map(([name, i], j) => {
        const row = h(doc, "div", { cls: "nbl-palette-item", testid: "nbl-palette-item" });
        row.dataset.classIndex = String(i);
        row.dataset.active = String(j === paletteActive);
        row.style.setProperty("--nbl-class-color", classColor(i));
        if (keys[i]) row.appendChild(h(doc, "kbd", { text: keys[i] }));
        row.appendChild(h(doc, "span", { text: name }));
        row.addEventListener("mousedown", (ev) => {
          ev.preventDefault(); // keep the input focused until the label is sent
          choosePaletteClass(i);
        });
        return row;
      }),
    );
    if (hits.length === 0) paletteList.appendChild(h(doc, "div", { cls: "nbl-palette-empty", text: "no class matches" }));
  }

  function openPalette(kind) {
    paletteKind = kind;
    paletteActive = 0;
    palette.dataset.kind = kind;
    paletteInput.value = "";
    const prompt = kind === "classes" ? "class name (Enter labels the selection, Esc closes)" : "item id (Enter jumps to it)";
    paletteInput.placeholder = prompt;
    paletteInput.setAttribute("aria-label", prompt);
    palette.hidden = false;
    renderPalette();
    paletteInput.focus({ preventScroll: true });
  }

  function closePalette() {
    paletteKind = null;
    palette.hidden = true;
    root.focus({ preventScroll: true });
  }

  function choosePaletteClass(cls) {
    closePalette();
    actOnSelection(TO_KERNEL.LABEL, { cls });
  }

  function jumpToId(id) {
    act(TO_KERNEL.FIND, { id }, (error, reply) => {
      if (error) return; // the status line shows it; the prompt stays open to correct the id
      closePalette();
      const i = reply.index;
      if (Array.prototype.indexOf.call(list(), i) >= 0) {
        moveTo(i);
        return;
      }
      // Not in the grid's list: browse all items, where it is, and show its page when that list arrives.
      scope = null;
      cursor = i;
      anchor = i;
      follow = true;
      setTraits({ mode: "browse", browse_filter: "all", selection: [i] });
    });
  }

  listen(paletteInput, "input", () => {
    paletteActive = 0;
    renderPalette();
  });
  listen(paletteInput, "keydown", (ev) => {
    ev.stopPropagation();
    if (ev.key === "Escape") {
      ev.preventDefault();
      closePalette();
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      paletteActive = Math.max(0, paletteActive + (ev.key === "ArrowDown" ? 1 : -1));
      renderPalette();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (paletteKind === "find") {
        const id = paletteInput.value.trim();
        if (id) jumpToId(id);
        return;
      }
      const hit = paletteMatches()[paletteActive];
      if (hit) choosePaletteClass(hit[1]);
    }
  });

  // ---------------------------------------------------------------- events: kernel/model -> page
  const onModel = (names, fn) => {
    const events = names.map((n) => `change:${n}`).join(" ");
    model.on(events, fn);
    off.push(() => model.off(events, fn));
  };
  onModel(["classes", "counts", "mode", "flagged_only"], noise.render);
  onModel(["classes", "counts"], () => {
    renderClasses();
    renderLegend();
    renderStatus();
    colorScatter();
  });
  onModel(["saved", "busy", "error"], renderStatus);
  onModel(["mode", "color_by", "browse_filter", "flagged_only"], () => {
    renderToolbar();
    renderLegend();
    colorScatter();
    renderClusters();
  });
  onModel(["cluster", "cluster_sort", "resolution"], renderClusters);
  off.push(
    store.on("clusters", () => {
      renderClusters();
      renderLegend();
      colorScatter();
    }),
  );
  onModel(["page", "page_size"], renderGrid);
  onModel(["selection"], () => {
    renderGrid();
    renderStatus();
    if (scatter) scatter.setHighlight(selection()).catch(showScatterError);
  });

  off.push(store.on("layout", onLayout));
  off.push(
    store.on("state", (state) => {
      root.dataset.version = String(state.version);
      colorScatter();
      renderGrid();
      renderStatus();
    }),
  );
  off.push(
    store.on("view", ({ changedKey }) => {
      if (changedKey) scope = null;
      const items = list();
      const values = {};
      // Items that left the list (a reviewed suspect) leave the selection: no key acts on what is not shown.
      const kept = pruneLeft(selection(), shownList, items);
      if (kept.length !== selection().length) values.selection = kept;
      const at = cursor === null ? -1 : Array.prototype.indexOf.call(items, cursor);
      if (follow && at >= 0) values.page = Math.floor(at / pageSize());
      else if (changedKey) values.page = 0;
      if (Object.keys(values).length) setTraits(values);
      renderGrid();
    }),
  );
  off.push(
    store.on("thumbs", (indices) => {
      updateTiles(indices);
      if (!clusterPanel.el.hidden) renderClusters(); // exemplar thumbnails on the cards
      // A hover card opened before its image arrived gets the image now.
      const shown = Number(tooltip.dataset.index);
      if (!tooltip.hidden && indices.includes(shown)) {
        showTooltip(shown, Number(tooltip.dataset.x), Number(tooltip.dataset.y));
      }
    }),
  );
  off.push(store.on("requests", renderStatus));

  // Theme switches (JupyterLab sets data-jp-theme-* on body) change the CSS variables the plot reads.
  // The theme's stylesheet can land a moment after the body attribute changes: read the colours after it.
  const themeWatch = new doc.defaultView.MutationObserver(() =>
    doc.defaultView.setTimeout(() => scatter && scatter.refreshTheme().catch(showScatterError), 100),
  );
  themeWatch.observe(doc.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  off.push(() => themeWatch.disconnect());

  renderToolbar();
  renderLegend();
  renderClasses();
  renderStatus();
  renderGrid();
  renderClusters();
  noise.render();
  if (store.state) root.dataset.version = String(store.state.version);
  if (store.layout) onLayout();

  return () => {
    for (const fn of off) fn();
    if (scatter) scatter.destroy();
    clusterPanel.dispose();
    root.remove();
  };
}
