// The widget's map up to nblabel 0.2 (plotly scattergl), kept here so that bench/bench_map_renderers.py can
// still compare it with regl-scatterplot, which the widget draws with now (js/src/scatter.js). One trace per
// colour group plus one trace outlining the selected points; updates go through Plotly.react with typed arrays.

import Plotly from "./plotly_core.js";

/**
 * Item indices of plotly event points when the map draws one trace per colour group: point p of trace g is
 * item groups[g][p]. Points of traces past the groups (the highlight overlay) map to nothing.
 */
function pointsToItems(points, groups) {
  const items = points.filter((p) => p.curveNumber < groups.length).map((p) => groups[p.curveNumber][p.pointIndex]);
  return Array.from(new Set(items)).sort((a, b) => a - b);
}

/** Colour groups from colour codes (js/src/colors.js colorCodes): the point indices of each code. */
export function groupsOf({ codes, colors, sizes }) {
  const counts = new Int32Array(colors.length);
  for (let i = 0; i < codes.length; i++) counts[codes[i]] += 1;
  const groups = Array.from(counts, (size) => new Int32Array(size));
  const fill = new Int32Array(colors.length);
  for (let i = 0; i < codes.length; i++) groups[codes[i]][fill[codes[i]]++] = i;
  return { groups, colors, sizes };
}

function cssVar(el, name, fallback) {
  const value = getComputedStyle(el).getPropertyValue(name).trim();
  return value || fallback;
}

function plotLayout(el) {
  const fg = cssVar(el, "--jp-ui-font-color1", "#333");
  const dim = cssVar(el, "--jp-border-color2", "#ddd");
  const axis = { visible: false, showgrid: false, zeroline: false };
  return {
    dragmode: "lasso",
    hovermode: "closest",
    showlegend: false,
    margin: { l: 4, r: 4, t: 4, b: 4 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: fg },
    xaxis: axis,
    yaxis: { ...axis, scaleanchor: "x" },
    modebar: { bgcolor: "rgba(0,0,0,0)", color: dim, activecolor: fg },
    uirevision: "keep", // keep zoom and pan across data updates
  };
}

function sameIndices(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function gather(values, indices) {
  const out = new Float32Array(indices.length);
  for (let j = 0; j < indices.length; j++) out[j] = values[indices[j]];
  return out;
}

/**
 * Mount a scatter into `el`. Callbacks: onSelect(indices | null), onHover(index, clientX, clientY),
 * onUnhover(), onClick(index). Returns {setPoints, setColors, setHighlight, refreshTheme, destroy}.
 */
export function createScatter(el, { onSelect, onHover, onUnhover, onClick }) {
  let x = new Float32Array(0);
  let y = new Float32Array(0);
  let spec = null; // {groups, colors}
  let highlight = [];
  let drawn = false;

  const config = {
    displaylogo: false,
    responsive: true,
    scrollZoom: true,
    doubleClick: "reset",
    modeBarButtonsToRemove: ["toImage", "autoScale2d", "hoverClosestCartesian", "hoverCompareCartesian", "toggleSpikelines"],
  };

  const groups = () => (spec ? spec.groups : [Int32Array.from({ length: x.length }, (_, i) => i)]);
  // Group traces are rebuilt only when points or colours change: Plotly.react skips a trace whose arrays are
  // the same objects, so a selection change re-uploads just the highlight trace.
  let groupTraces = [];

  // A click changes the colour of a few points: traces of groups that kept their members and colour are
  // reused as they are (same array objects), so only the changed groups are gathered and uploaded again.
  function rebuildGroups(prev = null) {
    groupTraces = groups().map((idx, g) =>
      prev && g < prev.groups.length && prev.colors[g] === spec.colors[g] && prev.sizes?.[g] === spec.sizes?.[g] &&
      sameIndices(prev.groups[g], idx)
        ? groupTraces[g]
        : groupTrace(idx, g),
    );
  }

  function groupTrace(idx, g) {
    return {
      type: "scattergl",
      mode: "markers",
      x: gather(x, idx),
      y: gather(y, idx),
      marker: { color: spec ? spec.colors[g] : "#888", size: spec && spec.sizes ? spec.sizes[g] : 5 },
      hoverinfo: "none",
      unselected: { marker: { opacity: 0.3 } },
    };
  }

  function traces() {
    const out = [...groupTraces];
    const h = Int32Array.from(highlight);
    out.push({
      type: "scattergl",
      mode: "markers",
      x: gather(x, h),
      y: gather(y, h),
      hoverinfo: "none",
      marker: { size: 9, color: "rgba(0,0,0,0)", line: { width: 2, color: cssVar(el, "--jp-ui-font-color0", "#000") } },
    });
    return out;
  }

  const firstItem = (ev) => pointsToItems(ev.points, groups())[0];

  async function draw() {
    await Plotly.react(el, traces(), plotLayout(el), config);
    el.dataset.points = String(x.length);
    if (drawn) return;
    drawn = true;
    el.on("plotly_selected", (ev) => {
      if (ev && ev.points) onSelect(pointsToItems(ev.points, groups()));
    });
    el.on("plotly_deselect", () => onSelect(null));
    el.on("plotly_hover", (ev) => {
      const i = firstItem(ev);
      if (i !== undefined) onHover(i, ev.event.clientX, ev.event.clientY);
    });
    el.on("plotly_unhover", () => onUnhover());
    el.on("plotly_click", (ev) => {
      const i = firstItem(ev);
      if (i !== undefined) onClick(i);
    });
  }

  return {
    setPoints(px, py) {
      x = px;
      y = py;
      rebuildGroups();
      return draw();
    },
    setColors(next) {
      const prev = spec;
      spec = next;
      const before = groupTraces;
      rebuildGroups(prev);
      // Nothing changed colour (e.g. a click that moved no prediction across a class): skip the redraw.
      const same = before.length === groupTraces.length && groupTraces.every((tr, g) => tr === before[g]);
      return drawn && !same ? draw() : Promise.resolve();
    },
    setHighlight(indices) {
      highlight = indices;
      return drawn ? draw() : Promise.resolve();
    },
    refreshTheme() {
      // A full redraw: the selection rings take the theme's text colour, dark on light and light on dark.
      return drawn ? draw() : Promise.resolve();
    },
    destroy() {
      Plotly.purge(el);
    },
  };
}
