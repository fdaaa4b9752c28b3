// End to end: the built npm package (pkg/) in a plain <script type="module"> page in headless
// Chromium, sending real beacons to a local collector, which hands them to the built ingest
// Worker (worker/build, in workerd through Miniflare): what the Worker stores in D1 is what a
// user of the data sees (error messages, stacks and click text are masked there, not in the
// browser).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { startServer, launch, until } from "./harness.mjs";
import { startWorker } from "../../worker/test/harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const page = (opts, body = "") => `<!doctype html><html><head><title>t</title></head><body>
<main id="app"><nav class="menu"><a class="item" href="#">Home</a><button class="buy" id="buy">Buy 3 items</button></nav>
<form><input id="email" type="email" value="someone@example.com"></form>
<p id="para">${"lorem ipsum ".repeat(200)}</p></main>
<script type="module">
import { init, ready, track, sessionId, stats } from "/pkg/index.js";
track("before-init", { n: 1, s: "\\u00e9\\u{1F600}", b: true, o: { a: [1] } });
window.boom = () => setTimeout(function thrower() { throw new TypeError("real uncaught 42"); });
try { await init(${opts}); await ready(); window.__ok = sessionId(); window.__stats = stats(); } catch (e) { window.__err = String(e.message); }
window.__done = true;
${body}
</script></body></html>`;

let server, browser, edge;
before(async () => {
  edge = await startWorker({ vars: { WRITE_KEYS: '{"pk_e2e": ["*"]}', SAMPLE_RATES: '{"default": 1}' } });
  server = await startServer({ "/pkg/": path.join(root, "pkg") }, {
    "/": page(`{ endpoint: "/v1/batch", key: "pk_e2e", allowQuery: ["utm_source"] }`),
    "/bad": page(`{ endpoint: "/v1/batch", key: "pk_e2e", sampleRate: 7 }`),
    "/gpc": page(`{ endpoint: "/v1/batch", key: "pk_e2e" }`),
    "/unmasked": page(`{ endpoint: "/v1/batch", key: "pk_e2e", maskMessages: false }`),
    "/consent": page(`{ endpoint: "/v1/batch", key: "pk_e2e", requireConsent: true }`,
      `import { setConsent, flush } from "/pkg/index.js"; window.setConsent = setConsent; window.flush = flush;`),
    "/leave": "<!doctype html><p>bye</p>",
    // init() without waiting for the module: what happens before it runs must still be recorded.
    "/early": `<!doctype html><html><head><title>t</title></head><body>
