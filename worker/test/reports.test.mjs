// POST /v1/reports in workerd (Miniflare): browser reports (the Reporting API's
// application/reports+json and the legacy CSP application/csp-report) are accepted, scrubbed,
// stored in D1 (read back through GET /v1/events) and forwarded to the OTLP receiver; hostile
// bodies get a 4xx with a reason. One test has headless Chromium generate the reports itself.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, startReceiver, until, TEST_SECRETS } from "./harness.mjs";
import { launch } from "../../tests/e2e/harness.mjs";

const SITE = "https://shop.test";
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36";

/** One report of each type, in the shape Chrome uploads them, each with a secret in a URL. */
function reports(age = 10) {
  return [
    { type: "csp-violation", age, url: `${SITE}/cart?session=SECRET`, user_agent: UA, body: {
      blockedURL: "https://evil.test/x.js?token=SECRET", columnNumber: 5, disposition: "enforce", documentURL: `${SITE}/cart?session=SECRET`,
      effectiveDirective: "script-src-elem", lineNumber: 12, originalPolicy: "script-src 'self'; report-to csp", referrer: `${SITE}/?q=SECRET`,
      sample: "", sourceFile: `${SITE}/app.js?v=SECRET`, statusCode: 200 } },
    { type: "deprecation", age, url: `${SITE}/`, user_agent: UA, body: {
      anticipatedRemoval: null, columnNumber: 3, id: "UnloadHandler", lineNumber: 9,
      message: "Unload event listeners are deprecated and will be removed.", sourceFile: `${SITE}/app.js` } },
    { type: "intervention", age, url: `${SITE}/`, user_agent: UA, body: {
      id: "HeavyAdIntervention", message: "Ad was removed because its network usage exceeded the limit.", sourceFile: null, lineNumber: null, columnNumber: null } },
    { type: "crash", age, url: `${SITE}/checkout?token=SECRET`, user_agent: UA, body: { reason: "oom" } },
    { type: "network-error", age, url: `${SITE}/api/pay?token=SECRET`, user_agent: UA, body: {
      elapsed_time: 1234, method: "POST", phase: "connection", protocol: "http/1.1", referrer: `${SITE}/checkout?token=SECRET`,
      sampling_fraction: 1, server_ip: "203.0.113.7", status_code: 0, type: "tcp.timed_out", request_headers: {}, response_headers: { ETag: ["abc"] } } },
  ];
}

/** A legacy `report-uri` body, as Chromium 156 sent it (captured). */
const LEGACY = { "csp-report": {
  "document-uri": `${SITE}/legacy?session=SECRET`, referrer: "", "violated-directive": "script-src-elem", "effective-directive": "script-src-elem",
  "original-policy": "script-src 'self'; report-uri https://ingest.test/v1/reports?key=pk_site", disposition: "enforce",
  "blocked-uri": "https://evil.test/legacy.js?token=SECRET", "status-code": 200, "script-sample": "" } };

