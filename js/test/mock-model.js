// A stand-in for anywidget's model: traits with change events, custom messages both ways.

export class MockModel {
  constructor(traits) {
    this.traits = { ...traits };
    this.handlers = new Map();
    this.sent = [];
    this.dirty = new Set();
  }

  get(name) {
    return this.traits[name];
  }

  set(name, value) {
    this.traits[name] = value;
    this.dirty.add(name);
  }

  save_changes() {
    const names = [...this.dirty];
    this.dirty.clear();
    for (const name of names) this.emit(`change:${name}`);
  }

  on(events, fn) {
    for (const e of events.split(" ")) {
      if (!this.handlers.has(e)) this.handlers.set(e, new Set());
      this.handlers.get(e).add(fn);
    }
  }

  off(events, fn) {
    for (const e of events.split(" ")) this.handlers.get(e)?.delete(fn);
  }

  emit(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }

  send(msg) {
    this.sent.push(msg);
  }

  /** Deliver a kernel -> page custom message. */
  receive(msg, buffers = []) {
    this.emit("msg:custom", msg, buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)));
  }
}

/** Encode named typed arrays the way nblabel/widget.py's pack_arrays does. */
export function pack(arrays) {
  const dtypes = { Float32Array: "float32", Int32Array: "int32", Uint8Array: "uint8" };
  const fields = [];
  const buffers = [];
  for (const [name, arr] of Object.entries(arrays)) {
    fields.push({ name, dtype: dtypes[arr.constructor.name], shape: name === "xy" ? [arr.length / 2, 2] : [arr.length] });
    buffers.push(arr);
  }
  return { fields, buffers };
}

// What the kernel sends in the `options` trait (nblabel/widget.py MODE_MENU, COLOR_BY_MENU).
export const MENUS = {
  mode: [["browse", "browse"], ["queue", "label queue"], ["suspects", "review suspects"], ["similar", "similar images"],
    ["cluster", "explore clusters"], ["outliers", "outliers"], ["duplicates", "near-duplicates"]],
  color_by: [["predicted", "colour: predicted"], ["given", "colour: given"], ["verified", "colour: verified"],
    ["suspicion", "colour: suspicion"], ["cluster", "colour: cluster"]],
};
