// The dashboard: reads stored events through the Worker's token-protected `GET /v1/events`, page
// by page and bounded, computes what it shows with ./stats.js and draws it with ./charts.js.
// Everything from the store is put in the page as text (text nodes, setAttribute), never as markup.
import { THRESHOLDS, VITALS, rate, buckets, countsByType, finalVitals, vitalSeries, errorGroups, clickStats, screenTime, failedRequests, FAILED_REQUEST_TYPES, BURST_GAP_MS, BURST_MIN } from "./stats.js";
import { h, stackedBars, lines, hbars, legend, colorMap, num, niceStep } from "./charts.js";

/** The event types read (the wire schema's kinds, and where failed requests will come from). */
const TYPES = ["page_view", "screen_time", "click", "web_vital", "nav_timing", "long_task", "error", "custom", ...FAILED_REQUEST_TYPES];
const PAGE = 1000, MAX_PAGES = 5; // per type: at most 5,000 events, newest first
// Read again every 5 s while the tab is visible; every minute once a type hits the bound.
const REFRESH_MS = 5000, REFRESH_BOUNDED_MS = 60000;

const $ = (id) => document.getElementById(id);
const body = (id) => $(id).querySelector(".body");
const typeColor = colorMap();
// The token is asked for, kept in this tab's sessionStorage at most, and sent only in the
// Authorization header (never in a URL).
let token = sessionStorage.getItem("ferrotel.readToken") || "";
let timer = 0, busy = false, again = false, stopped = false, last = null, shown = "";
const openStacks = new Set();

class ReadError extends Error {
  constructor(status, j) {
    super(status === 401 ? "the Worker refused this token" : `${status} ${j.error || ""}${j.field ? " (" + j.field + ")" : ""}: ${j.reason || ""}`);
    this.status = status;
  }
}

/** Reads one type's events in the window, newest first, following `next` up to MAX_PAGES. */
async function readType(type, since) {
  const out = [];
  let before = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const q = new URLSearchParams({ type, since: String(since), limit: String(PAGE) });
    if (before) q.set("before", before);
    const res = await fetch("/v1/events?" + q, { headers: { authorization: "Bearer " + token } });
    if (!res.ok) throw new ReadError(res.status, await res.json().catch(() => ({})));
    const page = await res.json();
    out.push(...page.events);
    if (!page.next) return { events: out, capped: false };
    before = page.next;
  }
  return { events: out, capped: true };
}

async function refresh() {
  if (!token) return;
  if (busy) { again = true; return; } // read again when this read is done (the window changed)
  busy = true;
  try {
    const since = Date.now() - Number($("window").value);
    const read = await Promise.all(TYPES.map((t) => readType(t, since)));
    const sig = read.map((r) => r.events.length + ":" + (r.events[0]?.id || "")).join();
    last = { events: read.flatMap((r) => r.events), capped: TYPES.filter((_, i) => read[i].capped), at: new Date(), sig };
    $("auth").textContent = "";
    render();
  } catch (e) {
    // A refusal stops the refreshes; a network failure is shown and retried at the next one.
    if (e instanceof ReadError) stopped = true;
    if (e.status === 401) { sessionStorage.removeItem("ferrotel.readToken"); token = ""; }
    $("auth").textContent = e instanceof ReadError ? e.message : "cannot read the events: " + e.message;
  } finally {
    busy = false;
  }
  if (again) {
    again = false;
    await refresh();
  }
}

