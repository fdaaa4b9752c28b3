// Starts the built Worker (worker/build) in workerd through Miniflare, on 127.0.0.1 and a free
// port, with the real wrangler.toml bindings (local Queues, D1, rate limiters), test secrets
// (TEST_SECRETS: wrangler.toml has none) and test overrides. Also a tiny OTLP receiver for forwarding tests.
import http from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { until as pollUntil } from "../../tests/e2e/harness.mjs";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Miniflare options from worker/wrangler.toml, with bindings from its `[vars]` only: wrangler
 *  would also load a local worker/.dev.vars (the demo's secrets and FERROTEL_ENV=development),
 *  which must not change what the tests run with. */
export function wranglerTomlOptions() {
  const config = path.join(root, "worker/wrangler.toml");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  const vars = Object.keys(unstable_readConfig({ config }).vars);
  workerOptions.bindings = Object.fromEntries(Object.entries(workerOptions.bindings ?? {}).filter(([k]) => vars.includes(k)));
  return workerOptions;
}

/** The secrets every test Worker gets (override or remove them through `vars`). */
export const TEST_SECRETS = {
  IP_SALT: "test-salt-0123456789abcdef",
  READ_TOKEN: "test-read-token-0123456789abcdef0123",
};

/**
 * @param {object} o
 * @param {Record<string,string>} [o.vars]      var overrides (a value of null removes the var)
 * @param {boolean} [o.queue]                   keep the Queue bindings (default true)
 * @param {number} [o.keyLimit]                 RL_KEY limit per 60 s
 * @param {number} [o.clientLimit]              RL_CLIENT limit per 60 s
 * @param {number} [o.maxRetries]               queue max_retries
 * @param {string} [o.main]                     "entry" (worker/entry.mjs, as deployed) or "rust"
 *                                              (build/index.js alone: the `worker` crate router)
 * @param {Record<string,any>} [o.bindings]     extra raw bindings (replace real ones of that name)
 * @param {"test"|"wrangler"} [o.consumers]     "test" (default): the queue consumers fast, for
 *                                              tests (retry delay 0, batch timeout 0, `maxRetries`);
 *                                              "wrangler": exactly wrangler.toml's consumer
 *                                              settings (`maxRetries` is then ignored)
 * @param {boolean} [o.inspector]               open workerd's V8 inspector (loopback, a free port):
 *                                              `inspectorUrl` is then its ws:// address
 */
export async function startWorker({ vars = {}, queue = true, keyLimit = 3000, clientLimit = 300, maxRetries = 10, main = "entry", bindings: extra = {}, consumers = "test", inspector = false } = {}) {
  if (consumers !== "test" && consumers !== "wrangler") throw new Error(`startWorker: consumers must be "test" or "wrangler", got ${consumers}`);
  const workerOptions = wranglerTomlOptions();
  // wrangler.toml holds no secrets: the tests supply them, as `wrangler secret put` would.
  // RETRY_BASE_SECONDS 1: the consumer's backoff in seconds, not tens of seconds.
  const bindings = { ...workerOptions.bindings, ...TEST_SECRETS, RETRY_BASE_SECONDS: "1" };
  for (const [k, v] of Object.entries(vars)) {
    if (v === null) delete bindings[k];
    else bindings[k] = v;
  }
  Object.assign(bindings, extra);
  const ratelimits = structuredClone(workerOptions.ratelimits);
  ratelimits.RL_KEY.simple.limit = keyLimit;
  ratelimits.RL_CLIENT.simple.limit = clientLimit;
  const opts = {
    ...workerOptions,
    name: "ferrotel-ingest",
    modules: true,
    scriptPath: path.join(root, main === "rust" ? "worker/build/index.js" : "worker/entry.mjs"),
    modulesRules: [{ type: "ESModule", include: ["**/*.js", "**/*.mjs"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
    bindings,
    ratelimits,
    assets: undefined,
    host: "127.0.0.1",
    port: 0,
    d1Persist: false,
    queueProducers: queue ? Object.fromEntries(Object.entries(workerOptions.queueProducers).filter(([b]) => !(b in extra))) : {},
    queueConsumers: queue
      ? {
          "ferrotel-events": { maxBatchSize: 10, maxBatchTimeout: 0, maxRetries, retryDelay: 0, deadLetterQueue: "ferrotel-dlq" },
          "ferrotel-dlq": { maxBatchSize: 10, maxBatchTimeout: 0 },
        }
      : {},
  };
  if (queue && consumers === "wrangler") opts.queueConsumers = structuredClone(workerOptions.queueConsumers);
  if (inspector) opts.inspectorPort = 0;
  const mf = new Miniflare(opts);
  const url = (await mf.ready).origin;
  const db = await mf.getD1Database("DB");
  const schema = readFileSync(path.join(root, "worker/schema.sql"), "utf8").replace(/--.*$/gm, "");
  for (const stmt of schema.split(";").map((s) => s.trim()).filter(Boolean)) await db.prepare(stmt).run();
  return {
    url,
    db,
    mf,
    inspectorUrl: inspector ? (await mf.getInspectorURL()).href : undefined,
    async rows(sql = "SELECT * FROM events ORDER BY t, id") {
      return (await db.prepare(sql).all()).results;
    },
    /** Runs the cron trigger (retention) as if at `ms`; resolves to workerd's outcome. */
    async cron(ms = Date.now()) {
      const worker = await mf.getWorker();
      return worker.scheduled({ scheduledTime: new Date(ms), cron: "17 * * * *" });
    },
    stop: () => mf.dispose(),
  };
}

/** An OTLP/HTTP receiver on 127.0.0.1: `answer(n)` gives the status for the n-th request
 *  (`null`: never answer it). */
export async function startReceiver(answer = () => 200) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const n = requests.length;
    const status = answer(n);
    requests.push({ status, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    if (status === null) return; // never answers (the client must time out)
    res.writeHead(status, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/logs`,
    requests,
    /** event.id of every log record in requests answered 2xx. */
    delivered() {
      return requests.filter((r) => r.status !== null && r.status < 300).flatMap((r) =>
        JSON.parse(r.body).resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords.map((lr) =>
          lr.attributes.find((a) => a.key === "event.id").value.stringValue))));
    },
    close: () => { server.closeAllConnections?.(); return new Promise((r) => server.close(r)); },
  };
}

let counter = 0;
/** A valid v1 batch body (what the SDK's sendBeacon sends). */
export function batch({ key = "pk_demo", session, events, t0 } = {}) {
  session ??= (Date.now().toString(16) + (++counter).toString(16).padStart(8, "0")).padStart(32, "0").slice(-32);
  // Event times a few seconds before now and sent_at just after them, as the SDK sends them:
  // the Worker corrects times only for a client clock off by more than a minute.
  const t = t0 ?? Date.now() - 10_000;
  events ??= [
    { type: "page_view", url: "https://shop.test/", referrer: "", cause: "load" },
    { type: "click", url: "https://shop.test/", selector: "#buy", tag: "button", text: "Buy", x: 1, y: 2 },
  ];
  return JSON.stringify({
    v: 1, key, sdk: { name: "ferrotel", version: "0.1.0" }, session, sent_at: t + 5000,
    events: events.map((e, i) => ({ id: (BigInt(Date.now()) * 1000n + BigInt(++counter * 10 + i)).toString(16).padStart(16, "0").slice(-16), t: t + i, ...e })),
  });
}

export async function post(url, body, headers = {}) {
  return fetch(url + "/v1/batch", { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8", origin: "http://127.0.0.1", ...headers } });
}

/** Polls `fn` until it returns a truthy value or `ms` pass (20 s: queue retries take a while on a loaded machine). */
export const until = (fn, ms = 20000) => pollUntil(fn, ms);
