// The ingest Worker in workerd (Miniflare), over HTTP on 127.0.0.1, with local Queues, D1 and
// rate limiters: what a client and an operator would notice.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, batch, post, until } from "./harness.mjs";

const sessions = (n) => Array.from({ length: n }, (_, i) => (i * 7919 + 1).toString(16).padStart(32, "a"));

describe("ingest with the default config", () => {
  let w;
  before(async () => { w = await startWorker(); });
  after(async () => { await w?.stop(); });

  test("a beacon-style batch is accepted and stored exactly once, even when sent twice", async () => {
    const body = batch();
    const ids = JSON.parse(body).events.map((e) => e.id);
    const first = await post(w.url, body);
    assert.equal(first.status, 204);
    assert.equal(first.headers.get("access-control-allow-origin"), "http://127.0.0.1");
    assert.equal((await post(w.url, body)).status, 204, "a resend is accepted (at-least-once clients)");
    const rows = await until(async () => {
      const r = await w.rows(`SELECT id FROM events WHERE id IN ('${ids.join("','")}')`);
      return r.length === ids.length ? r : null;
    });
    assert.ok(rows, "both events stored");
    await new Promise((r) => setTimeout(r, 300)); // the second copy has been consumed by now
    const again = await w.rows(`SELECT id FROM events WHERE id IN ('${ids.join("','")}')`);
    assert.equal(again.length, ids.length, "no duplicates after redelivery of the same events");
  });

  test("application/json is accepted too", async () => {
    assert.equal((await post(w.url, batch(), { "content-type": "application/json" })).status, 204);
  });

  test("bad input gets its status and a reason, never a 5xx", async () => {
    const cases = [
      [await post(w.url, "{", {}), 400, "body"],
      [await post(w.url, batch().replace('"v":1', '"v":9')), 400, "v"],
      [await post(w.url, batch().replace('"type":"click"', '"type":"klick"')), 400, "events[1].type"],
      [await post(w.url, batch({ key: "pk_nobody" })), 401, "key"],
      [await post(w.url, batch(), { "content-type": "application/xml" }), 415, "content-type"],
      [await post(w.url, "x".repeat(70000)), 413, "body"],
    ];
    for (const [res, status, field] of cases) {
      assert.equal(res.status, status);
      const j = await res.json();
      assert.equal(j.field, field, JSON.stringify(j));
      assert.ok(j.reason.length > 5, JSON.stringify(j));
    }
    const bad = await (await post(w.url, batch().replace('"v":1', '"v":9'))).json();
    assert.match(bad.reason, /unsupported wire version 9/);
    assert.equal((await fetch(w.url + "/v1/batch")).status, 405);
    assert.equal((await fetch(w.url + "/nope")).status, 404);
    assert.equal((await fetch(w.url + "/healthz")).status, 200);
  });

  test("CORS preflight", async () => {
    const r = await fetch(w.url + "/v1/batch", { method: "OPTIONS", headers: { origin: "https://shop.test", "access-control-request-method": "POST" } });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://shop.test");
    assert.match(r.headers.get("access-control-allow-methods"), /POST/);
  });

  test("the read endpoint needs the token, filters by type and pages", async () => {
    assert.equal((await fetch(w.url + "/v1/events")).status, 401);
    assert.equal((await fetch(w.url + "/v1/events", { headers: { authorization: "Bearer wrong" } })).status, 401);
    const s = "f".repeat(32);
    const events = Array.from({ length: 5 }, (_, i) => ({ type: "custom", url: "https://x.test/", name: "page-" + i }));
    assert.equal((await post(w.url, batch({ session: s, events }))).status, 204);
    await until(async () => (await w.rows(`SELECT id FROM events WHERE session = '${s}'`)).length === 5);
    const auth = { authorization: "Bearer demo-token" };
    const p1 = await (await fetch(w.url + "/v1/events?type=custom&limit=3", { headers: auth })).json();
    assert.equal(p1.events.length, 3);
    assert.ok(p1.events.every((e) => e.type === "custom"));
    assert.ok(p1.next);
    const p2 = await (await fetch(w.url + "/v1/events?type=custom&limit=3&before=" + p1.next, { headers: auth })).json();
    const names = [...p1.events, ...p2.events].map((e) => e.name);
    assert.equal(new Set(names).size, names.length, "pages do not overlap");
    assert.ok(names.includes("page-0") && names.includes("page-4"));
    assert.equal((await fetch(w.url + "/v1/events?limit=x", { headers: auth })).status, 400);
    // Time filters: the batch's events are at 1764000000000 + i.
    const since = await (await fetch(w.url + "/v1/events?type=custom&since=1764000000003", { headers: auth })).json();
    assert.deepEqual(since.events.filter((e) => e.session === s).map((e) => e.name).sort(), ["page-3", "page-4"]);
    const before = await (await fetch(w.url + "/v1/events?type=custom&until=1764000000001", { headers: auth })).json();
    const early = before.events.filter((e) => e.session === s).map((e) => e.name);
    assert.deepEqual(early, ["page-0"]);
  });
});

