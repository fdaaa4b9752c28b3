// The demo's local collector: serves www/ and pkg/, stores POST /v1/batch events in memory and
// answers GET /v1/events for the dashboard. It stands in for the edge Worker until that lands.
// Usage: node scripts/demo-server.mjs [port]   (127.0.0.1 only)
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const events = [];
const seen = new Set();

export function startDemoServer(port = 0) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "content-type, authorization" };
    if (req.method === "OPTIONS") { res.writeHead(204, cors); return res.end(); }
    if (url.pathname === "/v1/batch" && req.method === "POST") {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      try {
        const env = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (env.v !== 1 || !Array.isArray(env.events)) throw new Error("not a v1 envelope");
        for (const e of env.events) if (!seen.has(e.id)) { seen.add(e.id); events.push({ ...e, session: env.session }); }
        res.writeHead(204, cors);
        return res.end();
      } catch (e) {
        res.writeHead(400, { ...cors, "content-type": "application/json" });
        return res.end(JSON.stringify({ error: "invalid_batch", reason: String(e.message) }));
      }
    }
    if (url.pathname === "/v1/events") {
      if (req.headers.authorization !== "Bearer demo-token") { res.writeHead(401, cors); return res.end(); }
      const limit = Math.min(Number(url.searchParams.get("limit")) || 100, 1000);
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      return res.end(JSON.stringify({ events: events.slice(-limit) }));
    }
    let file = url.pathname.startsWith("/pkg/") ? path.join(root, "pkg", url.pathname.slice(5))
      : path.join(root, "www", url.pathname === "/" || !path.extname(url.pathname) ? "index.html" : url.pathname);
    if (!file.startsWith(root)) { res.writeHead(403); return res.end(); }
    try {
      const data = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
      res.end(data);
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
  return new Promise((r) => server.listen(port, "127.0.0.1", () => r(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startDemoServer(Number(process.argv[2]) || 0);
  const { port } = server.address();
  console.log(`ferrotel demo: shop http://127.0.0.1:${port}/  dashboard http://127.0.0.1:${port}/dashboard.html`);
}
