// The Worker's entry. Everything runs in the Rust Worker built by worker-build (build/index.js)
// except the hot path's plumbing: for POST /v1/batch with a Queue binding it reads the body as
// an ArrayBuffer, lets Rust decide (`ingest_prepare`: decode, validate, sample, enrich, OTLP),
// then calls the rate limiters and the Queue and answers. Measured cheaper than routing the
// request through the `worker` crate's Request/Response wrappers (bench/worker/).
import RustWorker from "./build/index.js";

const prepare = RustWorker.prototype.ingest_prepare;
const RATE_LIMITED = '{"error":"rate_limited","reason":"too many batches; retry after the period"}';
const UNAVAILABLE = '{"error":"unavailable","reason":"could not queue the batch; retry"}';

function respond(status, body, cors, retryAfter) {
  const headers = {};
  if (body) headers["content-type"] = "application/json";
  if (cors) { headers["access-control-allow-origin"] = cors; headers.vary = "Origin"; }
  if (retryAfter) headers["retry-after"] = retryAfter;
  return new Response(body ?? null, { status, headers });
}

export default class Ingest extends RustWorker {
  async fetch(request) {
    const env = this.env;
    const h = request.headers;
    // Everything else (other routes, no Queue, bodies over the cap) takes the Rust path.
    if (request.method !== "POST" || !env.EVENTS || !request.url.endsWith("/v1/batch") || Number(h.get("content-length")) > 65536) {
      return super.fetch(request);
    }
    const body = new Uint8Array(await request.arrayBuffer());
    const r = prepare(env, body, h.get("content-type") ?? "", h.get("origin") ?? undefined, h.get("user-agent") ?? "",
      h.get("cf-connecting-ip") ?? "", request.cf?.country, Date.now());
    if (r.status !== 204) return respond(r.status, r.body, r.cors);
    for (const [binding, key] of [["RL_KEY", r.key], ["RL_CLIENT", r.clientKey]]) {
      const limiter = env[binding];
      if (limiter && !(await limiter.limit({ key })).success) return respond(429, RATE_LIMITED, r.cors, "60");
    }
    try {
      for (const d of r.docs) await env.EVENTS.send(d, { contentType: "json" });
    } catch (e) {
      console.error("ferrotel: queue send failed", e);
      return respond(503, UNAVAILABLE, r.cors, "5");
    }
    return respond(204, null, r.cors);
  }
}
