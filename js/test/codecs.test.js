import { describe, expect, it } from "vitest";
import { decodeFields, splitXY, toTyped } from "../src/codecs.js";

describe("toTyped", () => {
  it("views a DataView without copying when aligned", () => {
    const src = new Float32Array([1.5, -2, 3.25]);
    const dv = new DataView(src.buffer);
    const out = toTyped("float32", dv);
    expect(Array.from(out)).toEqual([1.5, -2, 3.25]);
    expect(out.buffer).toBe(src.buffer);
  });

  it("copies when the bytes start at an unaligned offset", () => {
    const bytes = new Uint8Array(13);
    new DataView(bytes.buffer).setInt32(1, -7, true);
    new DataView(bytes.buffer).setInt32(5, 42, true);
    new DataView(bytes.buffer).setInt32(9, 2147483647, true);
    const out = toTyped("int32", new DataView(bytes.buffer, 1, 12));
    expect(Array.from(out)).toEqual([-7, 42, 2147483647]);
  });

  it("accepts a bare ArrayBuffer and rejects unknown dtypes and ragged lengths", () => {
    expect(Array.from(toTyped("uint8", new Uint8Array([0, 1, 255]).buffer))).toEqual([0, 1, 255]);
    expect(() => toTyped("int64", new ArrayBuffer(8))).toThrow(/unsupported dtype/);
    expect(() => toTyped("float32", new ArrayBuffer(6))).toThrow(/whole number/);
  });
});

describe("decodeFields", () => {
  it("decodes every field of a state message by name with its shape", () => {
    const given = new Int32Array([0, -1, 2]);
    const suspicion = new Float32Array([0.1, NaN, 0.9]);
    const flagged = new Uint8Array([0, 0, 1]);
    const out = decodeFields(
      [
        { name: "given", dtype: "int32", shape: [3] },
        { name: "suspicion", dtype: "float32", shape: [3] },
        { name: "flagged", dtype: "uint8", shape: [3] },
      ],
      [new DataView(given.buffer), new DataView(suspicion.buffer), new DataView(flagged.buffer)],
    );
    expect(Array.from(out.given.data)).toEqual([0, -1, 2]);
    expect(Number.isNaN(out.suspicion.data[1])).toBe(true);
    expect(out.suspicion.data[2]).toBeCloseTo(0.9);
    expect(Array.from(out.flagged.data)).toEqual([0, 0, 1]);
    expect(out.given.shape).toEqual([3]);
  });

  it("rejects a field/buffer count or shape mismatch", () => {
    const f = [{ name: "xy", dtype: "float32", shape: [2, 2] }];
    expect(() => decodeFields(f, [])).toThrow(/1 fields but 0 buffers/);
    expect(() => decodeFields(f, [new Float32Array(3)])).toThrow(/shape says 4/);
  });
});

describe("splitXY", () => {
  it("de-interleaves (n, 2) coordinates", () => {
    const { x, y } = splitXY(new Float32Array([1, 2, 3, 4, 5, 6]));
    expect(Array.from(x)).toEqual([1, 3, 5]);
    expect(Array.from(y)).toEqual([2, 4, 6]);
  });
});
