import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clampPage, pageCount, pageLabel, pageSlice } from "../src/paging.js";

describe("paging", () => {
  it("counts pages, with one page for an empty list", () => {
    expect(pageCount(0, 48)).toBe(1);
    expect(pageCount(48, 48)).toBe(1);
    expect(pageCount(49, 48)).toBe(2);
  });

  it("clamps page numbers into range", () => {
    expect(clampPage(-3, 100, 10)).toBe(0);
    expect(clampPage(99, 100, 10)).toBe(9);
    expect(clampPage(NaN, 100, 10)).toBe(0);
    expect(clampPage(2.7, 100, 10)).toBe(2);
  });

  it("slices typed arrays and plain arrays; the last page is short", () => {
    const list = Int32Array.from({ length: 25 }, (_, i) => i * 2);
    expect(Array.from(pageSlice(list, 2, 10))).toEqual([40, 42, 44, 46, 48]);
    expect(pageSlice([1, 2, 3], 0, 2)).toEqual([1, 2]);
    expect(Array.from(pageSlice(list, 7, 10))).toEqual([40, 42, 44, 46, 48]);
  });

  it("labels pages for people (1-based)", () => {
    expect(pageLabel(0, 1, 48)).toBe("page 1 / 1 · 1 item");
    expect(pageLabel(1, 100, 48)).toBe("page 2 / 3 · 100 items");
  });

  it("pages partition the list, each (but the last) exactly one page size long", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 64 }), (total, size) => {
        const list = Int32Array.from({ length: total }, (_, i) => i);
        const seen = [];
        for (let p = 0; p < pageCount(total, size); p++) seen.push(...pageSlice(list, p, size));
        expect(seen).toEqual(Array.from(list));
        for (let p = 0; p < pageCount(total, size) - 1; p++) expect(pageSlice(list, p, size).length).toBe(size);
      }),
    );
  });
});
