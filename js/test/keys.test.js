import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ACTION_KEYS, classKeys, keyAction, keyHelp } from "../src/keys.js";

const key = (k, mods = {}) => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });

describe("classKeys", () => {
  it("numbers named classes 1-9 then 0, in class order", () => {
    expect(classKeys(["cat", "dog", "bird"])).toEqual(["1", "2", "3"]);
    const twelve = Array.from({ length: 12 }, (_, i) => `class ${i}`);
    expect(classKeys(twelve)).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "", ""]);
  });

  it("gives classes named by one character that key: classes '0'..'9' get keys 0..9", () => {
    // The bug: key 1 labelled class "0" and class "9" had no key.
    const digits = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    expect(classKeys(digits)).toEqual(digits);
    expect(classKeys(["3", "cat", "x"])).toEqual(["3", "1", "x"]);
  });

  it("keeps the widget's own keys: a class named 'a' gets a number key", () => {
    expect(classKeys(["a", "b"])).toEqual(["1", "b"]);
  });

  it("never gives two classes one key, and gives every class a key when at most 10 are unnamed", () => {
    const names = fc.uniqueArray(fc.oneof(fc.string({ minLength: 1, maxLength: 2 }), fc.constantFrom(..."0123456789")), { maxLength: 14 });
    fc.assert(
      fc.property(names, (ns) => {
        const keys = classKeys(ns);
        const given = keys.filter(Boolean);
        expect(new Set(given).size).toBe(given.length);
        for (const k of given) expect(ACTION_KEYS.has(k)).toBe(false);
        if (ns.length <= 10) expect(given.length).toBe(ns.length);
        // Every class key maps back to its class.
        keys.forEach((k, i) => k && expect(keyAction(key(k), keys)).toEqual({ type: "label", cls: i }));
      }),
    );
  });
});

describe("keyAction", () => {
  const keys = classKeys(["zero", "one", "two"]);

  it("maps class keys to classes and reports digits without a class", () => {
    expect(keyAction(key("1"), keys)).toEqual({ type: "label", cls: 0 });
    expect(keyAction(key("3"), keys)).toEqual({ type: "label", cls: 2 });
    expect(keyAction(key("4"), keys)).toEqual({ type: "unknown_class", key: "4" });
    expect(keyAction(key("0"), keys)).toEqual({ type: "unknown_class", key: "0" });
    const digits = classKeys(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(keyAction(key("0"), digits)).toEqual({ type: "label", cls: 0 });
    expect(keyAction(key("9"), digits)).toEqual({ type: "label", cls: 9 });
  });

  it("maps the single-key actions", () => {
    expect(keyAction(key("a"), keys)).toEqual({ type: "accept" });
    expect(keyAction(key("p"), keys)).toEqual({ type: "take_predicted" });
    expect(keyAction(key("u"), keys)).toEqual({ type: "unlabel" });
    expect(keyAction(key("z"), keys)).toEqual({ type: "undo" });
    expect(keyAction(key("Z", { shiftKey: true }), keys)).toEqual({ type: "redo" });
    expect(keyAction(key("y"), keys)).toEqual({ type: "redo" });
    expect(keyAction(key("Escape"), keys)).toEqual({ type: "clear" });
    expect(keyAction(key("PageDown"), keys)).toEqual({ type: "page", delta: 1 });
    expect(keyAction(key("PageUp"), keys)).toEqual({ type: "page", delta: -1 });
    expect(keyAction(key("s"), keys)).toEqual({ type: "similar" });
    expect(keyAction(key("c"), keys)).toEqual({ type: "palette" });
    expect(keyAction(key("/"), keys)).toEqual({ type: "find" });
    expect(keyAction(key("Enter"), keys)).toEqual({ type: "toggle" });
    expect(keyAction(key(" "), keys)).toEqual({ type: "toggle" });
  });

  it("maps arrows to cursor moves: plain selects, shift extends, ctrl moves only the cursor", () => {
    expect(keyAction(key("ArrowRight"), keys)).toEqual({ type: "move", dx: 1, dy: 0, extend: false, cursorOnly: false });
    expect(keyAction(key("ArrowUp", { shiftKey: true }), keys)).toEqual({ type: "move", dx: 0, dy: -1, extend: true, cursorOnly: false });
    expect(keyAction(key("ArrowDown", { ctrlKey: true }), keys)).toEqual({ type: "move", dx: 0, dy: 1, extend: false, cursorOnly: true });
  });

  it("ctrl/cmd+A selects all; other modified keys pass through to the browser", () => {
    expect(keyAction(key("a", { ctrlKey: true }), keys)).toEqual({ type: "select_all" });
    expect(keyAction(key("a", { metaKey: true }), keys)).toEqual({ type: "select_all" });
    expect(keyAction(key("c", { ctrlKey: true }), keys)).toBeNull();
    expect(keyAction(key("1", { altKey: true }), keys)).toBeNull();
    expect(keyAction(key("q"), keys)).toBeNull();
  });

  it("every single key the help line names is handled", () => {
    const help = keyHelp().map(([k]) => k);
    expect(help).toContain("class key");
    for (const k of ["a", "p", "u", "z", "c", "/", "s"]) {
      expect(help).toContain(k);
      expect(keyAction(key(k), keys)).not.toBeNull();
    }
  });
});
