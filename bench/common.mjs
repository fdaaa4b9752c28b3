// Shared bits of the ferrotel benchmarks: package-dir argument, a local static server on
// 127.0.0.1 (free port) that answers the SDK's beacons with 204, headless Chromium, stats.
import http from "node:http";
import { readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(BENCH_DIR, "..");

// playwright-core comes from the repo's node_modules (package.json devDependencies).
const { chromium } = createRequire(path.join(REPO, "package.json"))("playwright-core");

/** The package dir: first CLI argument, default `pkg`; relative paths are tried against the
 *  current directory, then the repo root. Exits non-zero with a message if it is not a package. */
export function pkgDirFromArgs() {
  const arg = process.argv[2] || "pkg";
  const cands = path.isAbsolute(arg) ? [arg] : [path.resolve(process.cwd(), arg), path.resolve(REPO, arg)];
  const dir = cands.find((d) => existsSync(path.join(d, "index.js")) && existsSync(path.join(d, "ferrotel_bg.wasm")));
  if (!dir) fail(`no ferrotel package (index.js + ferrotel_bg.wasm) at ${cands.join(" or ")}`);
  return dir;
}

export function fail(msg) {
  console.error("bench: " + msg);
  process.exit(1);
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

/**
 * Serves `routes` (url prefix -> directory) and in-memory `pages` (path -> html, or
 * {body, headers} for extra response headers), everything
 * `cache-control: no-store`. POST /v1/batch is answered 204; bodies are not kept, only counted
 * (batches, events, click events) so the run can show that the SDK really sent something.
 */
export async function startServer(routes, pages) {
  const counts = { batches: 0, events: 0, clicks: 0, bytes: 0, badBodies: 0, selectors: new Set() };
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      if (req.method === "POST" && url.pathname === "/v1/batch") {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const body = Buffer.concat(chunks);
        counts.batches++;
        counts.bytes += body.length;
        try {
          const evs = JSON.parse(body.toString("utf8")).events || [];
          counts.events += evs.length;
          for (const e of evs) if (e && e.type === "click") { counts.clicks++; counts.selectors.add(e.selector); }
        } catch { counts.badBodies++; }
        res.writeHead(204);
        return res.end();
      }
      const nocache = { "cache-control": "no-store" };
      const pg = pages[url.pathname];
      if (pg !== undefined) {
        const { body, headers } = typeof pg === "string" ? { body: pg, headers: {} } : pg;
        res.writeHead(200, { "content-type": "text/html", ...nocache, ...headers });
        return res.end(body);
      }
      for (const [prefix, dir] of Object.entries(routes)) {
        if (!url.pathname.startsWith(prefix)) continue;
        const rel = path.normalize(decodeURIComponent(url.pathname.slice(prefix.length))).replace(/^(\.\.[/\\])+/, "");
        const file = path.join(dir, rel);
        if (!file.startsWith(dir)) break;
        try {
          if (!(await stat(file)).isFile()) break;
          const data = await readFile(file);
          res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream", ...nocache });
          return res.end(data);
        } catch { break; }
      }
      res.writeHead(404);
      res.end("not found");
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  await new Promise((r, j) => server.once("error", j).listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    counts,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** Headless Chromium (/usr/bin/chromium); `extraArgs` are appended to the fixed flags. */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", ...extraArgs],
  });
}

/** Polls `fn` until truthy or `ms` pass (bounded). */
export async function until(fn, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** Runs `main(ctx)` with a server and a browser, always closing both; non-zero exit on error. */
export async function withServerAndBrowser(routes, pages, main) {
  let server, browser;
  try {
    server = await startServer(routes, pages);
    browser = await launch();
    await main({ server, browser });
  } catch (e) {
    console.error("bench: FAILED: " + (e && e.stack || e));
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (server) await server.close();
  }
}
