import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { advance, clickSelect, movePosition, pruneLeft, selectAll, selectionSet, toggleItem } from "../src/selection.js";

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

  it("builds a membership set", () => {
    expect(selectionSet([3, 1]).has(3)).toBe(true);
  });
});

describe("advance (auto-advance after an action)", () => {
  const order = Int32Array.from([10, 3, 7, 42, 5]);

  it("moves to the next item of the list after the last acted one", () => {
    expect(advance(order, [10])).toBe(3);
    expect(advance(order, [3, 7])).toBe(42);
    expect(advance(order, [42, 10])).toBe(5); // list order, not selection order
  });

  it("at the end of the list moves back to the nearest item not acted on; null when none is left", () => {
    expect(advance(order, [5])).toBe(42);
    expect(advance(order, [42, 5])).toBe(7);
    expect(advance(order, Array.from(order))).toBeNull();
    expect(advance(order, [999])).toBeNull(); // not listed (a point picked on the map)
  });

  it("never returns an acted item, and returns one of the list whenever one is left", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 20 }), fc.array(fc.nat(), { maxLength: 6 }), (items, picks) => {
        const acted = picks.map((p) => items[p % items.length]);
        const next = advance(items, acted);
        const left = items.filter((i) => !acted.includes(i));
        if (acted.length === 0 || left.length === 0) {
          expect(next).toBeNull(); // nothing acted on is listed, or nothing is left
        } else {
          expect(left).toContain(next);
        }
      }),
    );
  });
});

describe("movePosition (arrow keys)", () => {
  const order = Int32Array.from([10, 3, 7, 42, 5, 8, 9]);

  it("moves along the list and by rows, stopping at the ends", () => {
    expect(movePosition(order, 3, 1, 0, 3)).toBe(2);
    expect(movePosition(order, 3, -1, 0, 3)).toBe(0);
    expect(movePosition(order, 3, 0, 1, 3)).toBe(4);
    expect(movePosition(order, 10, -1, 0, 3)).toBe(0);
    expect(movePosition(order, 8, 0, 1, 3)).toBe(6);
  });

  it("starts at the given position without a cursor in the list, and is -1 for an empty list", () => {
    expect(movePosition(order, null, 1, 0, 3, 4)).toBe(4);
    expect(movePosition(order, 999, 0, 1, 3)).toBe(0);
    expect(movePosition(new Int32Array(0), null, 1, 0, 3)).toBe(-1);
  });
});

describe("toggleItem and pruneLeft", () => {
  it("toggles one item, keeping the selection sorted", () => {
    expect(toggleItem([3, 9], 5)).toEqual([3, 5, 9]);
    expect(toggleItem([3, 5, 9], 5)).toEqual([3, 9]);
  });

  it("drops only the selected items that left the list", () => {
    // 7 was reviewed and left the suspects list; 99 was picked on the map and never was in it.
    expect(pruneLeft([3, 7, 99], [3, 7, 8], [3, 8])).toEqual([3, 99]);
  });
});