describe("key, origin and rate limits", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { WRITE_KEYS: '{"pk_shop":["https://shop.test"]}' }, keyLimit: 5 });
  });
  after(async () => { await w?.stop(); });

  test("an origin outside the key's allowlist gets 403", async () => {
    const r = await post(w.url, batch({ key: "pk_shop" }), { origin: "https://evil.test" });
    assert.equal(r.status, 403);
    assert.equal((await r.json()).error, "origin_not_allowed");
    const pre = await fetch(w.url + "/v1/batch", { method: "OPTIONS", headers: { origin: "https://evil.test" } });
    assert.equal(pre.status, 403);
  });

  test("the per-key rate limit trips with 429 and Retry-After", async () => {
    const statuses = [];
    let retryAfter = null;
    for (let i = 0; i < 12; i++) {
      const r = await post(w.url, batch({ key: "pk_shop" }), { origin: "https://shop.test" });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get("retry-after");
    }
    assert.ok(statuses.includes(204), statuses.join());
    assert.ok(statuses.includes(429), statuses.join());
    assert.equal(retryAfter, "60");
  });
});

describe("sampling at 0.5", () => {
  let w;
  before(async () => { w = await startWorker({ vars: { SAMPLE_RATES: '{"default":0.5}' } }); });
  after(async () => { await w?.stop(); });

  test("keeps the same sessions every time and keeps every error", async () => {
    const all = sessions(40);
    const kept = async () => {
      const bodies = all.map((s) => batch({ session: s, events: [
        { type: "click", url: "https://x.test/", selector: "#a", tag: "a", text: "", x: 0, y: 0 },
        { type: "error", url: "https://x.test/", source: "error", "exception.type": "E", "exception.message": "m", "exception.stacktrace": "", fingerprint: "0000000000000001", count: 1 },
      ] }));
      for (const b of bodies) assert.equal((await post(w.url, b)).status, 204);
      const ids = bodies.flatMap((b) => JSON.parse(b).events.map((e) => e.id));
      const rows = await until(async () => {
        const r = await w.rows(`SELECT id, type, session, data FROM events WHERE id IN ('${ids.join("','")}')`);
        return r.filter((x) => x.type === "error").length === all.length ? r : null;
      });
      assert.ok(rows, "every error kept");
      for (const r of rows) assert.equal(JSON.parse(r.data).sample_rate, r.type === "error" ? 1 : 0.5);
      return new Set(rows.filter((r) => r.type === "click").map((r) => r.session));
    };
    const first = await kept();
    const second = await kept();
    assert.deepEqual([...second].sort(), [...first].sort(), "the same sessions are kept every time");
    assert.ok(first.size >= 8 && first.size <= 32, `about half of 40 sessions kept, got ${first.size}`);
  });
});

describe("OTLP forwarding", () => {
  test("a receiver answering 503 for a while gets every event exactly once after it recovers", async () => {
    const rx = await startReceiver((n) => (n < 4 ? 503 : 200));
    const w = await startWorker({ vars: { OTLP_ENDPOINT: rx.url, OTLP_HEADERS: '{"authorization":"Bearer otlp-secret"}' }, maxRetries: 5 });
    try {
      const body = batch();
      const ids = JSON.parse(body).events.map((e) => e.id);
      assert.equal((await post(w.url, body)).status, 204);
      const got = await until(() => (rx.delivered().length >= ids.length ? rx.delivered() : null), 30000);
      assert.ok(got, `delivered: ${rx.requests.map((r) => r.status)}`);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(rx.delivered().sort(), [...ids].sort(), "each event exactly once");
      assert.ok(rx.requests.length > 4, "it was retried");
      assert.equal(rx.requests[0].headers.authorization, "Bearer otlp-secret");
      assert.equal(rx.requests[0].headers["content-type"], "application/json");
    } finally {
      await w.stop();
      await rx.close();
    }
  });

  test("a receiver answering 400 sends the message to the dead-letter queue", async () => {
    const rx = await startReceiver(() => 400);
    const w = await startWorker({ vars: { OTLP_ENDPOINT: rx.url } });
    try {
      assert.equal((await post(w.url, batch())).status, 204);
      const dead = await until(async () => {
        const r = await w.rows("SELECT reason, body FROM dead_letters");
        return r.length ? r : null;
      });
      assert.ok(dead, "a dead letter was stored");
      assert.match(dead[0].body, /resourceLogs/);
      assert.equal(rx.requests.length, 1, "no retry on a 4xx other than 408/429");
      const stored = await w.rows("SELECT id FROM events");
      assert.equal(stored.length, 2, "the embedded store still has the events");
    } finally {
      await w.stop();
      await rx.close();
    }
  });
});

describe("configuration", () => {
  test("without a Queue binding events are written directly", async () => {
    const w = await startWorker({ queue: false });
    try {
      const body = batch();
      assert.equal((await post(w.url, body)).status, 204);
      assert.ok(await until(async () => (await w.rows()).length === 2));
    } finally {
      await w.stop();
    }
  });

  test("a bad config is a 500 that says misconfigured, naming the var", async () => {
    const w = await startWorker({ vars: { WRITE_KEYS: "not json" } });
    try {
      const r = await post(w.url, batch());
      assert.equal(r.status, 500);
      const j = await r.json();
      assert.equal(j.error, "misconfigured");
      assert.equal(j.field, "WRITE_KEYS");
      assert.equal((await fetch(w.url + "/healthz")).status, 500);
    } finally {
      await w.stop();
    }
  });
});
