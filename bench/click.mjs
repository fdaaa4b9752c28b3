// Added main-thread time per click, in headless Chromium.
//
//   node bench/click.mjs [pkgDir] [--baseline otherPkgDir]
//   (pkgDir defaults to `pkg`, relative to the repo root; --baseline adds a fourth variant, an
//   earlier build of the package, measured in the same rounds, and prints the two side by side)
//
// Three variants of one page (8 levels: main > section.list > ul.items > li x20 > div.card >
// div.body > p > button.buy "Buy 3 now"):
//   a) no SDK,  b) a bare capture+passive document click listener,  c) ferrotel after init.
// In each page a loop of 5,000 synchronous `button.click()` calls is timed with
// performance.now() inside the page, after 500 warm-up clicks.
//
// Design: ROUNDS rounds; in each round every variant gets a FRESH page in a fresh browser
// context (no shared localStorage, SDK state or JIT feedback between variants), and the order
// of the variants rotates from round to round so drift (thermal, GC, other load) spreads over
// all of them. The result per variant is the median over rounds of (loop time / 5,000).
//
// ferrotel runs with maxBatchEvents 200, so every 200 clicks it encodes a batch and calls
// sendBeacon inside the loop: that is real per-click work and is deliberately kept in.
// No timed assertions: this prints numbers and exits 0 unless something breaks.
import path from "node:path";
import { BENCH_DIR, pkgDirFromArgs, withServerAndBrowser, until, median, f } from "./common.mjs";

const ROUNDS = Number(process.env.ROUNDS) || 7;
const WARMUP = 500;
const CLICKS = 5000;
const bi = process.argv.indexOf("--baseline");
const baseDir = bi > 0 ? path.resolve(process.argv[bi + 1]) : null;
if (bi > 0) process.argv.splice(bi, 2);
const VARIANTS = baseDir ? ["none", "bare", "ferrotel", "baseline"] : ["none", "bare", "ferrotel"];
const LABEL = { none: "(a) no SDK", bare: "(b) bare capture listener", ferrotel: "(c) ferrotel", baseline: "(d) ferrotel baseline build" };
const INIT = { endpoint: "/v1/batch", key: "pk_bench", flushIntervalMs: 600000, maxBatchEvents: 200 };

