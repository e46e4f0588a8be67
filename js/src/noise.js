// The suspects panel: how many labels are flagged, the estimated noise rate and the errors still unreviewed,
// and the flags' noise matrix (given x likely class). Clicking a cell browses those items in the grid.
// Everything shown comes from the `counts` trait (nblabel/widget.py `_noise_counts`); text only, no HTML.

/**
 * One line of text about the noise estimate, from the `counts` trait. `audit`: the grid lists the suspects with
 * the audit draws between them (nblabel.quality.suspect_order), which the reviewer should know are on purpose.
 */
export function noiseSummary(counts, classes, { audit = false } = {}) {
  const c = counts || {};
  const parts = [`${c.flagged ?? 0} flagged`];
  if (typeof c.noise_rate === "number") {
    const pct = (v) => `${(100 * v).toFixed(1)} %`;
    parts.push(`estimated noise ${pct(c.noise_rate)} (95 %: ${pct(c.noise_low)}–${pct(c.noise_high)})`);
    const errors = Math.round(c.errors_unreviewed);
    // The flags are the count that maximises the expected F1 (nblabel.quality, "Flags"): where many labels are near
    // a coin flip that is more than the errors expected, which a reviewer would otherwise read as a contradiction.
    if ((c.flagged ?? 0) > errors) {
      parts[0] += " (more than the errors expected, to find more of them where labels are near a coin flip)";
    }
    parts.push(`about ${errors} wrong labels not yet reviewed`);
    if (c.calibrated) parts.push(`calibrated on ${c.reviewed} reviewed`);
    else if (c.reviewed) parts.push(`${c.reviewed} reviewed, not yet calibrated: ${uncalibrated(c)}`);
    else parts.push("not yet calibrated by reviews");
    // One in `top_every` items is the next top suspect; the others are audit draws (nblabel.quality.audit_slots).
    const n = c.top_every;
    if (audit && n > 1) {
      parts.push(`${n - 1} of every ${n} items are random checks, likelier the more suspicious: reviewing them calibrates these numbers`);
    }
  }
  const cells = matrixCells(c.noise_matrix, classes);
  if (cells.length) parts.push(`most confused: ${cells[0].given} → ${cells[0].likely} (${cells[0].count})`);
  return parts.join(" · ");
}

/**
 * What calibrating still takes (nblabel.quality.calibrate): enough reviews, enough of the suspects list's random
 * checks among them, and, when there are, a right label among the reviews (errors alone say nothing of the
 * labels below).
 */
function uncalibrated(c) {
  if (c.reviewed < c.min_reviews) {
    return `that takes ${c.min_reviews} reviews, ${c.min_audits} of them the suspects list's random checks`;
  }
  const audits = c.audits ?? 0;
  if (audits >= c.min_audits) return "every review so far found an error, which says nothing yet of the labels below them";
  return `that takes ${c.min_audits} of the suspects list's random checks (${audits} so far)`;
}

/** Non-zero cells of the noise matrix, largest first: {g, j, given, likely, count}. */
export function matrixCells(matrix, classes) {
  const out = [];
  (matrix || []).forEach((row, g) =>
    (row || []).forEach((count, j) => {
      if (count > 0) out.push({ g, j, given: classes[g] ?? String(g), likely: classes[j] ?? String(j), count });
    }),
  );
  return out.sort((a, b) => b.count - a.count || a.g - b.g || a.j - b.j);
}

/**
 * Build the panel. `browse(filter)` switches the grid to browse mode with that filter. Returns
 * {el, render(): void}; render() reads the model and shows the panel only in suspects mode.
 */
export function mountNoisePanel({ model, doc, browse }) {
  const el = doc.createElement("div");
  el.className = "nbl-noise";
  el.dataset.testid = "nbl-noise";
  const line = doc.createElement("div");
  line.dataset.testid = "nbl-noise-summary";
  const table = doc.createElement("table");
  table.dataset.testid = "nbl-noise-matrix";
  table.className = "nbl-noise-matrix";
  // Folded by default: with ten classes the matrix is as tall as the map, which a review needs in view.
  const fold = doc.createElement("details");
  fold.dataset.testid = "nbl-noise-fold";
  const summary = doc.createElement("summary");
  summary.textContent = "noise matrix: given × likely class of the flagged labels (click a count to list them)";
  fold.append(summary, table);
  el.append(line, fold);

  function render() {
    const classes = model.get("classes") || [];
    const counts = model.get("counts") || {};
    el.hidden = model.get("mode") !== "suspects";
    line.textContent = noiseSummary(counts, classes, { audit: !model.get("flagged_only") });
    const matrix = counts.noise_matrix || [];
    const used = new Set();
    matrixCells(matrix, classes).forEach(({ g, j }) => used.add(g).add(j));
    const shown = [...used].sort((a, b) => a - b);
    table.replaceChildren();
    fold.hidden = !shown.length;
    if (!shown.length) return;
    const head = doc.createElement("tr");
    const corner = doc.createElement("th");
    corner.textContent = "given ↓ likely →";
    head.appendChild(corner);
    for (const j of shown) {
      const th = doc.createElement("th");
      th.textContent = classes[j] ?? String(j);
      head.appendChild(th);
    }
    table.appendChild(head);
    for (const g of shown) {
      const tr = doc.createElement("tr");
      const th = doc.createElement("th");
      th.textContent = classes[g] ?? String(g);
      tr.appendChild(th);
      for (const j of shown) {
        const td = doc.createElement("td");
        const count = (matrix[g] || [])[j] || 0;
        if (count > 0) {
          const button = doc.createElement("button");
          button.textContent = String(count);
          button.dataset.testid = `nbl-noise-cell-${g}-${j}`;
          button.title = `${count} flagged: given ${classes[g] ?? g}, likely ${classes[j] ?? j}; show them`;
          button.addEventListener("click", () => browse(`flagged:${g}:${j}`));
          td.appendChild(button);
        }
        tr.appendChild(td);
      }
      table.appendChild(tr);
    }
  }

  return { el, render };
}
