// The page every measurement of bench/compare/run.mjs loads: a shop's product grid (64 nested
// product cards, a header, a filter sidebar, a cart), the SDK under test started by window.__go(),
// then the page's own handlers, and the workloads (clicks, errors) the harness calls.
//
// Click targets (340 distinct elements): per card the product image (inside its link), the title
// link, the price, the label inside "Add to cart" and the icon inside the wishlist button; 8
// header links; 12 filter labels (a click toggles their checkbox). A click is the sequence a mouse
// produces: pointerdown, mousedown, pointerup, mouseup, click, dispatched on the element with the
// coordinates of its centre (measured once, before any loop), so SDKs that listen to pointer or
// mouse events see them too. The page's delegated click handler keeps links from navigating (as a
// client-side router would), counts "Add to cart" into the cart badge and toggles the wishlist
// state; the "Apply coupon" button's handler throws. Interactive elements carry
// data-faro-user-action-name, which is how Grafana Faro's user-action capture is switched on per
// element (the other SDKs ignore it). After each click the page forces style and layout, as the
// rendering between two real clicks would, so an SDK that reads layout finds it clean and the
// page's own re-layout is paid equally by every variant.

const CARDS = 64;

function card(i) {
  const id = 1000 + i;
  const price = (19 + ((i * 37) % 180) + 0.99).toFixed(2);
  return `<li class="grid-item">
  <article class="card" data-product="${id}">
    <div class="card-media">
      <a class="card-link" href="/product/${id}" data-faro-user-action-name="open-product"><img class="thumb" alt="Trail runner ${i + 1}" width="160" height="120"
        src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=" data-t></a>
      ${i % 4 === 0 ? '<span class="badge">New</span>' : ""}
    </div>
    <div class="card-body">
      <h3 class="card-title"><a href="/product/${id}" data-faro-user-action-name="open-product" data-t>Trail runner ${i + 1}</a></h3>
      <p class="card-meta"><span class="rating" aria-label="4 of 5">★★★★☆</span> <span class="reviews">(${(i * 13) % 200} reviews)</span></p>
      <p class="card-price"><span class="price" data-t>€${price}</span></p>
      <div class="card-actions">
        <button type="button" class="btn add" data-action="add" data-faro-user-action-name="add-to-cart"><span class="btn-label" data-t>Add to cart</span></button>
        <button type="button" class="btn wish" data-action="wish" aria-pressed="false" data-faro-user-action-name="wishlist"><svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><path data-t d="M8 14s-6-4-6-8a3 3 0 0 1 6-1 3 3 0 0 1 6 1c0 4-6 8-6 8z"/></svg><span class="sr">Save</span></button>
      </div>
    </div>
  </article>
</li>`;
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{display:flex;gap:16px;align-items:center;padding:12px 24px;border-bottom:1px solid #ddd}
header nav a{margin-right:12px;color:#225}
.layout{display:flex;gap:24px;padding:16px 24px}
aside.filters{width:180px;flex:none}
aside.filters label{display:block;padding:2px 0}
ul.grid{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px}
.thumb{display:block;background:#eef;width:100%;height:auto}
.card-title{font-size:15px;margin:6px 0}
.btn{border:1px solid #888;background:#f6f6f6;border-radius:4px;padding:4px 8px;cursor:pointer}
.btn.wish[aria-pressed=true] path{fill:#c22}
.sr{position:absolute;left:-9999px}
.badge{background:#2a5;color:#fff;padding:0 4px;border-radius:3px;font-size:12px}
`;

export function productPage() {
  const nav = ["Women", "Men", "Kids", "Running", "Hiking", "Sale", "New in", "Help"]
    .map((n) => `<a href="/c/${n.toLowerCase().replace(" ", "-")}" data-faro-user-action-name="nav" data-t>${n}</a>`).join("\n");
  const filters = ["Size 38", "Size 39", "Size 40", "Size 41", "Size 42", "Size 43", "Black", "Blue", "Red", "Waterproof", "Wide fit", "In stock"]
    .map((n, i) => `<label data-faro-user-action-name="filter" data-t><input type="checkbox" name="f${i}"> ${n}</label>`).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Trail shop: running shoes</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head><body>
<header><strong class="logo">Trail shop</strong><nav>${nav}</nav>
  <div class="cart">Cart <span id="cart-count">0</span> <button type="button" class="btn" id="coupon" data-action="coupon" data-faro-user-action-name="coupon">Apply coupon</button></div>
</header>
<div class="layout">
  <aside class="filters"><form id="filters"><h2>Filter</h2>
${filters}
  </form></aside>
  <main><h1>Running shoes</h1><p id="last-viewed">Nothing viewed yet.</p>
    <section class="results"><ul class="grid">
${Array.from({ length: CARDS }, (_, i) => card(i)).join("\n")}
    </ul></section>
  </main>
</div>
<script type="module">
const sdk = new URLSearchParams(location.search).get("sdk");
window.__sdk = sdk;
// Wasm linear memory is not in V8's heap figures (not even its ArrayBuffer backing stores):
// remember every instance's exported memories so the harness can add their size.
const memories = [];
const keep = (r) => {
  const inst = r instanceof WebAssembly.Instance ? r : r && r.instance;
  if (inst) for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
  return r;
};
for (const k of ["instantiate", "instantiateStreaming"]) {
  const orig = WebAssembly[k];
  if (orig) WebAssembly[k] = function (...a) { return orig.apply(this, a).then(keep); };
}
window.__wasmBytes = () => memories.reduce((n, m) => n + m.buffer.byteLength, 0);
const mc = new MessageChannel();
let resume = null;
mc.port1.onmessage = () => { const r = resume; resume = null; r(); };
// Yields to the event loop (a task, not a timer: no 4 ms clamping).
const yieldTask = () => new Promise((r) => { resume = r; mc.port2.postMessage(0); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function setupApp() {
  let cart = 0, viewed = 0, filters = 0, coupon = 0;
  const cartEl = document.getElementById("cart-count");
  const lastEl = document.getElementById("last-viewed");
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[href]");
    if (a) {
      e.preventDefault();
      viewed++;
      if (viewed % 50 === 0) lastEl.textContent = "Viewed " + viewed + " pages";
      return;
    }
    const b = e.target.closest("[data-action]");
    if (!b) return;
    if (b.dataset.action === "add") cartEl.textContent = String(++cart);
    else if (b.dataset.action === "wish") b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
    else if (b.dataset.action === "coupon") throw new Error("bench: coupon service unavailable (code " + (coupon++ % 20) + ")");
  });
  document.getElementById("filters").addEventListener("change", () => { filters++; });
  const targets = [...document.querySelectorAll("[data-t]")].map((el) => {
    const r = el.getBoundingClientRect();
    return { el, x: r.left + r.width / 2, y: r.top + r.height / 2 };
  });
  const c = document.getElementById("coupon").getBoundingClientRect();
  window.__coupon = { el: document.getElementById("coupon"), x: c.left + c.width / 2, y: c.top + c.height / 2 };
  window.__targets = targets;
  window.__appState = () => ({ cart, viewed, filters, coupon });
}

function clickAt(t) {
  const base = { bubbles: true, cancelable: true, composed: true, view: window, clientX: t.x, clientY: t.y, screenX: t.x, screenY: t.y + 80, button: 0 };
  const ptr = { pointerId: 1, pointerType: "mouse", isPrimary: true, width: 1, height: 1 };
  t.el.dispatchEvent(new PointerEvent("pointerdown", { ...base, ...ptr, buttons: 1, pressure: 0.5 }));
  t.el.dispatchEvent(new MouseEvent("mousedown", { ...base, buttons: 1, detail: 1 }));
  t.el.dispatchEvent(new PointerEvent("pointerup", { ...base, ...ptr, buttons: 0, pressure: 0 }));
  t.el.dispatchEvent(new MouseEvent("mouseup", { ...base, buttons: 0, detail: 1 }));
  t.el.dispatchEvent(new MouseEvent("click", { ...base, buttons: 0, detail: 1 }));
  void document.documentElement.offsetWidth;
}

// Timed: import() of the bundle and the SDK's init call, up to the promise it returns (if any)
// resolving. Then the SDK's own check, then the page's handlers.
window.__go = async () => {
  try {
    const t0 = performance.now();
    const m = await import("/b/" + sdk + "/entry.js");
    const tImport = performance.now();
    if (m.start) await m.start({ origin: location.origin, path: "/sink/" + sdk, assets: "/assets/" + sdk });
    const t1 = performance.now();
    const info = m.check ? await m.check() : "no SDK";
    setupApp();
    return { ms: t1 - t0, importMs: tImport - t0, info, isolated: self.crossOriginIsolated, targets: window.__targets.length };
  } catch (e) {
    return { error: String(e && e.stack || e) };
  }
};

// n clicks over the targets in turn, in chunks of \`chunk\` with a yield to the event loop
// after each chunk (microtasks and queued tasks run there, as between real clicks). Returns the
// wall time of each chunk, its yield included, in ms.
window.__clicks = async (n, chunk) => {
  const T = window.__targets;
  let k = window.__next || 0;
  const times = [];
  for (let i = 0; i < n;) {
    const t0 = performance.now();
    const end = Math.min(n, i + chunk);
    for (; i < end; i++) clickAt(T[k++ % T.length]);
    await yieldTask();
    times.push(performance.now() - t0);
  }
  window.__next = k;
  return times;
};

// The memory workload: \`clicks\` clicks over the targets and \`errors\` errors, half thrown by the
// coupon button's click handler (these clicks are not counted in \`clicks\`), half unhandled
// Promise.reject, spread over 100 chunks with a yield between; then \`settleMs\` idle.
window.__work = async (clicks, errors, settleMs) => {
  const T = window.__targets;
  let k = 0, thrown = 0, rejected = 0;
  for (let c = 0; c < 100; c++) {
    const nClicks = Math.round(((c + 1) * clicks) / 100) - Math.round((c * clicks) / 100);
    const nErr = Math.round(((c + 1) * errors) / 100) - Math.round((c * errors) / 100);
    for (let i = 0; i < nClicks; i++) clickAt(T[k++ % T.length]);
    for (let i = 0; i < nErr; i++) {
      if ((thrown + rejected) % 2 === 0) { clickAt(window.__coupon); thrown++; }
      else { Promise.reject(new Error("bench: price refresh failed for item " + (1000 + (rejected++ % 20)))); }
    }
    await yieldTask();
    if (c % 10 === 9) await sleep(0);
  }
  await sleep(settleMs);
  return { clicks: k, thrown, rejected, app: window.__appState() };
};
window.__ready = true;
</script></body></html>`;
}
