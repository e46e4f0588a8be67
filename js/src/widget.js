// anywidget entry: one Store per model (initialize), one view per display (render). Both return cleanups.
import "./widget.css";
import { createScatter } from "./scatter.js";
import { Store } from "./store.js";
import { mountView } from "./view.js";

const stores = new WeakMap();

function storeFor(model) {
  let store = stores.get(model);
  if (!store) {
    store = new Store(model);
    stores.set(model, store);
    store.start();
  }
  return store;
}

export default {
  initialize({ model }) {
    storeFor(model);
    return () => {
      const store = stores.get(model);
      if (store) store.dispose();
      stores.delete(model);
    };
  },
  render({ model, el }) {
    try {
      return mountView({ model, el, store: storeFor(model), makeScatter: createScatter });
    } catch (err) {
      const box = el.ownerDocument.createElement("div");
      box.dataset.testid = "nbl-fallback";
      box.className = "nbl-fallback";
      box.textContent = `nblabel could not start its view: ${err && err.message ? err.message : err}`;
      el.appendChild(box);
      return () => box.remove();
    }
  },
};
