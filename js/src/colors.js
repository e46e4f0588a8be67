// Colour mapping for the map and the tiles. The map colours each point by a small integer code that indexes a
// short list of colours and sizes (see colorCodes): a recolour hands WebGL one number per point, never a
// colour string per point.

/** Categorical palette (Tableau 10 + 10 lighter tints); classes beyond 20 reuse it cyclically. */
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
];
/** Points without a label of the chosen kind. */
export const NONE_COLOR = "#9e9e9e";
/** Suspicion ramp from harmless to very suspicious. */
export const SUSPICION_RAMP = ["#fde725", "#f89441", "#cc4778", "#7e03a8"];
/** Marker sizes (px) by suspicion group: no given label, then the ramp's bins. */
export const SUSPICION_SIZES = [3, 3, 4, 6, 9];

/** The per-item class codes of a state that colour by class (the other colourings: suspicion, cluster). */
const CLASS_CODES = Object.freeze(["given", "verified", "predicted"]);

/** Colour of class i (-1 = none). */
export function classColor(i) {
  return i < 0 ? NONE_COLOR : PALETTE[i % PALETTE.length];
}

/**
 * Each point's colour group: a code per point that indexes `colors` and `sizes`. Code 0 is "none" (grey); for
 * suspicion the codes go up with the suspicion bin, so the most suspicious points have the highest code.
 *
 * Returns {codes: Int32Array (n,) in [0, k), colors: string[] (k,), sizes: number[] (k,) marker px}.
 */
export function colorCodes(state, by, nClasses) {
  if (by !== "suspicion" && !CLASS_CODES.includes(by)) {
    throw new Error(`nblabel: colour by ${JSON.stringify(by)}; expected suspicion or one of ${CLASS_CODES}`);
  }
  const n = state.given.length;
  const k = by === "suspicion" ? SUSPICION_RAMP.length + 1 : nClasses + 1;
  const codes = new Int32Array(n);
  if (by === "suspicion") {
    const s = state.suspicion;
    for (let i = 0; i < n; i++) {
      // code 0: no given label (NaN); then equal-width bins of [0, 1], the last one closed.
      codes[i] = Number.isNaN(s[i]) ? 0 : 1 + Math.min(SUSPICION_RAMP.length - 1, Math.floor(s[i] * SUSPICION_RAMP.length));
    }
  } else {
    const labels = state[by];
    // Codes beyond the known classes (a class added in another session) show as none until classes sync.
    for (let i = 0; i < n; i++) codes[i] = labels[i] >= 0 && labels[i] < nClasses ? labels[i] + 1 : 0;
  }
  const colors = [NONE_COLOR];
  for (let g = 1; g < k; g++) colors.push(by === "suspicion" ? SUSPICION_RAMP[g - 1] : classColor(g - 1));
  // By suspicion the harmless majority is drawn small and the suspects large, so a suspect stands out as one
  // point instead of its colour blending into (or painting over) the cluster around it.
  const sizes = by === "suspicion" ? SUSPICION_SIZES.slice() : new Array(k).fill(5);
  return { codes, colors, sizes };
}

/** Classes named in the map's legend; more are summed up in one row (the class filter still reaches them). */
export const LEGEND_MAX_CLASSES = 20;

/**
 * Legend rows [colour, text, filter] for the scatter: what grey means, each class's colour (filter: the browse
 * filter a click on the row sets, "" for none) or the suspicion bins.
 */
export function legend(by, classes = []) {
  if (by === "suspicion") {
    const k = SUSPICION_RAMP.length;
    return [
      [NONE_COLOR, "no given label", ""],
      ...SUSPICION_RAMP.map((c, j) => [c, `suspicion ${(j / k).toFixed(2)}–${((j + 1) / k).toFixed(2)}`, ""]),
    ];
  }
  // given/verified colour by a label of the item: the class filter (current label); predicted by prediction.
  const kind = by === "predicted" ? "predicted" : "class";
  const rows = classes.slice(0, LEGEND_MAX_CLASSES).map((name, i) => [classColor(i), name, `${kind}:${i}`]);
  const more = classes.length - LEGEND_MAX_CLASSES;
  if (more > 0) rows.push([NONE_COLOR, `+${more} more (filter menu)`, ""]);
  return [[NONE_COLOR, `no ${by} label`, ""], ...rows];
}
