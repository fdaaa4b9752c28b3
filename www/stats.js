// What the dashboard computes from stored events (the flat JSON `GET /v1/events` returns, wire
// field names): pure functions, no DOM, so they can be checked in Node as well as in the page.

/** Google's Core Web Vitals thresholds: [good up to, poor above] (ms; CLS unitless). */
export const THRESHOLDS = { LCP: [2500, 4000], INP: [200, 500], CLS: [0.1, 0.25], FCP: [1800, 3000], TTFB: [800, 1800] };
export const VITALS = Object.keys(THRESHOLDS);

/** 75th percentile, nearest rank (the value at or under which 75 % of samples lie). */
export function p75(values) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.ceil(0.75 * s.length) - 1];
}

/** The rating of a vital's value against its thresholds. */
export function rate(metric, v) {
  const [good, poor] = THRESHOLDS[metric];
  return v <= good ? "good" : v <= poor ? "needs-improvement" : "poor";
}

/** A page: the URL's path (and a `#/...` hash route), without origin or query. */
export function pageOf(url) {
  if (!url) return "(no url)";
  try {
    const u = new URL(url);
    return u.pathname + (u.hash.startsWith("#/") ? u.hash.split("?")[0] : "");
  } catch {
    return String(url);
  }
}

// A path segment that names one record rather than a screen: digits, a UUID, 8 or more hex
// digits, or a token of 20 or more characters; each with at least one digit.
const ID = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{8,}|[\w-]{20,})$/i;
const isId = (seg) => ID.test(seg) && /\d/.test(seg);

/** A route: the page with record ids as `:id` (`/product/12` and `/product/34` are `/product/:id`). */
export function routeOf(url) {
  return pageOf(url).split("/").map((seg) => (isId(seg) ? ":id" : seg)).join("/");
}

const STEPS = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400, 604800].map((s) => s * 1000);

/** Time buckets covering the events: a round step giving at most `max` buckets. */
export function buckets(events, max = 60) {
  if (!events.length) return { x0: 0, step: 60000, n: 0 };
  let lo = Infinity, hi = -Infinity;
  for (const e of events) { lo = Math.min(lo, e.t); hi = Math.max(hi, e.t); }
  const step = STEPS.find((s) => (hi - lo) / s < max) || STEPS[STEPS.length - 1];
  const x0 = Math.floor(lo / step) * step;
  return { x0, step, n: Math.floor((hi - x0) / step) + 1 };
}

const slot = (b, t) => Math.min(b.n - 1, Math.max(0, Math.floor((t - b.x0) / b.step)));

/** Stored events per type per bucket: [{name, values, total}], biggest total first. */
export function countsByType(events, b) {
  const m = new Map();
  for (const e of events) {
    const v = m.get(e.type) || m.set(e.type, new Array(b.n).fill(0)).get(e.type);
    v[slot(b, e.t)]++;
  }
  return [...m].map(([name, values]) => ({ name, values, total: values.reduce((a, c) => a + c, 0) })).sort((a, c) => c.total - a.total || (a.name < c.name ? -1 : 1));
}

/** The final report of each vital instance: the SDK reports CLS and INP again as they grow, with
 *  the same `metric_id`; the latest report is the value. Reports without an id stand alone. */
export function finalVitals(events) {
  const m = new Map();
  for (const e of events) {
    if (e.type !== "web_vital" || typeof e.value !== "number") continue;
    const k = e.metric_id ? e.name + "\u0000" + e.metric_id : e.id;
    const had = m.get(k);
    if (!had || e.t > had.t || (e.t === had.t && e.id > had.id)) m.set(k, e);
  }
  return [...m.values()];
}

/**
 * p75 of one vital per group (page or route) per bucket, for the `top` groups with the most
 * samples: [{name, values (p75 or null per bucket), p75, n}].
 */
export function vitalSeries(vitals, metric, groupBy, b, top = 6) {
  const key = groupBy === "route" ? routeOf : pageOf;
  const groups = new Map();
  for (const e of vitals) {
    if (e.name !== metric) continue;
    const g = key(e.url);
    const per = groups.get(g) || groups.set(g, { all: [], by: Array.from({ length: b.n }, () => []) }).get(g);
    per.all.push(e.value);
    per.by[slot(b, e.t)].push(e.value);
  }
  return [...groups].map(([name, g]) => ({ name, values: g.by.map(p75), p75: p75(g.all), n: g.all.length }))
    .sort((a, c) => c.n - a.n || (a.name < c.name ? -1 : 1)).slice(0, top);
}

/** Which field holds the stack to show: the symbolicated one when the consumer added it. */
export const STACK_FIELDS = ["exception.stacktrace.symbolicated", "exception.stacktrace"];

/**
 * Errors grouped by fingerprint (type and message when it is 0 or absent): occurrences (the
 * events' `count`), events, sessions, first and last seen, the newest message and the newest
 * stack sent (the SDK sends a stack with the first occurrence only). Most occurrences first.
 */
