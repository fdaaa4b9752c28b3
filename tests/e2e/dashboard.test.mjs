// The dashboard (www/dashboard.html) in headless Chromium against the built Worker in workerd
// (Miniflare, worker/test/harness.mjs): batches of the demo's kind of events, plus hostile
// selectors and messages, are posted to /v1/batch and stored by the queue consumer in D1; the
// page reads them back only through GET /v1/events with the read token. Its files are served at
// the Worker's origin (as wrangler's static assets do) by intercepting the page's requests for
// them. Saves tests/e2e/artifacts/dashboard.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./harness.mjs";
import { startWorker, batch, post, until, TEST_SECRETS } from "../../worker/test/harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const artifacts = path.join(root, "tests/e2e/artifacts");
const HOSTILE_SELECTOR = `<img src=x onerror="window.__pwned=1">`;
const HOSTILE_TEXT = `"><script>window.__pwned=2</script>`;
const HOSTILE_MESSAGE = `"><script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">`;
const STACK = "Error: payment service unavailable (order 1234)\n    at checkoutFailed (https://shop.test/app.js:12:9)\n    at https://shop.test/app.js:40:3";

const MIN = 60_000;
const now = Date.now();
const at = (minAgo) => now - minAgo * MIN;
const S = ["a", "b", "c"].map((c) => c.repeat(32));
let n = 0;
const id = () => (0xd000000000000000n + BigInt(++n)).toString(16);
const u = (p) => "https://shop.test" + p;

// What each session did, as the SDK would send it (times spread over the last 40 minutes).
const views = [];
function view(minAgo, p, visible) {
  const v = { id: id(), t: at(minAgo), type: "page_view", url: u(p), referrer: "", cause: "load" };
  views.push(v);
  return [v, { id: id(), t: at(minAgo) + 1000, type: "screen_time", url: u(p), view: v.id, visible_ms: visible }];
}
const vital = (minAgo, p, name, value, extra = {}) => ({ id: id(), t: at(minAgo), type: "web_vital", url: u(p), name, value, delta: value, metric_id: "v1-" + n, ...extra });
const click = (t, p, selector, text = "") => ({ id: id(), t, type: "click", url: u(p), selector, tag: "button", text, x: 10, y: 20 });
const error = (minAgo, fingerprint, message, count, stack) => ({ id: id(), t: at(minAgo), type: "error", url: u("/cart"), source: "error", "exception.type": "Error", "exception.message": message, ...(stack ? { "exception.stacktrace": stack } : {}), fingerprint, count });

const sessions = [
  [S[0], [
    ...view(40, "/", 12000), ...view(38, "/product/12", 3000),
    vital(40, "/", "LCP", 1800), vital(40, "/", "FCP", 900), vital(40, "/", "TTFB", 300),
    vital(38, "/product/12", "LCP", 3000), vital(38, "/product/12", "INP", 150),
    { id: id(), t: at(38), type: "nav_timing", url: u("/"), dns: 1, tcp: 2, ttfb: 300, load: 900, navigation_type: "navigate" },
    click(at(39), "/", "#buy", "Buy"),
    // A burst: four clicks on one element within a second.
    ...[0, 250, 500, 800].map((d) => click(at(37) + d, "/product/12", "button.add", "Add Kettle to cart")),
    click(at(36), "/product/12", HOSTILE_SELECTOR, HOSTILE_TEXT),
    { id: id(), t: at(36), type: "custom", url: u("/product/12"), name: "add_to_cart", attrs: { items: 1 } },
    error(35, "00000000000000aa", "payment service unavailable (order 1234)", 3, STACK),
  ]],
  [S[1], [
    ...view(20, "/product/34", 4000), ...view(19, "/cart", 5000),
    vital(20, "/product/34", "LCP", 5000), vital(20, "/product/34", "FCP", 2500), vital(20, "/product/34", "TTFB", 2000),
    // CLS reported twice for one page load (same metric_id): the latest value counts.
    vital(19, "/cart", "CLS", 0.05, { metric_id: "cls-1" }), vital(18, "/cart", "CLS", 0.3, { metric_id: "cls-1", delta: 0.25 }),
    vital(18, "/cart", "INP", 600),
    { id: id(), t: at(18), type: "long_task", url: u("/cart"), start: 1200, duration: 180 },
    click(at(19), "/cart", "#buy", "Buy"),
    error(17, "00000000000000aa", "payment service unavailable (order 1234)", 1, ""),
    error(16, "00000000000000bb", HOSTILE_MESSAGE, 2, "Error: x\n    at <img src=x onerror=alert(1)> (https://shop.test/app.js:1:1)"),
  ]],
  [S[2], [...view(2, "/", 8000), vital(2, "/", "LCP", 2200), vital(2, "/", "INP", 350)]],
];
// Failed requests: browsers' Network Error Logging reports, posted to /v1/reports (each
// different: the Worker stores identical reports from one client in one minute once).
const nel = (url, status, type, phase, elapsed) => ({ type: "network-error", age: 2000, url, user_agent: "Mozilla/5.0",
  body: { elapsed_time: elapsed, method: "POST", phase, protocol: "http/1.1", referrer: "", sampling_fraction: 1, server_ip: "203.0.113.7", status_code: status, type } });
