import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  areaOf, indicesInBox, indicesInPolygon, linearScale, normalizeLayout, pageToNormalized, pointRows, recodeRows, sameList,
} from "../src/mapview.js";

const coords = fc.array(fc.tuple(fc.float({ min: -1e4, max: 1e4, noNaN: true }), fc.float({ min: -1e4, max: 1e4, noNaN: true })), {
  minLength: 1,
  maxLength: 100,
});

describe("the layout in the map's coordinates", () => {
  it("fits every point into [-1, 1] with one scale for both axes, and maps back exactly", () => {
    fc.assert(
      fc.property(coords, (pts) => {
        const x = Float32Array.from(pts, (p) => p[0]);
        const y = Float32Array.from(pts, (p) => p[1]);
        const { nx, ny, centre, half } = normalizeLayout(x, y);
        for (let i = 0; i < x.length; i++) {
          expect(Math.abs(nx[i])).toBeLessThanOrEqual(1);
          expect(Math.abs(ny[i])).toBeLessThanOrEqual(1);
          // The page's inverse (the test hook's toPage, the oracle of the lasso test) gets the layout back.
          expect(centre[0] + nx[i] * half).toBeCloseTo(x[i], -Math.log10(Math.max(1, half)) + 2);
          expect(centre[1] + ny[i] * half).toBeCloseTo(y[i], -Math.log10(Math.max(1, half)) + 2);
        }
      }),
    );
  });

  it("keeps the aspect ratio: a wide layout stays wide", () => {
    const { nx, ny, extent } = normalizeLayout(Float32Array.from([0, 10]), Float32Array.from([0, 1]));
    expect((nx[1] - nx[0]) / (ny[1] - ny[0])).toBeCloseTo(10);
    expect(nx[1] - nx[0]).toBeCloseTo(2 / 1.05);
    // The whole map: the points' box with the margin, as wide as [-1, 1] and a tenth as high.
    expect(extent.width).toBeCloseTo(2);
    expect(extent.height).toBeCloseTo(0.2);
    expect(extent.x).toBeCloseTo(-1);
  });

  it("gives one point (or equal points) a finite scale", () => {
    const { nx, ny, half } = normalizeLayout(Float32Array.from([3, 3]), Float32Array.from([4, 4]));
    expect(half).toBe(1);
    expect(Array.from(nx)).toEqual([0, 0]);
    expect(Array.from(ny)).toEqual([0, 0]);
  });
});

describe("recolouring in place", () => {
  it("changes only the codes, counts the changed rows, and keeps the positions", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })), { maxLength: 200 }), (pairs) => {
        const before = Int32Array.from(pairs, (p) => p[0]);
        const after = Int32Array.from(pairs, (p) => p[1]);
        const nx = Float32Array.from(pairs, (_, i) => i / 200);
        const ny = Float32Array.from(pairs, (_, i) => -i / 200);
        const rows = pointRows(nx, ny, before);
        const same = rows.slice();
        expect(recodeRows(rows, after)).toBe(pairs.filter((p) => p[0] !== p[1]).length);
        rows.forEach((row, i) => {
          expect(row).toBe(same[i]); // the same row objects: regl-scatterplot's points stay the same array
          expect(row).toEqual([nx[i], ny[i], after[i], 0]);
        });
        expect(recodeRows(rows, after)).toBe(0);
      }),
    );
  });

  it("rows without codes are grey (code 0)", () => {
    expect(pointRows(Float32Array.from([0.5]), Float32Array.from([-0.5]), null)).toEqual([[0.5, -0.5, 0, 0]]);
  });

  it("compares palettes entry by entry", () => {
    expect(sameList(["#a", "#b"], ["#a", "#b"])).toBe(true);
    expect(sameList(["#a"], ["#a", "#b"])).toBe(false);
    expect(sameList(null, ["#a"])).toBe(false);
  });
});

