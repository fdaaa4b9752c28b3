// Prints what a visitor downloads: the wasm (after wasm-opt -Oz) and the JS (the package's
// entry, glue and snippets bundled and minified with esbuild, as a user's bundler would),
// raw, gzip (level 9) and brotli (quality 11). Usage: node scripts/size-report.mjs [pkg-dir]
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { build } from "esbuild";
import path from "node:path";

const dir = process.argv[2] || "pkg";
const js = (await build({
  entryPoints: [path.join(dir, "index.js")],
  bundle: true,
  minify: true,
  format: "esm",
  write: false,
  logLevel: "silent",
  // The wasm is fetched by URL at run time, not bundled.
  external: ["*.wasm"],
})).outputFiles[0].contents;
const wasm = readFileSync(path.join(dir, "ferrotel_bg.wasm"));

const sizes = (buf) => ({
  raw: buf.length,
  gzip: gzipSync(buf, { level: 9 }).length,
  brotli: brotliCompressSync(buf, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length },
  }).length,
});
const w = sizes(wasm), j = sizes(js);
const total = { raw: w.raw + j.raw, gzip: w.gzip + j.gzip, brotli: w.brotli + j.brotli };
const row = (name, s) => `${name.padEnd(22)}${String(s.raw).padStart(9)}${String(s.gzip).padStart(9)}${String(s.brotli).padStart(9)}`;
console.log(`\nferrotel shipped size (bytes)\n${"".padEnd(22)}${"raw".padStart(9)}${"gzip".padStart(9)}${"brotli".padStart(9)}`);
console.log(row("wasm (wasm-opt -Oz)", w));
console.log(row("js (esbuild --minify)", j));
console.log(row("total", total));
const budget = 10_000;
console.log(`brotli total vs budget ${budget}: ${(total.brotli / budget).toFixed(2)}x`);
const refs = { "web-vitals 6.2.3": 2939, "@sentry/browser 11.12 (errors)": 28243, "Grafana Faro 2.12.1": 36115, "Datadog RUM 7.16.2": 58055, "posthog-js 1.449.2": 106054 };
for (const [k, v] of Object.entries(refs)) console.log(`  vs ${k.padEnd(32)} ${v.toString().padStart(7)} B brotli: ${(total.brotli / v).toFixed(2)}x`);
writeFileSync(path.join(dir, "size.json"), JSON.stringify({ wasm: w, js: j, total }, null, 2));
