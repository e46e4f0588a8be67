// Thumbnail cache: item index -> {id, url | error}. Images arrive as bytes and become blob: URLs, which are
// revoked when evicted (least recently used first) so a long session does not leak memory.

export class ThumbCache {
  /**
   * @param {number} capacity  most entries kept
   * @param {{create: (Blob) => string, revoke: (string) => void}} urls  URL factory (injectable for tests)
   */
  constructor(capacity = 2000, urls = { create: (b) => URL.createObjectURL(b), revoke: (u) => URL.revokeObjectURL(u) }) {
    this.capacity = capacity;
    this.urls = urls;
    this.entries = new Map();
    this.inFlight = new Set();
  }

  get(index) {
    const entry = this.entries.get(index);
    if (entry) {
      // Map keeps insertion order: re-inserting marks the entry as most recently used.
      this.entries.delete(index);
      this.entries.set(index, entry);
    }
    return entry;
  }

  /** Indices neither cached nor already requested; marks them requested. */
  claimMissing(indices) {
    const missing = [];
    for (const i of indices) {
      if (!this.entries.has(i) && !this.inFlight.has(i)) {
        missing.push(i);
        this.inFlight.add(i);
      }
    }
    return missing;
  }

  /** Store the answer for one item: {index, id, mime?, error?} with its bytes when it has a mime. */
  put(item, bytes) {
    this.inFlight.delete(item.index);
    const entry = { id: item.id, error: item.error || "" };
    if (item.mime && bytes) entry.url = this.urls.create(new Blob([bytes], { type: item.mime }));
    const old = this.entries.get(item.index);
    if (old && old.url) this.urls.revoke(old.url);
    this.entries.delete(item.index);
    this.entries.set(item.index, entry);
    while (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value;
      if (evicted.url) this.urls.revoke(evicted.url);
      this.entries.delete(oldest);
    }
    return entry;
  }

  /** Forget requests that will not be answered (e.g. the request failed). */
  release(indices) {
    for (const i of indices) this.inFlight.delete(i);
  }

  clear() {
    for (const entry of this.entries.values()) if (entry.url) this.urls.revoke(entry.url);
    this.entries.clear();
    this.inFlight.clear();
  }
}

/** Split a thumbs answer into per-item (item, bytes) pairs: buffers line up with the items that have a mime. */
export function pairThumbs(items, buffers) {
  const pairs = [];
  let b = 0;
  for (const item of items) pairs.push([item, item.mime ? buffers[b++] : null]);
  if (b !== buffers.length) throw new Error(`nblabel: thumbs answer has ${buffers.length} buffers for ${b} images`);
  return pairs;
}