const REPORTS = [
  nel("https://shop.test/api/pay?token=SECRET", 503, "http.error", "application", 120),
  nel("https://shop.test/api/pay?token=SECRET", 503, "http.error", "application", 140),
  nel("https://shop.test/api/search", 0, "tcp.timed_out", "connection", 30000),
];
const seeded = [...sessions.flatMap(([, evs]) => evs), ...REPORTS.map(() => ({ type: "report" }))];
const byType = (type) => seeded.filter((e) => e.type === type).length;

let w, browser;
before(async () => {
  w = await startWorker();
  for (const [session, events] of sessions) {
    // sent_at is now (the SDK stamps it at each attempt), so the Worker keeps the event times.
    const body = JSON.parse(batch({ session, events: [] }));
    const res = await post(w.url, JSON.stringify({ ...body, sent_at: Date.now(), events }));
    assert.equal(res.status, 204, await res.text());
  }
  const res = await fetch(`${w.url}/v1/reports?key=pk_demo`, { method: "POST", headers: { "content-type": "application/reports+json" }, body: JSON.stringify(REPORTS) });
  assert.equal(res.status, 204, await res.text());
  assert.ok(await until(async () => (await w.rows("SELECT count(*) AS n FROM events"))[0].n === seeded.length), "the consumer stored every seeded event");
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await w?.stop();
});

/** A page at the Worker's origin whose dashboard files come from www/; /v1/* goes to the Worker. */
async function open() {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  const reads = [];
  page.on("request", (r) => r.url().includes("/v1/") && reads.push({ url: r.url(), auth: r.headers().authorization }));
  await page.route((url) => url.origin === w.url && !url.pathname.startsWith("/v1/"), (route) => {
    const file = path.join(root, "www", path.basename(new URL(route.request().url()).pathname));
    try {
      route.fulfill({ status: 200, contentType: file.endsWith(".js") ? "text/javascript" : "text/html", body: readFileSync(file) });
    } catch {
      route.fulfill({ status: 404, body: "not found" });
    }
  });
  await page.goto(w.url + "/dashboard.html");
  return { page, problems, reads };
}

async function signIn(page, token) {
  await page.fill("#token", token);
  await page.click("#token-form button");
}

