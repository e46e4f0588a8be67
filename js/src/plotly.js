// The plotly parts the map uses, and nothing else: the core and the WebGL scatter trace. The whole of
// plotly.js-dist-min is 4.6 MB and anywidget sends the bundle with every display; this partial build is
// about 1.3 MB. Charts that need more trace types register them here.
import Plotly from "plotly.js/lib/core";
import scattergl from "plotly.js/lib/scattergl";

Plotly.register([scattergl]);

export default Plotly;