export function errorGroups(events) {
  const m = new Map();
  for (const e of events) {
    if (e.type !== "error") continue;
    const fp = e.fingerprint && !/^0+$/.test(e.fingerprint) ? e.fingerprint : null;
    const k = fp || "\u0000" + (e["exception.type"] || "") + "\u0000" + (e["exception.message"] || "");
    let g = m.get(k);
    if (!g) m.set(k, (g = { fingerprint: fp, count: 0, events: 0, sessions: new Set(), first: e.t, last: e.t, latest: e, stack: "", stackField: "", stackT: -Infinity }));
    g.count += e.count || 1;
    g.events++;
    if (e.session) g.sessions.add(e.session);
    g.first = Math.min(g.first, e.t);
    if (e.t >= g.last) { g.last = e.t; g.latest = e; }
    const field = STACK_FIELDS.find((f) => e[f]);
    if (field && e.t >= g.stackT) { g.stack = e[field]; g.stackField = field; g.stackT = e.t; }
  }
  return [...m.values()].map((g) => ({ ...g, type: g.latest["exception.type"] || "Error", message: g.latest["exception.message"] || "", url: g.latest.url || "", sessions: g.sessions.size }))
    .sort((a, c) => c.count - a.count || c.last - a.last);
}

/** How fast repeated clicks on one element must follow each other to make a burst, and how many. */
export const BURST_GAP_MS = 1000, BURST_MIN = 3;

/** A click's kind when the event says it (`rage` / `dead`, e.g. a future `kind` field); else "". */
export const clickKind = (e) => (e.kind === "rage" || e.kind === "dead" ? e.kind : e.rage === true ? "rage" : e.dead === true ? "dead" : "");

/**
 * Clicks: the `top` selectors by clicks (with sessions and a sample text), bursts (at least
 * BURST_MIN clicks on one selector in one session, each within BURST_GAP_MS of the previous: what
 * a rage click looks like without a rage flag), and the clicks flagged rage or dead by the event
 * itself, per selector.
 */
export function clickStats(events, top = 10) {
  const clicks = events.filter((e) => e.type === "click");
  const bySel = new Map(), runs = new Map(), flagged = { rage: new Map(), dead: new Map() };
  for (const e of clicks) {
    const sel = e.selector || e.tag || "(unknown element)";
    const g = bySel.get(sel) || bySel.set(sel, { selector: sel, clicks: 0, sessions: new Set(), text: e.text || "" }).get(sel);
    g.clicks++;
    g.sessions.add(e.session);
    const k = clickKind(e);
    if (k) flagged[k].set(sel, (flagged[k].get(sel) || 0) + 1);
    const rk = e.session + "\u0000" + sel;
    (runs.get(rk) || runs.set(rk, []).get(rk)).push(e.t);
  }
  const bursts = new Map();
  for (const [rk, ts] of runs) {
    const sel = rk.split("\u0000")[1];
    ts.sort((a, b) => a - b);
    let len = 1;
    for (let i = 1; i <= ts.length; i++) {
      if (i < ts.length && ts[i] - ts[i - 1] <= BURST_GAP_MS) { len++; continue; }
      if (len >= BURST_MIN) {
        const b = bursts.get(sel) || bursts.set(sel, { selector: sel, bursts: 0, clicks: 0, largest: 0 }).get(sel);
        b.bursts++;
        b.clicks += len;
        b.largest = Math.max(b.largest, len);
      }
      len = 1;
    }
  }
  const sorted = (m, by) => [...m.values()].sort((a, c) => c[by] - a[by] || (a.selector < c.selector ? -1 : 1)).slice(0, top);
  const kinds = (m) => [...m].map(([selector, clicks]) => ({ selector, clicks })).sort((a, c) => c.clicks - a.clicks).slice(0, top);
  return {
    total: clicks.length,
    top: sorted(bySel, "clicks").map((g) => ({ ...g, sessions: g.sessions.size })),
    bursts: sorted(bursts, "clicks"),
    rage: kinds(flagged.rage),
    dead: kinds(flagged.dead),
  };
}

/** Visible time per route (sum of `screen_time.visible_ms`), with views per route from `page_view`. */
export function screenTime(events) {
  const m = new Map();
  const get = (r) => m.get(r) || m.set(r, { route: r, ms: 0, views: 0 }).get(r);
  for (const e of events) {
    if (e.type === "screen_time" && typeof e.visible_ms === "number") get(routeOf(e.url)).ms += e.visible_ms;
    else if (e.type === "page_view") get(routeOf(e.url)).views++;
  }
  return [...m.values()].sort((a, c) => c.ms - a.ms || c.views - a.views);
}

/**
 * Where failed requests come from. The wire schema has no such event yet; these are the types
 * the dashboard reads for them (a browser's Network Error Logging reports, once the Worker
 * stores them as events: `url`, and `status` or `phase`/`error_type` when present).
 */
export const FAILED_REQUEST_TYPES = ["network_error"];

/** Failed requests by URL: count, statuses and error types seen, last seen. */
export function failedRequests(events) {
  const m = new Map();
  for (const e of events) {
    if (!FAILED_REQUEST_TYPES.includes(e.type)) continue;
    const u = e.url || "(no url)";
    const g = m.get(u) || m.set(u, { url: u, count: 0, kinds: new Set(), last: e.t }).get(u);
    g.count += e.count || 1;
    const why = e.status ?? e.error_type ?? e.phase;
    if (why !== undefined && why !== null && why !== "") g.kinds.add(String(why));
    g.last = Math.max(g.last, e.t);
  }
  return [...m.values()].map((g) => ({ ...g, kinds: [...g.kinds].join(", ") })).sort((a, c) => c.count - a.count);
}
