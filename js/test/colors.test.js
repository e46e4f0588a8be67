import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NONE_COLOR, PALETTE, SUSPICION_RAMP, classColor, colorCodes, legend } from "../src/colors.js";

const state = {
  given: Int32Array.from([0, 1, -1, 2]),
  verified: Int32Array.from([-1, 0, -1, -1]),
  predicted: Int32Array.from([0, 0, 2, 7]),
  suspicion: Float32Array.from([0, 1, NaN, 0.5]),
};

const colorOf = (spec) => Array.from(spec.codes, (c) => spec.colors[c]);

describe("colour mapping", () => {
  it("gives each class its palette colour and none a grey", () => {
    expect(classColor(-1)).toBe(NONE_COLOR);
    expect(classColor(0)).toBe(PALETTE[0]);
    expect(classColor(PALETTE.length + 1)).toBe(PALETTE[1]);
  });

  it("colours each point by its label of the chosen kind; unknown codes count as none", () => {
    for (const by of ["given", "verified", "predicted"]) {
      const expected = Array.from(state[by], (c) => (c >= 0 && c < 3 ? classColor(c) : NONE_COLOR));
      expect(colorOf(colorCodes(state, by, 3))).toEqual(expected);
    }
  });

  it("bins suspicion on a ramp, NaN (no given label) grey, most suspicious with the highest code", () => {
    const spec = colorCodes(state, "suspicion", 3);
    expect(colorOf(spec)).toEqual([SUSPICION_RAMP[0], SUSPICION_RAMP[3], NONE_COLOR, SUSPICION_RAMP[2]]);
    expect(spec.colors.at(-1)).toBe(SUSPICION_RAMP.at(-1));
  });

  it("every point gets a code that indexes the colours and the sizes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -1, max: 6 }), { maxLength: 200 }), fc.integer({ min: 0, max: 5 }), (codes, k) => {
        const s = { given: Int32Array.from(codes), predicted: Int32Array.from(codes), verified: Int32Array.from(codes),
          suspicion: Float32Array.from(codes, (c) => (c < 0 ? NaN : c / 6)) };
        for (const by of ["given", "suspicion"]) {
          const spec = colorCodes(s, by, k);
          expect(spec.codes.length).toBe(codes.length);
          expect(Array.from(spec.codes).every((c) => Number.isInteger(c) && c >= 0 && c < spec.colors.length)).toBe(true);
          expect(spec.sizes.length).toBe(spec.colors.length);
        }
      }),
    );
  });

  it("explains the colours in a legend", () => {
    expect(legend("given")).toEqual([[NONE_COLOR, "no given label", ""]]);
    expect(legend("suspicion").map(([c]) => c)).toEqual([NONE_COLOR, ...SUSPICION_RAMP]);
    expect(legend("suspicion")[4][1]).toBe("suspicion 0.75–1.00");
    expect(legend("suspicion").every(([, , f]) => f === "")).toBe(true);
  });

  it("draws suspects larger than harmless points, and every class group alike", () => {
    const state = { given: Int32Array.from([0, 1, -1]), suspicion: Float32Array.from([0.1, 0.95, NaN]) };
    const bySuspicion = colorCodes(state, "suspicion", 2);
    const size = (i) => bySuspicion.sizes[bySuspicion.codes[i]];
    expect(size(1)).toBeGreaterThan(size(0));
    expect(size(0)).toBeLessThan(5);
    expect(new Set(colorCodes({ ...state, predicted: state.given }, "predicted", 2).sizes)).toEqual(new Set([5]));
  });

  it("names each class's colour, with the browse filter a click on it sets", () => {
    expect(legend("predicted", ["cat", "dog"])).toEqual([
      [NONE_COLOR, "no predicted label", ""],
      [classColor(0), "cat", "predicted:0"],
      [classColor(1), "dog", "predicted:1"],
    ]);
    expect(legend("given", ["cat"])[1]).toEqual([classColor(0), "cat", "class:0"]);
    const many = legend("verified", Array.from({ length: 25 }, (_, i) => `c${i}`));
    expect(many.length).toBe(1 + 20 + 1);
    expect(many[21]).toEqual([NONE_COLOR, "+5 more (filter menu)", ""]);
  });

  it("rejects an unknown colour mode", () => {
    expect(() => colorCodes(state, "rainbow", 3)).toThrow(/colour by/);
  });
});
