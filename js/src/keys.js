// Keyboard map: a keydown (or anything with key/ctrlKey/metaKey/shiftKey/altKey) -> an action, or null.

const HELP = [
  ["1-9", "label the selection with class 1-9"],
  ["a", "accept the given label"],
  ["p", "take the predicted label"],
  ["u", "remove the verified label"],
  ["z", "undo"],
  ["Z / y", "redo"],
  ["ctrl/cmd+A", "select all items of the list"],
  ["Esc", "clear the selection"],
  ["← →", "previous / next page"],
  ["s", "similar images of the selected item"],
];

/** Key help as [keys, what] pairs (rendered in the widget's help line). */
export function keyHelp() {
  return HELP.map((row) => row.slice());
}

/** Map a key event to an action object, or null when the widget should let the key through. */
export function keyAction(ev, nClasses) {
  if (ev.altKey) return null;
  const mod = ev.ctrlKey || ev.metaKey;
  const key = ev.key;
  if (mod) {
    if (key === "a" || key === "A") return { type: "select_all" };
    if (key === "z") return { type: "undo" };
    if (key === "Z" || key === "y") return { type: "redo" };
    return null; // leave copy/paste and the browser's own shortcuts alone
  }
  if (/^[1-9]$/.test(key)) {
    const cls = Number(key) - 1;
    return cls < nClasses ? { type: "label", cls } : { type: "unknown_class", cls };
  }
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
    case "Escape":
      return { type: "clear" };
    case "ArrowLeft":
      return { type: "page", delta: -1 };
    case "ArrowRight":
      return { type: "page", delta: 1 };
    case "s":
      return { type: "similar" };
    default:
      return null;
  }
}
