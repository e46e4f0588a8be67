// Keyboard map: class keys (classKeys) and a keydown (anything with key/ctrlKey/metaKey/shiftKey/altKey) ->
// an action, or null when the widget should let the key through.

/** Keys the widget's own actions use; a class named by one of these gets a number key instead. */
export const ACTION_KEYS = new Set(["a", "p", "u", "z", "Z", "y", "s", "c", "/", " "]);
const NUMBER_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

/**
 * The key that labels with each class ("" when none: the class palette reaches it).
 *
 * A class whose name is one character gets that key (classes "0".."9" get keys 0..9), unless the widget's
 * own actions use it; the others take the number keys 1-9 then 0 in class order, skipping keys taken.
 */
export function classKeys(names) {
  const keys = names.map((name) => (name.length === 1 && !ACTION_KEYS.has(name) ? name : ""));
  // Two classes named by the same character cannot share it (names are unique, so only case could clash).
  const taken = new Set(keys.filter(Boolean));
  const free = NUMBER_KEYS.filter((k) => !taken.has(k));
  return keys.map((k) => k || free.shift() || "");
}

const HELP = [
  ["class key", "label the selection (shown on each class button)"],
  ["c", "class palette: type to filter, Enter labels"],
  ["a", "accept the given label"],
  ["p", "take the predicted label"],
  ["u", "remove the verified label"],
  ["z", "undo"],
  ["Z / y", "redo"],
  ["arrows", "move between tiles (shift extends, ctrl moves only the cursor)"],
  ["Enter / Space", "toggle the tile under the cursor"],
  ["PgUp / PgDn", "previous / next page"],
  ["ctrl/cmd+A", "select all items of the list"],
  ["Esc", "clear the selection"],
  ["/", "jump to an id"],
  ["s", "similar images of the selected item"],
];

/** Key help as [keys, what] pairs (rendered in the widget's help line). */
export function keyHelp() {
  return HELP.map((row) => row.slice());
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** Map a key event to an action object, or null when the widget should let the key through. */
export function keyAction(ev, keys) {
  if (ev.altKey) return null;
  const mod = ev.ctrlKey || ev.metaKey;
  const key = ev.key;
  if (key in ARROWS) {
    const [dx, dy] = ARROWS[key];
    return { type: "move", dx, dy, extend: ev.shiftKey, cursorOnly: mod && !ev.shiftKey };
  }
  if (mod) {
    if (key === "a" || key === "A") return { type: "select_all" };
    if (key === "z") return { type: "undo" };
    if (key === "Z" || key === "y") return { type: "redo" };
    return null; // leave copy/paste and the browser's own shortcuts alone
  }
  const cls = keys.indexOf(key);
  if (cls >= 0) return { type: "label", cls };
  if (/^[0-9]$/.test(key)) return { type: "unknown_class", key };
  switch (key) {
    case "a":
      return { type: "accept" };
    case "p":
      return { type: "take_predicted" };
    case "u":
      return { type: "unlabel" };
    case "z":
      return { type: "undo" };
    case "Z":
    case "y":
      return { type: "redo" };
    case "c":
      return { type: "palette" };
    case "/":
      return { type: "find" };
    case "Enter":
    case " ":
      return { type: "toggle" };
    case "Escape":
      return { type: "clear" };
    case "PageUp":
      return { type: "page", delta: -1 };
    case "PageDown":
      return { type: "page", delta: 1 };
    case "s":
      return { type: "similar" };
    default:
      return null;
  }
}
