// @vitest-environment jsdom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { buildTile } from "../src/grid.js";
import { Store } from "../src/store.js";
import { mountView } from "../src/view.js";
import { MENUS, MockModel, pack } from "./mock-model.js";


const XSS = "<img src=x onerror=alert(1)>";

function setup({ classes = ["cat", XSS], n = 6, pageSize = 4 } = {}) {
  const model = new MockModel({
    options: MENUS,
    classes, counts: { n, labeled: 2, verified: 0, flagged: 1, given: [1, 1], verified_per_class: [0, 0], predicted: [3, 3] },
    mode: "browse", browse_filter: "all", anchor: -1, color_by: "predicted", page: 0, page_size: pageSize,
    selection: [], saved: true, busy: false, error: "", version: 1,
  });
  const store = new Store(model, undefined);
  store.thumbs.urls = { create: () => "blob:x", revoke: () => {} };
  const scatterCalls = [];
  const callbacks = {};
  const fakeScatter = (box, cbs) => {
    Object.assign(callbacks, cbs); // what the view gives the map's events: onSelect, onClick, ...
    return {
      setPoints: async () => scatterCalls.push("points"),
      setColors: async (spec) => scatterCalls.push(["colors", spec.colors.length]),
      setHighlight: async (sel) => scatterCalls.push(["highlight", sel]),
      refreshTheme: async () => {},
      zoomTo: async (sel) => scatterCalls.push(["zoom", sel]),
      destroy: () => scatterCalls.push("destroy"),
    };
  };
  const el = document.createElement("div");
  document.body.appendChild(el);
  const cleanup = mountView({ model, el, store, makeScatter: fakeScatter });
  const sendState = (version, predicted) => {
    const { fields, buffers } = pack({
      given: Int32Array.from({ length: n }, (_, i) => (i < 2 ? i : -1)),
      verified: new Int32Array(n).fill(-1),
      predicted: Int32Array.from(predicted ?? Array.from({ length: n }, (_, i) => i % 2)),
      confidence: new Float32Array(n).fill(0.75),
      suspicion: Float32Array.from({ length: n }, (_, i) => (i < 2 ? 0.9 : NaN)),
      flagged: Uint8Array.from({ length: n }, (_, i) => (i === 1 ? 1 : 0)),
    });
    model.receive({ type: "state", version, full: true, fields }, buffers);
  };
  const sendView = (indices, key = "browse:all") => {
    const { fields, buffers } = pack({ indices: Int32Array.from(indices) });
    model.receive({ type: "view", mode: "browse", key, total: indices.length, fields }, buffers);
  };
  return { model, store, el, cleanup, scatterCalls, sendState, sendView, callbacks };
}

const q = (el, id) => el.querySelector(`[data-testid="${id}"]`);
const tiles = (el) => Array.from(el.querySelectorAll('[data-testid="nbl-tile"]'));

