// Sampling rules without a redeploy, in workerd (Miniflare) with local D1 and Queues: the
// token-guarded endpoint, validation, rules coming into force from D1 within the cache time,
// the kept fraction over many sessions, and the rule recorded on stored and forwarded events.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startWorker, startReceiver, batch, post, until } from "./harness.mjs";

const ADMIN = "test-admin-token-0123456789abcdef0123";
const auth = { authorization: "Bearer " + ADMIN };

const getRules = (w, headers = auth) => fetch(w.url + "/v1/sampling-rules", { headers });
const putRules = (w, body, headers = auth) =>
  fetch(w.url + "/v1/sampling-rules", {
    method: "PUT",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });

/** The session sampler of src/core/sample.rs (FNV-1a, splitmix finaliser, top 53 bits), to
 *  know exactly which sessions a rate keeps. */
function position(session) {
  const M = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(session, "utf8")) h = ((h ^ BigInt(b)) * 0x100000001b3n) & M;
  h = ((h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  h = ((h ^ (h >> 27n)) * 0x94d049bb133111ebn) & M;
  h ^= h >> 31n;
  return Number(h >> 11n) / 2 ** 53;
}

/** Fixed, random-looking session ids (the same in every run). */
const sessionIds = (n, salt) =>
  Array.from({ length: n }, (_, i) => createHash("sha256").update(`${salt}:${i}`).digest("hex").slice(0, 32));

/** The stored rows for these sessions, once the count has stopped changing (queue drained). */
async function settledRows(w, where) {
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const rows = await w.rows(`SELECT session, data FROM events WHERE ${where}`);
    if (rows.length === last) return rows;
    last = rows.length;
  }
}

describe("the sampling-rules endpoint", () => {
  let w;
  before(async () => { w = await startWorker({ vars: { ADMIN_TOKEN: ADMIN } }); });
  after(async () => { await w?.stop(); });

  test("without the admin token, or with a wrong one (or the read token), it answers 401", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: ADMIN }, { authorization: "Bearer " + "test-read-token-0123456789abcdef0123" }]) {
      for (const res of [await getRules(w, headers), await putRules(w, { rules: [] }, headers)]) {
        assert.equal(res.status, 401, JSON.stringify(headers));
        const j = await res.json();
        assert.equal(j.error, "unauthorized");
        assert.match(j.reason, /ADMIN_TOKEN/);
      }
    }
    const stored = await w.rows("SELECT * FROM sampling_rules");
    assert.equal(stored.length, 0, "nothing was stored");
  });

  test("bad rules are refused with 400 naming the field and the reason, and change nothing", async () => {
    const ok = { rules: [{ id: "keep", rate: 1 }] };
    assert.equal((await putRules(w, ok)).status, 200);
    const many = { rules: Array.from({ length: 51 }, (_, i) => ({ id: `r${i}`, rate: 1 })) };
    const cases = [
      ["{", "body", /must be/],
      [{ rule: [] }, "body", /unknown field `rule`/],
      [{ rules: [{ id: "a", rate: 1, typo: true }] }, "body", /unknown field `typo`/],
      [{ rules: [{ id: "a", rate: 1.5 }] }, "rules[0].rate", /from 0 to 1/],
      [{ rules: [{ id: "a", rate: -1 }] }, "rules[0].rate", /from 0 to 1/],
      [{ rules: [{ id: "a", rate: 1, route: "checkout" }] }, "rules[0].route", /starting with \//],
      [{ rules: [{ id: "a", rate: 1, route: "/a/**/b/**" }] }, "rules[0].route", /only once/],
      [{ rules: [{ id: "a", rate: 1, types: ["clicks"] }] }, "rules[0].types", /not an event type/],
      [{ rules: [{ id: "a", rate: 1, types: ["error"] }] }, "rules[0].types", /always kept/],
      [{ rules: [{ id: "a", rate: 1 }, { id: "a", rate: 0 }] }, "rules[1].id", /earlier rule/],
      [many, "rules", /at most 50/],
    ];
    for (const [body, field, reason] of cases) {
      const res = await putRules(w, body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      const j = await res.json();
      assert.equal(j.error, "invalid_rules");
      assert.equal(j.field, field, JSON.stringify(j));
      assert.match(j.reason, reason);
    }
    const big = await putRules(w, JSON.stringify({ rules: [], pad: "x".repeat(70_000) }));
    assert.equal(big.status, 413);
    const now = await (await getRules(w)).json();
    assert.deepEqual(now.rules, ok.rules, "the rules in force are unchanged");
    assert.equal((await fetch(w.url + "/v1/sampling-rules", { method: "DELETE", headers: auth })).status, 405);
  });

  test("GET returns what PUT stored, normalised, with the cache time", async () => {
    const rules = [
      { id: "checkout", rate: 1, route: "/checkout/**" },
      { id: "clicks", rate: 0.25, types: ["click", "click"], release: "2.*", keep_sessions_with_error: true },
    ];
    const put = await putRules(w, { rules });
    assert.equal(put.status, 200);
    const j = await (await getRules(w)).json();
    assert.deepEqual(j.rules, [rules[0], { ...rules[1], types: ["click"] }]);
    assert.equal(j.cache_seconds, 30, "the default RULES_CACHE_SECONDS");
    assert.ok(j.updated_at > Date.now() - 60_000);
    assert.deepEqual(await put.json(), j);
    assert.equal((await putRules(w, { rules: [] })).status, 200);
    assert.deepEqual((await (await getRules(w)).json()).rules, []);
  });
});

