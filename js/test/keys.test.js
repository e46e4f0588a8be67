import { describe, expect, it } from "vitest";
import { keyAction, keyHelp } from "../src/keys.js";

const key = (k, mods = {}) => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });

describe("keyAction", () => {
  it("maps 1-9 to class 0-8, and flags classes that do not exist", () => {
    expect(keyAction(key("1"), 3)).toEqual({ type: "label", cls: 0 });
    expect(keyAction(key("3"), 3)).toEqual({ type: "label", cls: 2 });
    expect(keyAction(key("4"), 3)).toEqual({ type: "unknown_class", cls: 3 });
    expect(keyAction(key("0"), 3)).toBeNull();
  });

  it("maps the single-letter actions", () => {
    expect(keyAction(key("a"), 2)).toEqual({ type: "accept" });
    expect(keyAction(key("p"), 2)).toEqual({ type: "take_predicted" });
    expect(keyAction(key("u"), 2)).toEqual({ type: "unlabel" });
    expect(keyAction(key("z"), 2)).toEqual({ type: "undo" });
    expect(keyAction(key("Z", { shiftKey: true }), 2)).toEqual({ type: "redo" });
    expect(keyAction(key("y"), 2)).toEqual({ type: "redo" });
    expect(keyAction(key("Escape"), 2)).toEqual({ type: "clear" });
    expect(keyAction(key("ArrowRight"), 2)).toEqual({ type: "page", delta: 1 });
    expect(keyAction(key("s"), 2)).toEqual({ type: "similar" });
  });

  it("ctrl/cmd+A selects all; other modified keys pass through to the browser", () => {
    expect(keyAction(key("a", { ctrlKey: true }), 2)).toEqual({ type: "select_all" });
    expect(keyAction(key("a", { metaKey: true }), 2)).toEqual({ type: "select_all" });
    expect(keyAction(key("c", { ctrlKey: true }), 2)).toBeNull();
    expect(keyAction(key("1", { altKey: true }), 2)).toBeNull();
    expect(keyAction(key("q"), 2)).toBeNull();
  });

  it("documents every key it handles", () => {
    expect(keyHelp().map(([k]) => k)).toContain("1-9");
    expect(keyHelp().length).toBe(10);
  });
});
