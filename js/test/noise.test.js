// @vitest-environment jsdom
import { describe, expect, it } from "vitest";
import { matrixCells, mountNoisePanel, noiseSummary } from "../src/noise.js";
import { MENUS, MockModel } from "./mock-model.js";


const XSS = "<img src=x onerror=alert(1)>";

describe("noise panel", () => {
  const counts = {
    flagged: 7, noise_rate: 0.0512, noise_low: 0.04, noise_high: 0.062, errors_unreviewed: 41.6, reviewed: 50,
    calibrated: true, top_every: 3, audits: 30, min_audits: 10, min_reviews: 20,
    noise_matrix: [[0, 2, 0], [0, 0, 0], [5, 0, 0]],
  };

  it("summarises the estimate and lists cells largest first", () => {
    const text = noiseSummary(counts, ["a", "b", XSS]);
    expect(text).toContain("7 flagged");
    expect(text).not.toContain("more than the errors expected");
    // More flags than errors expected (weak evidence: the count that maximises the expected F1) says why.
    expect(noiseSummary({ ...counts, flagged: 60 }, [])).toContain(
      "60 flagged (more than the errors expected, to find more of them where labels are near a coin flip) · ",
    );
    expect(text).toContain("estimated noise 5.1 % (95 %: 4.0 %–6.2 %)");
    expect(text).toContain("about 42 wrong labels not yet reviewed");
    expect(text).toContain("calibrated on 50 reviewed");
    // Reviews by lasso or page review few random checks: nothing was calibrated, and the panel says what it takes.
    expect(noiseSummary({ ...counts, calibrated: false, audits: 3 }, ["a", "b", "c"])).toContain(
      "50 reviewed, not yet calibrated: that takes 10 of the suspects list's random checks (3 so far)",
    );
    // Enough random checks, but every review an error: the reviewer is doing the checks already.
    const allWrong = noiseSummary({ ...counts, calibrated: false }, ["a", "b", "c"]);
    expect(allWrong).toContain(
      "50 reviewed, not yet calibrated: every review so far found an error, which says nothing yet of the labels below them",
    );
    expect(allWrong).not.toContain("that takes");
    // Under min_reviews nothing is calibrated yet, whatever the reviews were: the count and what it takes.
    expect(noiseSummary({ ...counts, calibrated: false, reviewed: 4, audits: 0 }, [])).toContain(
      "4 reviewed, not yet calibrated: that takes 20 reviews, 10 of them the suspects list's random checks",
    );
    expect(noiseSummary({ ...counts, calibrated: false, reviewed: 0 }, [])).toContain("not yet calibrated by reviews");
    expect(matrixCells(counts.noise_matrix, ["a", "b", "c"]).map((c) => [c.g, c.j, c.count])).toEqual([
      [2, 0, 5],
      [0, 1, 2],
    ]);
    expect(text).not.toContain("random check"); // the flagged-only list has no audit draws
    expect(noiseSummary(counts, ["a", "b", "c"], { audit: true })).toContain(
      "2 of every 3 items are random checks, likelier the more suspicious: reviewing them calibrates these numbers",
    );
    expect(noiseSummary({ flagged: 0 }, [], { audit: true })).toBe("0 flagged"); // no estimate, nothing to check
    expect(noiseSummary({ flagged: 0 }, [])).toBe("0 flagged");
  });

  it("shows only in suspects mode, as text, and a cell browses its items", () => {
    const model = new MockModel({
    options: MENUS, classes: ["a", "b", XSS], counts, mode: "browse" });
    const calls = [];
    const panel = mountNoisePanel({ model, doc: document, browse: (f) => calls.push(f) });
    document.body.appendChild(panel.el);
    panel.render();
    expect(panel.el.hidden).toBe(true);
    model.traits.mode = "suspects";
    panel.render();
    expect(panel.el.hidden).toBe(false);
    expect(panel.el.querySelector("img")).toBeNull(); // the class name stays text
    expect(panel.el.textContent).toContain(XSS);
    const cell = panel.el.querySelector('[data-testid="nbl-noise-cell-2-0"]');
    expect(cell.textContent).toBe("5");
    cell.click();
    expect(calls).toEqual(["flagged:2:0"]);
    expect(panel.el.querySelectorAll("button").length).toBe(2);
  });
});
