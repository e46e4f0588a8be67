// Bundles js/src/widget.js (+ the CSS it imports) into one ESM file for anywidget: nblabel/static/widget.{js,css}.
// One self-contained file because anywidget loads the module from a string: relative chunks could not resolve.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");

// plotly's registry require()s maplibre's 64 KB stylesheet for its map traces; the map traces are not in the
// partial build (src/plotly.js), so the sheet would only add bytes to every display.
const noMaplibreCss = {
  name: "no-maplibre-css",
  setup(build) {
    build.onResolve({ filter: /maplibre-gl\.css$/ }, () => ({ path: "maplibre-gl.css", namespace: "empty" }));
    build.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "", loader: "css" }));
  },
};
const options = {
  entryPoints: { widget: "src/widget.js" },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  outdir: "../nblabel/static",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
  plugins: [noMaplibreCss],
  // plotly's sources are CommonJS written for browserify, which provided node's `global`.
  define: { global: "globalThis" },
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