const fmtTime = (t) => new Date(t).toLocaleString("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
const fmtMs = (ms) => (ms >= 60000 ? (ms / 60000).toFixed(1) + " min" : ms >= 1000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms");
const fmtVital = (m, v) => (m === "CLS" ? num(v) : Math.round(v).toLocaleString("en") + " ms");
const empty = (text) => h("p", { class: "empty" }, text);
const when = (t, cls) => h("time", { class: cls, datetime: new Date(t).toISOString() }, fmtTime(t));

/** A table: `head` cells (a leading "#" marks a numeric column) and rows of cells (strings, numbers or nodes). */
function table(head, rows, cls) {
  const numeric = head.map((c) => c.startsWith("#"));
  return h("table", { class: cls }, h("thead", {}, h("tr", {}, ...head.map((c, i) => h("th", { class: numeric[i] ? "num" : null }, numeric[i] ? c.slice(1) : c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, i) => h("td", { class: numeric[i] ? "num" : null }, typeof c === "number" ? c.toLocaleString("en") : c))))));
}

function render() {
  const { events, capped, at } = last;
  const group = $("vital-group").value;
  // Redraw only when something changed (keeps open stacks and the scroll position still).
  const sig = group + last.sig;
  const b = buckets(events);
  $("updated").textContent = `${events.length} events in the window, updated ${at.toLocaleTimeString("en-GB")}` + (capped.length ? ` (newest ${(PAGE * MAX_PAGES).toLocaleString("en")} only of: ${capped.join(", ")})` : "");
  if (sig === shown) return;
  shown = sig;

  // Events over time, by type.
  const series = countsByType(events, b);
  body("timeline").replaceChildren(...(series.length
    ? [legend(series.map((s) => s.name), typeColor, (n) => `${n} (${series.find((s) => s.name === n).total})`),
      stackedBars({ ...b, series, colors: typeColor }),
      h("p", { class: "note" }, `Stored events per ${fmtMs(b.step)}.`)]
    : [empty("No events in this window yet.")]));

  // Web vitals: p75 per page or route over time, in Google's bands.
  const vitals = finalVitals(events);
  body("vitals").replaceChildren(...VITALS.map((m) => {
    const sr = vitalSeries(vitals, m, group, b);
    const [good, poor] = THRESHOLDS[m];
    const card = h("div", { class: "vital", "data-metric": m }, h("h3", {}, `${m} p75 per ${group}`));
    if (!sr.length) {
      card.append(empty(`No ${m} samples in this window.`));
      return card;
    }
    const colors = colorMap();
    const yMax = niceStep(Math.max(poor * 1.25, ...sr.map((s) => s.p75)) * 1.1, 4) * 4;
    card.append(legend(sr.map((s) => s.name), colors),
      lines({ ...b, series: sr, colors, yMax, height: 170,
        bands: [{ from: 0, to: good, cls: "good", label: "good" }, { from: good, to: poor, cls: "needs-improvement", label: "needs improvement" }, { from: poor, to: Infinity, cls: "poor", label: "poor" }],
        title: (s, i, v) => `${s.name}: p75 ${fmtVital(m, v)} at ${new Date(b.x0 + i * b.step).toLocaleTimeString("en-GB")}` }),
      table([group, "#p75", "#samples", "rating"], sr.map((s) => [s.name, fmtVital(m, s.p75), s.n, h("span", { class: "rating-" + rate(m, s.p75) }, rate(m, s.p75).replace("-", " "))])));
    return card;
  }));

  // Errors by fingerprint.
  const errors = errorGroups(events);
  body("errors").replaceChildren(errors.length
    ? table(["#occurrences", "error", "#sessions", "first seen", "last seen", "stack"], errors.map((g) => {
      const key = g.fingerprint || g.type + g.message;
      const det = h("details", { open: openStacks.has(key) ? "" : null }, h("summary", {}, g.stack ? (g.stackField.endsWith("symbolicated") ? "symbolicated stack" : "stack") : "no stack sent"), h("pre", {}, g.stack || "(the SDK sends the stack with an error's first occurrence; none was stored in this window)"));
      det.addEventListener("toggle", () => (det.open ? openStacks.add(key) : openStacks.delete(key)));
      return [g.count, h("div", {}, h("strong", {}, g.type + ": "), g.message, h("div", { class: "note" }, (g.fingerprint ? "fingerprint " + g.fingerprint + " · " : "") + g.url)), g.sessions, when(g.first, "first"), when(g.last, "last"), det];
    }), "errors")
    : empty("No errors in this window."));

  // Clicks: top selectors; rage and dead clicks when the events flag them, else bursts.
  const c = clickStats(events);
  const clickParts = [];
  if (!c.total) clickParts.push(empty("No clicks in this window."));
  else {
    clickParts.push(h("h3", {}, "Top clicked elements"), hbars(c.top.map((t) => ({ label: t.selector, value: t.clicks, note: `${t.sessions} session${t.sessions === 1 ? "" : "s"}` }))),
      table(["selector", "text", "#clicks", "#sessions"], c.top.map((t) => [h("code", {}, t.selector), t.text, t.clicks, t.sessions]), "top-clicks"));
    for (const kind of ["rage", "dead"]) {
      clickParts.push(h("h3", {}, kind === "rage" ? "Rage clicks" : "Dead clicks"));
      clickParts.push(c[kind].length ? table(["selector", "#clicks"], c[kind].map((r) => [h("code", {}, r.selector), r.clicks]), kind + "-clicks")
        : empty(`No ${kind} clicks flagged: click events do not carry a ${kind} flag yet (the wire schema's click has selector, tag, text, x, y).`));
    }
    clickParts.push(h("h3", {}, "Click bursts (rage-like)"), h("p", { class: "note" }, `${BURST_MIN} or more clicks on one element in one session, each within ${BURST_GAP_MS / 1000} s of the previous.`),
      c.bursts.length ? table(["selector", "#bursts", "#clicks in bursts", "#largest"], c.bursts.map((r) => [h("code", {}, r.selector), r.bursts, r.clicks, r.largest]), "bursts") : empty("No bursts."));
  }
  body("clicks").replaceChildren(...clickParts);

  // Screen time per route.
  const st = screenTime(events);
  body("screens").replaceChildren(...(st.length
    ? [hbars(st.map((r) => ({ label: r.route, value: r.ms, note: `${r.views} view${r.views === 1 ? "" : "s"}` })), { fmt: fmtMs, color: "#059669" }),
      table(["route", "#visible time", "#views"], st.map((r) => [h("code", {}, r.route), fmtMs(r.ms), r.views]), "screens")]
    : [empty("No page views or screen time in this window.")]));

  // Failed requests by URL.
  const fr = failedRequests(events);
  body("requests").replaceChildren(fr.length
    ? table(["URL", "#failures", "status / error", "last seen"], fr.map((r) => [h("code", {}, r.url), r.count, r.kinds, when(r.last, "last")]), "failed")
    : h("div", {}, empty("No failed requests stored."), h("p", { class: "note" },
      `Source: events of type ${FAILED_REQUEST_TYPES.join(", ")} (url, status or error type), read through GET /v1/events. The SDK does not record failed requests, and the wire schema has no such event yet: this fills once the Worker stores browsers' Network Error Logging reports as events.`)));

  document.body.dataset.state = "ready";
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (document.visibilityState === "visible") await refresh();
    if (token && !stopped) schedule();
  }, last?.capped.length ? REFRESH_BOUNDED_MS : REFRESH_MS);
}

function start() {
  stopped = false;
  shown = "";
  refresh();
  schedule();
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("token");
  token = input.value.trim();
  input.value = "";
  if (!token) return;
  sessionStorage.setItem("ferrotel.readToken", token);
  start();
});
$("window").addEventListener("change", () => token && start());
$("reload").addEventListener("click", () => token && start());
$("vital-group").addEventListener("change", () => last && render());
if (token) start();
