// Paging of the grid's ordered item list.

/** Number of pages (at least 1, so an empty list still has a page to show). */
export function pageCount(total, size) {
  return Math.max(1, Math.ceil(total / size));
}

/** The nearest valid page number. */
export function clampPage(page, total, size) {
  const last = pageCount(total, size) - 1;
  return Math.min(Math.max(0, Math.trunc(page) || 0), last);
}

/** Items of one page (a view into `list`, no copy for typed arrays). */
export function pageSlice(list, page, size) {
  const p = clampPage(page, list.length, size);
  const start = p * size;
  const end = Math.min(list.length, start + size);
  return list.subarray ? list.subarray(start, end) : list.slice(start, end);
}

/** "page 2 / 7 · 300 items" */
export function pageLabel(page, total, size) {
  const p = clampPage(page, total, size);
  return `page ${p + 1} / ${pageCount(total, size)} · ${total} item${total === 1 ? "" : "s"}`;
}
