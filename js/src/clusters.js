// Exploring clusters: colour the map by cluster, and a panel of cluster cards (size, exemplar thumbnails,
// label mix, purity, the core a number key would label). The kernel computes everything (nblabel/clusters.py);
// this file only draws what the "clusters" message carries. Every string from the data goes in as textContent.

import { NONE_COLOR, PALETTE } from "./colors.js";

/** Colour of cluster c (clusters are numbered from the largest down, so the big ones get distinct colours). */
export function clusterColor(c) {
  return c < 0 ? NONE_COLOR : PALETTE[c % PALETTE.length];
}

/**
 * Colour codes for the map, like colors.js colorCodes: each item's code is its cluster (clusters are numbered
 * from the largest down). `labels` is the Int32Array of each item's cluster; without it (not received yet)
 * every point is grey. Returns {codes: Int32Array (n,), colors: string[], sizes: number[]}.
 */
export function clusterColorCodes(labels, n) {
  if (!labels || labels.length !== n) return { codes: new Int32Array(n), colors: [NONE_COLOR], sizes: [5] };
  let k = 1;
  for (let i = 0; i < n; i++) if (labels[i] + 1 > k) k = labels[i] + 1;
  const colors = Array.from({ length: k }, (_, c) => clusterColor(c));
  return { codes: Int32Array.from(labels), colors, sizes: new Array(k).fill(5) };
}

/** Legend rows [colour, text] for colour-by-cluster: the largest clusters, then how many more. */
export function clusterLegend(cards, shown = 10) {
  if (!cards || cards.length === 0) return [[NONE_COLOR, "computing clusters…"]];
  const bySize = cards.slice().sort((a, b) => a.cluster - b.cluster);
  const rows = bySize.slice(0, shown).map((c) => [clusterColor(c.cluster), `cluster ${c.cluster} · ${c.size}`]);
  if (bySize.length > shown) rows.push([NONE_COLOR, `+ ${bySize.length - shown} smaller clusters`]);
  return rows;
}

/** "3 · 1" style label mix, most common first (class names come from the data: used as text only). */
export function mixText(mix) {
  const parts = Object.entries(mix || {}).sort((a, b) => b[1] - a[1]);
  return parts.length ? parts.map(([name, count]) => `${name} ${count}`).join(" · ") : "no labels yet";
}

/** What the number keys do on an open card, shown before a key is pressed. */
export function coreHint(card) {
  if (!card) return "";
  return card.core > 0
    ? `press 1-9: label the ${card.core} core items of cluster ${card.cluster} (one undo)`
    : `cluster ${card.cluster}: no unlabeled core items left`;
}

function h(doc, tag, cls, testid, text) {
  const node = doc.createElement(tag);
  if (cls) node.className = cls;
  if (testid) node.dataset.testid = testid;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The cluster panel. `onOpen(cluster)` runs when a card is clicked; `onSort(sort)` when the order changes.
 * Returns {el, render(clusters, openCluster, thumbs), dispose}.
 */
export function createClusterPanel(doc, { onOpen, onSort, onResolution }) {
  const el = h(doc, "div", "nbl-clusters", "nbl-clusters");
  const head = h(doc, "div", "nbl-clusters-head");
  const sortSel = h(doc, "select", "", "nbl-cluster-sort");
  sortSel.setAttribute("aria-label", "order of the clusters");
  for (const [v, t] of [["size", "largest first"], ["impurity", "most mixed first"]]) {
    const opt = doc.createElement("option");
    opt.value = v;
    opt.textContent = t;
    sortSel.appendChild(opt);
  }
  const resInput = h(doc, "input", "", "nbl-cluster-resolution");
  resInput.type = "number";
  resInput.step = "0.1";
  resInput.min = "0.1";
  resInput.setAttribute("aria-label", "cluster resolution");
  resInput.title = "resolution: smaller for fewer, larger clusters";
  const hint = h(doc, "div", "nbl-cluster-hint", "nbl-cluster-hint");
  head.append(h(doc, "span", "", "", "clusters"), sortSel, resInput);
  const cards = h(doc, "div", "nbl-cluster-cards", "nbl-cluster-cards");
  el.append(head, hint, cards);

  const onSortChange = () => onSort(sortSel.value);
  const onResChange = () => {
    const value = Number(resInput.value);
    if (value > 0) onResolution(value);
  };
  sortSel.addEventListener("change", onSortChange);
  resInput.addEventListener("change", onResChange);
  const onCardClick = (ev) => {
    const card = ev.target.closest(".nbl-cluster-card");
    if (card) onOpen(Number(card.dataset.cluster));
  };
  cards.addEventListener("click", onCardClick);

  function render(clusters, openCluster, thumbs) {
    if (!clusters) {
      hint.textContent = "computing clusters…";
      cards.replaceChildren();
      return [];
    }
    sortSel.value = clusters.sort;
    if (doc.activeElement !== resInput) resInput.value = String(clusters.resolution);
    const open = clusters.cards.find((c) => c.cluster === openCluster);
    hint.textContent = open ? coreHint(open) : "click a card to open the cluster";
    const wanted = [];
    cards.replaceChildren(
      ...clusters.cards.map((c) => {
        const card = h(doc, "div", "nbl-cluster-card", "nbl-cluster-card");
        card.dataset.cluster = String(c.cluster);
        card.dataset.open = String(c.cluster === openCluster);
        card.dataset.core = String(c.core);
        card.style.setProperty("--nbl-cluster-color", clusterColor(c.cluster));
        card.append(h(doc, "div", "nbl-cluster-title", "", `cluster ${c.cluster} · ${c.size} items`));
        const strip = h(doc, "div", "nbl-cluster-thumbs");
        for (const i of c.exemplars) {
          const thumb = thumbs.get(i);
          if (thumb && thumb.url) {
            const img = doc.createElement("img");
            img.src = thumb.url;
            img.alt = thumb.id || "";
            strip.appendChild(img);
          } else {
            strip.appendChild(h(doc, "span", "nbl-cluster-thumb-missing", "", thumb && thumb.id ? thumb.id : "…"));
            wanted.push(i);
          }
        }
        card.appendChild(strip);
        card.append(h(doc, "div", "nbl-cluster-mix", "nbl-cluster-mix", mixText(c.mix)));
        const purity = c.purity === null || c.purity === undefined ? "purity —" : `purity ${c.purity.toFixed(2)}`;
        card.append(h(doc, "div", "nbl-cluster-purity", "nbl-cluster-purity", `${purity} · core ${c.core}`));
        return card;
      }),
    );
    return wanted;
  }

  function dispose() {
    sortSel.removeEventListener("change", onSortChange);
    resInput.removeEventListener("change", onResChange);
    cards.removeEventListener("click", onCardClick);
    el.remove();
  }

  return { el, render, dispose };
}
