// Selection logic, independent of the DOM: the grid and the scatter both call these.
// A selection is a sorted array of item indices; `anchor` is the item a shift-click extends from.

function sortedUnique(items) {
  return Array.from(new Set(items)).sort((a, b) => a - b);
}

/**
 * Selection after clicking the item at position `pos` of `list` (the grid's ordered item list).
 * plain: only that item; toggle (ctrl/cmd): add or remove it; shift: the range from the anchor to it.
 * Returns {selection, anchor}.
 */
export function clickSelect(selection, anchor, list, pos, { shift = false, toggle = false } = {}) {
  const item = list[pos];
  if (shift && anchor !== null && anchor !== undefined) {
    const from = Array.prototype.indexOf.call(list, anchor);
    if (from >= 0) {
      const [lo, hi] = from <= pos ? [from, pos] : [pos, from];
      const range = Array.from(list.slice(lo, hi + 1));
      // shift+ctrl adds the range to what was selected; shift alone replaces it.
      return { selection: sortedUnique(toggle ? [...selection, ...range] : range), anchor };
    }
  }
  if (toggle) {
    const has = selection.includes(item);
    return { selection: has ? selection.filter((i) => i !== item) : sortedUnique([...selection, item]), anchor: item };
  }
  return { selection: [item], anchor: item };
}

/** Select every item of the list (ctrl/cmd+A). */
export function selectAll(list) {
  return sortedUnique(Array.from(list));
}

/**
 * Item indices of plotly event points when the scatter draws one trace per colour group: point p of trace g
 * is item groups[g][p]. Points of traces past the groups (the highlight overlay) map to nothing.
 */
export function pointsToItems(points, groups) {
  return sortedUnique(
    points.filter((p) => p.curveNumber < groups.length).map((p) => groups[p.curveNumber][p.pointIndex]),
  );
}

/** Membership test for rendering: a Set built once per selection. */
export function selectionSet(selection) {
  return new Set(selection);
}
