// Per-model data store: decoded arrays from the kernel, the grid's item list, thumbnails and request
// bookkeeping. One store per widget model, shared by all its views (a notebook may show a widget twice).

import { decodeFields, splitXY } from "./codecs.js";
import { ACTIONS, FROM_KERNEL, TO_KERNEL, RequestTracker } from "./protocol.js";
import { ThumbCache, pairThumbs } from "./thumbs.js";

export class Store {
  /** @param model anywidget model (get/set/save_changes/send/on/off) */
  constructor(model, thumbCache = new ThumbCache()) {
    this.model = model;
    this.layout = null; // {x, y: Float32Array(n)}
    this.state = null; // {version, given, verified, predicted, confidence, suspicion, flagged}
    this.view = { indices: new Int32Array(0), key: "", mode: "browse" };
    this.clusters = null; // {resolution, sort, cards, labels: Int32Array(n)} once the page asked for them
    this.thumbs = thumbCache;
    this.requests = new RequestTracker();
    this.lastError = "";
    this.listeners = new Map();
    this.onMessage = (msg, buffers) => this.handle(msg, buffers || []);
    model.on("msg:custom", this.onMessage);
  }

  /** Ask the kernel for layout, state and view (it answers every "ready"). */
  start() {
    this.model.send({ type: TO_KERNEL.READY });
  }

  dispose() {
    this.model.off("msg:custom", this.onMessage);
    this.thumbs.clear();
    this.listeners.clear();
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }

  emit(event, payload) {
    for (const fn of this.listeners.get(event) || []) fn(payload);
  }

  /** Send a request; `onDone(error, reply)` runs on its reply. Emits "requests" so views can show saving/saved. */
  request(type, payload = {}, onDone = null) {
    const msg = this.requests.make(type, payload, (error, reply) => {
      // An action's error stands until the next action is committed (thumbnail answers do not clear it).
      if (error || ACTIONS.has(type)) this.lastError = error;
      if (onDone) onDone(error, reply);
      this.emit("requests");
    });
    this.model.send(msg);
    this.emit("requests");
    return msg.request_id;
  }

  /** Fetch thumbnails (and ids) for items not cached yet. */
  requestThumbs(indices) {
    const missing = this.thumbs.claimMissing(indices);
    if (missing.length === 0) return;
    this.request(TO_KERNEL.REQUEST_THUMBS, { indices: missing }, (error) => {
      if (error) this.thumbs.release(missing);
    });
  }

  handle(msg, buffers) {
    switch (msg.type) {
      case FROM_KERNEL.LAYOUT: {
        const { xy } = decodeFields(msg.fields, buffers);
        this.layout = splitXY(xy.data);
        this.emit("layout", this.layout);
        break;
      }
      case FROM_KERNEL.STATE: {
        // A partial state carries only the arrays that changed; before the first full one it cannot be used
        // (the full one answering our "ready" is on its way).
        if (!msg.full && !this.state) break;
        if (this.state && msg.version < this.state.version) break;
        const f = decodeFields(msg.fields, buffers);
        const state = msg.full ? { version: msg.version } : { ...this.state, version: msg.version };
        if (f.rows) {
          // A patch: values at `rows` only. Copy before writing: the previous state's arrays stay as they were.
          const rows = f.rows.data;
          for (const name of Object.keys(f)) {
            if (name === "rows") continue;
            const values = f[name].data;
            const next = state[name].slice();
            for (let j = 0; j < rows.length; j++) next[rows[j]] = values[j];
            state[name] = next;
          }
        } else {
          for (const name of Object.keys(f)) state[name] = f[name].data;
        }
        this.state = state;
        this.emit("state", state);
        break;
      }
      case FROM_KERNEL.VIEW: {
        const { indices } = decodeFields(msg.fields, buffers);
        const changedKey = msg.key !== this.view.key;
        this.view = { indices: indices.data, key: msg.key, mode: msg.mode };
        this.emit("view", { changedKey });
        break;
      }
      case FROM_KERNEL.THUMBS: {
        const pairs = pairThumbs(msg.items, buffers);
        for (const [item, bytes] of pairs) this.thumbs.put(item, bytes);
        this.requests.settle(msg);
        this.emit("thumbs", pairs.map(([item]) => item.index));
        break;
      }
      case FROM_KERNEL.REPLY:
        this.requests.settle(msg);
        break;
      case FROM_KERNEL.CLUSTERS: {
        // Each item's cluster comes once per resolution; later messages carry the cards only.
        const { cluster } = decodeFields(msg.fields, buffers);
        const sameResolution = this.clusters && this.clusters.resolution === msg.resolution;
        const labels = cluster ? cluster.data : sameResolution ? this.clusters.labels : null;
        this.clusters = { resolution: msg.resolution, sort: msg.sort, cards: msg.cards, labels };
        this.emit("clusters", this.clusters);
        break;
      }
      default:
        this.lastError = `unknown message from the kernel: ${JSON.stringify(msg.type)}`;
        this.emit("requests");
    }
  }
}
