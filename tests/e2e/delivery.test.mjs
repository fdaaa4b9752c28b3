// End to end: delivery against an ingest that fails, and the vitals that need real input. The
// built npm package in headless Chromium sends with real fetch/sendBeacon to a local server
// whose answers each test chooses (503 outages, 429 with Retry-After), across real page loads.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, until } from "./harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const page = (body = "") => `<!doctype html><html><head><title>t</title>
<style>#slow { font-size: 20px; padding: 8px }</style></head><body>
<main id="app"><h1>Shop</h1><p id="para">${"lorem ipsum ".repeat(300)}</p>
<button id="slow">Slow button</button></main>
<script type="module">
import { init, ready, track, flush } from "/pkg/index.js";
window.track = track; window.flush = flush;
await init({ endpoint: "/v1/batch", key: "pk_e2e", flushIntervalMs: 500 });
await ready();
window.__ready = true;
${body}
</script></body></html>`;

let server, browser;
before(async () => {
  server = await startServer({ "/pkg/": path.join(root, "pkg") }, {
    "/": page(),
    "/vitals": page(`
      window.shift = () => { const d = document.createElement("div"); d.style.height = "300px"; d.textContent = "banner"; document.getElementById("app").prepend(d); };
      document.getElementById("slow").addEventListener("click", () => { const end = performance.now() + 300; while (performance.now() < end) {} document.getElementById("slow").textContent = "done"; });`),
    "/leave": "<!doctype html><p>bye</p>",
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function open(ctx, route = "/") {
  const p = await ctx.newPage();
  await p.goto(server.origin + route);
  await until(() => p.evaluate(() => window.__ready));
  return p;
}

const tracked = (names) => server.accepted().filter((e) => e.type === "custom" && names.includes(e.name));

test("an ingest outage of several seconds loses nothing and duplicates nothing", async () => {
  const ctx = await browser.newContext();
  const downUntil = Date.now() + 3000;
  server.reply = () => (Date.now() < downUntil ? { status: 503 } : null);
  const p = await open(ctx);
  const names = [];
  for (let i = 0; i < 8; i++) {
    names.push("outage-" + i);
    await p.evaluate((n) => window.track(n), "outage-" + i);
    await p.waitForTimeout(400);
  }
  const got = await until(() => (tracked(names).length === names.length ? tracked(names) : null), 15000);
  assert.ok(got, `delivered after the outage: ${tracked(names).map((e) => e.name)}`);
  assert.ok(server.batches.some((b) => b.status === 503), "the outage was seen");
  assert.deepEqual(got.map((e) => e._n), names.map(() => 1), "each event accepted exactly once");
  await ctx.close();
  server.reply = () => null;
});

test("a 429's Retry-After is honoured before the next attempt", async () => {
  const ctx = await browser.newContext();
  const first = server.batches.length;
  server.reply = (n) => (n === first ? { status: 429, headers: { "retry-after": "2" } } : null);
  const p = await open(ctx);
  await p.evaluate(() => { window.track("limited"); window.flush(); });
  const got = await until(() => tracked(["limited"]).length === 1, 10000);
  assert.ok(got, "delivered after Retry-After");
  const mine = server.batches.slice(first);
  assert.equal(mine[0].status, 429);
  assert.ok(mine[1].at - mine[0].at >= 2000, `next attempt ${mine[1].at - mine[0].at} ms after the 429`);
  await ctx.close();
  server.reply = () => null;
});

test("a page closed while the ingest is down: the next load of the origin delivers, once", async () => {
  const ctx = await browser.newContext();
  server.reply = () => ({ status: 503 });
  const p = await open(ctx);
  await p.evaluate(() => { window.track("closed-1"); window.flush(); });
  await until(() => server.batches.some((b) => b.status === 503 && b.body.includes("closed-1")));
  await p.evaluate(() => window.track("closed-2"));
  const before = server.batches.length;
  await p.goto(server.origin + "/leave"); // pagehide while the ingest was failing
  await p.waitForTimeout(300);
  assert.equal(server.batches.length, before, "persisted, not beaconed into a failing ingest");
  const queued = () => Object.keys(localStorage).filter((k) => k.startsWith("ferrotel:q"));
  const items = await p.evaluate(queued);
  assert.ok(items.length >= 1 && items.every((k) => /^ferrotel:q:[0-9a-f]{16}$/.test(k)), `one item per batch: ${items}`);
  server.reply = () => null;
  await p.goto(server.origin + "/"); // the next load of the same origin
  const got = await until(() => (tracked(["closed-1", "closed-2"]).length === 2 ? tracked(["closed-1", "closed-2"]) : null), 12000);
  assert.ok(got, "delivered by the next page load");
  assert.deepEqual(got.map((e) => e._n), [1, 1], "once each");
  assert.deepEqual(await p.evaluate(queued), [], "nothing left persisted");
  await ctx.close();
});

test("CLS and INP reach the ingest for a page with a layout shift and a slow interaction", async () => {
  const ctx = await browser.newContext();
  const p = await open(ctx, "/vitals");
  // Headless Chromium flags shifts in the first ~0.5 s after load as "recent input" (they do not
  // count), and a loaded machine stretches that: shift well after, and well before the click.
  await p.waitForTimeout(1500);
  await p.evaluate(() => window.shift());
  await p.waitForTimeout(1000);
  await p.click("#slow"); // a real (trusted) click: event timing sees it
  await p.waitForTimeout(300);
  await p.goto(server.origin + "/leave");
  const vitals = await until(() => {
    // This page's vitals only (earlier tests' pages reported theirs, CLS 0 among them).
    const v = server.events().filter((e) => e.type === "web_vital" && e.url.endsWith("/vitals"));
    return v.some((x) => x.name === "CLS") && v.some((x) => x.name === "INP") ? v : null;
  });
  assert.ok(vitals, "CLS and INP arrived: " + JSON.stringify(server.events().filter((e) => e.type === "web_vital")));
  const cls = vitals.find((v) => v.name === "CLS");
  const inp = vitals.find((v) => v.name === "INP");
  assert.ok(cls.value > 0.01, `CLS ${cls.value}`);
  assert.ok(inp.value >= 250, `INP ${inp.value} ms for a 300 ms handler`);
  assert.equal(inp.rating, undefined, "the rating is derived at the edge (core::schema Rating), not sent");
  await ctx.close();
});
