// Symbolication in workerd (Miniflare): source maps and wasm modules uploaded through
// PUT /v1/sourcemaps (with scripts/upload-sourcemaps.mjs), then errors from a real
// esbuild-minified bundle and a real rustc-built wasm module, thrown in V8, come back from D1
// (GET /v1/events) and from the OTLP receiver with their original positions and names.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";
import * as esbuild from "esbuild";
import { TraceMap, originalPositionFor } from "@jridgewell/trace-mapping";
import { startWorker, startReceiver, batch, post, until, TEST_SECRETS } from "./harness.mjs";
import { upload } from "../../scripts/upload-sourcemaps.mjs";

const UPLOAD_TOKEN = "test-upload-token-0123456789abcdef0123";
const RELEASE = "1.2.3";
const APP_URL = "https://shop.test/assets/app.min.js";
const WASM_URL = "https://shop.test/pkg/app_bg.wasm";

/** The app's sources: `explode` throws, called by `handleClick`, called by `run`. */
const SOURCES = {
  "util.js": `export function explode(message) {\n  throw new TypeError("boom: " + message);\n}\n`,
  "app.js": `import { explode } from "./util.js";\n\nexport function handleClick(label) {\n  const total = label.length * 2;\n  return explode(label + total);\n}\n\nglobalThis.run = () => handleClick("buy");\n`,
};

/** A Rust crate `shop`: `run` calls `checkout_total`, which traps for n > 3. */
const RUST = `#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { core::arch::wasm32::unreachable() }
#[inline(never)]
fn checkout_total(n: u32) -> u32 {
    if n > 3 { core::arch::wasm32::unreachable() }
    n * 2
}
#[no_mangle]
pub extern "C" fn run(n: u32) -> u32 { checkout_total(n) + 1 }
`;

