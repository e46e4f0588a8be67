// The widget's map as the widget runs it (js/src/scatter.js: regl-scatterplot on the page's shared WebGL
// context, the mode toolbar, in-place recolours) behind the benchmark's renderer interface (see harness.js
// install). It is fed as view.js feeds it: splitXY of the wire coordinates, colorCodes of the class codes,
// setColors then setPoints. Its test hook (el.nblabelMap) gives the view and the time of our own code in a
// recolour, apart from regl-scatterplot's frame.
import { splitXY } from "../../js/src/codecs.js";
import { colorCodes } from "../../js/src/colors.js";
import { createScatter } from "../../js/src/scatter.js";
import { CLASSES, install } from "./harness.js";

const codesOf = (codes) => colorCodes({ given: codes, predicted: codes }, "predicted", CLASSES);

install({
  name: "widget",
  create(el, onSelect) {
    const scatter = createScatter(el, { onSelect, onHover() {}, onUnhover() {}, onClick() {} });
    const hook = () => el.nblabelMap;
    return {
      async draw(xy, codes) {
        const { x, y } = splitXY(xy);
        scatter.setColors(codesOf(codes));
        await scatter.setPoints(x, y);
      },
      recolour(codes) {
        return scatter.setColors(codesOf(codes));
      },
      /** Milliseconds of our code in the last recolour (colour codes in place, the draw call), not the frame. */
      ourRecolourMs() {
        return hook().view().timings.colors?.js ?? null;
      },
      toPage(x, y) {
        const { left, top, width, height, xrange, yrange } = hook().view();
        return [left + ((x - xrange[0]) / (xrange[1] - xrange[0])) * width, top + ((yrange[1] - y) / (yrange[1] - yrange[0])) * height];
      },
      setMode(mode) {
        el.querySelector(`[data-testid="nbl-map-${mode}"]`).click();
        return null;
      },
      clearSelection() {
        return scatter.setHighlight([]).then(() => null);
      },
      resetView() {
        return scatter.resetView().then(() => null);
      },
      // regl-scatterplot draws every camera change in its own animation frame; nothing is deferred.
      settled(_since, _timeoutMs) {
        return Promise.resolve();
      },
    };
  },
});
