// Starts the local Worker (wrangler dev on 127.0.0.1, a free port), drives the demo shop in
// headless Chromium (clicks, a route change, an error, leaving the page), then reads the
// dashboard (entering the read token from worker/.dev.vars) and prints what it shows. Stops
// wrangler by PID.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import { chromium } from "playwright-core";

// The read token scripts/demo.sh wrote to worker/.dev.vars (what a person pastes into the dashboard).
const token = /^READ_TOKEN\s*=\s*"?([^"\n]+)"?\s*$/m.exec(readFileSync("worker/.dev.vars", "utf8"))?.[1];
if (!token) throw new Error("no READ_TOKEN in worker/.dev.vars: run bash scripts/demo.sh --smoke");

const port = await new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const origin = `http://127.0.0.1:${port}`;
const dev = spawn("node_modules/.bin/wrangler", ["dev", "-c", "worker/wrangler.toml", "--ip", "127.0.0.1", "--port", String(port),
  "--persist-to", "worker/.wrangler/state", "--show-interactive-dev-session=false"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, detached: true });
let log = "";
dev.stdout.on("data", (d) => (log += d));
dev.stderr.on("data", (d) => (log += d));
const stop = () => { try { process.kill(-dev.pid, "SIGTERM"); } catch { /* gone */ } };
process.on("exit", stop);

let browser;
try {
  const deadline = Date.now() + 60000;
  for (;;) {
    try { if ((await fetch(origin + "/healthz")).ok) break; } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error("wrangler dev did not start:\n" + log);
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage();
  const runStart = Date.now(); // the database may hold earlier runs' events: wait for this one's
  await page.goto(origin + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("session"), null, { timeout: 15000 });
  await page.click("button.add >> nth=0");
  await page.click("button.add >> nth=2");
  await page.click("a[data-route='/cart']");
  await page.click("#boom");
  await page.waitForTimeout(300);
  await page.goto(origin + "/dashboard.html"); // pagehide flushes the shop's last batch
  await page.fill("#token", token);
  await page.click("#token-form button");
  // The dashboard reads again every 5 s; wait until this run's error (the shop's last act) is in.
  await page.waitForFunction((since) => document.body.dataset.state === "ready" && document.querySelector("#timeline rect.bar")
    && [...document.querySelectorAll("#errors time.last")].some((t) => Date.parse(t.dateTime) >= since)
    && document.querySelector("#clicks table.top-clicks"), runStart, { timeout: 30000 });
  const text = (sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent.replace(/\s+/g, " ").trim()));
  const rows = (sel) => page.$$eval(sel + " tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.replace(/\s+/g, " ").trim()).join(" | ")));
  console.log("\n" + (await text("#updated"))[0]);
  console.log("\nevents over time, by type: " + (await text("#timeline .legend .key")).join(", ") + `, ${(await text("#timeline rect.bar")).length} bar segments`);
  for (const m of ["LCP", "INP", "CLS", "FCP", "TTFB"]) {
    const r = await rows(`.vital[data-metric=${m}]`);
    console.log(`\n${m} p75 per page (${await page.$$eval(`.vital[data-metric=${m}] rect.band`, (b) => b.length)} bands):\n  ` + (r.length ? r.join("\n  ") : "no samples"));
  }
  for (const [title, sel] of [["errors by fingerprint", "#errors"], ["top clicks", "#clicks table.top-clicks"], ["click bursts", "#clicks table.bursts"], ["screen time per route", "#screens"], ["failed requests", "#requests"]]) {
    const r = await rows(sel);
    console.log(`\n${title}:\n  ` + (r.length ? r.join("\n  ") : (await text(sel + " .empty")).join(" ") || "none"));
  }
  await page.screenshot({ path: "www/dashboard.png", fullPage: true });
  console.log("\nscreenshot: www/dashboard.png");
} finally {
  await browser?.close();
  stop();
}
