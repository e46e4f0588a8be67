import { describe, expect, it, vi } from "vitest";
import { ACTIONS, FROM_KERNEL, RequestTracker, TO_KERNEL } from "../src/protocol.js";

describe("RequestTracker", () => {
  it("numbers requests and settles each reply once", () => {
    const t = new RequestTracker();
    const done = vi.fn();
    const a = t.make(TO_KERNEL.LABEL, { indices: [1], cls: 0 }, done);
    const b = t.make(TO_KERNEL.REQUEST_THUMBS, { indices: [1] });
    expect(a).toEqual({ type: "label", request_id: 1, indices: [1], cls: 0 });
    expect(b.request_id).toBe(2);
    expect(t.sent).toBe(1); // thumbnails are not label actions
    expect(t.allSaved).toBe(false);
    expect(t.settle({ type: FROM_KERNEL.REPLY, request_id: 1, ok: true })).toBe("label");
    expect(done).toHaveBeenCalledWith("", expect.objectContaining({ request_id: 1 }));
    expect(t.settle({ type: FROM_KERNEL.REPLY, request_id: 1, ok: true })).toBeNull();
    expect(t.acked).toBe(1);
    expect(t.allSaved).toBe(true);
  });

  it("counts a failed action as not saved and passes the error on", () => {
    const t = new RequestTracker();
    const done = vi.fn();
    t.make(TO_KERNEL.ACCEPT, { indices: [0] }, done);
    t.settle({ type: FROM_KERNEL.REPLY, request_id: 1, ok: false, error: "no given label" });
    expect(done).toHaveBeenCalledWith("no given label", expect.objectContaining({ ok: false }));
    expect(t.failed).toBe(1);
    expect(t.inFlight).toBe(0);
    expect(t.allSaved).toBe(false);
  });

  it("is saved again once the next action after a refused one is committed", () => {
    // The bug: one refused action left "not saved" for good although later ones reached the journal.
    const t = new RequestTracker();
    t.make(TO_KERNEL.ACCEPT, { indices: [0] });
    t.settle({ type: FROM_KERNEL.REPLY, request_id: 1, ok: false, error: "no given label" });
    t.make(TO_KERNEL.LABEL, { indices: [0], cls: 1 });
    expect(t.allSaved).toBe(false); // in flight
    t.settle({ type: FROM_KERNEL.REPLY, request_id: 2, ok: true });
    expect(t.allSaved).toBe(true);
    t.make(TO_KERNEL.LABEL, { indices: [0], cls: 1 });
    t.make(TO_KERNEL.LABEL, { indices: [1], cls: 1 });
    t.settle({ type: FROM_KERNEL.REPLY, request_id: 3, ok: true });
    expect(t.allSaved).toBe(false); // request 4 still unanswered
    t.settle({ type: FROM_KERNEL.REPLY, request_id: 4, ok: false, error: "x" });
    expect(t.allSaved).toBe(false);
  });

  it("treats every label-changing request as an action", () => {
    for (const type of ["label", "unlabel", "accept", "take_predicted", "undo", "redo", "add_class"]) {
      expect(ACTIONS.has(type)).toBe(true);
    }
    expect(ACTIONS.has(TO_KERNEL.REQUEST_VIEW)).toBe(false);
  });
});