const cells = (page, sel) => page.$$eval(sel + " tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));

test("the dashboard draws every chart from the stored events, shows hostile data as text, and logs no error", async () => {
  const { page, problems, reads } = await open();
  await signIn(page, TEST_SECRETS.READ_TOKEN);
  await page.waitForFunction(() => document.body.dataset.state === "ready", null, { timeout: 20000 });
  assert.match(await page.textContent("#updated"), new RegExp(`^${seeded.length} events in the window`));

  // Events over time: one bar segment per type and bucket, adding up to what was stored.
  const bars = await page.$$eval("#timeline rect.bar", (rs) => rs.map((r) => [r.dataset.series, Number(r.dataset.n)]));
  const sums = {};
  for (const [t, c] of bars) sums[t] = (sums[t] || 0) + c;
  const types = [...new Set(seeded.map((e) => e.type))];
  assert.deepEqual(sums, Object.fromEntries(types.map((t) => [t, byType(t)])));
  assert.ok(new Set(bars.map(([t]) => t)).size === types.length && bars.length > types.length, "bars in several buckets");
  const legend = await page.textContent("#timeline .legend");
  for (const t of types) assert.ok(legend.includes(`${t} (${byType(t)})`), `legend names ${t}`);

  // Web vitals: one card per metric, each with the three bands and a line per page.
  assert.deepEqual(await page.$$eval("#vitals .vital", (cs) => cs.map((c) => c.dataset.metric)), ["LCP", "INP", "CLS", "FCP", "TTFB"]);
  for (const m of ["LCP", "INP", "CLS", "FCP", "TTFB"]) {
    const bands = await page.$$eval(`.vital[data-metric=${m}] rect.band`, (rs) => rs.map((r) => r.getAttribute("class")));
    assert.deepEqual(bands, ["band good", "band needs-improvement", "band poor"], m);
  }
  const linesOf = (m) => page.$$eval(`.vital[data-metric=${m}] path.line`, (ps) => ps.map((p) => p.dataset.series).sort());
  assert.deepEqual(await linesOf("LCP"), ["/", "/product/12", "/product/34"]);
  assert.deepEqual(await cells(page, ".vital[data-metric=LCP]"), [
    ["/", "2,200 ms", "2", "good"], ["/product/12", "3,000 ms", "1", "needs improvement"], ["/product/34", "5,000 ms", "1", "poor"]]);
  // CLS: the latest report of the page load, not both.
  assert.deepEqual(await cells(page, ".vital[data-metric=CLS]"), [["/cart", "0.3", "1", "poor"]]);
  await page.selectOption("#vital-group", "route");
  assert.deepEqual(await linesOf("LCP"), ["/", "/product/:id"]);
  assert.deepEqual((await cells(page, ".vital[data-metric=LCP]")).map((r) => r.slice(0, 3)), [["/", "2,200 ms", "2"], ["/product/:id", "5,000 ms", "2"]]);
  assert.equal(await page.$$eval(".vital[data-metric=INP] circle.dot", (d) => d.length), 3, "one point per route and bucket with samples");

  // Errors by fingerprint: occurrences summed, sessions, first and last seen, the stack.
  const errors = await cells(page, "#errors");
  assert.equal(errors.length, 2);
  assert.equal(errors[0][0], "4");
  assert.match(errors[0][1], /^Error: payment service unavailable \(order 1234\)fingerprint 00000000000000aa/);
  assert.equal(errors[0][2], "2");
  assert.notEqual(errors[0][3], errors[0][4], "first and last seen differ");
  assert.ok((await page.textContent("#errors tbody tr:first-child pre")).includes("at checkoutFailed (https://shop.test/app.js:12:9)"));
  assert.equal(errors[1][0], "2");
  assert.ok(errors[1][1].includes(HOSTILE_MESSAGE), "a hostile message is shown as its text");
  assert.ok((await page.textContent("#errors tbody tr:nth-child(2) pre")).includes("<img src=x onerror=alert(1)>"));

  // Clicks: top selectors (bars and table), the burst, and rage/dead sections waiting for flags.
  const top = await cells(page, "#clicks table.top-clicks");
  assert.deepEqual(top[0], ["button.add", "Add Kettle to cart", "4", "1"]);
  assert.deepEqual(top[1], ["#buy", "Buy", "2", "2"]);
  // Click text as the Worker stores it: masked (digits become `*`), still shown as text.
  assert.deepEqual(top[2], [HOSTILE_SELECTOR, HOSTILE_TEXT.replace("2", "*"), "1", "1"]);
  assert.deepEqual(await page.$$eval("#clicks rect.hbar", (rs) => rs.map((r) => [r.dataset.label, r.dataset.value])),
    [["button.add", "4"], ["#buy", "2"], [HOSTILE_SELECTOR, "1"]]);
  assert.deepEqual(await cells(page, "#clicks table.bursts"), [["button.add", "1", "4", "4"]]);
  assert.match(await page.textContent("#clicks"), /No rage clicks flagged.*No dead clicks flagged/s);

  // Screen time per route.
  assert.deepEqual(await page.$$eval("#screens rect.hbar", (rs) => rs.map((r) => [r.dataset.label, Number(r.dataset.value)])),
    [["/", 20000], ["/product/:id", 7000], ["/cart", 5000]]);
  assert.deepEqual(await cells(page, "#screens"), [["/", "20.0 s", "2"], ["/product/:id", "7.0 s", "2"], ["/cart", "5.0 s", "1"]]);

  // Failed requests, from the NEL reports: by URL (query scrubbed), status or error type.
  assert.deepEqual((await cells(page, "#requests")).map((r) => r.slice(0, 3)),
    [["https://shop.test/api/pay", "2", "503"], ["https://shop.test/api/search", "1", "tcp.timed_out"]]);
  assert.doesNotMatch(await page.textContent("#requests"), /SECRET/);

  // Nothing hostile ran or became markup.
  assert.deepEqual(await page.evaluate(() => [window.__pwned, document.querySelectorAll("img").length, document.querySelectorAll("script").length]), [undefined, 0, 1]);
  assert.ok((await page.textContent("body")).includes(HOSTILE_SELECTOR));

  // Reads only through the read endpoint, the token only in the Authorization header.
  assert.ok(reads.length >= 9 && reads.every((r) => new URL(r.url).pathname === "/v1/events" && r.auth === "Bearer " + TEST_SECRETS.READ_TOKEN && !r.url.includes(TEST_SECRETS.READ_TOKEN)));

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });

  // A new error stored later shows after a refresh, with the page's state (route grouping) kept.
  const late = error(1, "00000000000000cc", "late failure", 1, "Error: late failure\n    at later (https://shop.test/app.js:2:2)");
  const res = await post(w.url, JSON.stringify({ ...JSON.parse(batch({ session: S[2], events: [] })), sent_at: Date.now(), events: [late] }));
  assert.equal(res.status, 204);
  assert.ok(await until(async () => (await w.rows("SELECT count(*) AS n FROM events"))[0].n === seeded.length + 1));
  await page.click("#reload");
  await page.waitForFunction(() => document.querySelectorAll("#errors tbody tr").length === 3, null, { timeout: 20000 });
  assert.match(await page.textContent("#updated"), new RegExp(`^${seeded.length + 1} events in the window`));
  assert.deepEqual(await linesOf("LCP"), ["/", "/product/:id"]);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a wrong token is refused with a reason and draws nothing", async () => {
  const { page, problems } = await open();
  await signIn(page, "not-the-token-0123456789abcdef0123");
  await page.waitForFunction(() => document.getElementById("auth").textContent !== "", null, { timeout: 10000 });
  assert.equal(await page.textContent("#auth"), "the Worker refused this token");
  assert.equal(await page.$$eval("svg", (s) => s.length), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("ferrotel.readToken")), null);
  // The page's own 401 fetches are logged by Chromium as failed resources; nothing else.
  assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
  await page.close();
});
