// The plotly parts the widget's old map (plotly_map.js) bundled, and nothing else: the core and the WebGL
// scatter trace. The whole of plotly.js-dist-min is 4.6 MB; this partial build is about 1.3 MB.
import Plotly from "plotly.js/lib/core";
import scattergl from "plotly.js/lib/scattergl";

Plotly.register([scattergl]);

export default Plotly;