test("without ADMIN_TOKEN the endpoint is off (404 saying so); a short one is refused at the first request", async () => {
  const off = await startWorker();
  try {
    const res = await getRules(off);
    assert.equal(res.status, 404);
    assert.match((await res.json()).reason, /ADMIN_TOKEN/);
  } finally {
    await off.stop();
  }
  const short = await startWorker({ vars: { ADMIN_TOKEN: "short" } });
  try {
    const res = await getRules(short);
    assert.equal(res.status, 500);
    assert.equal((await res.json()).field, "ADMIN_TOKEN");
  } finally {
    await short.stop();
  }
});

describe("rules in force", () => {
  let w, receiver;
  before(async () => {
    receiver = await startReceiver();
    w = await startWorker({
      vars: { ADMIN_TOKEN: ADMIN, RULES_CACHE_SECONDS: "1", OTLP_ENDPOINT: receiver.url, SAMPLE_RATES: '{"default": 1}' },
      clientLimit: 100_000,
      keyLimit: 100_000,
    });
  });
  after(async () => { await w?.stop(); await receiver?.close(); });

  /** The stored row of a one-page-view batch of a fresh session, once stored. */
  async function oneEvent(session) {
    const body = batch({ session, events: [{ type: "page_view", url: "https://shop.test/", referrer: "", cause: "load" }] });
    assert.equal((await post(w.url, body)).status, 204);
    const id = JSON.parse(body).events[0].id;
    return until(async () => (await w.rows(`SELECT data FROM events WHERE id = '${id}'`))[0]);
  }

  test("a rule PUT through the endpoint decides the next batch; one changed in D1 by another isolate is read within RULES_CACHE_SECONDS", async () => {
    assert.equal((await putRules(w, { rules: [{ id: "v1", rate: 1 }] })).status, 200);
    const first = JSON.parse((await oneEvent(sessionIds(1, "v1")[0])).data);
    assert.equal(first.sample_rule, "v1");
    assert.equal(first.sample_rate, 1);
    // Another isolate's PUT: the row changes in D1, this isolate learns it on its next read.
    await w.db.prepare("UPDATE sampling_rules SET rules = ?1 WHERE id = 1").bind('{"rules":[{"id":"v2","rate":1}]}').run();
    const changed = Date.now();
    let seen, n = 0;
    while (!seen && Date.now() - changed < 20_000) {
      const row = JSON.parse((await oneEvent(sessionIds(1, `v2-${n++}`)[0])).data);
      if (row.sample_rule === "v2") seen = Date.now() - changed;
      else assert.equal(row.sample_rule, "v1");
    }
    assert.ok(seen !== undefined, "the rule changed in D1 came into force");
    console.log(`# the changed rule decided a batch ${seen} ms after the D1 write (RULES_CACHE_SECONDS=1)`);
  });

  test("over 2,000 sessions the kept fraction is the rule's rate (within 2 %), exactly the sessions the sampler keeps, and the rule is in OTLP", async () => {
    const rate = 0.3;
    assert.equal((await putRules(w, { rules: [{ id: "pv-30", rate, types: ["page_view"] }] })).status, 200);
    const sessions = sessionIds(2000, "fraction");
    const pending = [...sessions];
    const workers = Array.from({ length: 16 }, async () => {
      for (let s; (s = pending.pop());) {
        const body = batch({ session: s, events: [{ type: "page_view", url: "https://shop.test/p", referrer: "", cause: "load" }] });
        const res = await post(w.url, body);
        assert.equal(res.status, 204);
      }
    });
    await Promise.all(workers);
    const list = sessions.map((s) => `'${s}'`).join(",");
    const rows = await settledRows(w, `session IN (${list})`);
    const kept = new Set(rows.map((r) => r.session));
    const fraction = kept.size / sessions.length;
    console.log(`# kept ${kept.size} of ${sessions.length} sessions at rate ${rate}: ${fraction}`);
    assert.ok(Math.abs(fraction - rate) <= 0.02, `kept fraction ${fraction} vs rate ${rate}`);
    const expected = sessions.filter((s) => position(s) < rate);
    assert.deepEqual([...kept].sort(), expected.sort(), "exactly the sessions the sampler keeps");
    for (const r of rows) {
      const d = JSON.parse(r.data);
      assert.deepEqual([d.sample_rule, d.sample_rate], ["pv-30", rate]);
    }
    // Forwarded OTLP carries the rule too.
    const records = await until(() => {
      const recs = receiver.requests.flatMap((q) => JSON.parse(q.body).resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords)));
      const mine = recs.filter((lr) => lr.attributes.some((a) => a.key === "ferrotel.sample_rule" && a.value.stringValue === "pv-30"));
      return mine.length >= kept.size ? mine : null;
    });
    assert.equal(records.length, kept.size);
    for (const lr of records) {
      const rateAttr = lr.attributes.find((a) => a.key === "ferrotel.sample_rate");
      assert.equal(rateAttr.value.doubleValue, rate);
    }
  });

  test("keep_sessions_with_error: a session outside the sample is kept from the batch with its error on, never before", async () => {
    assert.equal((await putRules(w, { rules: [{ id: "err-only", rate: 0, keep_sessions_with_error: true }] })).status, 200);
    const [s, other, elsewhere] = sessionIds(3, "errors");
    const pv = (url) => ({ type: "page_view", url, referrer: "", cause: "route" });
    const send = async (session, events) => {
      const body = batch({ session, events });
      assert.equal((await post(w.url, body)).status, 204);
      return JSON.parse(body).events.map((e) => e.id);
    };
    const before = await send(s, [pv("https://shop.test/a")]);
    const withError = await send(s, [pv("https://shop.test/b"), { type: "error", url: "https://shop.test/b", "exception.message": "boom" }]);
    // Wait until the error's mark is in D1 (the queue consumer writes it), then a later batch.
    await until(async () => (await w.rows(`SELECT 1 FROM error_sessions WHERE session = '${s}'`)).length === 1);
    const after = await send(s, [pv("https://shop.test/c")]);
    const unrelated = await send(other, [pv("https://shop.test/a")]);
    // An error this isolate never saw (another isolate's, marked in D1 by the consumer): the
    // decision looks the session up.
    await w.db.prepare("INSERT INTO error_sessions (session, at) VALUES (?1, ?2)").bind(elsewhere, Date.now()).run();
    const looked = await send(elsewhere, [pv("https://shop.test/d")]);
    const rows = await settledRows(w, `session IN ('${s}', '${other}', '${elsewhere}')`);
    const byId = Object.fromEntries(rows.map((r) => [JSON.parse(r.data).id, JSON.parse(r.data)]));
    assert.equal(byId[before[0]], undefined, "dropped before the error: not brought back");
    assert.equal(byId[unrelated[0]], undefined, "a session without an error: dropped at rate 0");
    for (const id of [withError[0], after[0], looked[0]]) {
      assert.deepEqual([byId[id]?.sample_rule, byId[id]?.sample_error_session], ["err-only", true], id);
    }
    assert.equal(byId[withError[1]].type, "error");
    assert.equal(byId[withError[1]].sample_rule, undefined, "errors are always kept, by no rule");
  });
});