const pkgDir = pkgDirFromArgs();

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>click bench</title></head><body>
<main><section class="list"><ul class="items">
${Array.from({ length: 20 }, (_, i) => `<li><div class="card"><div class="body"><p>Item ${i + 1} <button class="buy">Buy 3 now</button></p></div></div></li>`).join("\n")}
</ul></section></main>
<script type="module">
const variant = new URLSearchParams(location.search).get("v");
try {
  if (variant === "bare") {
    document.addEventListener("click", () => {}, { capture: true, passive: true });
  } else if (variant === "ferrotel" || variant === "baseline") {
    // Count sendBeacon calls and refusals (one extra JS call per beacon, i.e. per 200 clicks).
    const beacon = navigator.sendBeacon.bind(navigator);
    window.__beacons = { calls: 0, refused: 0 };
    navigator.sendBeacon = (u, b) => { const ok = beacon(u, b); window.__beacons.calls++; if (!ok) window.__beacons.refused++; return ok; };
    const sdk = await import(variant === "baseline" ? "/base/index.js" : "/pkg/index.js");
    await sdk.init(${JSON.stringify(INIT)});
    await sdk.ready?.();
    window.__sdk = sdk;
  }
  // The 10th card's button: a target in the middle of the list.
  const button = document.querySelectorAll("li")[9].querySelector("button.buy");
  window.__clicks = (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) button.click();
    return performance.now() - t0;
  };
  window.__ready = { ok: true, session: window.__sdk ? window.__sdk.sessionId() ?? null : null };
} catch (e) {
  window.__ready = { ok: false, error: String(e && e.stack || e) };
}
</script></body></html>`;

await withServerAndBrowser({ "/pkg/": pkgDir, ...(baseDir ? { "/base/": baseDir } : {}) }, { "/click.html": PAGE }, async ({ server, browser }) => {
  const perClick = { none: [], bare: [], ferrotel: [], baseline: [] };
  const sdk = { pageErrors: [], sessions: new Set(), beacons: 0, refused: 0, queued: 0 };
  const t0 = Date.now();

  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(r + k) % VARIANTS.length];
      const ctx = await browser.newContext();
      try {
        const page = await ctx.newPage();
        page.on("pageerror", (e) => { if (v === "ferrotel") sdk.pageErrors.push(String(e)); });
        await page.goto(`${server.origin}/click.html?v=${v}`);
        await page.waitForFunction(() => window.__ready, null, { timeout: 15000 });
        const ready = await page.evaluate(() => window.__ready);
        if (!ready.ok) throw new Error(`variant ${v}: page setup failed: ${ready.error}`);
        if (v === "ferrotel") {
          if (!ready.session) throw new Error("ferrotel: init resolved but sessionId() is empty");
          sdk.sessions.add(ready.session);
        }
        await page.evaluate((n) => window.__clicks(n), WARMUP);
        const ms = await page.evaluate((n) => window.__clicks(n), CLICKS);
        perClick[v].push((ms * 1000) / CLICKS);
        if (v === "ferrotel") {
          const b = await page.evaluate(() => ({ ...window.__beacons,
            queued: Object.keys(localStorage).filter((k) => k.startsWith("ferrotel:")).length }));
          sdk.beacons += b.calls; sdk.refused += b.refused; sdk.queued += b.queued;
          // Let the beacons sent during the loop arrive, so the batch count is meaningful.
          const want = server.counts.clicks + 1;
          await until(() => server.counts.clicks >= want, 2000);
        }
      } finally {
        await ctx.close();
      }
    }
  }

  // Context close fires pagehide: give the last flushes a moment before reading the counts.
  await until(() => false, 300);
  const c = server.counts;
  const med = Object.fromEntries(VARIANTS.map((v) => [v, median(perClick[v])]));
  const addF = med.ferrotel - med.none;
  const addB = med.bare - med.none;
  const sentClicks = ROUNDS * (WARMUP + CLICKS);

  const out = [];
  out.push("== ferrotel click cost (headless Chromium " + browser.version() + ") ==");
  out.push(`package: ${pkgDir}`);
  out.push(`${ROUNDS} rounds x ${VARIANTS.length} variants, fresh page each, ${WARMUP} warm-up + ${CLICKS} timed button.click() per page,`);
  out.push("target <button> 8 levels deep (main > section.list > ul.items > li[10 of 20] > div.card > div.body > p > button.buy)");
  out.push("");
  for (const v of VARIANTS) {
    out.push(`${LABEL[v].padEnd(28)} median ${f(med[v], 3).padStart(7)} us/click   rounds: ${perClick[v].map((x) => f(x, 2)).join(" ")}`);
  }
  out.push("");
  out.push(`ferrotel added per click  (c - a): ${f(addF, 2)} us      target: <= 5 us added per click`);
  out.push(`bare listener added       (b - a): ${f(addB, 2)} us`);
  out.push(`ratio ferrotel / bare listener   : ${addB > 0 ? f(addF / addB, 1) + "x" : "n/a (bare listener added <= 0 us: below timer noise)"}`);
  if (baseDir) {
    const addBase = med.baseline - med.none;
    out.push(`baseline build added      (d - a): ${f(addBase, 2)} us   (${baseDir})`);
    out.push(`ratio ferrotel / baseline build  : ${addBase > 0 ? f(addF / addBase, 2) + "x" : "n/a"}`);
  }
  out.push("");
  out.push("reference figures from the issue (NOT measured here):");
  out.push("  minimal hand-written JS SDK      13 us/click");
  out.push("  Sentry click breadcrumbs         32 us/click");
  out.push("  PostHog autocapture          ~1,070 us/click");
  out.push("");
  out.push(`note: maxBatchEvents=200: every 200 clicks a flush is scheduled (the next task, after the synchronous loop; the visible page sends by fetch).`);
  out.push(`check: ferrotel sessions ${sdk.sessions.size}/${ROUNDS}; collector got ${c.batches} batches, ${c.events} events, ${c.clicks} click events` +
    ` (${sentClicks} clicks made in ferrotel pages, ${f(c.bytes / 1024, 0)} KiB)` + (c.badBodies ? `, ${c.badBodies} unparsable bodies` : "") +
    (sdk.pageErrors.length ? `; page errors: ${sdk.pageErrors.slice(0, 3).join(" | ")}` : "; no page errors"));
  out.push(`       in ferrotel pages: ${sdk.beacons} sendBeacon calls, ${sdk.refused} refused by the browser;` +
    ` ${sdk.queued} localStorage entries (key prefix "ferrotel:") right after the loops`);
  if (sdk.refused) out.push("       (refused beacons take the SDK's fallback, fetch keepalive then the localStorage queue, inside the timed loop:" +
    " Chromium caps in-flight keepalive data at ~64 KB, so within one synchronous loop only the first large beacon is accepted)");
  out.push(`(run took ${f((Date.now() - t0) / 1000, 1)} s)`);
  console.log(out.join("\n"));
  if (c.clicks === 0) console.log("WARNING: the collector received no click events from ferrotel: the measured loop may not exercise the SDK.");
});
