import { describe, expect, it } from "vitest";
import { ThumbCache, pairThumbs } from "../src/thumbs.js";

function fakeUrls() {
  const live = new Set();
  let n = 0;
  return {
    live,
    create: () => {
      const url = `blob:${n++}`;
      live.add(url);
      return url;
    },
    revoke: (url) => live.delete(url),
  };
}

describe("ThumbCache", () => {
  it("claims each missing index once until answered", () => {
    const cache = new ThumbCache(10, fakeUrls());
    expect(cache.claimMissing([1, 2, 3])).toEqual([1, 2, 3]);
    expect(cache.claimMissing([2, 3, 4])).toEqual([4]);
    cache.put({ index: 2, id: "b.png", mime: "image/webp" }, new Uint8Array([1]));
    expect(cache.claimMissing([2])).toEqual([]);
    cache.release([3]);
    expect(cache.claimMissing([3])).toEqual([3]);
  });

  it("keeps id-only entries (no images) and errors", () => {
    const cache = new ThumbCache(10, fakeUrls());
    cache.put({ index: 0, id: "item-0", error: "no images" }, null);
    expect(cache.get(0)).toEqual({ id: "item-0", error: "no images" });
  });

  it("evicts least recently used entries and revokes their URLs", () => {
    const urls = fakeUrls();
    const cache = new ThumbCache(2, urls);
    cache.put({ index: 0, id: "a", mime: "image/png" }, new Uint8Array([1]));
    cache.put({ index: 1, id: "b", mime: "image/png" }, new Uint8Array([1]));
    cache.get(0); // 0 is now the most recent
    cache.put({ index: 2, id: "c", mime: "image/png" }, new Uint8Array([1]));
    expect(cache.get(1)).toBeUndefined();
    expect(cache.get(0).id).toBe("a");
    expect(urls.live.size).toBe(2);
    cache.clear();
    expect(urls.live.size).toBe(0);
  });
});

describe("pairThumbs", () => {
  it("lines buffers up with the items that carry a mime", () => {
    const b1 = new Uint8Array([1]);
    const b2 = new Uint8Array([2]);
    const pairs = pairThumbs(
      [{ index: 4, mime: "image/webp" }, { index: 5, error: "broken" }, { index: 6, mime: "image/webp" }],
      [b1, b2],
    );
    expect(pairs.map(([item, bytes]) => [item.index, bytes])).toEqual([[4, b1], [5, null], [6, b2]]);
    expect(() => pairThumbs([{ index: 1 }], [b1])).toThrow(/1 buffers for 0 images/);
  });
});
