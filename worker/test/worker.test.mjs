// The ingest Worker in workerd (Miniflare), over HTTP on 127.0.0.1, with local Queues, D1 and
// rate limiters: what a client and an operator would notice.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startReceiver, batch, post, until, TEST_SECRETS } from "./harness.mjs";

const sessions = (n) => Array.from({ length: n }, (_, i) => (i * 7919 + 1).toString(16).padStart(32, "a"));

/** The CORS headers every ingest answer carries for an origin some key accepts. */
function assertCors(res, origin) {
  assert.equal(res.headers.get("access-control-allow-origin"), origin, `${res.status}: allow-origin`);
  assert.match(res.headers.get("vary") ?? "", /Origin/, `${res.status}: vary`);
  assert.match(res.headers.get("access-control-expose-headers") ?? "", /Retry-After/i, `${res.status}: expose-headers`);
}

/** Rows stored for these event ids, once `n` are there (or what is there after the wait). */
async function storedIds(w, ids, n) {
  const q = `SELECT id FROM events WHERE id IN ('${ids.join("','")}') ORDER BY id`;
  const rows = await until(async () => {
    const r = await w.rows(q);
    return r.length >= n ? r : null;
  });
  await new Promise((r) => setTimeout(r, 300)); // anything else queued has been consumed by now
  return (await w.rows(q)).map((r) => r.id);
}

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
      [await post(w.url, batch({ key: "pk_nobody" })), 401, "key"],
      [await post(w.url, batch(), { "content-type": "application/xml" }), 415, "content-type"],
      [await post(w.url, "x".repeat(70000)), 413, "body"],
    ];
    for (const [res, status, field] of cases) {
      assert.equal(res.status, status);
      assertCors(res, "http://127.0.0.1"); // readable by the page: it must not retry these
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

  test("a batch with an unknown event type stores the others and reports the drop", async () => {
    const body = batch({ events: [
      { type: "page_view", url: "https://shop.test/", referrer: "", cause: "load" },
      { type: "klick", url: "https://shop.test/", selector: "#buy" },
      { type: "click", url: "https://shop.test/", selector: "#buy", tag: "button", text: "Buy", x: 1, y: 2 },
    ] });
    const ids = JSON.parse(body).events.map((e) => e.id);
    const res = await post(w.url, body);
    assert.equal(res.status, 200);
    assertCors(res, "http://127.0.0.1");
    const j = await res.json();
    assert.equal(j.accepted, 2, JSON.stringify(j));
    assert.equal(j.dropped, 1, JSON.stringify(j));
    assert.equal(j.errors.length, 1);
    assert.equal(j.errors[0].index, 1);
    assert.equal(j.errors[0].field, "events[1].type");
    assert.match(j.errors[0].reason, /not a known event type/);
    assert.deepEqual(await storedIds(w, ids, 2), [ids[0], ids[2]].sort(), "the good events are stored, the bad one is not");
  });

  test("a batch with one field of the wrong JSON type stores the others and reports the drop", async () => {
    const body = batch({ events: [
      { type: "click", url: "https://shop.test/", selector: "#a", tag: "a", text: "", x: "abc", y: 2 },
      { type: "custom", url: "https://shop.test/", name: "signup", attrs: { plan: "pro" } },
      { type: "long_task", url: "https://shop.test/", start: 1, duration: -5 },
    ] });
    const ids = JSON.parse(body).events.map((e) => e.id);
    const res = await post(w.url, body, { "content-type": "application/json" });
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.deepEqual([j.accepted, j.dropped], [1, 2], JSON.stringify(j));
    assert.deepEqual(j.errors.map((e) => [e.index, e.field]), [[0, "events[0].x"], [2, "events[2].duration"]]);
    assert.match(j.errors[0].reason, /invalid type: string "abc"/);
    assert.match(j.errors[1].reason, /negative/);
    assert.deepEqual(await storedIds(w, ids, 1), [ids[1]]);
  });

  test("a batch of only bad events is still a 200 (nothing to retry) and stores nothing", async () => {
    const body = batch({ events: Array.from({ length: 12 }, () => ({ type: "nope", url: "https://shop.test/" })) });
    const ids = JSON.parse(body).events.map((e) => e.id);
    const res = await post(w.url, body);
    assert.equal(res.status, 200);
    const j = await res.json();
    assert.deepEqual([j.accepted, j.dropped, j.errors.length], [0, 12, 10], "the list is bounded; the count is not");
    assert.deepEqual(await storedIds(w, ids, 0), []);
  });

  test("routing is by exact path, whatever the entry: /x/v1/batch is a 404 and stores nothing", async () => {
    const body = batch();
    const ids = JSON.parse(body).events.map((e) => e.id);
    const res = await fetch(w.url + "/x/v1/batch", { method: "POST", body, headers: { "content-type": "text/plain", origin: "http://127.0.0.1" } });
    assert.equal(res.status, 404);
    assertCors(res, "http://127.0.0.1");
    assert.equal((await res.json()).error, "not_found");
    const put = await fetch(w.url + "/v1/batch", { method: "PUT", body, headers: { origin: "http://127.0.0.1" } });
    assert.equal(put.status, 405);
    assert.match(put.headers.get("allow"), /POST/);
    assertCors(put, "http://127.0.0.1");
    await put.arrayBuffer();
    assert.deepEqual(await storedIds(w, ids, 0), [], "nothing from /x/v1/batch was ingested");
    assert.equal((await fetch(w.url + "/v1/batch?from=query", { method: "POST", body: batch(), headers: { "content-type": "text/plain" } })).status, 204);
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
    // Only the header carries the token: a query parameter is not read.
    assert.equal((await fetch(w.url + "/v1/events?token=" + TEST_SECRETS.READ_TOKEN)).status, 401);
    const s = "f".repeat(32);
    const events = Array.from({ length: 5 }, (_, i) => ({ type: "custom", url: "https://x.test/", name: "page-" + i }));
    const t0 = Date.now() - 10_000;
    assert.equal((await post(w.url, batch({ session: s, events, t0 }))).status, 204);
    await until(async () => (await w.rows(`SELECT id FROM events WHERE session = '${s}'`)).length === 5);
    const auth = { authorization: "Bearer " + TEST_SECRETS.READ_TOKEN };
    const p1 = await (await fetch(w.url + "/v1/events?type=custom&limit=3", { headers: auth })).json();
    assert.equal(p1.events.length, 3);
    assert.ok(p1.events.every((e) => e.type === "custom"));
    assert.ok(p1.next);
    const p2 = await (await fetch(w.url + "/v1/events?type=custom&limit=3&before=" + p1.next, { headers: auth })).json();
    const names = [...p1.events, ...p2.events].map((e) => e.name);
    assert.equal(new Set(names).size, names.length, "pages do not overlap");
    assert.ok(names.includes("page-0") && names.includes("page-4"));
    assert.equal((await fetch(w.url + "/v1/events?limit=x", { headers: auth })).status, 400);
    // Time filters: the batch's events are at t0 + i.
    const since = await (await fetch(w.url + `/v1/events?type=custom&since=${t0 + 3}`, { headers: auth })).json();
    assert.deepEqual(since.events.filter((e) => e.session === s).map((e) => e.name).sort(), ["page-3", "page-4"]);
    const before = await (await fetch(w.url + `/v1/events?type=custom&until=${t0 + 1}`, { headers: auth })).json();
    const early = before.events.filter((e) => e.session === s).map((e) => e.name);
    assert.deepEqual(early, ["page-0"]);
  });
});

