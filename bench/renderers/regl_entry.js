// regl-scatterplot (the renderer of jupyter-scatter) behind the benchmark's renderer interface (see
// harness.js install), fed from the same wire arrays as the widget's map: coordinates scaled into [-1, 1]
// (regl-scatterplot wants normalized device coordinates) with one scale for both axes, as the widget's map
// keeps the aspect ratio, and the class code as the categorical `valueA` that picks the colour.
import createScatterplot from "regl-scatterplot";
import { PALETTE } from "../../js/src/colors.js";
import { CLASSES, install } from "./harness.js";

install({
  name: "regl-scatterplot",
  create(el, onSelect) {
    const box = el.getBoundingClientRect();
    const canvas = document.createElement("canvas");
    canvas.style.width = `${box.width}px`;
    canvas.style.height = `${box.height}px`;
    el.appendChild(canvas);
    const plot = createScatterplot({
      canvas,
      width: box.width,
      height: box.height,
      backgroundColor: "#ffffff",
      pointSize: 5,
      colorBy: "valueA",
      pointColor: PALETTE.slice(0, CLASSES),
      // Take every mouse position of the lasso (the defaults drop moves closer than 15 ms / 4 px apart).
      lassoMinDelay: 0,
      lassoMinDist: 1,
    });
    plot.subscribe("select", ({ points }) => onSelect(points));
    let x = null;
    let y = null;
    let centre = [0, 0];
    let scale = 1;
    let spatialIndex;
    return {
      async draw(xy, codes) {
        const n = codes.length;
        let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
        for (let i = 0; i < n; i++) {
          x0 = Math.min(x0, xy[2 * i]); x1 = Math.max(x1, xy[2 * i]);
          y0 = Math.min(y0, xy[2 * i + 1]); y1 = Math.max(y1, xy[2 * i + 1]);
        }
        centre = [(x0 + x1) / 2, (y0 + y1) / 2];
        scale = (1.05 * Math.max(x1 - x0, y1 - y0)) / 2 || 1;
        x = new Float32Array(n);
        y = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          x[i] = (xy[2 * i] - centre[0]) / scale;
          y[i] = (xy[2 * i + 1] - centre[1]) / scale;
        }
        await plot.draw({ x, y, valueA: codes }, { zDataType: "categorical" });
        spatialIndex = plot.get("spatialIndex");
      },
      // New colours only: the positions and their spatial index are reused (regl-scatterplot's documented way).
      recolour(codes) {
        return plot.draw({ x, y, valueA: codes }, { zDataType: "categorical", spatialIndex, preventFilterReset: true });
      },
      toPage(dx, dy) {
        // Clip space of the square canvas: the camera's view matrix (column-major 4x4) times the point.
        const m = plot.get("cameraView");
        const nx = (dx - centre[0]) / scale;
        const ny = (dy - centre[1]) / scale;
        const vx = m[0] * nx + m[4] * ny + m[12];
        const vy = m[1] * nx + m[5] * ny + m[13];
        const r = canvas.getBoundingClientRect();
        return [r.left + (r.width * (vx + 1)) / 2, r.top + r.height * (0.5 - vy / 2)];
      },
      setMode(mode) {
        plot.set({ mouseMode: mode === "lasso" ? "lasso" : "panZoom" });
        return null;
      },
      clearSelection() {
        plot.deselect({ preventEvent: true });
        return null;
      },
      resetView() {
        plot.reset();
        return null;
      },
      // regl-scatterplot draws every camera change in its own animation frame; nothing is deferred.
      settled(_since, _timeoutMs) {
        return Promise.resolve();
      },
    };
  },
});