describe("view helpers", () => {
  it("a linear scale is a domain and range getter / setter that chains", () => {
    const s = linearScale([-2, 2]);
    expect(s.domain()).toEqual([-2, 2]);
    expect(s.range([0, 800])).toBe(s);
    expect(s.range()).toEqual([0, 800]);
    s.domain([-1, 0]);
    expect(s.domain()).toEqual([-1, 0]);
  });

  it("the zoom area holds the items with a margin, a single item gets a finite view, none gets null", () => {
    const nx = Float32Array.from([0, 0.5, -0.2]);
    const ny = Float32Array.from([0, 0.5, 0.4]);
    const a = areaOf([0, 2], nx, ny);
    expect(a.x).toBeLessThan(-0.2);
    expect(a.x + a.width).toBeGreaterThan(0);
    expect(a.x + a.width).toBeLessThan(0.5);
    expect(a.y + a.height).toBeGreaterThan(0.4);
    const one = areaOf([1], nx, ny);
    expect(one.width).toBeGreaterThan(0);
    expect(one.x).toBeLessThan(0.5);
    expect(one.x + one.width).toBeGreaterThan(0.5);
    expect(areaOf([], nx, ny)).toBeNull();
    expect(areaOf([7], nx, ny)).toBeNull();
  });
});

describe("box selection", () => {
  it("selects exactly the points inside the box, in increasing order, whichever corner comes first", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })), { maxLength: 300 }),
        fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })),
        fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true })),
        (pts, [ax, ay], [bx, by]) => {
          const nx = Float32Array.from(pts, (p) => p[0]);
          const ny = Float32Array.from(pts, (p) => p[1]);
          const got = Array.from(indicesInBox(nx, ny, { x0: bx, x1: ax, y0: ay, y1: by }));
          const want = [];
          for (let i = 0; i < nx.length; i++) {
            const inX = nx[i] >= Math.min(ax, bx) && nx[i] <= Math.max(ax, bx);
            const inY = ny[i] >= Math.min(ay, by) && ny[i] <= Math.max(ay, by);
            if (inX && inY) want.push(i);
          }
          expect(got).toEqual(want);
        },
      ),
    );
  });

  it("maps page pixels through the view to normalized coordinates (y up on the map, down on the page)", () => {
    const norm = { centre: [10, 20], half: 5 };
    const view = { left: 100, top: 50, width: 200, height: 100, xrange: [5, 15], yrange: [15, 25] };
    expect(pageToNormalized(100, 150, view, norm)).toEqual([-1, -1]); // bottom-left corner of the canvas
    expect(pageToNormalized(300, 50, view, norm)).toEqual([1, 1]); // top-right
    expect(pageToNormalized(200, 100, view, norm)).toEqual([0, 0]);
  });
});

describe("lasso selection", () => {
  const dbl = fc.double({ min: -1, max: 1, noNaN: true });
  const cloud = fc.array(fc.tuple(dbl, dbl), { maxLength: 300 });

  it("a rectangle as a polygon selects what the box selects (points on no edge)", () => {
    fc.assert(
      fc.property(cloud, fc.tuple(dbl, dbl), fc.tuple(dbl, dbl), (pts, [ax, ay], [bx, by]) => {
        const nx = Float32Array.from(pts, (p) => p[0]);
        const ny = Float32Array.from(pts, (p) => p[1]);
        const poly = [[ax, ay], [bx, ay], [bx, by], [ax, by]];
        const onEdge = (i) => [ax, bx].includes(nx[i]) || [ay, by].includes(ny[i]);
        const inPoly = Array.from(indicesInPolygon(nx, ny, poly)).filter((i) => !onEdge(i));
        const inBox = Array.from(indicesInBox(nx, ny, { x0: ax, x1: bx, y0: ay, y1: by })).filter((i) => !onEdge(i));
        expect(inPoly).toEqual(inBox);
      }),
    );
  });

  it("follows a concave path: the notch of a U is outside", () => {
    // A U: the square [0, 3] x [0, 3] less the notch [1, 2] x [1, 3].
    const u = [[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3]];
    const nx = Float32Array.from([0.5, 1.5, 2.5, 1.5, 4]);
    const ny = Float32Array.from([2.5, 2.5, 2.5, 0.5, 0.5]);
    expect(Array.from(indicesInPolygon(nx, ny, u))).toEqual([0, 2, 3]);
  });

  it("a path of fewer than three positions selects nothing", () => {
    expect(indicesInPolygon(Float32Array.from([0]), Float32Array.from([0]), [[-1, -1], [1, 1]]).length).toBe(0);
  });
});
