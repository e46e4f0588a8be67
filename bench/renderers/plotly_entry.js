// The widget's map up to 0.2 (plotly_map.js: plotly scattergl, one trace per colour group) behind the
// benchmark's renderer interface (see harness.js install). It is fed as view.js fed it: splitXY of the wire
// coordinates, colour groups of the class codes, setColors then setPoints.
import Plotly from "./plotly_core.js";
import { createScatter, groupsOf as groupsOfCodes } from "./plotly_map.js";
import { colorCodes } from "../../js/src/colors.js";
import { splitXY } from "../../js/src/codecs.js";
import { CLASSES, install } from "./harness.js";

const groupsOf = (codes) => groupsOfCodes(colorCodes({ given: codes, predicted: codes }, "predicted", CLASSES));

install({
  name: "plotly",
  create(el, onSelect) {
    const scatter = createScatter(el, { onSelect, onHover() {}, onUnhover() {}, onClick() {} });
    let relayoutAt = 0;
    return {
      async draw(xy, codes) {
        const { x, y } = splitXY(xy);
        scatter.setColors(groupsOf(codes));
        await scatter.setPoints(x, y);
        el.on("plotly_relayout", () => {
          relayoutAt = performance.now();
        });
      },
      recolour(codes) {
        return scatter.setColors(groupsOf(codes));
      },
      toPage(x, y) {
        const box = el.getBoundingClientRect();
        const { xaxis, yaxis } = el._fullLayout;
        return [box.left + xaxis._offset + xaxis.l2p(x), box.top + yaxis._offset + yaxis.l2p(y)];
      },
      setMode(mode) {
        return Plotly.relayout(el, { dragmode: mode }).then(() => null);
      },
      clearSelection() {
        return Plotly.update(el, { selectedpoints: [null] }, { selections: [] }).then(() => null);
      },
      resetView() {
        return Plotly.relayout(el, { "xaxis.autorange": true, "yaxis.autorange": true }).then(() => null);
      },
      // After a drag or a wheel plotly redraws the whole plot with the new ranges, then emits plotly_relayout
      // (at once on a mouse-up, after a short timer on a wheel): wait for one later than the input at `since`.
      async settled(since, timeoutMs) {
        const t0 = performance.now();
        while (relayoutAt <= since && performance.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 5));
      },
    };
  },
});
