// The Worker's entry: an executor, no rules. For every request it hands the method, URL and
// headers to Rust (`ingest_decide`, over core::ingest::decide), which decides everything: the
// route, every refusal, decoding, sampling, enrichment, OTLP, which rate limiters to call with
// which keys, where the documents go, and the exact answer (status, headers, body) for every
// outcome. This module reads the body when asked, calls the limiters named, sends the documents
// to the Queue named (or, without one, stores them with `ingest_store` under waitUntil) and
// returns the answer described. Preflight, /healthz and GET /v1/events go to the Rust router.
// Calling the export directly is measured cheaper than the `worker` crate's Request/Response
// wrappers (bench/worker/).
import RustWorker from "./build/index.js";

const decide = RustWorker.prototype.ingest_decide;
const store = RustWorker.prototype.ingest_store;

const respond = (r) => new Response(r.body ?? null, { status: r.status, headers: r.headers });

export default class Ingest extends RustWorker {
  async fetch(request) {
    const env = this.env;
    const h = request.headers;
    const ask = (body) => decide(env, request.method, request.url, h.get("content-type"), h.get("content-length"),
      h.get("origin"), h.get("user-agent"), h.get("cf-connecting-ip"), request.cf?.country, Date.now(), body);
    let d = ask(undefined);
    if (d.route) return super.fetch(request);
    if (d.read) d = ask(new Uint8Array(await request.arrayBuffer()));
    if (d.limits) {
      for (const [binding, key] of d.limits) {
        if (!(await env[binding].limit({ key })).success) return respond(d.limited);
      }
      if (d.queue) {
        try {
          for (const doc of d.docs) await env[d.queue].send(doc, { contentType: "json" });
        } catch (e) {
          console.error("ferrotel: queue send failed", e);
          return respond(d.unavailable);
        }
      } else if (d.direct) {
        this.ctx.waitUntil(store(env, d.docs));
      }
    }
    return respond(d.reply);
  }
}
