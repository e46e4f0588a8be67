// @vitest-environment jsdom
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { clusterColor, clusterColorCodes, clusterLegend, coreHint, mixText } from "../src/clusters.js";
import { NONE_COLOR } from "../src/colors.js";
import { Store } from "../src/store.js";
import { mountView } from "../src/view.js";
import { MENUS, MockModel, pack } from "./mock-model.js";


const XSS = "<img src=x onerror=alert(1)>";

describe("cluster colours and texts", () => {
  it("each item's code is its cluster, largest cluster first in colour order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 200 }), (raw) => {
        const labels = Int32Array.from(raw);
        const { codes, colors, sizes } = clusterColorCodes(labels, labels.length);
        expect(Array.from(codes)).toEqual(raw);
        expect(colors.length).toBe(Math.max(...raw) + 1);
        expect(sizes.length).toBe(colors.length);
        expect(colors[0]).toBe(clusterColor(0));
      }),
    );
  });

  it("without cluster labels every point is grey, and the legend says it is computing", () => {
    const { codes, colors } = clusterColorCodes(null, 3);
    expect(colors).toEqual([NONE_COLOR]);
    expect(Array.from(codes)).toEqual([0, 0, 0]);
    expect(clusterLegend(null)[0][1]).toMatch(/computing/);
  });

  it("legend lists the largest clusters and counts the rest", () => {
    const cards = Array.from({ length: 13 }, (_, c) => ({ cluster: c, size: 100 - c }));
    const rows = clusterLegend(cards, 10);
    expect(rows).toHaveLength(11);
    expect(rows[0]).toEqual([clusterColor(0), "cluster 0 · 100"]);
    expect(rows[10][1]).toBe("+ 3 smaller clusters");
  });

  it("mix text and core hint", () => {
    expect(mixText({ a: 1, b: 5 })).toBe("b 5 · a 1");
    expect(mixText({})).toBe("no labels yet");
    expect(coreHint({ cluster: 2, core: 7 })).toMatch(/label the 7 core items of cluster 2/);
    expect(coreHint({ cluster: 2, core: 0 })).toMatch(/no unlabeled core/);
  });
});

function setup() {
  const n = 6;
  const model = new MockModel({
    options: MENUS,
    classes: ["cat", XSS], counts: { n, labeled: 0, verified: 0, flagged: 0, given: [0, 0], verified_per_class: [0, 0], predicted: [0, 0] },
    mode: "browse", browse_filter: "all", anchor: -1, color_by: "predicted", page: 0, page_size: 4,
    selection: [], saved: true, busy: false, error: "", version: 1, cluster: -1, resolution: 1, cluster_sort: "size",
  });
  const store = new Store(model, undefined);
  store.thumbs.urls = { create: () => "blob:x", revoke: () => {} };
  const colorCalls = [];
  const zooms = [];
  const fakeScatter = () => ({
    setPoints: async () => {},
    setColors: async (spec) => colorCalls.push(spec),
    setHighlight: async () => {},
    zoomTo: async (members) => zooms.push(members),
    refreshTheme: () => {},
    destroy: () => {},
  });
  const el = document.createElement("div");
  document.body.appendChild(el);
  const cleanup = mountView({ model, el, store, makeScatter: fakeScatter });
  const { fields, buffers } = pack({
    given: new Int32Array(n).fill(-1),
    verified: new Int32Array(n).fill(-1),
    predicted: new Int32Array(n).fill(-1),
    confidence: new Float32Array(n),
    suspicion: new Float32Array(n).fill(NaN),
    flagged: new Uint8Array(n),
  });
  model.receive({ type: "state", version: 1, full: true, fields }, buffers);
  const layout = pack({ xy: Float32Array.from([0, 0, 1, 1, 2, 2, 10, 10, 11, 11, 12, 12]) });
  model.receive({ type: "layout", fields: layout.fields }, layout.buffers);
  const sendClusters = (cards, labels) => {
    const packed = labels ? pack({ cluster: Int32Array.from(labels) }) : { fields: [], buffers: [] };
    model.receive({ type: "clusters", resolution: 1, sort: "size", cards, fields: packed.fields }, packed.buffers);
  };
  return { model, store, el, cleanup, colorCalls, zooms, sendClusters };
}

const q = (el, id) => el.querySelector(`[data-testid="${id}"]`);
const CARDS = [
  { cluster: 0, size: 3, exemplars: [1, 0, 2], label: XSS, purity: 1, labeled: 1, mix: { [XSS]: 1 }, core: 2 },
  { cluster: 1, size: 3, exemplars: [4, 3, 5], label: null, purity: null, labeled: 0, mix: {}, core: 3 },
];

describe("cluster panel in the view", () => {
  beforeEach(() => {
    document.body.replaceChildren();
  });

  it("colour by cluster asks the kernel once and colours by the received clusters", () => {
    const { model, el, colorCalls, sendClusters } = setup();
    model.set("color_by", "cluster");
    model.save_changes();
    expect(model.sent.filter((m) => m.type === "request_clusters")).toHaveLength(1);
    sendClusters(CARDS, [0, 0, 0, 1, 1, 1]);
    expect(Array.from(colorCalls.at(-1).codes)).toEqual([0, 0, 0, 1, 1, 1]);
    const legendText = q(el, "nbl-legend").textContent;
    expect(legendText).toContain("cluster 0 · 3");
    model.set("mode", "cluster");
    model.save_changes();
    expect(model.sent.filter((m) => m.type === "request_clusters")).toHaveLength(1);
  });

  it("cards show size, mix and purity as text; a click opens and zooms; a key labels the core", () => {
    const { model, el, zooms, sendClusters } = setup();
    model.set("mode", "cluster");
    model.save_changes();
    sendClusters(CARDS, [0, 0, 0, 1, 1, 1]);
    const cards = el.querySelectorAll('[data-testid="nbl-cluster-card"]');
    expect(cards).toHaveLength(2);
    expect(cards[0].querySelector('[data-testid="nbl-cluster-mix"]').textContent).toBe(`${XSS} 1`);
    expect(el.querySelector("img[src='x']")).toBeNull(); // the markup stayed text
    expect(cards[0].querySelector('[data-testid="nbl-cluster-purity"]').textContent).toBe("purity 1.00 · core 2");
    expect(cards[1].querySelector('[data-testid="nbl-cluster-purity"]').textContent).toBe("purity — · core 3");
    cards[1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("mode")).toBe("cluster");
    expect(model.get("cluster")).toBe(1);
    expect(zooms.at(-1)).toEqual([3, 4, 5]);
    expect(q(el, "nbl-cluster-hint").textContent).toMatch(/label the 3 core items of cluster 1/);
    const root = q(el, "nbl-root");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "2", bubbles: true }));
    const sent = model.sent.at(-1);
    expect(sent.type).toBe("label_cluster");
    expect(sent.cluster).toBe(1);
    expect(sent.cls).toBe(1);
    expect(root.dataset.sent).toBe("1"); // an action: counted until its reply says it is saved
    // With a selection, the key labels the selection as before.
    model.set("selection", [3]);
    model.save_changes();
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "1", bubbles: true }));
    expect(model.sent.at(-1).type).toBe("label");
  });

  it("later cluster messages keep the item clusters of the same resolution", () => {
    const { store, sendClusters } = setup();
    sendClusters(CARDS, [0, 0, 0, 1, 1, 1]);
    sendClusters(CARDS.map((c) => ({ ...c, core: 0 })), null);
    expect(Array.from(store.clusters.labels)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(store.clusters.cards[0].core).toBe(0);
  });
});