describe("key, origin and rate limits", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { WRITE_KEYS: '{"pk_shop":["https://shop.test"],"pk_blog":["https://blog.test"]}' }, keyLimit: 5 });
  });
  after(async () => { await w?.stop(); });

  test("an origin outside the key's allowlist gets 403, readable by an origin another key accepts", async () => {
    const r = await post(w.url, batch({ key: "pk_shop" }), { origin: "https://evil.test" });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("access-control-allow-origin"), null, "no key accepts evil.test");
    assert.equal((await r.json()).error, "origin_not_allowed");
    const pre = await fetch(w.url + "/v1/batch", { method: "OPTIONS", headers: { origin: "https://evil.test" } });
    assert.equal(pre.status, 403);
    const blog = await post(w.url, batch({ key: "pk_shop" }), { origin: "https://blog.test" });
    assert.equal(blog.status, 403);
    assertCors(blog, "https://blog.test");
    assert.equal((await blog.json()).field, "origin");
  });

  test("refusals before the key is known carry CORS headers for an accepted origin", async () => {
    const o = { origin: "https://shop.test" };
    const cases = [
      [await post(w.url, batch({ key: "pk_nobody" }), o), 401],
      [await post(w.url, "{", o), 400],
      [await post(w.url, batch({ key: "pk_shop" }), { ...o, "content-type": "application/xml" }), 415],
      [await post(w.url, "x".repeat(70000), o), 413],
    ];
    for (const [res, status] of cases) {
      assert.equal(res.status, status);
      assertCors(res, "https://shop.test");
      assert.ok((await res.json()).reason);
    }
    const evil = await post(w.url, "{", { origin: "https://evil.test" });
    assert.equal(evil.status, 400);
    assert.equal(evil.headers.get("access-control-allow-origin"), null);
    await evil.arrayBuffer();
  });

  test("the per-key rate limit trips with 429 and a Retry-After the page can read", async () => {
    const statuses = [];
    let limited = null;
    for (let i = 0; i < 12; i++) {
      const r = await post(w.url, batch({ key: "pk_shop" }), { origin: "https://shop.test" });
      statuses.push(r.status);
      if (r.status === 429) limited = { r, body: await r.json() };
      else await r.arrayBuffer();
    }
    assert.ok(statuses.includes(204), statuses.join());
    assert.ok(statuses.includes(429), statuses.join());
    assert.equal(limited.r.headers.get("retry-after"), "60");
    assertCors(limited.r, "https://shop.test");
    assert.equal(limited.body.error, "rate_limited");
  });
});

