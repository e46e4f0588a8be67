// Selection logic, independent of the DOM: the grid and the scatter both call these.
// A selection is a sorted array of item indices; `anchor` is the item a shift-click extends from.

function sortedUnique(items) {
  // A typed sort: a lasso of 100k points is put in order in milliseconds, not the tenths of a second a
  // comparator sort of plain numbers takes. Items are indices, integers in [0, 2^31).
  const sorted = Int32Array.from(items).sort();
  const out = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) out.push(sorted[i]);
  return out;
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

/** Membership test for rendering: a Set built once per selection. */
export function selectionSet(selection) {
  return new Set(selection);
}

/**
 * The item to select after an action on `acted` (auto-advance): the first item of `list` after the last acted
 * one that was not acted on, else the nearest one before it; null when every item of the list was acted on.
 * Acted items may leave the list (a reviewed suspect does), so the next one is taken from the list as shown.
 */
export function advance(list, acted) {
  const done = new Set(acted);
  let last = -1;
  for (let p = 0; p < list.length; p++) if (done.has(list[p])) last = p;
  if (last < 0) return null; // nothing acted on is listed: the selection came from elsewhere (e.g. the map)
  for (let p = last + 1; p < list.length; p++) if (!done.has(list[p])) return list[p];
  for (let p = last - 1; p >= 0; p--) if (!done.has(list[p])) return list[p];
  return null;
}

/**
 * Position in `list` after an arrow key from item `cursor`, on a grid `cols` tiles wide: dx moves along the list,
 * dy by a row; it stops at the ends. Without a cursor in the list, any arrow starts at `start` (the first tile
 * of the page shown). Returns -1 for an empty list.
 */
export function movePosition(list, cursor, dx, dy, cols, start = 0) {
  if (list.length === 0) return -1;
  const pos = cursor === null || cursor === undefined ? -1 : Array.prototype.indexOf.call(list, cursor);
  if (pos < 0) return Math.min(Math.max(0, start), list.length - 1);
  const next = pos + dx + dy * Math.max(1, cols);
  return Math.min(Math.max(0, next), list.length - 1);
}

/** Selection with `item` added, or removed when it was in (Enter / Space, ctrl-click). */
export function toggleItem(selection, item) {
  return selection.includes(item) ? selection.filter((i) => i !== item) : sortedUnique([...selection, item]);
}

/** Selection less the items that were in the list before and are not any more (e.g. reviewed suspects). */
export function pruneLeft(selection, before, after) {
  const was = new Set(before);
  const now = new Set(after);
  return selection.filter((i) => !was.has(i) || now.has(i));
}
