// Added main-thread time per click, in headless Chromium, on clicks spread over 512 distinct
// elements of a product grid.
//
//   node bench/click.mjs [pkgDir] [--baseline otherPkgDir] [--profile]
//   (pkgDir defaults to `pkg`, relative to the repo root; --baseline adds a fourth variant, an
//   earlier build of the package, measured in the same rounds; --profile adds one more ferrotel
//   page under the CDP sampling profiler (20 us) and prints where the time goes)
//
// The page: a shop's product grid, 64 cards, each
//   li.product-card > article.card-body > { a.card-media > img, header.card-head > { h3.title >
//   a.title-link, span.badge }, div.card-info > { p.price > span.amount + s.was, ul.swatches >
//   li.swatch x3, span.rating > span.count }, footer.actions > { button.add-to-cart,
//   button.wishlist > svg > path, a.link } }
// under div#root > div.layout > main.content > section.catalog > div.container > ul.grid, with
// class lists of 1-4 classes. Eight click targets per card (title link, badge, amount, the 2nd
// swatch, rating count, add-to-cart button, the wishlist icon's <path>, details link): 512
// distinct elements, clicked round-robin (so no two consecutive clicks share a card, and the
// SDK's DOM walk sees a different element and ancestor chain each time). A delegated listener on
// ul.grid calls preventDefault (the app's router), the same in every variant.
//
// Variants: a) no SDK, b) a bare capture+passive document click listener, c) ferrotel after
// `init` and `ready()` with its default options (batches of 100 events).
//
// Per page: 10 chunks of 100 clicks warm up, then 50 chunks of 100 are timed. Each chunk is a
// synchronous loop of `el.dispatchEvent(new MouseEvent("click", {bubbles, cancelable, clientX,
// clientY}))`, timed with performance.now() (the page is cross-origin isolated, so the clock is
// fine-grained). After each chunk the page lets every short timer and fetch the SDK started run
// (its batch of 100 is encoded and sent in a timer task after the click that filled it), and
// those callbacks are timed too (setTimeout and fetch are wrapped in every variant). So two
// figures per click: SYNC, the click handler itself, and DEFERRED, the batch encoding and send
// amortized over the 100 clicks it carries. ADDED = (sync + deferred) - no SDK's.
//
// ROUNDS rounds; in each round every variant gets a FRESH page in a fresh browser context, in an
// order rotating from round to round. The result per variant is the median over rounds; the
// spread is that of the per-round difference to the no-SDK page of the same round.
// No timed assertions: this prints numbers and exits 0 unless something breaks.
import path from "node:path";
import { pkgDirFromArgs, withServerAndBrowser, until, median, f } from "./common.mjs";

const ROUNDS = Number(process.env.ROUNDS) || 9;
const CHUNK = 100, WARM_CHUNKS = 10, CHUNKS = 50;
const CLICKS = CHUNK * CHUNKS;
const flag = (name) => { const i = process.argv.indexOf(name); if (i > 0) process.argv.splice(i, 1); return i > 0; };
const profile = flag("--profile");
const bi = process.argv.indexOf("--baseline");
const baseDir = bi > 0 ? path.resolve(process.argv[bi + 1]) : null;
if (bi > 0) process.argv.splice(bi, 2);
const VARIANTS = baseDir ? ["none", "bare", "ferrotel", "baseline"] : ["none", "bare", "ferrotel"];
const LABEL = { none: "(a) no SDK", bare: "(b) bare capture listener", ferrotel: "(c) ferrotel", baseline: "(d) ferrotel baseline build" };
const INIT = { endpoint: "/v1/batch", key: "pk_bench" };

const pkgDir = pkgDirFromArgs();