describe("cheap checks first", () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { WRITE_KEYS: '{"pk_shop":["https://shop.test","*"],"pk_frame":["null"]}' }, clientLimit: 4 });
  });
  after(async () => { await w?.stop(); });
  const from = (ip, origin = "https://shop.test") => ({ origin, "cf-connecting-ip": ip });

  // (Miniflare's proxy takes the whole upload before workerd sees it, so how much the Worker
  // read is not observable from here; entry.mjs reads at most 65,537 bytes.)
  test("a chunked body over the limit is a 413 without Content-Length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16384));
    let pulled = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (pulled++ < 64) c.enqueue(chunk); // 1 MiB offered
        else c.close();
      },
    });
    const r = await fetch(w.url + "/v1/batch", {
      method: "POST", body: stream, duplex: "half",
      headers: { "content-type": "text/plain", origin: "https://shop.test", "cf-connecting-ip": "198.51.100.1" },
    });
    assert.equal(r.status, 413);
    assert.equal((await r.json()).field, "body");
  });

  // The limiter's window is fixed (60 s): a run that crosses its boundary starts counting
  // again, so these tests look for the first 429 within a bounded number of requests.
  test("refusals count against the client's limit: garbage from one address turns into 429, others unaffected", async () => {
    // The limiter's 60 s window may turn between the garbage and the good batch: then the
    // whole sequence runs once more, from a fresh address, inside the new window.
    let outcome;
    for (const ip of ["203.0.113.9", "203.0.113.19"]) {
      const statuses = [];
      for (let i = 0; i < 12 && !statuses.includes(429); i++) {
        const r = await post(w.url, i % 2 ? "{" : batch({ key: "pk_nobody" }), from(ip));
        statuses.push(r.status);
        await r.arrayBuffer();
      }
      const good = await post(w.url, batch({ key: "pk_shop" }), from(ip));
      outcome = { statuses, good: good.status, retryAfter: good.headers.get("retry-after") };
      await good.arrayBuffer();
      if (outcome.good === 429) break;
    }
    const { statuses } = outcome;
    assert.ok(statuses.includes(429), statuses.join());
    assert.ok(statuses.every((s) => [400, 401, 429].includes(s)), statuses.join());
    assert.ok(statuses.indexOf(429) >= 4, `the limit is 4 requests: ${statuses.join()}`);
    // The same address is now limited for good batches too; another address is not.
    assert.equal(outcome.good, 429, JSON.stringify(outcome));
    assert.equal(outcome.retryAfter, "60");
    const other = await post(w.url, batch({ key: "pk_shop" }), from("203.0.113.10"));
    assert.equal(other.status, 204);
  });

  test("IPv6 clients are limited per /64", async () => {
    const statuses = [];
    for (let i = 1; i <= 12 && !statuses.includes(429); i++) {
      const r = await post(w.url, batch({ key: "pk_shop" }), from(`2001:db8:7:7::${i.toString(16)}`));
      statuses.push(r.status);
      await r.arrayBuffer();
    }
    assert.ok(statuses.includes(429), `addresses rotated within one /64 share a limit: ${statuses.join()}`);
    const next = await post(w.url, batch({ key: "pk_shop" }), from("2001:db8:7:8::1"));
    assert.equal(next.status, 204, "the next /64 has its own");
  });

  test("Origin: null is refused by a '*' key and accepted by a key that lists \"null\"", async () => {
    const r = await post(w.url, batch({ key: "pk_shop" }), from("198.51.100.20", "null"));
    assert.equal(r.status, 403);
    assert.match((await r.json()).reason, /Origin: null/);
    const ok = await post(w.url, batch({ key: "pk_frame" }), from("198.51.100.21", "null"));
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-origin"), "null");
  });
});

