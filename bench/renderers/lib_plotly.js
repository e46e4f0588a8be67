// Bytes shipped: the plotly the widget bundles (js/src/plotly.js: core + scattergl), nothing else.
import Plotly from "../../js/src/plotly.js";

globalThis.Plotly = Plotly;