const NAMES = ["Trail Runner 2", "Canvas Tote", "Merino Beanie", "Steel Bottle 750 ml", "Rain Shell", "Wool Socks (3 pack)", "Desk Lamp", "Linen Shirt"];
const card = (i) => `<li class="product-card card${i % 5 ? "" : " card--featured"}" data-sku="SKU-${1000 + i}">
<article class="card-body">
<a class="card-media" href="/p/${1000 + i}"><img class="thumb lazy" alt="" width="1" height="1" src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></a>
<header class="card-head"><h3 class="title"><a class="title-link" href="/p/${1000 + i}">${NAMES[i % NAMES.length]}</a></h3><span class="badge badge-sale">-${5 + (i % 4) * 5}%</span></header>
<div class="card-info"><p class="price"><span class="amount">$${19 + i}.99</span> <s class="was">$${29 + i}.00</s></p>
<ul class="swatches"><li class="swatch swatch-red"></li><li class="swatch swatch-blue"></li><li class="swatch swatch-sand"></li></ul>
<span class="rating stars-4" aria-label="4 stars">&#9733;&#9733;&#9733;&#9733;&#9734; <span class="count">(${12 + i * 7})</span></span></div>
<footer class="actions"><button class="btn btn-primary add-to-cart" type="button">Add to cart</button><button class="btn btn-icon wishlist" type="button" aria-label="Save"><svg class="icon" viewBox="0 0 24 24" width="16" height="16"><path d="M12 21l-8-8a5 5 0 0 1 8-6 5 5 0 0 1 8 6z"></path></svg></button><a class="link more" href="/p/${1000 + i}">Details</a></footer>
</article></li>`;
const TARGETS = "a.title-link, span.badge, span.amount, li.swatch:nth-of-type(2), span.count, button.add-to-cart, button.wishlist path, a.more";

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>click bench</title></head><body>
<div id="root"><div class="layout"><main class="content"><section class="catalog" aria-label="Products"><div class="container mx-auto">
<ul class="grid products grid-cols-4">
${Array.from({ length: 64 }, (_, i) => card(i)).join("\n")}
</ul></div></section></main></div></div>
<script type="module">
const variant = new URLSearchParams(location.search).get("v");
// Every variant: the SDK's deferred work (timers, fetch callbacks) is timed, and storage calls
// made during a click loop are counted.
const st = window.setTimeout.bind(window), ofetch = window.fetch.bind(window);
const W = window.__w = { deferred: 0, send: 0, short: 0, inflight: 0, inLoop: false, storage: 0 };
const timed = (fn) => function () { const t = performance.now(); try { return fn.apply(this, arguments); } finally { W.deferred += performance.now() - t; } };
window.setTimeout = (cb, ms, ...rest) => {
  const short = !(ms > 100);
  if (short) W.short++;
  const run = timed(cb);
  return st(function () { if (short) W.short--; return run.apply(this, arguments); }, ms, ...rest);
};
window.fetch = (...a) => {
  W.inflight++;
  const t = performance.now();
  const p = ofetch(...a);
  W.send += performance.now() - t;
  const w = (fn) => (v) => { W.inflight--; return fn ? timed(fn)(v) : undefined; };
  return { then: (ok, err) => p.then(w(ok), w(err)) };
};
const obeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (...a) => { const t = performance.now(); try { return obeacon(...a); } finally { W.send += performance.now() - t; } };
for (const m of ["getItem", "setItem", "removeItem"]) {
  const o = Storage.prototype[m];
  Storage.prototype[m] = function () { if (W.inLoop) W.storage++; return o.apply(this, arguments); };
}
document.querySelector("ul.grid").addEventListener("click", (e) => e.preventDefault());
try {
  if (variant === "bare") {
    document.addEventListener("click", () => {}, { capture: true, passive: true });
  } else if (variant === "ferrotel" || variant === "baseline") {
    const sdk = await import(variant === "baseline" ? "/base/index.js" : "/pkg/index.js");
    await sdk.init(${JSON.stringify(INIT)});
    await sdk.ready?.();
    window.__sdk = sdk;
  }
  const T = [...document.querySelectorAll(${JSON.stringify(TARGETS)})];
  let next = 0;
  const chunk = (n) => {
    W.inLoop = true;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      T[next].dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true, clientX: 40 + (next & 63), clientY: 300 }));
      if (++next == T.length) next = 0;
    }
    const ms = performance.now() - t0;
    W.inLoop = false;
    return ms;
  };
  // Until every short timer (the SDK's flush) and every fetch has run (bounded: 2 s).
  const settle = async () => {
    for (let k = 0; k < 400 && (W.short > 0 || W.inflight > 0 || k == 0); k++) await new Promise((r) => st(r, 5));
  };
  window.__run = async (chunks, size) => {
    await settle();
    W.deferred = 0; W.send = 0; W.storage = 0;
    let sync = 0;
    for (let c = 0; c < chunks; c++) { sync += chunk(size); await settle(); }
    return { sync, deferred: W.deferred, send: W.send, storage: W.storage };
  };
  window.__ready = { ok: true, targets: T.length, distinct: new Set(T).size,
    session: window.__sdk ? window.__sdk.sessionId() ?? null : null };
} catch (e) {
  window.__ready = { ok: false, error: String(e && e.stack || e) };
}
</script></body></html>`;
// Cross-origin isolated: performance.now() at 5 us instead of 100 us granularity.
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

async function openPage(browser, server, v, onError) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => onError(String(e)));
  await page.goto(`${server.origin}/click.html?v=${v}`);
  await page.waitForFunction(() => window.__ready, null, { timeout: 15000 });
  const ready = await page.evaluate(() => window.__ready);
  if (!ready.ok) throw new Error(`variant ${v}: page setup failed: ${ready.error}`);
  if (ready.distinct < 300) throw new Error(`only ${ready.distinct} distinct targets`);
  if ((v === "ferrotel" || v === "baseline") && !ready.session) throw new Error(`${v}: ready() resolved but sessionId() is empty`);
  await page.evaluate(([n, s]) => window.__run(n, s), [WARM_CHUNKS, CHUNK]);
  return { ctx, page, ready };
}

await withServerAndBrowser({ "/pkg/": pkgDir, ...(baseDir ? { "/base/": baseDir } : {}) }, { "/click.html": { body: PAGE, headers: ISOLATED } }, async ({ server, browser }) => {
  const R = Object.fromEntries(VARIANTS.map((v) => [v, { sync: [], deferred: [], send: [], total: [], storage: 0 }]));
  const pageErrors = [], sessions = new Set();
  let targets = 0;
  const t0 = Date.now();

  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(r + k) % VARIANTS.length];
      const { ctx, page, ready } = await openPage(browser, server, v, (e) => pageErrors.push(`${v}: ${e}`));
      try {
        targets = ready.distinct;
        if (ready.session) sessions.add(ready.session);
        const m = await page.evaluate(([n, s]) => window.__run(n, s), [CHUNKS, CHUNK]);
        const us = (ms) => (ms * 1000) / CLICKS;
        R[v].sync.push(us(m.sync));
        R[v].deferred.push(us(m.deferred));
        R[v].send.push(us(m.send));
        R[v].total.push(us(m.sync + m.deferred));
        R[v].storage += m.storage;
      } finally {
        await ctx.close();
      }
    }
  }

  let prof = null;
  if (profile) {
    const { ctx, page } = await openPage(browser, server, "ferrotel", (e) => pageErrors.push(`profile: ${e}`));
    try {
      const cdp = await ctx.newCDPSession(page);
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.setSamplingInterval", { interval: 20 });
      await cdp.send("Profiler.start");
      await page.evaluate(([n, s]) => window.__run(n, s), [CHUNKS, CHUNK]);
      prof = (await cdp.send("Profiler.stop")).profile;
    } finally {
      await ctx.close();
    }
  }

  await until(() => false, 300); // the last sends arrive
  const c = server.counts;
  const med = (v, k) => median(R[v][k]);
  const added = (v, k) => R[v][k].map((x, i) => x - R.none[k][i]);
  const spread = (xs) => { const s = [...xs].sort((a, b) => a - b); return `min ${f(s[0])} / median ${f(median(s))} / max ${f(s[s.length - 1])}`; };

  const out = [];
  out.push("== ferrotel click cost (headless Chromium " + browser.version() + ") ==");
  out.push(`package: ${pkgDir}`);
  out.push(`${ROUNDS} rounds x ${VARIANTS.length} variants, fresh page each; ${WARM_CHUNKS * CHUNK} warm-up + ${CLICKS} timed clicks per page in chunks of ${CHUNK},`);
  out.push(`round-robin over ${targets} distinct elements of 64 nested product cards (8 targets per card, 9-13 levels deep)`);
  out.push("");
  out.push(`${"".padEnd(28)}   sync  deferred     total   us/click (medians over rounds)`);
  for (const v of VARIANTS) {
    out.push(`${LABEL[v].padEnd(28)} ${f(med(v, "sync"), 3).padStart(7)} ${f(med(v, "deferred"), 3).padStart(9)} ${f(med(v, "total"), 3).padStart(9)}   rounds (total): ${R[v].total.map((x) => f(x, 2)).join(" ")}`);
  }
  out.push("");
  for (const v of VARIANTS.slice(1)) {
    out.push(`${LABEL[v]} minus no SDK, per round:`);
    out.push(`  added sync     ${spread(added(v, "sync"))} us/click`);
    out.push(`  added deferred ${spread(added(v, "deferred"))} us/click  (batch encoding + send, amortized)`);
    out.push(`    of which the browser's fetch/sendBeacon call ${spread(added(v, "send"))} us/click`);
    out.push(`  ADDED TOTAL    ${spread(added(v, "total"))} us/click` + (v === "ferrotel" ? "   target: <= 5 us" : ""));
  }
  if (baseDir) {
    out.push(`ferrotel minus baseline build (${baseDir}), per round:`);
    for (const k of ["sync", "deferred", "total"]) out.push(`  ${k.padEnd(8)} ${spread(R.ferrotel[k].map((x, i) => x - R.baseline[k][i]))} us/click`);
  }
  out.push("");
  out.push(`storage calls during the click loops: ferrotel ${R.ferrotel.storage}` + (baseDir ? `, baseline ${R.baseline.storage}` : "") + " (expected 0)");
  out.push(`check: ferrotel sessions ${sessions.size}; collector got ${c.batches} batches, ${c.events} events, ${c.clicks} click events with ${c.selectors.size} distinct selectors` +
    (c.badBodies ? `, ${c.badBodies} unparsable bodies` : "") + (pageErrors.length ? `; page errors: ${pageErrors.slice(0, 3).join(" | ")}` : "; no page errors"));
  if (prof) out.push("", ...profileLines(prof));
  out.push(`(run took ${f((Date.now() - t0) / 1000, 1)} s)`);
  console.log(out.join("\n"));
  if (c.clicks === 0) console.log("WARNING: the collector received no click events from ferrotel: the measured loop may not exercise the SDK.");
});

