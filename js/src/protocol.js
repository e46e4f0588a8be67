// The custom-message table shared with nblabel/widget.py (MESSAGES there; a Python test checks both agree).

/** Front end -> kernel. Actions carry a request_id and get exactly one "reply" after the journal commit. */
export const TO_KERNEL = Object.freeze({
  READY: "ready",
  LABEL: "label",
  UNLABEL: "unlabel",
  ACCEPT: "accept",
  TAKE_PREDICTED: "take_predicted",
  UNDO: "undo",
  REDO: "redo",
  ADD_CLASS: "add_class",
  REQUEST_VIEW: "request_view",
  REQUEST_THUMBS: "request_thumbs",
  REQUEST_CLUSTERS: "request_clusters",
  LABEL_CLUSTER: "label_cluster",
  FIND: "find",
});

/** Kernel -> front end. */
export const FROM_KERNEL = Object.freeze({
  LAYOUT: "layout",
  STATE: "state",
  VIEW: "view",
  THUMBS: "thumbs",
  REPLY: "reply",
  CLUSTERS: "clusters",
});

/** Requests that change labels: the page counts them to show whether everything sent is journal-committed. */
export const ACTIONS = new Set([
  TO_KERNEL.LABEL,
  TO_KERNEL.UNLABEL,
  TO_KERNEL.ACCEPT,
  TO_KERNEL.TAKE_PREDICTED,
  TO_KERNEL.UNDO,
  TO_KERNEL.REDO,
  TO_KERNEL.ADD_CLASS,
  TO_KERNEL.LABEL_CLUSTER,
]);

/**
 * Numbers requests and matches replies to them.
 * sent/acked count only ACTIONS, so `acked === sent` means every change reached the journal.
 */
export class RequestTracker {
  constructor() {
    this.nextId = 1;
    this.pending = new Map();
    this.sent = 0;
    this.acked = 0;
    this.failed = 0;
    this.lastFailed = false; // the latest answered action was refused (so it is not saved)
  }

  /** Build the message for a request of `type`; `onDone(error, reply)` runs when its reply or answer arrives. */
  make(type, payload = {}, onDone = null) {
    const requestId = this.nextId++;
    this.pending.set(requestId, { type, onDone });
    if (ACTIONS.has(type)) this.sent += 1;
    return { type, request_id: requestId, ...payload };
  }

  /** Settle the request answered by `msg` (a reply or a thumbs answer); returns its type, or null if unknown. */
  settle(msg) {
    const entry = this.pending.get(msg.request_id);
    if (!entry) return null;
    this.pending.delete(msg.request_id);
    const error = msg.type === FROM_KERNEL.REPLY && !msg.ok ? msg.error || "failed" : "";
    if (ACTIONS.has(entry.type)) {
      if (error) this.failed += 1;
      else this.acked += 1;
      this.lastFailed = Boolean(error);
    }
    if (entry.onDone) entry.onDone(error, msg);
    return entry.type;
  }

  /**
   * True when every action sent has its answer and the latest one was committed. A refused action wrote
   * nothing, so it leaves nothing unsaved for good: the next committed action makes this true again.
   */
  get allSaved() {
    return this.inFlight === 0 && !this.lastFailed;
  }

  /** Actions still waiting for their reply. */
  get inFlight() {
    return this.sent - this.acked - this.failed;
  }
}