describe("view", () => {
  beforeEach(() => {
    document.body.replaceChildren();
  });

  it("marks the root for Lumino and shows class names as text, never HTML", () => {
    const { el, cleanup } = setup();
    const root = q(el, "nbl-root");
    expect(root.getAttribute("data-lm-suppress-shortcuts")).toBe("true");
    const btn = q(el, "nbl-class-1");
    expect(btn.querySelector(".nbl-class-name").textContent).toBe(XSS);
    expect(el.querySelector("img")).toBeNull();
    expect(Array.from(q(el, "nbl-filter").options).map((o) => o.textContent)).toContain(`label: ${XSS}`);
    cleanup();
    expect(el.children.length).toBe(0);
  });

  it("tiles render ids and class names as text", () => {
    const tile = buildTile(document, {
      index: 3, id: XSS, url: "", given: 1, verified: 1, predicted: 1, confidence: 0.5, flagged: true, selected: false,
    }, ["cat", XSS]);
    expect(tile.querySelector("img")).toBeNull();
    expect(tile.querySelector(".nbl-thumb-text").textContent).toBe(XSS);
    expect(tile.querySelector(".nbl-verified").textContent).toBe(`✓ ${XSS}`);
    expect(tile.querySelector(".nbl-flag")).not.toBeNull();
  });

  it("asks for thumbnails of the page, pages the list, and shows state on tiles", () => {
    const { el, model, sendState, sendView } = setup();
    sendState(1);
    sendView([0, 1, 2, 3, 4, 5]);
    expect(tiles(el).map((t) => t.dataset.index)).toEqual(["0", "1", "2", "3"]);
    expect(q(el, "nbl-page-label").textContent).toBe("page 1 / 2 · 6 items");
    const thumbReq = model.sent.find((m) => m.type === "request_thumbs");
    expect(thumbReq.indices).toEqual([0, 1, 2, 3]);
    model.receive({ type: "thumbs", request_id: thumbReq.request_id, items: [0, 1, 2, 3].map((i) => ({ index: i, id: `id-${i}`, error: "no images" })) });
    expect(tiles(el)[1].dataset.id).toBe("id-1");
    expect(tiles(el)[1].dataset.flagged).toBe("true");
    expect(tiles(el)[1].querySelector(".nbl-thumb-text").textContent).toBe("id-1");
    q(el, "nbl-next").click();
    expect(model.get("page")).toBe(1);
    expect(tiles(el).map((t) => t.dataset.index)).toEqual(["4", "5"]);
    expect(q(el, "nbl-root").dataset.version).toBe("1");
  });

  it("click selects a tile, a number key sends a label, the reply marks it saved", () => {
    const { el, model, sendState, sendView, scatterCalls } = setup();
    sendState(1);
    sendView([0, 1, 2, 3, 4, 5]);
    tiles(el)[2].click();
    expect(model.get("selection")).toEqual([2]);
    tiles(el)[0].dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: true }));
    expect(model.get("selection")).toEqual([0, 1, 2]);
    const root = q(el, "nbl-root");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "2", bubbles: true }));
    const label = model.sent.find((m) => m.type === "label");
    expect(label).toMatchObject({ indices: [0, 1, 2], cls: 1 });
    expect(root.dataset.sent).toBe("1");
    expect(root.dataset.saved).toBe("false");
    model.receive({ type: "reply", request_id: label.request_id, ok: true, error: "" });
    expect(root.dataset.acked).toBe("1");
    expect(root.dataset.saved).toBe("true");
    sendState(2, [1, 1, 1, 1, 1, 1]);
    expect(root.dataset.version).toBe("2");
    expect(tiles(el)[0].dataset.predicted).toBe("1");
    expect(scatterCalls.length).toBe(0); // no layout yet: the scatter is not created
  });

  it("ctrl+A selects the whole list, z undoes, Escape clears", () => {
    const { el, model, sendState, sendView } = setup();
    sendState(1);
    sendView([5, 4, 3]);
    const root = q(el, "nbl-root");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "a", ctrlKey: true, bubbles: true }));
    expect(model.get("selection")).toEqual([3, 4, 5]);
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "z", bubbles: true }));
    expect(model.sent.at(-1).type).toBe("undo");
    root.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(model.get("selection")).toEqual([]);
  });

  it("a layout draws the scatter; a lasso fills the grid and selects; selection highlights points", async () => {
    const { el, model, sendState, sendView, scatterCalls, store } = setup();
    sendState(1);
    sendView([0, 1, 2, 3, 4, 5]);
    const { fields, buffers } = pack({ xy: new Float32Array(12) });
    model.receive({ type: "layout", fields }, buffers);
    await new Promise((r) => setTimeout(r, 0));
    expect(scatterCalls).toContain("points");
    expect(store.layout.x.length).toBe(6);
    tiles(el)[1].click();
    expect(scatterCalls.at(-1)).toEqual(["highlight", [1]]);
  });

  it("shows kernel errors and the busy state as text", () => {
    const { el, model } = setup();
    model.set("error", XSS);
    model.set("busy", true);
    model.save_changes();
    expect(q(el, "nbl-error").textContent).toBe(XSS);
    expect(q(el, "nbl-busy").dataset.busy).toBe("true");
    expect(el.querySelector("img")).toBeNull();
  });

  const key = (el, k, mods = {}) =>
    q(el, "nbl-root").dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, ...mods }));
  const reply = (model, msg, error = "") => model.receive({ type: "reply", request_id: msg.request_id, ok: !error, error });

  it("after an action the selection moves to the next item; items that leave the list leave the selection", () => {
    const { el, model, sendState, sendView } = setup();
    sendState(1);
    sendView([5, 4, 3, 2, 1, 0], "suspects");
    tiles(el)[1].click();
    key(el, "p");
    expect(model.sent.at(-1)).toMatchObject({ type: "take_predicted", indices: [4] });
    expect(model.get("selection")).toEqual([3]); // auto-advance, before the reply
    // Select 3 and 2 by shift-click; the kernel's next list drops 4 (reviewed) and 3, 2 are labeled next.
    tiles(el)[3].dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: true }));
    expect(model.get("selection")).toEqual([2, 3]);
    sendView([5, 3, 2, 1, 0], "suspects");
    expect(model.get("selection")).toEqual([2, 3]);
    key(el, "1");
    expect(model.get("selection")).toEqual([1]);
    sendView([5, 1, 0], "suspects"); // 3 and 2 reviewed
    expect(model.get("selection")).toEqual([1]);
    expect(q(el, "nbl-key-target").textContent).toBe("a key press changes 1 item");
  });

  it("a selection that left the list is dropped, so no key acts on items not shown", () => {
    const { el, model, sendState, sendView } = setup();
    sendState(1);
    sendView([5, 4, 3], "suspects");
    key(el, "a", { ctrlKey: true });
    expect(model.get("selection")).toEqual([3, 4, 5]);
    sendView([5], "suspects");
    expect(model.get("selection")).toEqual([5]);
  });

  it("a refused action selects its items again and says so; the next committed one shows saved", () => {
    const { el, model, sendState, sendView } = setup();
    sendState(1);
    sendView([0, 1, 2, 3]);
    tiles(el)[2].click();
    key(el, "a");
    const accept = model.sent.at(-1);
    expect(model.get("selection")).toEqual([3]);
    reply(model, accept, "accept (a): no given label. Fix: press a class key");
    expect(model.get("selection")).toEqual([2]);
    expect(q(el, "nbl-saved").textContent).toBe("not saved");
    expect(q(el, "nbl-error").textContent).toContain("press a class key");
    key(el, "1");
    reply(model, model.sent.at(-1));
    expect(q(el, "nbl-saved").textContent).toBe("saved");
    expect(q(el, "nbl-error").textContent).toBe("");
  });

  it("a lasso around no point keeps the lasso listed; a map click selects and focuses the widget", async () => {
    const { el, model, sendState, sendView, callbacks } = setup();
    sendState(1);
    sendView([0, 1, 2, 3, 4, 5]);
    const { fields, buffers } = pack({ xy: new Float32Array(12) });
    model.receive({ type: "layout", fields }, buffers);
    await new Promise((r) => setTimeout(r, 0));
    callbacks.onSelect([1, 4]);
    callbacks.onSelect([]);
    expect(model.get("selection")).toEqual([1, 4]);
    expect(q(el, "nbl-page-label").textContent).toBe("lasso · page 1 / 1 · 2 items");
    expect(tiles(el).map((t) => t.dataset.index)).toEqual(["1", "4"]);
    callbacks.onClick(5);
    expect(model.get("selection")).toEqual([5]);
    expect(document.activeElement).toBe(q(el, "nbl-root"));
  });

  it("class keys come from class names; the palette labels by typed name", () => {
    const { el, model, sendState, sendView } = setup({ classes: ["0", "1", "cat", "dog"] });
    sendState(1);
    sendView([0, 1, 2, 3]);
    expect(Array.from(el.querySelectorAll(".nbl-class kbd"), (k) => k.textContent)).toEqual(["0", "1", "2", "3"]);
    tiles(el)[0].click();
    key(el, "0");
    expect(model.sent.at(-1)).toMatchObject({ type: "label", indices: [0], cls: 0 });
    key(el, "c");
    const input = q(el, "nbl-palette-input");
    expect(q(el, "nbl-palette").hidden).toBe(false);
    input.value = "do";
    input.dispatchEvent(new Event("input"));
    expect(Array.from(el.querySelectorAll('[data-testid="nbl-palette-item"]'), (r) => r.dataset.classIndex)).toEqual(["3"]);
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.sent.at(-1)).toMatchObject({ type: "label", indices: [1], cls: 3 });
    expect(q(el, "nbl-palette").hidden).toBe(true);
  });

  it("says the kernel is at work until the first state and the layout arrive", () => {
    vi.useFakeTimers();
    try {
      const { el, model, sendState, sendView } = setup();
      expect(q(el, "nbl-grid-msg").textContent).toBe("waiting for the kernel…");
      vi.advanceTimersByTime(3000);
      expect(q(el, "nbl-scatter-msg").textContent).toBe("computing the 2-D layout… 3 s (the grid works meanwhile)");
      sendState(1);
      sendView([0, 1]);
      expect(q(el, "nbl-grid-msg")).toBeNull();
      const { fields, buffers } = pack({ xy: new Float32Array(12) });
      model.receive({ type: "layout", fields }, buffers);
      vi.advanceTimersByTime(3000);
      expect(q(el, "nbl-scatter-msg").textContent).toBe("computing the 2-D layout… 3 s (the grid works meanwhile)");
    } finally {
      vi.useRealTimers();
    }
  });

  it("gives the keys back to the widget after a menu choice", () => {
    const { el } = setup();
    const menu = q(el, "nbl-mode");
    menu.focus();
    menu.value = "suspects";
    menu.dispatchEvent(new Event("change"));
    expect(document.activeElement).toBe(q(el, "nbl-root"));
  });
});