<main id="app"><button class="buy" id="buy">Buy</button><p id="para">text</p></main>
<script type="module">
import { init, ready, sessionId } from "/pkg/index.js";
await init({ endpoint: "/v1/batch", key: "pk_e2e" });
window.__capturing = true;
ready().then(() => { window.__readyAt = Date.now(); window.__sid = sessionId(); });
</script></body></html>`,
  }, { forward: edge.url });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await edge?.stop();
});

/** The events the ingest Worker stored in D1 for session `sid` (their `data`), once `ok(rows)`. */
async function stored(sid, ok) {
  return until(async () => {
    const rows = (await edge.rows(`SELECT data FROM events WHERE session = '${sid}' ORDER BY t, id`)).map((r) => JSON.parse(r.data));
    return ok(rows) ? rows : null;
  }, 15000);
}

test("a plain module page sends clicks, errors, views, vitals and timing on pagehide", async () => {
  const p = await browser.newPage();
  await p.goto(server.origin + "/?utm_source=mail&token=SECRET");
  const sid = await until(() => p.evaluate(() => window.__ok || window.__err));
  assert.match(sid, /^[0-9a-f]{32}$/, "init resolved with a session");
  const stats = await p.evaluate(() => window.__stats);
  await p.click("#buy");
  await p.click("#email");
  await p.fill("#email", "typed-secret@example.com");
  await p.evaluate(() => {
    window.boom();
    Promise.reject(new Error("real rejection"));
    history.pushState({}, "", "/checkout?token=SECRET2");
  });
  await p.waitForTimeout(300);
  await p.goto(server.origin + "/leave"); // pagehide -> beacon
  const evs = await until(() => {
    const e = server.events();
    return e.some((x) => x.type === "screen_time") && e.some((x) => x.type === "error" && x.source === "unhandledrejection") ? e : null;
  });
  assert.ok(evs, "events arrived: " + JSON.stringify(server.events()).slice(0, 500));
  assert.ok(server.batches.every((b) => b.contentType === undefined), "batches go as bytes without a Content-Type (no preflight)");
  // Input values never leave the page. Page URLs, referrers and the stack's frames go as the
  // page had them (over HTTPS to the site's own ingest); the edge scrubs them, keeping
  // allowQuery's parameters in page URLs, which the batch header names (below).
  const sent = JSON.stringify(evs);
  for (const secret of ["someone@example.com", "typed-secret"]) assert.ok(!sent.includes(secret), `sent ${secret}: ${sent}`);
  const mine = server.batches.filter((b) => String(b.body).includes(sid));
  assert.ok(mine.length && mine.every((b) => String(b.body).includes('"allow_query":"utm_source"')), "the header carries allowQuery");
  assert.ok(evs.every((e) => e._session === sid && e._key === "pk_e2e"));
  assert.equal(new Set(evs.map((e) => e.id)).size, evs.length, "unique event ids");
  assert.ok(server.batches.every((b) => b.edgeStatus === 204), `the Worker took every batch: ${server.batches.map((b) => b.edgeStatus)}`);

  // What the Worker stored: nothing above, and no token anywhere.
  const rows = await stored(sid, (r) => r.length >= evs.length);
  assert.ok(rows, `the Worker stored ${evs.length} events`);
  const all = JSON.stringify(rows);
  for (const secret of ["SECRET", "someone@example.com", "typed-secret"]) assert.ok(!all.includes(secret), `stored ${secret}: ${all.slice(Math.max(0, all.indexOf(secret) - 300), all.indexOf(secret) + 50)}`);
  const clicks = rows.filter((e) => e.type === "click");
  assert.deepEqual(clicks.map((c) => c.selector), ["#buy", "#email"]);
  assert.equal(clicks[0].text, "Buy * items", "click text masked at the edge");
  assert.equal(clicks[1].text ?? "", "");
  const views = rows.filter((e) => e.type === "page_view");
  assert.deepEqual(views.map((v) => v.cause), ["load", "route"]);
  assert.equal(views[0].url, server.origin + "/?utm_source=mail");
  assert.equal(views[1].url, server.origin + "/checkout");
  assert.ok(evs.filter((e) => e.type === "screen_time").every((s) => s.visible_ms > 0));
  const custom = evs.find((e) => e.type === "custom");
  assert.equal(custom.name, "before-init", "calls before init are queued, not lost");
  assert.deepEqual(custom.attrs, { n: 1, s: "é😀", b: true, o: '{"a":[1]}' }, "attribute values by type, nested ones as JSON");
  assert.deepEqual(Object.keys(stats), ["beacons", "fetches", "deliveredBatches", "rejectedBatches", "rejectedEvents", "droppedBatches", "droppedEvents", "errorsOverCap"]);
  assert.ok(Object.values(stats).every((v) => v === 0), JSON.stringify(stats));
  const err = rows.find((e) => e.type === "error" && e.source === "error");
  assert.equal(err["exception.type"], "TypeError");
  assert.equal(err["exception.message"], "real uncaught 42");
  assert.match(err["exception.stacktrace"], /at thrower \(http:\/\/127\.0\.0\.1:\d+\/:\d+:\d+\)/, "stack kept, its URL's query removed at the edge");
  assert.match(err.fingerprint, /^[0-9a-f]{16}$/, "fingerprinted at the edge");
  assert.equal(err["code.function.name"], "thrower", "frames parsed at the edge");
  const rej = rows.find((e) => e.source === "unhandledrejection");
  assert.equal(rej["exception.message"], "real rejection");
  const vitals = new Map(evs.filter((e) => e.type === "web_vital").map((v) => [v.name, v]));
  for (const name of ["FCP", "TTFB", "LCP"]) {
    assert.ok(vitals.has(name), `${name} reported: ${[...vitals.keys()]}`);
    assert.ok(vitals.get(name).value >= 0);
    // Not sent: the edge rates the value (the schema's `derived`).
    const row = rows.find((r) => r.type === "web_vital" && r.name === name);
    assert.ok(vitals.get(name).rating === undefined && ["good", "needs-improvement", "poor"].includes(row?.rating), JSON.stringify(row));
  }
  // The browser sends the navigation entry as it is (numbers and type, no URL); the edge
  // computes the phases and stores a nav_timing row.
  const entry = evs.find((e) => e.type === "nav_entry");
  assert.ok(entry && JSON.parse(entry.entry).domInteractive > 0 && !entry.entry.includes("utm_source"), JSON.stringify(entry));
  assert.ok(!evs.some((e) => e.type === "nav_timing"));
  const nav = rows.find((e) => e.type === "nav_timing");
  assert.ok(nav && nav.dom_interactive > 0 && nav.load > 0 && nav.navigation_type === "navigate" && nav.id === entry.id, JSON.stringify(nav));
  assert.ok(!rows.some((e) => e.type === "nav_entry"));
  await p.close();
});

test("error messages are masked at the edge (unless maskMessages: false) and non-Error rejections keep only their keys", async () => {
  const message = "no account for amy@example.org, card 4111 1111 1111 1111, status 404";
  for (const [route, want] of [["/", "no account for [email], card [number], status 404"], ["/unmasked", message]]) {
    const p = await browser.newPage();
    await p.goto(server.origin + route);
    const sid = await until(() => p.evaluate(() => window.__ok));
    await p.evaluate((m) => {
      Promise.reject({ token: "s3cret", user: "bob@example.com" });
      setTimeout(function thrower() { throw new Error(m); });
    }, message);
    await p.waitForTimeout(300);
    await p.goto(server.origin + "/leave");
    const isError = (x) => x._session === sid && x.type === "error";
    const sent = await until(() => {
      const e = server.events().filter(isError);
      return e.length >= 2 ? e : null;
    });
    assert.ok(sent, `${route}: errors arrived`);
    // The values of a non-Error rejection never leave the page.
    const rejSent = sent.find((e) => e.source === "unhandledrejection");
    assert.equal(rejSent["exception.message"], "Non-Error promise rejection: Object with keys [token, user]");
    for (const secret of ["s3cret", "bob@example.com"]) assert.ok(!JSON.stringify(sent).includes(secret), `${route}: sent ${secret}`);
    // What the Worker stored.
    const errs = (await stored(sid, (r) => r.filter((x) => x.type === "error").length >= 2))?.filter((x) => x.type === "error");
    assert.ok(errs, `${route}: errors stored`);
    const all = JSON.stringify(errs);
    for (const secret of ["s3cret", "bob@example.com"]) assert.ok(!all.includes(secret), `${route}: stored ${secret}: ${all}`);
    if (route === "/") for (const secret of ["amy@example.org", "4111 1111"]) assert.ok(!all.includes(secret), `stored ${secret}: ${all}`);
    const err = errs.find((e) => e.source === "error");
    assert.equal(err["exception.message"], want, route);
    assert.ok(err["exception.stacktrace"].startsWith("Error: " + want + "\n"), err["exception.stacktrace"]);
    assert.match(err["exception.stacktrace"], /at thrower \(/, "frames kept");
    assert.equal(err.mask_messages, route === "/" ? undefined : false, "the envelope says when masking is off");
    await p.close();
  }
});

test("init resolves before the module is loaded, and clicks, errors and route changes from then on are recorded once", async () => {
  const p = await browser.newPage();
  // The wasm arrives 1.5 s late: everything below happens before the module runs.
  let release;
  const held = new Promise((r) => { release = r; });
  await p.route("**/ferrotel_bg.wasm", async (route) => { await held; await route.continue(); });
  await p.goto(server.origin + "/early");
  await until(() => p.evaluate(() => window.__capturing));
  await p.click("#buy");
  await p.click("#para");
  await p.evaluate(() => {
    setTimeout(function early() { throw new Error("early failure"); });
    history.pushState({}, "", "/early-route?token=SECRET");
  });
  await p.waitForTimeout(200);
  const before = await p.evaluate(() => Date.now());
  assert.equal(await p.evaluate(() => window.__readyAt), undefined, "the module was not running yet");
  release();
  const sid = await until(() => p.evaluate(() => window.__sid));
  assert.match(sid, /^[0-9a-f]{32}$/);
  await p.goto(server.origin + "/leave");
  const evs = await until(() => {
    const e = server.events().filter((x) => x._session === sid);
    return e.some((x) => x.type === "error") && e.some((x) => x.type === "screen_time") ? e : null;
  });
  const clicks = evs.filter((e) => e.type === "click");
  assert.deepEqual(clicks.map((c) => c.selector), ["#buy", "#para"], "each early click once, in order");
  assert.ok(clicks.every((c) => c.t <= before), "clicks keep the time they happened");
  const errs = evs.filter((e) => e.type === "error");
  assert.equal(errs.length, 1);
  assert.equal(errs[0]["exception.message"], "early failure");
  assert.ok(errs[0].t <= before);
  const views = evs.filter((e) => e.type === "page_view");
  assert.deepEqual(views.map((v) => [v.cause, new URL(v.url).pathname]), [["load", "/early"], ["route", "/early-route"]]);
  assert.ok(views[1].t <= before, "the route change keeps its time");
  // The page's URL went as it was; the edge stored it without its query.
  const rows = await stored(sid, (r) => r.some((e) => e.type === "page_view" && e.cause === "route"));
  assert.deepEqual(rows.filter((e) => e.type === "page_view").map((v) => new URL(v.url).pathname + new URL(v.url).search), ["/early", "/early-route"]);
  await p.close();
});

test("a bad option rejects ready() with one error naming it", async () => {
  const p = await browser.newPage();
  await p.goto(server.origin + "/bad");
  const msg = await until(() => p.evaluate(() => window.__err));
  assert.match(msg, /option `sampleRate` must be a number from 0 to 1/);
  await p.close();
});

test("Global Privacy Control means nothing is sent, and what earlier pages persisted is cleared", async () => {
  const before = server.batches.length;
  const ctx = await browser.newContext();
  // An earlier page (before the visitor turned GPC on) left a batch for retry.
  await ctx.addInitScript(() => {
    if (!sessionStorage.getItem("seeded")) {
      sessionStorage.setItem("seeded", "1");
      localStorage.setItem("ferrotel:q:00000000000000aa", '00000000000000aa10{"v":1}');
      localStorage.setItem("ferrotel:queue", '00000000000000aa|1|0|{"v":1}'); // the format before
    }
  });
  await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true }));
  const p = await ctx.newPage();
  await p.goto(server.origin + "/gpc");
  assert.equal(await until(() => p.evaluate(() => window.__done)), true);
  assert.deepEqual(await p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("ferrotel:q"))), [], "persisted batches cleared under GPC");
  await p.click("#buy");
  await p.goto(server.origin + "/leave");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(server.batches.length, before);
  await ctx.close();
});

test("the npm entry's setConsent and flush reach the module: nothing is sent before consent, then what was held", async () => {
  const p = await browser.newPage();
  await p.goto(server.origin + "/consent");
  assert.equal(await until(() => p.evaluate(() => window.__done)), true);
  const sid = await p.evaluate(() => window.__ok);
  assert.match(sid, /^[0-9a-f]{32}$/);
  await p.evaluate(() => window.flush());
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(server.batches.filter((b) => b.body.includes(sid)).length, 0, "held until consent");
  await p.evaluate(() => { window.setConsent(true); window.flush(); });
  const rows = await stored(sid, (r) => r.some((e) => e.type == "custom"));
  assert.equal(rows.find((e) => e.type == "custom").name, "before-init");
  await p.close();
});

test("the module still loads when the server sends the wasm with another content type", async () => {
  const p = await browser.newPage();
  const wasm = await readFile(path.join(root, "pkg", "ferrotel_bg.wasm"));
  // compileStreaming refuses anything but application/wasm: the loader compiles the bytes instead.
  await p.route("**/ferrotel_bg.wasm", (route) => route.fulfill({ body: wasm, contentType: "application/octet-stream" }));
  await p.goto(server.origin + "/");
  const sid = await until(() => p.evaluate(() => window.__ok || window.__err));
  assert.match(sid, /^[0-9a-f]{32}$/, "init resolved with a session: " + sid);
  await p.close();
});
