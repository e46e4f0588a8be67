import { describe, expect, it } from "vitest";
import { Store } from "../src/store.js";
import { MockModel, pack } from "./mock-model.js";

function stateMsg(version, full, arrays) {
  const { fields, buffers } = pack(arrays);
  return [{ type: "state", version, full, fields }, buffers];
}

describe("Store", () => {
  it("says ready on start and merges partial states into the last full one", () => {
    const model = new MockModel({});
    const store = new Store(model);
    store.start();
    expect(model.sent).toEqual([{ type: "ready" }]);
    const seen = [];
    store.on("state", (s) => seen.push(s.version));
    model.receive(...stateMsg(2, false, { verified: Int32Array.from([1, -1]) })); // before any full: ignored
    expect(store.state).toBeNull();
    model.receive(...stateMsg(3, true, { given: Int32Array.from([0, 1]), verified: Int32Array.from([-1, -1]) }));
    model.receive(...stateMsg(4, false, { verified: Int32Array.from([1, -1]) }));
    expect(Array.from(store.state.given)).toEqual([0, 1]);
    expect(Array.from(store.state.verified)).toEqual([1, -1]);
    model.receive(...stateMsg(3, false, { verified: Int32Array.from([-1, -1]) })); // older: dropped
    expect(store.state.version).toBe(4);
    expect(seen).toEqual([3, 4]);
  });

  it("applies a patch (rows + values) to copies of the arrays it holds", () => {
    const model = new MockModel({});
    const store = new Store(model);
    model.receive(...stateMsg(1, true, { predicted: Int32Array.from([0, 0, 0]), suspicion: Float32Array.from([0.1, NaN, 0.3]) }));
    const before = store.state;
    model.receive(...stateMsg(2, false, { rows: Int32Array.from([2, 0]), predicted: Int32Array.from([5, 4]) }));
    expect(Array.from(store.state.predicted)).toEqual([4, 0, 5]);
    expect(Array.from(before.predicted)).toEqual([0, 0, 0]);
    expect(store.state.suspicion).toBe(before.suspicion);
    expect(store.state.rows).toBeUndefined();
  });

  it("caches thumbnail answers and settles their request", () => {
    const model = new MockModel({});
    const store = new Store(model);
    store.thumbs.urls = { create: () => "blob:1", revoke: () => {} };
    store.requestThumbs([4, 5]);
    store.requestThumbs([4, 5]); // already in flight: no second request
    const reqs = model.sent.filter((m) => m.type === "request_thumbs");
    expect(reqs.length).toBe(1);
    const got = [];
    store.on("thumbs", (indices) => got.push(...indices));
    model.receive(
      { type: "thumbs", request_id: reqs[0].request_id, items: [{ index: 4, id: "a.png", mime: "image/webp" }, { index: 5, id: "b.png", error: "broken" }] },
      [new Uint8Array([1, 2, 3])],
    );
    expect(got).toEqual([4, 5]);
    expect(store.thumbs.get(4)).toEqual({ id: "a.png", error: "", url: "blob:1" });
    expect(store.thumbs.get(5).error).toBe("broken");
    expect(store.requests.pending.size).toBe(0);
  });

  it("reports an unknown message type instead of failing silently", () => {
    const model = new MockModel({});
    const store = new Store(model);
    model.receive({ type: "mystery" });
    expect(store.lastError).toMatch(/mystery/);
    store.dispose();
    expect(model.handlers.get("msg:custom").size).toBe(0);
  });
});
