// Plain-SVG charts for the dashboard (no library: this module is smaller than any charting
// library that draws these, see README "The dashboard"). Every element is made with
// createElementNS / setAttribute and every text with a text node, never from markup, so data
// (selectors, URLs, messages) is always shown as text.

const NS = "http://www.w3.org/2000/svg";
const L = 58, T = 8, B = 24; // plot margins (the right one depends on band labels)

/** Colours for series, assigned in order. */
export const PALETTE = ["#1d4ed8", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626", "#475569", "#a16207"];

/** An SVG element with attributes and children (strings become text nodes). */
export function s(tag, attrs = {}, ...kids) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const k of kids) if (k !== null && k !== undefined) e.append(typeof k === "object" ? k : document.createTextNode(String(k)));
  return e;
}

/** An HTML element with attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const k of kids) if (k !== null && k !== undefined) e.append(typeof k === "object" ? k : document.createTextNode(String(k)));
  return e;
}

/** A round step so that `span` is covered by about `n` steps (1, 2 or 5 times a power of ten). */
export function niceStep(span, n = 4) {
  if (!(span > 0)) return 1;
  const raw = span / n, p = 10 ** Math.floor(Math.log10(raw)), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** Formats a number for an axis or a label: thousands grouped, at most 3 decimals. */
export const num = (v) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000).toLocaleString("en");

/** A time label for bucket starts `step` ms apart. */
export function timeLabel(t, step) {
  const d = new Date(t), p = (x) => String(x).padStart(2, "0");
  const hm = p(d.getHours()) + ":" + p(d.getMinutes());
  if (step < 60000) return hm + ":" + p(d.getSeconds());
  if (step < 86400000) return hm;
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
}

// An SVG of its natural size in CSS pixels (CSS lets it shrink to a narrower container).
const chart = (W, height, cls = "chart") => s("svg", { viewBox: `0 0 ${W} ${height}`, width: W, height, role: "img", class: cls });

// The plot frame, `W` wide with `R` on the right for labels: grid lines, y labels, x labels for
// `n` buckets from `x0`, `step` apart.
function frame({ W, R, height, yMax, fmtY, x0, step, n }) {
  const pw = W - L - R, ph = height - T - B;
  const svg = chart(W, height);
  const x = (i) => L + (i / n) * pw; // left edge of bucket i
  const y = (v) => T + ph - (Math.min(v, yMax) / yMax) * ph;
  const grid = s("g", { class: "grid" });
  const ys = niceStep(yMax);
  for (let v = 0; v <= yMax + 1e-9; v += ys) {
    grid.append(s("line", { x1: L, x2: L + pw, y1: y(v), y2: y(v) }), s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmtY(v)));
  }
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) grid.append(s("text", { x: x(i), y: height - 6, class: "tick" }, timeLabel(x0 + i * step, step)));
  svg.append(grid);
  return { svg, x, y, bw: pw / n, ph };
}

/**
 * Stacked bars over time. `series`: [{name, values}] with one count per bucket; each bar carries
 * `data-series` and `data-n` (its count) and a `<title>`.
 */
export function stackedBars({ x0, step, n, series, colors, width = 1040, height = 220 }) {
  const totals = Array.from({ length: n }, (_, i) => series.reduce((a, sr) => a + (sr.values[i] || 0), 0));
  const yMax = niceStep(Math.max(1, ...totals), 4) * 4;
  const f = frame({ W: width, R: 12, height, yMax, fmtY: num, x0, step, n });
  const bars = s("g", { class: "bars" });
  const bw = Math.max(1, Math.min(f.bw * 0.8, 48)); // a lone bucket is a bar, not a wall
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (const sr of series) {
      const v = sr.values[i] || 0;
      if (!v) continue;
      const top = f.y(acc + v), bottom = f.y(acc);
      bars.append(s("rect", { class: "bar", "data-series": sr.name, "data-n": v, x: f.x(i) + (f.bw - bw) / 2, width: bw, y: top, height: Math.max(0.5, bottom - top), fill: colors(sr.name) },
        s("title", {}, `${sr.name}: ${v} at ${timeLabel(x0 + i * step, step)}`)));
      acc += v;
    }
  }
  f.svg.append(bars);
  return f.svg;
}

/**
 * Lines over time with optional horizontal bands (`bands`: [{from, to, cls, label}]); `values`
 * may hold nulls (no data in that bucket: the line breaks). Each point is a `circle.dot` with a
 * `<title>`; each series a `path.line` with `data-series`.
 */
export function lines({ x0, step, n, series, colors, bands = [], yMax, fmtY = num, width = 500, height = 200, title = (sr, i, v) => `${sr.name}: ${fmtY(v)}` }) {
  const W = width, R = bands.length ? 118 : 12;
  const f = frame({ W, R, height, yMax, fmtY, x0, step, n });
  const g = s("g", { class: "bands" });
  for (const b of bands) {
    const top = f.y(Math.min(b.to, yMax)), bottom = f.y(b.from);
    if (bottom - top <= 0) continue;
    g.append(s("rect", { class: "band " + b.cls, x: L, y: top, width: W - L - R, height: bottom - top }, s("title", {}, b.label)),
      s("text", { class: "band-label", x: W - R + 6, y: (top + bottom) / 2 + 4 }, b.label));
  }
  f.svg.insertBefore(g, f.svg.firstChild);
  for (const sr of series) {
    let d = "", pen = "M";
    const dots = s("g", { class: "dots" });
    sr.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = "M"; return; }
      const cx = f.x(i) + f.bw / 2, cy = f.y(v);
      d += `${pen}${cx.toFixed(1)} ${cy.toFixed(1)}`;
      pen = "L";
      dots.append(s("circle", { class: "dot", cx, cy, r: 3.5, fill: colors(sr.name) }, s("title", {}, title(sr, i, v))));
    });
    f.svg.append(s("path", { class: "line", "data-series": sr.name, d, fill: "none", stroke: colors(sr.name), "stroke-width": 2 }), dots);
  }
  return f.svg;
}

/** Horizontal bars, one per row ({label, value, note}), longest first as given. */
export function hbars(rows, { fmt = num, color = PALETTE[0], width: W = 1040 } = {}) {
  const rh = 22, height = rows.length * rh + 4, lw = 320;
  const svg = chart(W, height, "chart hbars");
  const max = Math.max(1e-9, ...rows.map((r) => r.value));
  rows.forEach((r, i) => {
    const y = 2 + i * rh, w = ((W - lw - 110) * r.value) / max;
    svg.append(
      s("text", { class: "label", x: lw - 8, y: y + 15, "text-anchor": "end" }, r.label.length > 52 ? r.label.slice(0, 51) + "…" : r.label, s("title", {}, r.label)),
      s("rect", { class: "hbar", "data-label": r.label, "data-value": r.value, x: lw, y: y + 3, width: Math.max(1, w), height: rh - 6, fill: color }, s("title", {}, r.label + ": " + fmt(r.value))),
      s("text", { class: "value", x: lw + w + 6, y: y + 15 }, fmt(r.value) + (r.note ? "  " + r.note : "")),
    );
  });
  return svg;
}

/** A legend: a swatch and a label per series name. */
export function legend(names, colors, label = (n) => n) {
  return h("div", { class: "legend" }, ...names.map((n) => h("span", { class: "key" }, h("i", { style: "background:" + colors(n) }), label(n))));
}

/** Assigns palette colours to names in the order they are first asked for. */
export function colorMap() {
  const m = new Map();
  return (name) => m.get(name) || (m.set(name, PALETTE[m.size % PALETTE.length]), m.get(name));
}