// Self time per function, in us per click, split into the timed click loops (samples under the
// page's `chunk`) and everything else that is not idle (the deferred flushes and sends).
function profileLines(p) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const name = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop()}`;
  const inLoop = new Map();
  const loop = (id) => {
    if (!inLoop.has(id)) {
      const n = byId.get(id);
      inLoop.set(id, n.callFrame.functionName === "chunk" || (parent.has(id) && loop(parent.get(id))));
    }
    return inLoop.get(id);
  };
  const agg = { sync: new Map(), other: new Map() }, tot = { sync: 0, other: 0 };
  let onClick = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id), dt = p.timeDeltas[i + 1] || 0;
    if (n.callFrame.functionName === "(idle)") return;
    const k = loop(id) ? "sync" : "other";
    agg[k].set(name(n), (agg[k].get(name(n)) || 0) + dt);
    tot[k] += dt;
    for (let x = id; x !== undefined; x = parent.get(x)) if (byId.get(x).callFrame.functionName === "onClick") { onClick += dt; break; }
  });
  const lines = ["CPU profile of one more ferrotel page (sampling 20 us; self time in us per click; the profiler's overhead inflates all):",
    `  in the click loops ${f(tot.sync / CLICKS)} (of which under the SDK's onClick ${f(onClick / CLICKS)}), elsewhere (flushes, sends, GC) ${f(tot.other / CLICKS)}`];
  for (const k of ["sync", "other"]) {
    lines.push(k === "sync" ? "  click loops:" : "  elsewhere:");
    for (const [fn, v] of [...agg[k]].sort((a, b) => b[1] - a[1]).slice(0, k === "sync" ? 16 : 8)) lines.push(`  ${f(v / CLICKS, 3).padStart(7)}  ${fn}`);
  }
  return lines;
}