function send(w, body, { key = "pk_site", type = "application/reports+json", origin = SITE, query } = {}) {
  const headers = { "content-type": type };
  if (origin) headers.origin = origin;
  return fetch(`${w.url}/v1/reports${query ?? `?key=${key}`}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}

/** Stored report events (GET /v1/events?type=report), once there are at least `n`. */
async function stored(w, n) {
  const read = async () => {
    const r = await fetch(`${w.url}/v1/events?type=report&limit=1000`, { headers: { authorization: `Bearer ${TEST_SECRETS.READ_TOKEN}` } });
    assert.equal(r.status, 200);
    return (await r.json()).events;
  };
  return (await until(async () => { const e = await read(); return e.length >= n ? e : null; })) ?? read();
}

describe("POST /v1/reports", () => {
  let w, receiver;
  before(async () => {
    receiver = await startReceiver();
    w = await startWorker({ vars: { OTLP_ENDPOINT: receiver.url, WRITE_KEYS: JSON.stringify({ pk_demo: ["*"], pk_site: [SITE] }) } });
  });
  after(async () => { await w?.stop(); await receiver?.close(); });

  test("each report type is accepted, scrubbed, stored and forwarded", async () => {
    const res = await send(w, reports());
    assert.equal(res.status, 204, await res.text());
    assert.equal(res.headers.get("access-control-allow-origin"), SITE);
    const legacy = await send(w, LEGACY, { type: "application/csp-report" });
    assert.equal(legacy.status, 204, await legacy.text());

    const events = await stored(w, 6);
    assert.equal(events.length, 6, JSON.stringify(events));
    assert.doesNotMatch(JSON.stringify(events), /SECRET/, "every URL is scrubbed before it is stored");
    const by = (t, url) => events.find((e) => e.report_type === t && (!url || e.url === url));
    for (const t of ["csp-violation", "deprecation", "intervention", "crash", "network-error"]) assert.ok(by(t), `${t} stored`);
    const csp = by("csp-violation", `${SITE}/cart`);
    assert.equal(csp.type, "report");
    assert.equal(csp.blocked_url, "https://evil.test/x.js", "the query token in the blocked URL is gone");
    assert.equal(csp.effective_directive, "script-src-elem");
    assert.equal(csp["code.file.path"], `${SITE}/app.js`);
    assert.equal(csp["code.line.number"], 12);
    assert.equal(csp.key, "pk_site");
    assert.ok(Math.abs(csp.t - (Date.now() - 10)) < 60_000, "time is receipt minus age");
    assert.equal(by("csp-violation", `${SITE}/legacy`).blocked_url, "https://evil.test/legacy.js");
    assert.equal(by("deprecation").feature, "UnloadHandler");
    assert.equal(by("crash").reason, "oom");
    assert.equal(by("crash").url, `${SITE}/checkout`);
    const nel = by("network-error");
    assert.deepEqual([nel.phase, nel["error.type"], nel.elapsed_ms, nel["http.request.method"], nel.url], ["connection", "tcp.timed_out", 1234, "POST", `${SITE}/api/pay`]);
    assert.equal(JSON.stringify(events).includes("script-src 'self'"), false, "the policy (with the key in it) is not kept");

    // Forwarded: every stored report reached the OTLP receiver, as browser.report log records.
    const ids = events.map((e) => e.id).sort();
    const delivered = await until(() => { const d = receiver.delivered(); return ids.every((id) => d.includes(id)) ? d : null; });
    assert.ok(delivered, "all reports forwarded");
    const bodies = receiver.requests.map((r) => r.body).join("\n");
    assert.doesNotMatch(bodies, /SECRET/);
    const records = receiver.requests.flatMap((r) => JSON.parse(r.body).resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords)));
    const crash = records.find((lr) => lr.attributes.some((a) => a.key === "browser.report.type" && a.value.stringValue === "crash"));
    assert.equal(crash.eventName, "browser.report");
    assert.equal(crash.severityText, "ERROR");
  });

  test("a resent upload is stored once", async () => {
    // An age that puts the report mid-minute (ids hash the minute it happened in).
    const age = (Date.now() % 60_000) + 30_000;
    const body = [{ ...reports(age)[3], url: `${SITE}/resend` }];
    const sent = Date.now();
    assert.equal((await send(w, body)).status, 204);
    body[0].age = age + (Date.now() - sent) + 2000; // the browser retried 2 s later
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await send(w, body)).status, 204);
    const resent = async () => (await stored(w, 1)).filter((e) => e.url === `${SITE}/resend`);
    assert.ok(await until(async () => (await resent()).length > 0));
    await new Promise((r) => setTimeout(r, 300)); // the second copy has been consumed by now
    assert.equal((await resent()).length, 1);
  });

  test("hostile bodies get a 4xx with a reason, never a 5xx", async () => {
    const deep = `[${"[".repeat(50)}1${"]".repeat(50)}]`;
    const cases = [
      ["not JSON", await send(w, "{not json"), 400, "body"],
      ["truncated JSON", await send(w, JSON.stringify(reports()).slice(0, 200)), 400, "body"],
      ["wrong shape", await send(w, { type: "crash" }), 400, "body"],
      ["legacy shape under the Reporting API type", await send(w, LEGACY), 400, "body"],
      ["too many reports", await send(w, Array.from({ length: 101 }, () => reports()[3])), 400, "reports"],
      ["deep nesting", await send(w, deep), 400, "body"],
      ["oversize", await send(w, "[" + "{},".repeat(30000) + "{}]"), 413, "body"],
      ["wrong content type", await send(w, reports(), { type: "text/plain" }), 415, "content-type"],
      ["no content type", await fetch(`${w.url}/v1/reports?key=pk_site`, { method: "POST", body: new Blob([JSON.stringify(reports())]) }), 415, "content-type"],
      ["unknown key", await send(w, reports(), { key: "pk_nobody" }), 401, "key"],
      ["no key", await send(w, reports(), { query: "" }), 400, "key"],
      ["origin the key does not accept", await send(w, reports(), { origin: "https://other.test" }), 403, "origin"],
    ];
    for (const [name, res, status, field] of cases) {
      assert.equal(res.status, status, name);
      const j = await res.json();
      assert.equal(j.field, field, `${name}: ${JSON.stringify(j)}`);
      assert.ok(j.reason.length > 5, `${name}: ${JSON.stringify(j)}`);
    }
    assert.equal((await fetch(`${w.url}/v1/reports?key=pk_site`)).status, 405);

    // Broken reports in a good upload are dropped, each with its reason; the rest are kept.
    const mixed = [reports()[1], 7, { type: "permissions-policy-violation", url: `${SITE}/`, body: {} },
      { ...reports()[0], body: { ...reports()[0].body, lineNumber: "12" } }, { ...reports()[3], url: "https://elsewhere.test/" }];
    const res = await send(w, mixed);
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.deepEqual([j.accepted, j.dropped], [1, 4], JSON.stringify(j));
    assert.deepEqual(j.errors.map((e) => e.field), ["reports[1]", "reports[2].type", "reports[3].body", "reports[4].url"]);
    assert.match(j.errors[3].reason, /origin/);
  });
});

test("refusals count against the client's rate limit (RL_CLIENT)", async () => {
  const w = await startWorker({ clientLimit: 4, vars: { WRITE_KEYS: JSON.stringify({ pk_demo: ["*"] }) } });
  try {
    // Each broken upload counts twice: the limit check before its body is read, then its refusal.
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(w, "nope", { key: "pk_demo", origin: null })).status);
    assert.deepEqual(statuses, [400, 400, 429]);
    const limited = await send(w, reports(), { key: "pk_demo", origin: null });
    assert.equal(limited.status, 429, "a good upload from the same client is now limited");
    assert.equal(limited.headers.get("retry-after"), "60");
  } finally {
    await w.stop();
  }
});

test("reports Chromium generates for a page's CSP are stored, scrubbed", async () => {
  // The page: a Content-Security-Policy with report-uri pointing at the Worker (legacy reports,
  // sent by Chromium at once), and a report-only one with report-to (Reporting API reports:
  // headless Chromium queues them but did not upload them here in 10 s, with
  // --short-reporting-delay and background-sync granted, so the test takes the report Chromium
  // made from DevTools and uploads it as Chromium would: [{type, age, url, user_agent, body}]).
  let endpoint = "";
  const page = http.createServer((req, res) => {
    res.writeHead(200, {
      "content-type": "text/html",
      "reporting-endpoints": `csp="${endpoint}"`,
      // With report-to in a policy, Chromium ignores its report-uri: one policy each.
      "content-security-policy": `script-src 'self'; report-uri ${endpoint}`,
      "content-security-policy-report-only": `script-src 'self'; report-to csp`,
    });
    res.end(`<!doctype html><title>t</title><script src="https://evil.invalid/x.js?token=SECRET"></script><p>page</p>`);
  });
  await new Promise((r) => page.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${page.address().port}`;
  const w = await startWorker({ vars: { WRITE_KEYS: JSON.stringify({ pk_demo: ["https://nobody.test"], pk_page: [origin] }) } });
  endpoint = `${w.url}/v1/reports?key=pk_page`;
  const browser = await launch();
  try {
    const p = await browser.newPage();
    const cdp = await p.context().newCDPSession(p);
    const queued = [];
    cdp.on("Network.reportingApiReportAdded", (e) => queued.push(e.report));
    await cdp.send("Network.enable");
    await cdp.send("Network.enableReportingApi", { enable: true });
    await p.goto(`${origin}/shop?session=SECRET`);
    const legacy = (await stored(w, 1)).filter((e) => e.url === `${origin}/shop`);
    assert.equal(legacy.length, 1, "Chromium's report-uri report was accepted and stored");
    assert.equal(legacy[0].report_type, "csp-violation");
    assert.equal(legacy[0].blocked_url, "https://evil.invalid/x.js", "the query token in the blocked URL is gone");
    assert.equal(legacy[0].effective_directive, "script-src-elem");
    assert.equal(legacy[0].disposition, "enforce");

    // The Reporting API report Chromium made for the same violation.
    await until(() => queued.length > 0);
    const r = queued.find((q) => q.type === "csp-violation" && q.body.disposition === "report");
    assert.ok(r, JSON.stringify(queued));
    const upload = [{ type: r.type, age: 0, url: r.initiatorUrl, user_agent: await p.evaluate(() => navigator.userAgent), body: r.body }];
    const res = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/reports+json", origin }, body: JSON.stringify(upload) });
    assert.equal(res.status, 204, await res.text());
    const all = await stored(w, 2);
    assert.equal(all.length, 2, JSON.stringify(all));
    assert.deepEqual(all.map((e) => e.disposition).sort(), ["enforce", "report"]);
    assert.doesNotMatch(JSON.stringify(all), /SECRET/);
  } finally {
    await browser.close();
    await w.stop();
    await new Promise((r) => page.close(r));
  }
});
