import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clickSelect, pointsToItems, selectAll, selectionSet } from "../src/selection.js";

const list = Int32Array.from([10, 3, 7, 42, 5]);

describe("clickSelect", () => {
  it("plain click selects only that item and sets the anchor", () => {
    expect(clickSelect([3, 5], null, list, 2)).toEqual({ selection: [7], anchor: 7 });
  });

  it("ctrl/cmd-click toggles", () => {
    const on = clickSelect([3], 3, list, 3, { toggle: true });
    expect(on).toEqual({ selection: [3, 42], anchor: 42 });
    expect(clickSelect(on.selection, 42, list, 1, { toggle: true })).toEqual({ selection: [42], anchor: 3 });
  });

  it("shift-click selects the range in list order, either direction, keeping the anchor", () => {
    expect(clickSelect([3], 3, list, 3, { shift: true })).toEqual({ selection: [3, 7, 42], anchor: 3 });
    expect(clickSelect([42], 42, list, 0, { shift: true })).toEqual({ selection: [3, 7, 10, 42], anchor: 42 });
  });

  it("shift+ctrl adds the range to the selection", () => {
    expect(clickSelect([5], 3, list, 2, { shift: true, toggle: true }).selection).toEqual([3, 5, 7]);
  });

  it("shift-click without an anchor in the list acts as a plain click", () => {
    expect(clickSelect([], null, list, 4, { shift: true })).toEqual({ selection: [5], anchor: 5 });
    expect(clickSelect([], 999, list, 4, { shift: true })).toEqual({ selection: [5], anchor: 5 });
  });

  it("a shift range always holds both ends and only items between them", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }), (a, b) => {
        const { selection } = clickSelect([], list[a], list, b, { shift: true });
        expect(selection).toContain(list[a]);
        expect(selection).toContain(list[b]);
        expect(selection.length).toBe(Math.abs(a - b) + 1);
      }),
    );
  });
});

describe("selectAll / scatter / marks", () => {
  it("selects the whole list, sorted, without duplicates", () => {
    expect(selectAll(Int32Array.from([4, 1, 4, 2]))).toEqual([1, 2, 4]);
  });

  it("maps lasso points of the per-colour traces back to items, ignoring the highlight trace", () => {
    const groups = [Int32Array.from([4, 0]), Int32Array.from([1, 3, 2])];
    const points = [
      { curveNumber: 1, pointIndex: 2 },
      { curveNumber: 0, pointIndex: 0 },
      { curveNumber: 2, pointIndex: 0 },
      { curveNumber: 1, pointIndex: 0 },
    ];
    expect(pointsToItems(points, groups)).toEqual([1, 2, 4]);
  });

  it("builds a membership set", () => {
    expect(selectionSet([3, 1]).has(3)).toBe(true);
  });
});