/** The module without its `name` section (what a release build ships). */
function stripNames(b) {
  const out = [b.subarray(0, 8)];
  let i = 8;
  const leb = () => { let r = 0, s = 0, x; do { x = b[i++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r; };
  while (i < b.length) {
    const start = i, id = b[i++], size = leb(), body = i;
    i = body + size;
    if (id === 0) {
      const end = i;
      i = body;
      const n = leb();
      const name = Buffer.from(b.subarray(i, i + n)).toString();
      i = end;
      if (name === "name") continue;
    }
    out.push(b.subarray(start, i));
  }
  return Buffer.concat(out);
}

const errorEvent = (stack, message = "boom") => ({
  type: "error", url: "https://shop.test/", source: "error", "exception.type": "TypeError", "exception.message": message, "exception.stacktrace": stack,
});

/** A batch of `events` from release `release`; resolves to the events' ids. */
async function send(w, events, release = RELEASE) {
  const b = JSON.parse(batch({ events }));
  if (release) b.release = release;
  const res = await post(w.url, JSON.stringify(b));
  assert.equal(res.status, 204, await res.text());
  return b.events.map((e) => e.id);
}

/** The stored event `id`, as GET /v1/events returns it. */
async function stored(w, id) {
  return until(async () => {
    const res = await fetch(`${w.url}/v1/events?type=error&limit=1000`, { headers: { authorization: `Bearer ${TEST_SECRETS.READ_TOKEN}` } });
    return (await res.json()).events.find((e) => e.id === id);
  });
}

/** The forwarded log record of event `id`, its attributes as an object (kvlists as objects). */
async function forwarded(receiver, id) {
  const value = (v) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue
    ?? (v.arrayValue ? v.arrayValue.values.map(value) : v.kvlistValue ? Object.fromEntries(v.kvlistValue.values.map((kv) => [kv.key, value(kv.value)])) : undefined));
  return until(() => {
    for (const r of receiver.requests) {
      for (const rl of JSON.parse(r.body).resourceLogs) for (const sl of rl.scopeLogs) for (const lr of sl.logRecords) {
        const attrs = Object.fromEntries(lr.attributes.map((kv) => [kv.key, value(kv.value)]));
        if (attrs["event.id"] === id) return attrs;
      }
    }
    return null;
  });
}

describe("symbolication", () => {
  let w, receiver, dir, map, minifiedStack, wasmStack;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ferrotel-sym-"));
    mkdirSync(path.join(dir, "src"));
    for (const [f, text] of Object.entries(SOURCES)) writeFileSync(path.join(dir, "src", f), text);
    // The app, bundled and minified by esbuild with an external source map.
    await esbuild.build({
      entryPoints: [path.join(dir, "src/app.js")], bundle: true, minify: true, sourcemap: "external", format: "iife", logLevel: "silent",
      outfile: path.join(dir, "dist/assets/app.min.js"),
    });
    const js = readFileSync(path.join(dir, "dist/assets/app.min.js"), "utf8");
    map = new TraceMap(readFileSync(path.join(dir, "dist/assets/app.min.js.map"), "utf8"));
    assert.doesNotMatch(js, /handleClick|explode/, "the bundle is minified");
    // Thrown in V8 as a page would: the bundle at its URL, called from another script.
    const ctx = vm.createContext({});
    new vm.Script(js, { filename: APP_URL }).runInContext(ctx);
    new vm.Script("try { run() } catch (e) { globalThis.stack = e.stack }", { filename: "https://cdn.test/boot.js" }).runInContext(ctx);
    // Up to the page's outermost script (the frames below it are Node's own, not a page's).
    minifiedStack = ctx.stack.split("\n").slice(0, 5).join("\n");
    assert.match(minifiedStack, /app\.min\.js:1:\d+/);
    // The Rust crate, built with rustc; the named module is uploaded, the stripped one traps.
    mkdirSync(path.join(dir, "dist/pkg"));
    writeFileSync(path.join(dir, "src/shop.rs"), RUST);
    execFileSync("rustc", ["--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "--crate-name", "shop", "-C", "opt-level=1", "-C", "debuginfo=0",
      "-o", path.join(dir, "dist/pkg/app_bg.wasm"), path.join(dir, "src/shop.rs")]);
    const shipped = stripNames(readFileSync(path.join(dir, "dist/pkg/app_bg.wasm")));
    const { instance } = await WebAssembly.instantiate(shipped);
    try { instance.exports.run(9); } catch (e) { wasmStack = e.stack; }
    assert.match(wasmStack, /wasm:\/\/wasm\/[0-9a-f]+:wasm-function\[\d+\]:0x[0-9a-f]+/, "V8's frames of a module compiled from bytes");
    assert.doesNotMatch(wasmStack, /checkout_total/, "the shipped module has no names");

    receiver = await startReceiver();
    w = await startWorker({ vars: { UPLOAD_TOKEN, OTLP_ENDPOINT: receiver.url } });
  });
  after(async () => {
    await w?.stop();
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const put = (query, body, token = UPLOAD_TOKEN) =>
    fetch(`${w.url}/v1/sourcemaps?${query}`, { method: "PUT", body, headers: token ? { authorization: `Bearer ${token}` } : {} });

  test("uploads need the token, a release, a URL and a readable map or module", async () => {
    const body = readFileSync(path.join(dir, "dist/assets/app.min.js.map"));
    const q = `release=${RELEASE}&url=${encodeURIComponent(APP_URL)}`;
    for (const token of [null, "wrong-token-0123456789abcdef0123456789"]) {
      const res = await put(q, body, token);
      assert.equal(res.status, 401);
      assert.equal((await res.json()).field, "authorization");
    }
    const cases = [
      [await put(q, "this is not a source map"), 400, /not a source map/],
      [await put(q, '{"version":3,"sources":[],"names":[],"mappings":""}'), 400, /no mappings/],
      [await put(q, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 9])), 400, /wasm module/],
      [await put(q, stripNames(readFileSync(path.join(dir, "dist/pkg/app_bg.wasm")))), 400, /no function names/],
      [await put(`url=${encodeURIComponent(APP_URL)}`, body), 400, /^release: required/],
      [await put(`release=${RELEASE}`, body), 400, /^url: required/],
    ];
    for (const [res, status, reason] of cases) {
      assert.equal(res.status, status);
      const j = await res.json();
      assert.match(j.field ? `${j.field}: ${j.reason}` : j.reason, reason, JSON.stringify(j));
    }
    const get = await fetch(`${w.url}/v1/sourcemaps`, { headers: { authorization: `Bearer ${UPLOAD_TOKEN}` } });
    assert.equal(get.status, 405);
    assert.equal((await w.rows("SELECT * FROM artifacts")).length, 0, "nothing refused was stored");
  });

  test("the upload script stores a build's source map and wasm module", async () => {
    const results = await upload({ endpoint: w.url, token: UPLOAD_TOKEN, release: RELEASE, prefix: "https://shop.test/", dir: path.join(dir, "dist") });
    assert.deepEqual(results.map((r) => [r.url, r.status, r.answer.kind]).sort(), [[APP_URL, 201, "sourcemap"], [WASM_URL, 201, "wasm"]]);
    const rows = await w.rows("SELECT release, url, kind, chunks FROM artifacts ORDER BY url");
    assert.deepEqual(rows.map((r) => [r.release, r.url, r.kind, r.chunks]), [[RELEASE, APP_URL, "sourcemap", 1], [RELEASE, WASM_URL, "wasm", 1]]);
    // The same bytes again: replaced, not duplicated.
    await upload({ endpoint: w.url, token: UPLOAD_TOKEN, release: RELEASE, prefix: "https://shop.test/", dir: path.join(dir, "dist") });
    assert.equal((await w.rows("SELECT * FROM artifact_chunks")).length, 2);
  });

  test("a minified frame is stored and forwarded at its original position, as the source-map oracle says", async () => {
    const [id] = await send(w, [errorEvent(minifiedStack)]);
    const positions = [...minifiedStack.matchAll(/app\.min\.js:(\d+):(\d+)/g)].map((m) => ({ line: +m[1], column: +m[2] }));
    assert.equal(positions.length, 3);
    const oracle = positions.map((p) => originalPositionFor(map, { line: p.line, column: p.column - 1 }));
    const event = await stored(w, id);
    const record = await forwarded(receiver, id);
    for (const frames of [event.stack_frames, record["ferrotel.stack_frames"]]) {
      assert.equal(frames.length, 4, JSON.stringify(frames));
      for (let i = 0; i < 3; i++) {
        const f = frames[i], o = oracle[i];
        assert.equal(f.symbolicated, true, JSON.stringify(f));
        assert.deepEqual([f.file, f.line, f.column], [o.source, o.line, o.column + 1], `frame ${i}`);
      }
      // A frame's function is named at its caller's call site (the oracle, one frame out).
      assert.equal(frames[0].function, oracle[1].name);
      assert.equal(frames[1].function, oracle[2].name);
      assert.deepEqual([frames[0].function, frames[1].function], ["explode", "handleClick"]);
      assert.equal(frames[0].file, "../../src/util.js", "as the map names it (relative to app.min.js)");
      assert.equal(frames[0].line, 2, "the throw in util.js");
      // The script without a map stays as it was, and says why.
      assert.deepEqual([frames[3].file, frames[3].symbolicated, frames[3].reason], ["https://cdn.test/boot.js", false, "not_uploaded"]);
    }
    assert.deepEqual(
      [event["code.function.name"], event["code.file.path"], event["code.line.number"], event["code.column.number"]],
      ["explode", "../../src/util.js", oracle[0].line, oracle[0].column + 1],
    );
    assert.equal(record["code.function.name"], "explode");
    assert.equal(record["code.line.number"], oracle[0].line);
    for (const text of [event["exception.stacktrace"], record["exception.stacktrace"]]) {
      assert.match(text, /^TypeError: boom: buy6\n {4}at explode \(\.\.\/\.\.\/src\/util\.js:2:\d+\)\n {4}at handleClick \(\.\.\/\.\.\/src\/app\.js:5:\d+\)/);
      assert.match(text, /at https:\/\/cdn\.test\/boot\.js:1:7$/);
    }
    assert.equal(event.raw_stacktrace, minifiedStack, "the minified stack is kept");
    assert.equal(event.symbolicated, false, "not every in-app frame could be mapped (boot.js has no map)");
  });

  test("wasm-function[N] frames read as the Rust functions, with or without the module's URL", async () => {
    // Chrome compiling from bytes prints wasm://wasm/<hash>; from a URL (instantiateStreaming)
    // the URL itself, in the same V8 format.
    const hashed = wasmStack;
    const fromUrl = wasmStack.replace(/wasm:\/\/wasm\/[0-9a-f]+/g, WASM_URL);
    const firefox = fromUrl.split("\n").filter((l) => l.includes("wasm-function")).map((l) => "@" + l.trim().replace(/^at /, "")).join("\n");
    const ids = await send(w, [errorEvent(hashed, "unreachable"), errorEvent(fromUrl, "unreachable"), errorEvent(firefox, "unreachable")]);
    for (const id of ids) {
      const event = await stored(w, id);
      const record = await forwarded(receiver, id);
      for (const frames of [event.stack_frames, record["ferrotel.stack_frames"]]) {
        const wasm = frames.filter((f) => f.wasm_function !== undefined);
        assert.deepEqual(wasm.map((f) => [f.function, f.symbolicated]), [["shop::checkout_total", true], ["run", true]], JSON.stringify(frames));
      }
      assert.match(event["exception.stacktrace"], /shop::checkout_total \(.*wasm-function\[\d+\]:0x[0-9a-f]+\)|shop::checkout_total@/);
    }
  });

  test("without a map or a release, frames stay as they were and say why", async () => {
    const [other] = await send(w, [errorEvent(minifiedStack)], "9.9.9");
    const [none] = await send(w, [errorEvent(minifiedStack)], null);
    for (const [id, reason] of [[other, "not_uploaded"], [none, "no_release"]]) {
      const event = await stored(w, id);
      assert.equal(event["exception.stacktrace"], minifiedStack);
      assert.equal(event.raw_stacktrace, undefined);
      assert.equal(event.symbolicated, false);
      assert.deepEqual(event.stack_frames.slice(0, 3).map((f) => [f.file, f.symbolicated, f.reason]), Array(3).fill([APP_URL, false, reason]));
      assert.equal(event["code.file.path"], APP_URL, "code.* as parsed at the door");
      const record = await forwarded(receiver, id);
      assert.equal(record["ferrotel.stack_frames"][0].reason, reason);
    }
    // A message naming many files loads at most 8 from D1: the rest say so (a query budget).
    const run = Date.now().toString(36);
    const many = ["Error: x", ...Array.from({ length: 10 }, (_, i) => `    at f${i} (https://cdn.test/${run}/lib${i}.js:1:${i + 1})`)].join("\n");
    const [id] = await send(w, [errorEvent(many)]);
    const event = await stored(w, id);
    assert.deepEqual(event.stack_frames.map((f) => f.reason), [...Array(8).fill("not_uploaded"), "too_many_files", "too_many_files"]);
  });
});
