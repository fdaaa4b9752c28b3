#!/usr/bin/env node
// Uploads a build's source maps and wasm modules to the ferrotel ingest Worker, for
// symbolication (README "Symbolicated stacks").
//
//   FERROTEL_UPLOAD_TOKEN=… node scripts/upload-sourcemaps.mjs \
//     --endpoint https://ingest.example --release 1.2.3 --url-prefix https://shop.example/assets/ dist/
//
// Walks the directory: every `X.map` is uploaded as the map of `X` (the minified file, whose
// URL is the prefix plus its path in the directory), every `.wasm` as a module (it must still
// have its `name` section: upload the build before stripping it). `--url-prefix ~/assets/`
// matches any origin. Exits non-zero if any upload is refused, printing the Worker's reason.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";

const usage = "usage: FERROTEL_UPLOAD_TOKEN=… node scripts/upload-sourcemaps.mjs --endpoint URL --release R --url-prefix PREFIX DIR";

/** Files under `dir`, as paths relative to it (with `/`). */
async function walk(dir, rel = "") {
  const out = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** What would be uploaded from `dir`: `[{ file, url }]` (`file` relative to `dir`). */
export async function plan(dir, prefix) {
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const files = await walk(dir);
  return files
    .filter((f) => f.endsWith(".map") || f.endsWith(".wasm"))
    .map((f) => ({ file: f, url: base + (f.endsWith(".map") ? f.slice(0, -4) : f) }));
}

/** Uploads every planned file; resolves to `[{ file, url, status, answer }]`. */
export async function upload({ endpoint, token, release, prefix, dir }) {
  const results = [];
  for (const { file, url } of await plan(dir, prefix)) {
    const body = await readFile(path.join(dir, file));
    const target = new URL("/v1/sourcemaps", endpoint);
    target.searchParams.set("release", release);
    target.searchParams.set("url", url);
    const res = await fetch(target, { method: "PUT", body, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    let answer;
    try { answer = JSON.parse(text); } catch { answer = { reason: text }; }
    results.push({ file, url, status: res.status, answer });
  }
  return results;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { endpoint: { type: "string" }, release: { type: "string" }, "url-prefix": { type: "string" } },
    allowPositionals: true,
  });
  const token = process.env.FERROTEL_UPLOAD_TOKEN;
  if (!values.endpoint || !values.release || !values["url-prefix"] || positionals.length !== 1 || !token) {
    console.error(usage);
    process.exit(2);
  }
  const results = await upload({ endpoint: values.endpoint, token, release: values.release, prefix: values["url-prefix"], dir: positionals[0] });
  let failed = 0;
  for (const r of results) {
    if (r.status === 201) console.log(`${r.file} -> ${r.url}: ${r.answer.kind}, ${r.answer.summary}`);
    else {
      failed++;
      console.error(`${r.file} -> ${r.url}: ${r.status} ${r.answer.reason ?? ""}`);
    }
  }
  if (results.length === 0) console.error("nothing to upload (no .map or .wasm files)");
  process.exit(failed || results.length === 0 ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
