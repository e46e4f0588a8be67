// Bytes shipped: the plotly the widget bundled up to 0.2 (plotly_core.js: core + scattergl), nothing else.
import Plotly from "./plotly_core.js";

globalThis.Plotly = Plotly;
