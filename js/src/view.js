// One rendered view of a Labeler: toolbar, class bar, status line, scatter and grid.
// Plotly is loaded only by scatter.js, so this file stays importable in unit tests with a fake scatter.

import { classColor, colorGroups, legend } from "./colors.js";
import { buildTile, tileInfo } from "./grid.js";
import { keyAction, keyHelp } from "./keys.js";
import { mountNoisePanel } from "./noise.js";
import { clampPage, pageCount, pageLabel, pageSlice } from "./paging.js";
import { TO_KERNEL } from "./protocol.js";
import { clickSelect, selectAll, selectionSet } from "./selection.js";

const MODES = [
  ["browse", "browse"],
  ["queue", "label queue"],
  ["suspects", "review suspects"],
  ["similar", "similar images"],
];
const COLOR_BY = [
  ["predicted", "colour: predicted"],
  ["given", "colour: given"],
  ["verified", "colour: verified"],
  ["suspicion", "colour: suspicion"],
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
 * Render a view into `el`. `makeScatter(container, callbacks)` builds the scatter (plotly in the bundle,
 * a fake in tests). Returns a cleanup function.
 */
export function mountView({ model, el, store, makeScatter }) {
  const doc = el.ownerDocument;
  const off = [];
  let anchor = null; // item a shift-click extends from
  let scope = null; // Int32Array of items picked by a lasso: the grid shows these instead of the mode's list

  // ---------------------------------------------------------------- skeleton
  const root = h(doc, "div", { cls: "nbl-root", testid: "nbl-root", attrs: { tabindex: "0" } });
  // Lumino (JupyterLab) would otherwise take number keys, `a`, `z` and arrows as notebook shortcuts.
  root.setAttribute("data-lm-suppress-shortcuts", "true");

  const toolbar = h(doc, "div", { cls: "nbl-toolbar", testid: "nbl-toolbar" });
  const modeSel = h(doc, "select", { testid: "nbl-mode", attrs: { "aria-label": "mode" } });
  MODES.forEach(([v, t]) => modeSel.appendChild(option(doc, v, t)));
  const filterSel = h(doc, "select", { testid: "nbl-filter", attrs: { "aria-label": "filter" } });
  const colorSel = h(doc, "select", { testid: "nbl-color-by", attrs: { "aria-label": "colour by" } });
  COLOR_BY.forEach(([v, t]) => colorSel.appendChild(option(doc, v, t)));
  const nextBatch = h(doc, "button", { testid: "nbl-next-batch", text: "next batch" });
  const newClass = h(doc, "input", { testid: "nbl-new-class-name", attrs: { placeholder: "new class", size: "12" } });
  const addClass = h(doc, "button", { testid: "nbl-add-class", text: "add class" });
  const undoBtn = h(doc, "button", { testid: "nbl-undo", text: "undo (z)" });
  const redoBtn = h(doc, "button", { testid: "nbl-redo", text: "redo (y)" });
  toolbar.append(modeSel, filterSel, nextBatch, colorSel, newClass, addClass, undoBtn, redoBtn);

  const classBar = h(doc, "div", { cls: "nbl-classes", testid: "nbl-classes" });
  const classButtons = h(doc, "div", { cls: "nbl-class-buttons" });
  const acceptBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-accept", text: "accept given (a)" });
  const takeBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-take-predicted", text: "take predicted (p)" });
  const unlabelBtn = h(doc, "button", { cls: "nbl-action", testid: "nbl-unlabel", text: "unlabel (u)" });
  classBar.append(classButtons, acceptBtn, takeBtn, unlabelBtn);

  const status = h(doc, "div", { cls: "nbl-status", testid: "nbl-status" });
  const countsEl = h(doc, "span", { cls: "nbl-counts", testid: "nbl-counts" });
  const selectedEl = h(doc, "span", { cls: "nbl-selected-count", testid: "nbl-selected-count" });
  const savedEl = h(doc, "span", { cls: "nbl-saved", testid: "nbl-saved" });
  const busyEl = h(doc, "span", { cls: "nbl-busy", testid: "nbl-busy" });
  const errorEl = h(doc, "span", { cls: "nbl-error", testid: "nbl-error", attrs: { role: "alert" } });
  status.append(countsEl, selectedEl, savedEl, busyEl, errorEl);

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
  gridPane.append(pager, grid);
  main.append(scatterBox, gridPane);

  const help = h(doc, "div", { cls: "nbl-help", testid: "nbl-help" });
  help.textContent = keyHelp()
    .map(([k, what]) => `${k} ${what}`)
    .join(" · ");
  const tooltip = h(doc, "div", { cls: "nbl-tooltip", testid: "nbl-tooltip" });
  tooltip.hidden = true;

  // Suspects mode: noise estimate and matrix (noise.js); a cell browses its items.
  const noise = mountNoisePanel({ model, doc, browse: (f) => setTraits({ mode: "browse", browse_filter: f, page: 0 }) });
  root.append(toolbar, classBar, status, noise.el, main, help, tooltip);
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

  function act(type, payload = {}) {
    store.request(type, payload);
  }

  function actOnSelection(type, extra = {}) {
    const items = selection();
    if (items.length === 0) {
      errorEl.textContent = "select tiles (click) or points (lasso) first";
      return;
    }
    act(type, { indices: items, ...extra });
  }

  // ---------------------------------------------------------------- render parts
  function renderClasses() {
    const names = classes();
    const counts = model.get("counts") || {};
    const buttons = names.map((name, i) => {
      const b = h(doc, "button", { cls: "nbl-class", testid: `nbl-class-${i}` });
      b.dataset.classIndex = String(i);
      b.style.setProperty("--nbl-class-color", classColor(i));
      if (i < 9) b.appendChild(h(doc, "kbd", { text: String(i + 1) }));
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
    selectedEl.textContent = selection().length ? `${selection().length} selected` : "";
    const req = store.requests;
    const saved = model.get("saved") && req.allSaved && req.failed === 0;
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
    filterSel.hidden = mode !== "browse";
    nextBatch.hidden = mode !== "queue";
  }

  function renderGrid() {
    const items = list();
    const size = pageSize();
    const page = clampPage(model.get("page"), items.length, size);
    const shown = pageSlice(items, page, size);
    const selected = selectionSet(selection());
    const names = classes();
    const tiles = Array.from(shown, (i) =>
      buildTile(doc, tileInfo(i, store.state, store.thumbs.get(i), selected.has(i)), names),
    );
    grid.replaceChildren(...tiles);
    pageLabelEl.textContent = (scope ? "lasso · " : "") + pageLabel(page, items.length, size);
    prevBtn.disabled = page === 0;
    nextBtn.disabled = page >= pageCount(items.length, size) - 1;
    scopeBtn.hidden = !scope;
    if (store.state) root.dataset.ready = "true";
    store.requestThumbs(shown);
  }

  function updateTiles(indices) {
    const wanted = new Set(indices);
    const selected = selectionSet(selection());
    for (const tile of Array.from(grid.children)) {
      const i = Number(tile.dataset.index);
      if (wanted.has(i)) {
        tile.replaceWith(buildTile(doc, tileInfo(i, store.state, store.thumbs.get(i), selected.has(i)), classes()));
      }
    }
  }

  // ---------------------------------------------------------------- scatter
  let scatter = null;
  function showScatterError(err) {
    scatterMsg.hidden = false;
    scatterMsg.textContent = `The scatter could not be drawn (${err && err.message ? err.message : err}); the grid still works.`;
  }

  function renderLegend() {
    legendEl.replaceChildren(
      ...legend(model.get("color_by")).map(([color, text]) => {
        const row = h(doc, "span", { cls: "nbl-legend-item", text });
        row.style.setProperty("--nbl-swatch", color);
        return row;
      }),
    );
  }

  function colorScatter() {
    if (!scatter || !store.state) return;
    scatter.setColors(colorGroups(store.state, model.get("color_by"), classes().length)).catch(showScatterError);
  }

  function onLayout() {
    if (!store.layout) return;
    try {
      scatter = scatter || makeScatter(plotBox, scatterCallbacks);
    } catch (err) {
      showScatterError(err);
      return;
    }
    if (store.state) scatter.setColors(colorGroups(store.state, model.get("color_by"), classes().length));
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
      if (indices === null) {
        scope = null;
      } else {
        scope = Int32Array.from(indices);
        setTraits({ selection: selectAll(scope), page: 0 });
      }
      renderGrid();
      renderStatus();
    },
    onHover: showTooltip,
    onUnhover() {
      tooltip.hidden = true;
    },
    onClick(i) {
      if (model.get("mode") === "similar") setTraits({ anchor: i, page: 0 });
      else setSelection([i]);
    },
  };

  // ---------------------------------------------------------------- events: page -> model/kernel
  function listen(target, type, fn) {
    target.addEventListener(type, fn);
    off.push(() => target.removeEventListener(type, fn));
  }

  listen(modeSel, "change", () => {
    scope = null;
    setTraits({ mode: modeSel.value, page: 0 });
  });
  listen(filterSel, "change", () => setTraits({ browse_filter: filterSel.value, page: 0 }));
  listen(colorSel, "change", () => setTraits({ color_by: colorSel.value }));
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
    setSelection(next.selection);
  });
  listen(grid, "dblclick", (ev) => {
    const tile = ev.target.closest(".nbl-tile");
    if (tile) setTraits({ mode: "similar", anchor: Number(tile.dataset.index), page: 0 });
  });

  listen(root, "keydown", (ev) => {
    const tag = ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    const action = keyAction(ev, classes().length);
    if (!action) return;
    ev.preventDefault();
    ev.stopPropagation();
    switch (action.type) {
      case "label":
        actOnSelection(TO_KERNEL.LABEL, { cls: action.cls });
        break;
      case "unknown_class":
        errorEl.textContent = `no class ${action.cls + 1}: add it by name first`;
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
      case "similar": {
        const first = selection()[0];
        if (first !== undefined) setTraits({ mode: "similar", anchor: first, page: 0 });
        break;
      }
      default:
        break;
    }
  });

  // ---------------------------------------------------------------- events: kernel/model -> page
  const onModel = (names, fn) => {
    const events = names.map((n) => `change:${n}`).join(" ");
    model.on(events, fn);
    off.push(() => model.off(events, fn));
  };
  onModel(["classes", "counts", "mode"], noise.render);
  onModel(["classes", "counts"], () => {
    renderClasses();
    renderStatus();
    colorScatter();
  });
  onModel(["saved", "busy", "error"], renderStatus);
  onModel(["mode", "color_by", "browse_filter"], () => {
    renderToolbar();
    renderLegend();
    colorScatter();
  });
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
      if (changedKey) {
        scope = null;
        if (model.get("page") !== 0) setTraits({ page: 0 });
      }
      renderGrid();
    }),
  );
  off.push(
    store.on("thumbs", (indices) => {
      updateTiles(indices);
      // A hover card opened before its image arrived gets the image now.
      const shown = Number(tooltip.dataset.index);
      if (!tooltip.hidden && indices.includes(shown)) {
        showTooltip(shown, Number(tooltip.dataset.x), Number(tooltip.dataset.y));
      }
    }),
  );
  off.push(store.on("requests", renderStatus));

  // Theme switches (JupyterLab sets data-jp-theme-* on body) change the CSS variables the plot reads.
  const themeWatch = new doc.defaultView.MutationObserver(() => scatter && scatter.refreshTheme());
  themeWatch.observe(doc.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  off.push(() => themeWatch.disconnect());

  renderToolbar();
  renderLegend();
  renderClasses();
  renderStatus();
  renderGrid();
  noise.render();
  if (store.state) root.dataset.version = String(store.state.version);
  if (store.layout) onLayout();

  return () => {
    for (const fn of off) fn();
    if (scatter) scatter.destroy();
    root.remove();
  };
}
