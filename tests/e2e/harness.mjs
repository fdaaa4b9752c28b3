// Test harness: a static file server on 127.0.0.1 (free port) that also records POSTed
// batches, and headless Chromium through playwright-core.
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css" };

/** Serves `routes` (url prefix -> directory) and records POST /v1/batch bodies; with `forward`
 *  (an ingest Worker's origin, see worker/test/harness.mjs) it also hands each body to that
 *  Worker, with the page's content type and Origin, before answering the page, and records the
 *  Worker's status as `edgeStatus`. */
export async function startServer(routes, pages = {}, { forward } = {}) {
  const batches = [];
  // How the ingest answers the n-th batch: `{status, headers}` (default 204). Tests replace it.
  const api = { reply: () => null };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "POST" && url.pathname === "/v1/batch") {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const { status = 204, headers = {} } = api.reply(batches.length) || {};
      const body = Buffer.concat(chunks).toString("utf8");
      let edgeStatus;
      if (forward) {
        const fwd = { "content-type": req.headers["content-type"] ?? "" };
        if (req.headers.origin) fwd.origin = req.headers.origin;
        edgeStatus = (await fetch(forward + "/v1/batch", { method: "POST", body, headers: fwd })).status;
      }
      batches.push({ contentType: req.headers["content-type"], body, status, edgeStatus, at: Date.now() });
      res.writeHead(status, { "access-control-allow-origin": "*", "access-control-expose-headers": "Retry-After", ...headers });
      return res.end();
    }
    if (pages[url.pathname] !== undefined) {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(pages[url.pathname]);
    }
    for (const [prefix, dir] of Object.entries(routes)) {
      if (url.pathname.startsWith(prefix)) {
        let rel = url.pathname.slice(prefix.length) || "index.html";
        const file = path.join(dir, path.normalize(rel).replace(/^(\.\.[/\\])+/, ""));
        try {
          const data = await readFile(file);
          res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
          return res.end(data);
        } catch { /* fall through */ }
      }
    }
    res.writeHead(404);
    res.end("not found");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return Object.assign(api, {
    origin,
    batches,
    /** Events in batches answered 2xx (what the ingest accepted), counted per event id. */
    accepted() {
      const n = new Map();
      for (const b of batches.filter((b) => b.status < 300)) for (const e of JSON.parse(b.body).events) n.set(e.id, { ...e, _n: (n.get(e.id)?._n || 0) + 1 });
      return [...n.values()];
    },
    /** Every event received so far, each body checked to be a v1 envelope. */
    events() {
      return batches.flatMap((b) => {
        const env = JSON.parse(b.body);
        if (env.v !== 1 || !Array.isArray(env.events)) throw new Error("not a v1 envelope: " + b.body.slice(0, 200));
        return env.events.map((e) => ({ ...e, _session: env.session, _key: env.key }));
      });
    },
    close: () => new Promise((r) => server.close(r)),
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function until(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
