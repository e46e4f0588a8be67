// Bundles the benchmark pages of bench/bench_map_renderers.py into bench/renderers/dist/ (git-ignored):
//   plotly.js, regl.js, widget.js   the page script per renderer: harness + adapter + renderer (what is timed)
//   lib-plotly.js, lib-regl.js  each renderer alone, minified like the widget's bundle (bytes shipped)
// Prints one JSON line: {lib-plotly: {bytes, gzip}, lib-regl: {...}}. Uses js/'s esbuild and node_modules.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const jsDir = path.resolve(here, "../../js");
const esbuild = await import(pathToFileURL(path.join(jsDir, "node_modules/esbuild/lib/main.js")).href);

const outdir = path.join(here, "dist");
await esbuild.build({
  entryPoints: {
    plotly: path.join(here, "plotly_entry.js"),
    regl: path.join(here, "regl_entry.js"),
    widget: path.join(here, "widget_entry.js"),
    "lib-plotly": path.join(here, "lib_plotly.js"),
    "lib-regl": path.join(here, "lib_regl.js"),
  },
  bundle: true,
  format: "iife",
  target: ["es2020"],
  outdir,
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  nodePaths: [path.join(jsDir, "node_modules")],
  // As js/build.mjs: plotly's registry require()s a maplibre stylesheet the partial build never uses, and
  // plotly's CommonJS sources expect browserify's `global`.
  loader: { ".css": "empty" },
  define: { global: "globalThis" },
});

const sizes = {};
for (const name of ["lib-plotly", "lib-regl"]) {
  const bytes = fs.readFileSync(path.join(outdir, `${name}.js`));
  sizes[name] = { bytes: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}
console.log(JSON.stringify(sizes));
