// Renames the module every import of a wasm module comes from, in place:
//   node scripts/wasm-imports.mjs <file.wasm> <module>
// scripts/build-pkg.sh calls it with "g" once the package's own loader is known to work: the
// module then imports glue.js's functions as `g.text`, `g.send`, ... instead of under the
// 60-character snippet path wasm-bindgen gives them (once per import: 90 B brotli). Only
// function imports are expected (the module holds no JavaScript value); anything else fails.
import { readFileSync, writeFileSync } from "node:fs";

const [file, to] = process.argv.slice(2);
if (!file || !to) throw new Error("usage: node scripts/wasm-imports.mjs <file.wasm> <module>");
const b = readFileSync(file);
const leb = (i) => {
  let r = 0, s = 0, c;
  do { c = b[i++]; r += (c & 0x7f) * 2 ** s; s += 7; } while (c & 0x80);
  return [r, i];
};
const enc = (n) => {
  const o = [];
  do { let c = n % 128; n = Math.floor(n / 128); if (n) c |= 0x80; o.push(c); } while (n);
  return Buffer.from(o);
};
const name = Buffer.from(to);
const parts = [b.subarray(0, 8)];
for (let i = 8; i < b.length;) {
  const id = b[i], [size, start] = leb(i + 1), end = start + size;
  if (id !== 2) { parts.push(b.subarray(i, end)); i = end; continue; }
  let [n, k] = leb(start);
  const body = [enc(n)];
  for (let e = 0; e < n; e++) {
    const [moduleLen, at] = leb(k);
    const field = at + moduleLen;
    const [fieldLen, kindAt] = leb(field);
    if (b[kindAt + fieldLen] !== 0) throw new Error("wasm-imports: an import that is not a function");
    const [, next] = leb(kindAt + fieldLen + 1); // the function's type index
    body.push(enc(name.length), name, b.subarray(field, next));
    k = next;
  }
  if (k !== end) throw new Error("wasm-imports: the import section did not parse");
  const payload = Buffer.concat(body);
  parts.push(Buffer.from([2]), enc(payload.length), payload);
  i = end;
}
const out = Buffer.concat(parts);
new WebAssembly.Module(out); // still valid
writeFileSync(file, out);
