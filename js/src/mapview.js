// The map's arithmetic, apart from WebGL so that unit tests can check it: the layout scaled into the square of
// normalized device coordinates regl-scatterplot draws, the per-point rows it takes, which points changed colour,
// and a linear scale whose domain regl-scatterplot keeps equal to the part of the layout in view.

/**
 * One centre and one scale for both axes, so that the map keeps the layout's aspect ratio: the longer side of
 * the layout's bounding box spans [-1, 1] less a 5 % margin.
 *
 * x, y: Float32Array (n,) layout coordinates. Returns {nx, ny: Float32Array (n,) in [-1, 1], centre: [cx, cy],
 * half: the layout length that maps to 1, extent: {x, y, width, height} the points' box in normalized
 * coordinates with the same 5 % margin (what "the whole map" shows)}.
 */
export function normalizeLayout(x, y) {
  const n = x.length;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    if (x[i] < x0) x0 = x[i];
    if (x[i] > x1) x1 = x[i];
    if (y[i] < y0) y0 = y[i];
    if (y[i] > y1) y1 = y[i];
  }
  if (n === 0) [x0, x1, y0, y1] = [0, 0, 0, 0];
  const centre = [(x0 + x1) / 2, (y0 + y1) / 2];
  // A layout of one point (or all points equal) still gets a finite scale.
  const half = (1.05 * Math.max(x1 - x0, y1 - y0)) / 2 || 1;
  const nx = new Float32Array(n);
  const ny = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    nx[i] = (x[i] - centre[0]) / half;
    ny[i] = (y[i] - centre[1]) / half;
  }
  const width = Math.max((1.05 * (x1 - x0)) / half, 0.1);
  const height = Math.max((1.05 * (y1 - y0)) / half, 0.1);
  return { nx, ny, centre, half, extent: { x: -width / 2, y: -height / 2, width, height } };
}

/**
 * regl-scatterplot's array-oriented points [x, y, code, 0], one small array per point. The map keeps these rows
 * and changes the code in place on a recolour: regl-scatterplot would otherwise build a fresh row per point from
 * column arrays on every draw (a million allocations at 1M points).
 */
export function pointRows(nx, ny, codes) {
  const rows = new Array(nx.length);
  for (let i = 0; i < nx.length; i++) rows[i] = [nx[i], ny[i], codes ? codes[i] : 0, 0];
  return rows;
}

/** Write `codes` into the rows' third entry; returns how many rows changed (0: nothing to redraw). */
export function recodeRows(rows, codes) {
  let changed = 0;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i][2] !== codes[i]) {
      rows[i][2] = codes[i];
      changed += 1;
    }
  }
  return changed;
}

/** Whether two short lists (colours, sizes) hold the same entries. */
export function sameList(a, b) {
  return Boolean(a && b) && a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The minimal linear scale regl-scatterplot needs for its xScale / yScale options (it calls only domain() and
 * range(), as getters and setters): it sets the domain to the layout range in view after every pan or zoom.
 */
export function linearScale(domain) {
  let d = domain.slice();
  let r = [0, 1];
  const scale = {
    domain(v) {
      if (v === undefined) return d.slice();
      d = Array.from(v);
      return scale;
    },
    range(v) {
      if (v === undefined) return r.slice();
      r = Array.from(v);
      return scale;
    },
  };
  return scale;
}

/** The rectangle {x, y, width, height} (normalized coordinates) around some points, for zoomToArea; null if none. */
export function areaOf(indices, nx, ny, margin = 0.08) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const i of indices) {
    if (i < 0 || i >= nx.length) continue;
    x0 = Math.min(x0, nx[i]);
    x1 = Math.max(x1, nx[i]);
    y0 = Math.min(y0, ny[i]);
    y1 = Math.max(y1, ny[i]);
  }
  if (!(x1 >= x0)) return null;
  // A single point gets a view 5 % of the whole map wide, not an infinite zoom.
  const w = Math.max(x1 - x0, 0.1) * (1 + 2 * margin);
  const h = Math.max(y1 - y0, 0.1) * (1 + 2 * margin);
  return { x: (x0 + x1) / 2 - w / 2, y: (y0 + y1) / 2 - h / 2, width: w, height: h };
}

/**
 * The points inside an axis-aligned box of normalized coordinates {x0, x1, y0, y1} (either corner first):
 * Int32Array of their indices in increasing order. What a box drawn on the map selects, exactly.
 */
export function indicesInBox(nx, ny, { x0, x1, y0, y1 }) {
  const [xa, xb] = x0 <= x1 ? [x0, x1] : [x1, x0];
  const [ya, yb] = y0 <= y1 ? [y0, y1] : [y1, y0];
  const out = [];
  for (let i = 0; i < nx.length; i++) if (nx[i] >= xa && nx[i] <= xb && ny[i] >= ya && ny[i] <= yb) out.push(i);
  return Int32Array.from(out);
}

/**
 * A page pixel to the map's normalized coordinates, through the view: `view` {left, top, width, height, xrange,
 * yrange} (the layout range in view; y up) and `norm` {centre, half} from normalizeLayout. Returns [nx, ny].
 */
export function pageToNormalized(px, py, view, norm) {
  const { left, top, width, height, xrange, yrange } = view;
  const x = xrange[0] + ((px - left) / width) * (xrange[1] - xrange[0]);
  const y = yrange[1] - ((py - top) / height) * (yrange[1] - yrange[0]);
  return [(x - norm.centre[0]) / norm.half, (y - norm.centre[1]) / norm.half];
}

/**
 * The points inside a closed polygon of normalized coordinates (vertices [[x, y], ...], the last joined to
 * the first), by the even-odd rule: Int32Array of their indices in increasing order. What a lasso selects:
 * the path the mouse took, every position of it. Points outside the polygon's bounding box are skipped first,
 * so a small lasso over a million points costs one pass of comparisons.
 */
export function indicesInPolygon(nx, ny, polygon) {
  const m = polygon.length;
  if (m < 3) return new Int32Array(0);
  let [xa, xb, ya, yb] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of polygon) {
    xa = Math.min(xa, x);
    xb = Math.max(xb, x);
    ya = Math.min(ya, y);
    yb = Math.max(yb, y);
  }
  const vx = Float64Array.from(polygon, (p) => p[0]);
  const vy = Float64Array.from(polygon, (p) => p[1]);
  const out = [];
  for (let i = 0; i < nx.length; i++) {
    const px = nx[i];
    const py = ny[i];
    if (px < xa || px > xb || py < ya || py > yb) continue;
    let inside = false;
    for (let j = 0, k = m - 1; j < m; k = j++) {
      if (vy[j] > py !== vy[k] > py && px < vx[j] + ((py - vy[j]) * (vx[k] - vx[j])) / (vy[k] - vy[j])) inside = !inside;
    }
    if (inside) out.push(i);
  }
  return Int32Array.from(out);
}
