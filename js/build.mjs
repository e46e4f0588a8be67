// Bundles js/src/widget.js (+ the CSS it imports) into one ESM file for anywidget: nblabel/static/widget.{js,css}.
// One self-contained file because anywidget loads the module from a string: relative chunks could not resolve.
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");

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
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