describe("a Queue whose send fails", () => {
  let w;
  // EVENTS bound to a value without send(): the entry's send throws, as a refusing Queue's does.
  before(async () => { w = await startWorker({ bindings: { EVENTS: "not a queue" } }); });
  after(async () => { await w?.stop(); });

  test("is a 503 with Retry-After and CORS headers, and the client retries", async () => {
    const r = await post(w.url, batch());
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "5");
    assertCors(r, "http://127.0.0.1");
    assert.equal((await r.json()).error, "unavailable");
  });
});

describe("the Rust router as the main module routes the same way", () => {
  let w;
  before(async () => { w = await startWorker({ main: "rust" }); });
  after(async () => { await w?.stop(); });

  test("404, 405, preflight and /healthz as through the entry; batches only through the entry", async () => {
    const o = { origin: "http://127.0.0.1" };
    const nf = await fetch(w.url + "/x/v1/batch", { method: "POST", body: batch(), headers: { "content-type": "text/plain", ...o } });
    assert.equal(nf.status, 404);
    assertCors(nf, "http://127.0.0.1");
    await nf.arrayBuffer();
    const put = await fetch(w.url + "/v1/batch", { method: "PUT", body: "x", headers: o });
    assert.equal(put.status, 405);
    await put.arrayBuffer();
    const xml = await post(w.url, batch(), { "content-type": "application/xml" });
    assert.equal(xml.status, 415);
    assertCors(xml, "http://127.0.0.1");
    await xml.arrayBuffer();
    assert.equal((await fetch(w.url + "/healthz")).status, 200);
    assert.equal((await fetch(w.url + "/v1/batch", { method: "OPTIONS", headers: o })).status, 204);
    const b = await post(w.url, batch());
    assert.equal(b.status, 500);
    assert.equal((await b.json()).field, "main");
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

  test("forwarding is idempotent by event id: a resend forwards only what was not forwarded", async () => {
    const rx = await startReceiver(() => 200);
    const w = await startWorker({ vars: { OTLP_ENDPOINT: rx.url } });
    try {
      const first = batch();
      const ids = JSON.parse(first).events.map((e) => e.id);
      assert.equal((await post(w.url, first)).status, 204);
      await until(() => rx.delivered().length >= ids.length);
      // The SDK resends the same events (its answer was lost), plus a new one.
      const again = JSON.parse(first);
      again.events.push({ ...again.events[0], id: "00000000000e0001", type: "custom", name: "new" });
      delete again.events.at(-1).selector;
      assert.equal((await post(w.url, JSON.stringify(again))).status, 204);
      await until(() => rx.delivered().length >= ids.length + 1);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(rx.delivered().sort(), [...ids, "00000000000e0001"].sort(), "each event forwarded once");
      const marked = await w.rows("SELECT COUNT(*) AS n FROM events WHERE forwarded = 1");
      assert.equal(marked[0].n, 3);
    } finally {
      await w.stop();
      await rx.close();
    }
  });

  test("error messages, stacks and click text are masked and scrubbed, and errors fingerprinted, before D1 or the receiver sees them", async () => {
    const rx = await startReceiver(() => 200);
    const w = await startWorker({ vars: { OTLP_ENDPOINT: rx.url } });
    try {
      // What the SDK sends now: the text as the page had it, no fingerprint.
      const thrown = (who) => {
        const message = `no account for ${who}, card 4111 1111 1111 1111, status 404`;
        return { type: "error", url: "https://shop.test/", source: "error", "exception.type": "Error", "exception.message": message,
          "exception.stacktrace": `Error: ${message}\n    at pay (https://shop.test/app.js?token=SECRET:1:2345678)` };
      };
      const masked = batch({ events: [
        thrown("bob@example.com"),
        { ...thrown("bob@example.com"), count: 3 }, // the SDK's repeats carry the stack again
        thrown("amy@example.org"),
        { type: "click", url: "https://shop.test/", selector: "#call", tag: "a", text: "  Call 555-1234\n or bob@example.com ", x: 1, y: 2 },
        // An older SDK masked and fingerprinted itself; its repeats had no stack.
        { type: "error", url: "https://shop.test/", source: "error", "exception.type": "E", "exception.message": "m [email]", "exception.stacktrace": "", fingerprint: "00000000000000ab", count: 2 },
      ] });
      const plain = JSON.parse(batch({ events: [thrown("carol@example.net")] }));
      plain.mask_messages = false; // init({ maskMessages: false })
      const ids = [...JSON.parse(masked).events, ...plain.events].map((e) => e.id);
      assert.equal((await post(w.url, masked)).status, 204);
      assert.equal((await post(w.url, JSON.stringify(plain))).status, 204);
      const stored = await storedIds(w, ids, ids.length);
      assert.deepEqual(stored, [...ids].sort());
      await until(() => rx.delivered().length >= ids.length);
      const rows = await w.rows(`SELECT id, data FROM events WHERE id IN ('${ids.join("','")}')`);
      const data = Object.fromEntries(rows.map((r) => [r.id, JSON.parse(r.data)]));
      const [first, repeat, other, click, old] = ids.slice(0, 5).map((id) => data[id]);
      const unmasked = data[ids[5]];
      // Every log record the receiver got, by event id.
      const records = new Map(rx.requests.flatMap((r) => JSON.parse(r.body).resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) =>
        sl.logRecords.map((lr) => [lr.attributes.find((a) => a.key === "event.id").value.stringValue, JSON.stringify(lr)])))));
      const maskedIds = ids.slice(0, 5);
      const everything = maskedIds.map((id) => JSON.stringify(data[id]) + records.get(id)).join("\n");
      for (const secret of ["bob@example.com", "amy@example.org", "4111", "SECRET", "555-1234"]) {
        assert.ok(!everything.includes(secret), `${secret} reached D1 or the receiver`);
      }
      assert.ok(!JSON.stringify(unmasked).includes("SECRET") && !records.get(ids[5]).includes("SECRET"));
      assert.equal(first["exception.message"], "no account for [email], card [number], status 404");
      assert.equal(first["exception.stacktrace"], "Error: no account for [email], card [number], status 404\n    at pay (https://shop.test/app.js:1:2345678)");
      assert.equal(click.text, "Call ***-**** or ***");
      assert.match(first.fingerprint, /^[0-9a-f]{16}$/);
      assert.notEqual(first.fingerprint, "0000000000000000");
      assert.deepEqual([repeat.fingerprint, repeat.count, other.fingerprint], [first.fingerprint, 3, first.fingerprint],
        "a repeat, and the same error for another person, group with the first");
      assert.equal(old.fingerprint, "00000000000000ab", "an older SDK's fingerprint is kept");
      assert.equal(unmasked["exception.message"], "no account for carol@example.net, card 4111 1111 1111 1111, status 404", "maskMessages: false");
      assert.ok(!unmasked["exception.stacktrace"].includes("SECRET"), "URLs are scrubbed either way");
      assert.notEqual(unmasked.fingerprint, first.fingerprint);
      assert.ok(records.get(ids[0]).includes('"key":"ferrotel.fingerprint","value":{"stringValue":"' + first.fingerprint + '"}'), "forwarded with it");
    } finally {
      await w.stop();
      await rx.close();
    }
  });

  test("an OTLP attempt that hangs is aborted after OTLP_TIMEOUT_SECONDS and retried", async () => {
    const rx = await startReceiver((n) => (n === 0 ? null : 200));
    const w = await startWorker({ vars: { OTLP_ENDPOINT: rx.url, OTLP_TIMEOUT_SECONDS: "1" } });
    try {
      const body = batch();
      const ids = JSON.parse(body).events.map((e) => e.id);
      const t0 = Date.now();
      assert.equal((await post(w.url, body)).status, 204);
      const got = await until(() => (rx.delivered().length >= ids.length ? rx.delivered() : null), 30000);
      assert.ok(got, `delivered: ${rx.requests.map((r) => r.status)}`);
      assert.deepEqual(got.sort(), [...ids].sort());
      assert.ok(Date.now() - t0 >= 1000, "the second attempt came after the first timed out");
      assert.equal(rx.requests[0].status, null, "the first attempt was never answered");
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
      assert.match(dead[0].body, /^\{"resourceLogs"/, "the document as it was");
      assert.equal(dead[0].reason, "OTLP receiver answered 400 (after 1 deliveries)");
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
  test("without a Queue binding events are written directly, with the same decisions", async () => {
    const w = await startWorker({ queue: false });
    try {
      const body = batch();
      assert.equal((await post(w.url, body)).status, 204);
      assert.ok(await until(async () => (await w.rows()).length === 2));
      const partial = batch({ events: [
        { type: "custom", url: "https://x.test/", name: "kept" },
        { type: "custom", url: "https://x.test/", name: 7 },
      ] });
      const ids = JSON.parse(partial).events.map((e) => e.id);
      const res = await post(w.url, partial);
      assert.equal(res.status, 200);
      assertCors(res, "http://127.0.0.1");
      const j = await res.json();
      assert.deepEqual([j.accepted, j.dropped, j.errors[0].field], [1, 1, "events[1].name"]);
      assert.deepEqual(await storedIds(w, ids, 1), [ids[0]]);
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

  /** Every request path of the Worker, each answered with a Response. */
  const everyPath = (url) => [
    ["POST /v1/batch", () => post(url, batch())],
    ["OPTIONS /v1/batch", () => fetch(url + "/v1/batch", { method: "OPTIONS", headers: { origin: "http://127.0.0.1" } })],
    ["GET /healthz", () => fetch(url + "/healthz")],
    ["GET /v1/events", () => fetch(url + "/v1/events", { headers: { authorization: "Bearer short" } })],
    ["PUT /v1/batch", () => fetch(url + "/v1/batch", { method: "PUT", body: "x" })],
    ["GET /nope", () => fetch(url + "/nope")],
  ];

  const refusesEverything = async (vars, main = "entry") => {
    const w = await startWorker({ vars, main });
    try {
      for (const [name, req] of everyPath(w.url)) {
        const r = await req();
        assert.equal(r.status, 500, name);
        const j = await r.json();
        assert.deepEqual([j.error, j.field], ["misconfigured", "READ_TOKEN"], name);
        assert.ok(!JSON.stringify(j).includes(vars.READ_TOKEN), `${name}: the answer does not echo the token`);
      }
      assert.equal((await w.rows()).length, 0, "nothing stored");
    } finally {
      await w.stop();
    }
  };

  test("a READ_TOKEN shorter than 32 characters: every path answers 500 misconfigured naming READ_TOKEN", async () => {
    await refusesEverything({ READ_TOKEN: "0123456789abcdef0123456789abcde" }); // 31
  });

  test("the Rust router as main refuses a short READ_TOKEN the same way", async () => {
    const w = await startWorker({ vars: { READ_TOKEN: "too-short" }, main: "rust" });
    try {
      for (const path of ["/healthz", "/v1/events", "/nope"]) {
        const r = await fetch(w.url + path);
        assert.equal(r.status, 500, path);
        assert.equal((await r.json()).field, "READ_TOKEN", path);
      }
    } finally {
      await w.stop();
    }
  });

  test("the demo token is refused without FERROTEL_ENV=development", async () => {
    await refusesEverything({ READ_TOKEN: "demo-token" });
    await refusesEverything({ READ_TOKEN: "demo-token", FERROTEL_ENV: "production" });
  });

  test("with FERROTEL_ENV=development the demo token serves", async () => {
    const w = await startWorker({ vars: { READ_TOKEN: "demo-token", FERROTEL_ENV: "development" } });
    try {
      assert.equal((await fetch(w.url + "/healthz")).status, 200);
      assert.equal((await post(w.url, batch())).status, 204);
      assert.equal((await fetch(w.url + "/v1/events")).status, 401);
      const r = await fetch(w.url + "/v1/events", { headers: { authorization: "Bearer demo-token" } });
      assert.equal(r.status, 200);
      assert.ok(Array.isArray((await r.json()).events));
    } finally {
      await w.stop();
    }
  });

  test("without READ_TOKEN the read endpoint is off and the rest serves", async () => {
    const w = await startWorker({ vars: { READ_TOKEN: null } });
    try {
      assert.equal((await fetch(w.url + "/healthz")).status, 200);
      assert.equal((await post(w.url, batch())).status, 204);
      const r = await fetch(w.url + "/v1/events", { headers: { authorization: "Bearer anything" } });
      assert.equal(r.status, 404);
      assert.match((await r.json()).reason, /READ_TOKEN/);
    } finally {
      await w.stop();
    }
  });
});

describe("retention, quotas and daily salts", () => {
  const DAY = 86_400_000;
  let w;
  before(async () => { w = await startWorker({ vars: { DAILY_QUOTAS: '{"pk_demo": 3}', RETENTION_DAYS: "30" } }); });
  after(async () => { await w?.stop(); });

  test("a key over its daily quota gets 429 with Retry-After to midnight UTC", async () => {
    const statuses = [];
    let refused;
    for (let i = 0; i < 3; i++) {
      const r = await post(w.url, batch());
      statuses.push(r.status);
      if (r.status === 429) refused = { r, body: await r.json() };
      else await r.arrayBuffer();
    }
    assert.deepEqual(statuses, [204, 204, 429], "2 + 2 events: the quota of 3 is used up");
    assert.equal(refused.body.error, "quota_exceeded");
    const toMidnight = Math.ceil((DAY - (Date.now() % DAY)) / 1000);
    const after = Number(refused.r.headers.get("retry-after"));
    assert.ok(Math.abs(after - toMidnight) <= 5, `Retry-After ${after}, ${toMidnight} s to midnight`);
    const usage = await until(async () => {
      const r = await w.rows("SELECT key, day, events FROM usage");
      return r.length && r[0].events === 4 ? r : null;
    });
    assert.deepEqual(usage, [{ key: "pk_demo", day: Math.floor(Date.now() / DAY), events: 4 }]);
  });

  test("the client hash uses a random salt of the day, kept in D1", async () => {
    const salts = await w.rows("SELECT day, salt FROM salts");
    assert.equal(salts.length, 1);
    assert.equal(salts[0].day, Math.floor(Date.now() / DAY));
    assert.match(salts[0].salt, /^[0-9a-f]{64}$/);
    const hashes = (await w.rows("SELECT data FROM events")).map((r) => JSON.parse(r.data).client_hash);
    assert.ok(hashes.length >= 4 && hashes.every((h) => /^[0-9a-f]{16}$/.test(h)), hashes.join());
    assert.equal(new Set(hashes).size, 1, "one address, one day: one hash");
    assert.ok(!(await w.rows("SELECT data FROM events")).some((r) => r.data.includes("127.0.0.1")));
  });

  test("the cron trigger deletes old events, dead letters, salts and counts, and keeps the rest", async () => {
    const now = Date.now();
    const today = Math.floor(now / DAY);
    await w.db.prepare("INSERT INTO events (id, t, type, session, key, data, received_at) VALUES (?1, ?2, 'custom', 's', 'pk_demo', '{}', ?2)").bind("00000000000001d0", now - 31 * DAY).run();
    await w.db.prepare("INSERT INTO events (id, t, type, session, key, data, received_at) VALUES (?1, ?2, 'custom', 's', 'pk_demo', '{}', ?2)").bind("00000000000001d1", now - 29 * DAY).run();
    await w.db.prepare("INSERT INTO dead_letters (received_at, reason, body) VALUES (?1, 'old', '{}'), (?2, 'recent', '{}')").bind(now - 91 * DAY, now - 89 * DAY).run();
    await w.db.prepare("INSERT INTO salts (day, salt) VALUES (?1, 'a'), (?2, 'b')").bind(today - 2, today - 1).run();
    await w.db.prepare("INSERT INTO usage (key, day, events) VALUES ('pk_demo', ?1, 9)").bind(today - 2).run();
    const before = (await w.rows("SELECT COUNT(*) AS n FROM events"))[0].n;
    const outcome = await w.cron(now);
    assert.equal(outcome.outcome, "ok");
    const ids = (await w.rows("SELECT id FROM events WHERE id LIKE '00000000000001d%'")).map((r) => r.id);
    assert.deepEqual(ids, ["00000000000001d1"], "31 days old: deleted; 29 days: kept");
    assert.equal((await w.rows("SELECT COUNT(*) AS n FROM events"))[0].n, before - 1);
    assert.deepEqual((await w.rows("SELECT reason FROM dead_letters")).map((r) => r.reason), ["recent"]);
    assert.deepEqual((await w.rows("SELECT day FROM salts ORDER BY day")).map((r) => r.day), [today - 1, today], "salts older than yesterday are gone");
    assert.ok((await w.rows("SELECT day FROM usage")).every((r) => r.day === today));
  });
});

describe("queue messages", () => {
  let w;
  before(async () => { w = await startWorker(); });
  after(async () => { await w?.stop(); });

  test("a 64 KB body of quote-heavy events fits the Queue's message limit and is stored whole", async () => {
    const text = '"\\'.repeat(64); // 128 characters, each escaped in JSON
    const events = Array.from({ length: 150 }, (_, i) => ({ type: "click", url: "https://shop.test/", selector: "#b" + i, tag: "button", text, x: i, y: 1 }));
    const body = batch({ events });
    assert.ok(body.length > 55_000 && body.length <= 65_536, `body ${body.length} bytes`);
    const r = await post(w.url, body);
    assert.equal(r.status, 204, await r.text());
    const s = JSON.parse(body).session;
    const n = await until(async () => {
      const rows = await w.rows(`SELECT COUNT(*) AS n FROM events WHERE session = '${s}'`);
      return rows[0].n === 150 ? 150 : null;
    });
    assert.equal(n, 150);
  });
});
