// Grid tiles. Every piece of data text (ids, class names) goes through textContent, never innerHTML,
// so a class named `<img src=x onerror=...>` is shown as those characters.

import { classColor } from "./colors.js";

function el(doc, tag, className, text) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function className(classes, i) {
  return i >= 0 && i < classes.length ? classes[i] : i >= 0 ? `#${i}` : "";
}

/**
 * Build one tile.
 * @param {Document} doc
 * @param {object} t  {index, id, url, thumbError, given, verified, predicted, confidence, suspicion, flagged, selected}
 * @param {string[]} classes
 */
export function buildTile(doc, t, classes) {
  const tile = el(doc, "div", "nbl-tile");
  tile.dataset.testid = "nbl-tile";
  tile.dataset.index = String(t.index);
  tile.dataset.id = t.id ?? "";
  tile.dataset.selected = String(Boolean(t.selected));
  tile.dataset.flagged = String(Boolean(t.flagged));
  tile.dataset.given = String(t.given);
  tile.dataset.verified = String(t.verified);
  tile.dataset.predicted = String(t.predicted);
  const current = t.verified >= 0 ? t.verified : t.given;
  tile.style.setProperty("--nbl-tile-color", classColor(current));
  if (t.selected) tile.classList.add("nbl-selected");
  if (t.flagged) tile.classList.add("nbl-flagged");
  if (t.verified >= 0) tile.classList.add("nbl-is-verified");

  const box = el(doc, "div", "nbl-thumb-box");
  if (t.url) {
    const img = el(doc, "img", "nbl-thumb");
    img.src = t.url;
    img.alt = t.id ?? "";
    img.draggable = false;
    box.appendChild(img);
  } else {
    // No image (embeddings-only session, a failed thumbnail, or not loaded yet): the id is the content.
    const text = el(doc, "div", "nbl-thumb-text", t.id || "…");
    if (t.thumbError) text.title = t.thumbError;
    box.appendChild(text);
  }
  tile.appendChild(box);
  if (t.url) tile.appendChild(el(doc, "div", "nbl-id", t.id ?? ""));

  if (t.flagged) {
    const flag = el(doc, "span", "nbl-flag", "!");
    const given = className(classes, t.given);
    const predicted = className(classes, t.predicted);
    flag.title = `suspected mislabel (suspicion ${Number(t.suspicion).toFixed(2)}): given "${given}", predicted "${predicted}"`;
    tile.appendChild(flag);
  }

  const labels = el(doc, "div", "nbl-tile-labels");
  const given = el(doc, "span", "nbl-given", t.given >= 0 ? className(classes, t.given) : "—");
  given.title = "given label";
  labels.appendChild(given);
  if (t.verified >= 0) {
    const verified = el(doc, "span", "nbl-verified", `✓ ${className(classes, t.verified)}`);
    verified.title = "verified by a person";
    labels.appendChild(verified);
  }
  const predictedText =
    t.predicted >= 0 ? `→ ${className(classes, t.predicted)} ${Number(t.confidence).toFixed(2)}` : "→ ?";
  const predicted = el(doc, "span", "nbl-predicted", predictedText);
  predicted.title = "predicted by label propagation, with confidence";
  labels.appendChild(predicted);
  tile.appendChild(labels);
  if (t.id) tile.title = t.id;
  return tile;
}

/** Gather what a tile shows for item i from the store's arrays. */
export function tileInfo(i, state, thumb, selected) {
  return {
    index: i,
    id: thumb ? thumb.id : "",
    url: thumb ? thumb.url : "",
    thumbError: thumb ? thumb.error : "",
    given: state ? state.given[i] : -1,
    verified: state ? state.verified[i] : -1,
    predicted: state ? state.predicted[i] : -1,
    confidence: state ? state.confidence[i] : 0,
    suspicion: state ? state.suspicion[i] : NaN,
    flagged: state ? state.flagged[i] === 1 : false,
    selected,
  };
}

/**
 * Draw small images (8x8 digits) as crisp pixels once upscaled 2x or more, not as a blur. Call it on tiles in
 * the page: the drawn size is known only there, and the natural size only once the image is decoded.
 */
export function markUpscaled(tiles) {
  for (const tile of tiles) {
    const img = tile.querySelector("img.nbl-thumb");
    if (!img) continue;
    const mark = () => {
      const box = img.parentElement.clientWidth;
      img.classList.toggle("nbl-pixelated", img.naturalWidth > 0 && img.naturalWidth * 2 <= box);
    };
    if (img.complete) mark();
    else img.addEventListener("load", mark, { once: true });
  }
}
