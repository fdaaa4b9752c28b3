// The npm package as a user installs it: `npm pack` of pkg/, installed into a fresh Vite app,
// bundled with `vite build`, served and loaded in headless Chromium; events must arrive.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { startServer, launch, until } from "./harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let app, server, browser;

before(async () => {
  app = mkdtempSync(path.join(tmpdir(), "ferrotel-vite-"));
  const tgz = execFileSync("npm", ["pack", "--silent", "--pack-destination", app, path.join(root, "pkg")], { encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", "--loglevel=error", path.join(app, tgz)], { cwd: app });
  writeFileSync(path.join(app, "index.html"), `<!doctype html><body><button id="go" class="cta">Go</button><script type="module" src="/main.js"></script></body>`);
  writeFileSync(path.join(app, "main.js"), `import { init, ready, track } from "ferrotel";
    init({ endpoint: "/v1/batch", key: "pk_vite" }).then(ready).then(() => { track("vite-ready", { ok: true }); window.__ready = true; }, (e) => { window.__err = e.message; });`);
  await build({ root: app, logLevel: "silent", build: { outDir: path.join(app, "dist") } });
  server = await startServer({ "/": path.join(app, "dist") });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

test("a Vite app bundles the package and its events arrive", async () => {
  const assets = readdirSync(path.join(app, "dist", "assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), "Vite emitted the wasm as an asset: " + assets);
  const p = await browser.newPage();
  await p.goto(server.origin + "/");
  assert.equal(await until(() => p.evaluate(() => window.__ready || window.__err)), true);
  await p.click("#go");
  await p.goto(server.origin + "/nothing-here");
  const evs = await until(() => {
    const e = server.events();
    return e.some((x) => x.type === "click") ? e : null;
  });
  assert.ok(evs, "events arrived");
  assert.ok(evs.some((e) => e.type === "custom" && e.name === "vite-ready"));
  assert.ok(evs.some((e) => e.type === "click" && e.selector === "#go"));
  assert.ok(evs.every((e) => e._key === "pk_vite"));
});
