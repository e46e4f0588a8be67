// Bytes shipped: regl-scatterplot with its dependencies (regl, pub-sub-es, ...), nothing else.
import createScatterplot from "regl-scatterplot";

globalThis.createScatterplot = createScatterplot;
