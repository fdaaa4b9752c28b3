// A plain-JavaScript ingest Worker doing the same work as the Rust request path for
// POST /v1/batch (src/edge/ingest.rs + src/core/{envelope,otlp,sample,ids,ua,stack,ingest}.rs):
// size cap → decode + validate → key + origin → rate limit → sample → enrich → OTLP JSON → queue
// → 204. It is the baseline of bench/worker/bench.mjs, written the way a careful JS developer
// would write it (JSON.parse, then checks on the parsed object), not a transliteration.
//
// Known, deliberate differences from the Rust decoder (all on the refusal path or in edge cases):
// - JSON.parse cannot see duplicate keys (serde refuses `duplicate field`), nor tell `1` from
//   `1.0` or `1e0` (serde refuses a float where an integer belongs); integer-valued floats are
//   therefore accepted here; nor 2^64-1 from 2^64 (the same double), so a `t` of u64::MAX is
//   refused as a type error (`body`) here and by the range rule (`events[0].t`) in Rust.
// - Error reasons for syntax and type errors are JSON.parse's / ours, not serde's; the field
//   (`body`, `v`, `events[3].t`, ...) and the status are the same.
// - Strings are truncated to the same UTF-8 byte limits exactly (not by UTF-16 length); custom
//   attributes with integer-like keys ("2") come out first, as JS object key order dictates.
// - Only the batch route is implemented (plus 404/405); CORS preflight and reads are not on the
//   measured path.

const MAX_BODY_BYTES = 65536;
const MAX_EVENTS = 200;
const MAX_DEPTH = 4;
const MAX_TIME_MS = 4102444800000;
const MAX_CHUNK_BYTES = 100 * 1024;
const SDK_VERSION = "0.1.0"; // CARGO_PKG_VERSION of the Rust build
const L = { URL: 2048, MESSAGE: 1024, STACK: 8192, SELECTOR: 256, TEXT: 128, NAME: 128, ATTR_KEY: 64, ATTR_VALUE: 256, ATTRS: 32 };
const TWO64 = 18446744073709551616;

// ---------------------------------------------------------------- configuration (once per isolate)

let CONFIG = null;

class ConfigProblem extends Error {
  constructor(name, problem) {
    super(problem);
    this.name_ = name;
  }
}

const RATE_TYPES = ["default", "page_view", "screen_time", "click", "web_vital", "nav_timing", "long_task", "error", "custom"];

function readConfig(env) {
  const raw = env.WRITE_KEYS;
  if (typeof raw !== "string") throw new ConfigProblem("WRITE_KEYS", "is required");
  let keys;
  try {
    keys = JSON.parse(raw);
  } catch (e) {
    throw new ConfigProblem("WRITE_KEYS", "must be a JSON object of key to a list of origins: " + e.message);
  }
  if (keys === null || typeof keys !== "object" || Array.isArray(keys)) throw new ConfigProblem("WRITE_KEYS", "must be a JSON object");
  const keyMap = new Map();
  for (const k of Object.keys(keys)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(k)) throw new ConfigProblem("WRITE_KEYS", `key ${JSON.stringify(k)} must be 1-64 characters of A-Z a-z 0-9 _ -`);
    const origins = keys[k];
    if (!Array.isArray(origins) || !origins.every((o) => typeof o === "string")) throw new ConfigProblem("WRITE_KEYS", "must map keys to lists of origins");
    for (const o of origins) {
      if ((o !== "*" && !(o.startsWith("https://") || o.startsWith("http://"))) || o.endsWith("/")) {
        throw new ConfigProblem("WRITE_KEYS", `origin ${JSON.stringify(o)} of key ${JSON.stringify(k)} must be "*" or scheme://host[:port] without a path`);
      }
    }
    keyMap.set(k, origins);
  }
  if (keyMap.size === 0) throw new ConfigProblem("WRITE_KEYS", "lists no keys");
  const rates = new Map();
  if (typeof env.SAMPLE_RATES === "string") {
    let r;
    try {
      r = JSON.parse(env.SAMPLE_RATES);
    } catch (e) {
      throw new ConfigProblem("SAMPLE_RATES", "must be a JSON object of event type to rate: " + e.message);
    }
    if (r === null || typeof r !== "object" || Array.isArray(r)) throw new ConfigProblem("SAMPLE_RATES", "must be a JSON object");
    for (const [t, v] of Object.entries(r)) {
      if (!RATE_TYPES.includes(t)) throw new ConfigProblem("SAMPLE_RATES", `${JSON.stringify(t)} is not an event type`);
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new ConfigProblem("SAMPLE_RATES", `rate for ${JSON.stringify(t)} must be from 0 to 1`);
      rates.set(t, v);
    }
  }
  const salt = env.IP_SALT;
  if (typeof salt !== "string" || utf8Length(salt) < 16) throw new ConfigProblem("IP_SALT", "is required (a secret of at least 16 characters)");
  const rateFor = {};
  for (const t of RATE_TYPES) rateFor[t] = rates.get(t) ?? rates.get("default") ?? 1;
  // JS_PROTECT = "0": without the protection stage (the baseline as it was before the Rust
  // Worker took on protect.rs; bench.mjs --js-unprotected).
  return { keys: keyMap, rateFor, salt: new TextEncoder().encode(salt), protect: env.JS_PROTECT !== "0" };
}

function anyKeyAllows(cfg, origin) {
  for (const list of cfg.keys.values()) for (const a of list) if (a === "*" || a === origin) return true;
  return false;
}

// ---------------------------------------------------------------- small helpers

function jsonError(status, error, field, reason) {
  const body = field == null ? { error, reason } : { error, field, reason };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function withCors(res, origin) {
  if (origin != null) {
    res.headers.set("access-control-allow-origin", origin);
    res.headers.set("vary", "Origin");
  }
  return res;
}

function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The longest prefix of `s` whose UTF-8 form is at most `max` bytes (scrub::truncate). */
function trunc(s, max) {
  if (s.length * 3 <= max) return s; // cannot exceed: a UTF-16 unit is at most 3 UTF-8 bytes
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let b = 3;
    let w = 1;
    if (c < 0x80) b = 1;
    else if (c < 0x800) b = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      b = 4;
      w = 2;
    }
    if (n + b > max) return s.slice(0, i);
    n += b;
    i += w - 1;
  }
  return s;
}

const HEX16 = /^[0-9a-fA-F]{16}$/;
const HEX32 = /^[0-9a-fA-F]{32}$/;
const KEY_RE = /^[A-Za-z0-9_-]{1,64}$/;
const ZERO16 = "0000000000000000";

// ---------------------------------------------------------------- decode + validate

class DecodeError extends Error {
  constructor(field, reason) {
    super(reason);
    this.field = field;
    this.reason = reason;
  }
}
const bodyErr = (reason) => new DecodeError("body", reason);

// Field type codes for the per-key pass over each event (serde's type checks).
const S = 1, U64 = 2, I32 = 3, U32 = 4, F64 = 5, ATTRS = 6;
const EVENT_FIELDS = Object.assign(Object.create(null), {
  id: S, t: U64, type: S, url: S, referrer: S, cause: S, view: S, visible_ms: F64, selector: S, tag: S, text: S,
  x: I32, y: I32, name: S, value: F64, delta: F64, metric_id: S, rating: S, navigation_type: S, dns: F64, tcp: F64,
  tls: F64, ttfb: F64, download: F64, dom_interactive: F64, dom_content_loaded: F64, load: F64, transfer_size: F64,
  start: F64, duration: F64, source: S, "exception.type": S, "exception.message": S, "exception.stacktrace": S,
  fingerprint: S, count: U32, attrs: ATTRS,
});

const isInt = Number.isInteger;
const isU64 = (x) => typeof x === "number" && isInt(x) && x >= 0 && !Object.is(x, -0) && x < TWO64;

/** check_shape for values of fields the decoder ignores: no arrays, nesting at most MAX_DEPTH,
 *  and no number JSON.parse turned into Infinity (serde: "number out of range"). */
function shapeOk(v, depth) {
  if (typeof v === "number") return Number.isFinite(v);
  if (v === null || typeof v !== "object") return true;
  if (Array.isArray(v) || depth > MAX_DEPTH) return false;
  for (const k in v) if (!shapeOk(v[k], depth + 1)) return false;
  return true;
}

function typeCheck(x, code, wellFormed) {
  if (x === null) return code !== 0;
  switch (code) {
    case S:
      return typeof x === "string" && (!wellFormed || x.isWellFormed());
    case U64:
      return isU64(x);
    case I32:
      return typeof x === "number" && isInt(x) && x >= -2147483648 && x <= 2147483647;
    case U32:
      return typeof x === "number" && isInt(x) && x >= 0 && x <= 4294967295;
    case F64:
      return typeof x === "number" && Number.isFinite(x);
    case ATTRS: {
      if (typeof x !== "object" || Array.isArray(x)) return false;
      for (const k in x) {
        const v = x[k];
        const t = typeof v;
        if (t === "string") {
          if (wellFormed && !(v.isWellFormed() && k.isWellFormed())) return false;
        } else if (t === "number") {
          if (!Number.isFinite(v)) return false;
        } else if (t !== "boolean") return false; // null, object (depth 5), array
      }
      return true;
    }
  }
  return false;
}

function needHex64(v, field) {
  if (v == null) throw [field, "is missing"];
  if (!HEX16.test(v)) throw [field, "must be 16 hex digits"];
  if (v === ZERO16) throw [field, "must not be all zeros"];
  const lower = v.toLowerCase();
  return lower;
}

function nonNegative(v, field) {
  if (v < 0) throw [field, "must not be negative"];
  return v + 0; // -0 becomes 0
}
const need = (v, field) => {
  if (v == null) throw [field, "is missing"];
  return v;
};
const opt = (v, max) => (v == null ? "" : trunc(v, max));
const optDur = (v, field) => nonNegative(v == null ? 0 : v, field);

const VITALS = new Set(["LCP", "INP", "CLS", "FCP", "TTFB"]);
const CAUSES = new Set(["load", "route", "popstate"]);
const SOURCES = new Set(["error", "unhandledrejection", "panic", "manual"]);

/** RawEvent::validate: the event in its normalized form, or throws [field, reason]. */
function validEvent(e, attrs) {
  const id = needHex64(e.id, "id");
  const t = need(e.t, "t");
  if (!(t >= 1 && t <= MAX_TIME_MS)) throw ["t", "must be milliseconds since the epoch, before 2100"];
  const type = need(e.type, "type");
  const url = opt(e.url, L.URL);
  switch (type) {
    case "page_view": {
      const referrer = opt(e.referrer, L.URL);
      const cause = e.cause == null ? "load" : e.cause;
      if (!CAUSES.has(cause)) throw ["cause", "must be load, route or popstate"];
      return { type, id, t, url, referrer, cause };
    }
    case "screen_time":
      return { type, id, t, url, view: needHex64(e.view, "view"), visible_ms: nonNegative(need(e.visible_ms, "visible_ms"), "visible_ms") };
    case "click":
      return { type, id, t, url, selector: opt(e.selector, L.SELECTOR), tag: opt(e.tag, L.NAME), text: opt(e.text, L.TEXT), x: e.x ?? 0, y: e.y ?? 0 };
    case "web_vital": {
      const name = trunc(need(e.name, "name"), L.NAME);
      if (!VITALS.has(name)) throw ["name", "must be one of LCP, INP, CLS, FCP, TTFB"];
      return {
        type, id, t, url, name,
        value: nonNegative(need(e.value, "value"), "value"),
        delta: need(e.delta, "delta"),
        metric_id: opt(e.metric_id, L.NAME),
        rating: opt(e.rating, L.NAME),
        navigation_type: opt(e.navigation_type, L.NAME),
      };
    }
    case "nav_timing":
      return {
        type, id, t, url,
        dns: optDur(e.dns, "dns"),
        tcp: optDur(e.tcp, "tcp"),
        tls: optDur(e.tls, "tls"),
        ttfb: optDur(e.ttfb, "ttfb"),
        download: optDur(e.download, "download"),
        dom_interactive: optDur(e.dom_interactive, "dom_interactive"),
        dom_content_loaded: optDur(e.dom_content_loaded, "dom_content_loaded"),
        load: optDur(e.load, "load"),
        transfer_size: optDur(e.transfer_size, "transfer_size"),
        navigation_type: opt(e.navigation_type, L.NAME),
      };
    case "long_task":
      return { type, id, t, url, start: nonNegative(need(e.start, "start"), "start"), duration: nonNegative(need(e.duration, "duration"), "duration") };
    case "error": {
      const source = e.source == null ? "error" : e.source;
      if (!SOURCES.has(source)) throw ["source", "must be error, unhandledrejection, panic or manual"];
      const kind = opt(e["exception.type"], L.NAME);
      const message = trunc(need(e["exception.message"], "exception.message"), L.MESSAGE);
      const stack = opt(e["exception.stacktrace"], L.STACK);
      let fingerprint = ZERO16;
      if (e.fingerprint != null) {
        if (!HEX16.test(e.fingerprint)) throw ["fingerprint", "must be 16 hex digits"];
        fingerprint = e.fingerprint.toLowerCase();
      }
      const count = e.count == null ? 1 : e.count;
      if (count === 0) throw ["count", "must be at least 1"];
      return { type, id, t, url, source, kind, message, stack, fingerprint, count };
    }
    case "custom":
      return { type, id, t, url, name: trunc(need(e.name, "name"), L.NAME), attrs };
    default:
      throw ["type", "is not a known event type (page_view, screen_time, click, web_vital, nav_timing, long_task, error, custom)"];
  }
}

/** Custom attributes as [key, value] pairs (serde refuses these while parsing: field `body`). */
function validAttrs(a) {
  const out = [];
  for (const k in a) {
    if (out.length === L.ATTRS) throw bodyErr("attrs has more than 32 entries");
    const key = trunc(k, L.ATTR_KEY);
    for (let i = 0; i < out.length; i++) if (out[i][0] === key) throw bodyErr("attrs has a duplicate key");
    const v = a[k];
    out.push([key, typeof v === "string" ? trunc(v, L.ATTR_VALUE) : v]);
  }
  return out;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Envelope::decode. Error precedence as in Rust: shape and type errors (field `body`) anywhere,
 *  then the envelope's own rules, then the first event's rule. */
function decode(bytes) {
  if (bytes.byteLength === 0) throw bodyErr("is empty; expected a JSON batch envelope");
  if (bytes.byteLength > MAX_BODY_BYTES) throw bodyErr("exceeds 65536 bytes");
  let text;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw bodyErr("is not a valid v1 envelope: invalid unicode code point");
  }
  let i = 0;
  for (let c = text.charCodeAt(0); c === 32 || c === 9 || c === 10 || c === 13 || c === 12; c = text.charCodeAt(++i));
  if (text.charCodeAt(i) !== 123 /* { */) throw bodyErr("must be a JSON object (a v1 batch envelope)");
  let o;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw bodyErr("is not a valid v1 envelope: " + e.message);
  }
  // Escapes can produce lone surrogates, which serde refuses; only then is each string checked.
  const wf = text.indexOf("\\u") !== -1;

  let v = null, key = null, sdk = null, session = null, sentAt = null, events = null, allowQuery = NO_PARAMS, maskMessages = true;
  for (const k in o) {
    const x = o[k];
    switch (k) {
      case "v": if (!typeCheck(x, U64)) throw bodyErr("invalid type for `v`, expected u64"); v = x; break;
      case "key": if (!typeCheck(x, S, wf)) throw bodyErr("invalid type for `key`, expected a string"); key = x; break;
      case "session": if (!typeCheck(x, S, wf)) throw bodyErr("invalid type for `session`, expected a string"); session = x; break;
      case "sent_at": if (!typeCheck(x, U64)) throw bodyErr("invalid type for `sent_at`, expected u64"); sentAt = x; break;
      case "sdk":
        if (x !== null) {
          if (typeof x !== "object" || Array.isArray(x)) throw bodyErr("has an array where an object or value belongs: only `events` is an array");
          if (!shapeOk(x, 2)) throw bodyErr("nests deeper than 4 levels or has an array");
          if (typeof x.name !== "string" || typeof x.version !== "string") throw bodyErr("invalid `sdk`: missing field `name` or `version`");
          if (wf && !(x.name.isWellFormed() && x.version.isWellFormed())) throw bodyErr("lone surrogate");
        }
        sdk = x;
        break;
      case "allow_query": // the SDK's allowQuery: names joined by ","
        if (x !== null) {
          if (!typeCheck(x, S, wf)) throw bodyErr("invalid type for `allow_query`, expected a string");
          allowQuery = trunc(x, L.URL).split(",").filter((n) => n !== "");
        }
        break;
      case "mask_messages":
        if (x !== null) {
          if (typeof x !== "boolean") throw bodyErr("invalid type for `mask_messages`, expected a boolean");
          maskMessages = x;
        }
        break;
      case "events":
        if (x !== null && !Array.isArray(x)) throw bodyErr("invalid type: map, expected a sequence");
        events = x;
        break;
      default:
        if (!shapeOk(x, 2)) throw bodyErr("nests deeper than 4 levels or has an array where only `events` may be one");
    }
  }

  // Events: type checks for all of them (body errors win), rules until the first broken one.
  let firstRule = null;
  let out = null;
  if (events !== null) {
    out = new Array(events.length);
    for (let n = 0; n < events.length; n++) {
      const e = events[n];
      if (e === null || typeof e !== "object") throw bodyErr(`invalid type: ${e === null ? "null" : typeof e}, expected struct RawEvent`);
      if (Array.isArray(e)) throw bodyErr("has an array where an object or value belongs: only `events` is an array");
      let attrs = null;
      for (const k in e) {
        const x = e[k];
        const code = EVENT_FIELDS[k];
        if (code === undefined) {
          if (!shapeOk(x, 4)) throw bodyErr(`events[${n}].${k}: nests deeper than 4 levels or has an array`);
        } else if (!typeCheck(x, code, wf)) throw bodyErr(`invalid type or value for \`${k}\` in events[${n}]`);
        else if (code === ATTRS && x !== null) attrs = validAttrs(x); // serde reads attrs on any event type
      }
      if (firstRule !== null) continue;
      try {
        out[n] = validEvent(e, attrs);
      } catch (err) {
        if (err instanceof DecodeError) throw err;
        firstRule = new DecodeError(`events[${n}].${err[0]}`, err[1]);
      }
    }
  }

  if (v === null) throw new DecodeError("v", "is missing; expected 1");
  if (v !== 1) throw new DecodeError("v", `unsupported wire version ${v}; this endpoint speaks v1`);
  if (key === null) throw new DecodeError("key", "is missing");
  if (!KEY_RE.test(key)) throw new DecodeError("key", "must be 1-64 characters of A-Z a-z 0-9 _ -");
  if (sdk === null) throw new DecodeError("sdk", "is missing");
  if (session === null) throw new DecodeError("session", "is missing");
  if (!HEX32.test(session)) throw new DecodeError("session", "must be 32 hex digits");
  if (sentAt === null) throw new DecodeError("sent_at", "is missing");
  if (!(sentAt >= 1 && sentAt <= MAX_TIME_MS)) throw new DecodeError("sent_at", "must be milliseconds since the epoch, before 2100");
  if (events === null) throw new DecodeError("events", "is missing");
  if (events.length === 0) throw new DecodeError("events", "is empty; send at least one event");
  if (events.length > MAX_EVENTS) throw new DecodeError("events", "has more than 200 events");
  if (firstRule !== null) throw firstRule;
  return { key, sdkName: trunc(sdk.name, L.NAME), sdkVersion: trunc(sdk.version, L.NAME), session, sentAt, events: out, ascii: text.length === bytes.byteLength && !wf, allowQuery, maskMessages };
}

// ---------------------------------------------------------------- protection (protect.rs, scrub.rs)
//
// What the Rust Worker does to every kept event before encoding (src/core/protect.rs): page URL
// and referrer scrubbed with the envelope's allow_query; error message and stack: a possibly cut
// last word/line dropped, URLs in them scrubbed (no parameter kept), message (and V8's copy of it
// atop the stack) masked unless mask_messages is false; click text masked; an empty error type
// becomes "Error". The same rules, as plain string code. Not ported: the fingerprint of an error
// whose SDK sent none (stack::fingerprint; the benchmark body's errors carry theirs, as an older
// SDK's do, so Rust does not compute it either), and Unicode corner cases (Rust's
// split_whitespace vs JS \s, offsets in UTF-8 bytes vs UTF-16 units).

/** scrub::scrub_url: query reduced to `allow`, userinfo removed, fragment parameters too. */
function scrubUrl(url, allow) {
  if (!/[?#@]/.test(url)) return url; // nothing to scrub
  let beforeFragment = url, frag = null;
  const h = url.indexOf("#");
  if (h >= 0) {
    beforeFragment = url.slice(0, h);
    frag = fragmentOf(url.slice(h + 1));
  }
  let base = beforeFragment, query = null;
  const q = beforeFragment.indexOf("?");
  if (q >= 0) {
    base = beforeFragment.slice(0, q);
    query = beforeFragment.slice(q + 1);
  }
  const userinfo = userinfoRange(base);
  const queryKept = query === null || allKept(query, allow);
  const fragmentKept = frag === null || frag.kind === 0 || allKept(frag.q, allow);
  if (userinfo === null && queryKept && fragmentKept) return url;
  let out = userinfo === null ? base : base.slice(0, userinfo[0]) + base.slice(userinfo[1]);
  if (query !== null) out += keptParams("?", query, allow);
  if (frag !== null) {
    if (frag.kind === 0) out += "#" + frag.f;
    else if (frag.kind === 1) out += "#" + frag.path + keptParams("?", frag.q, allow);
    // A parameter-list fragment left as something else is scrubbed as what it now is.
    else return scrubUrl(out + keptParams("#", frag.q, allow), allow);
  }
  return out;
}

/** kind 0: plain (`#section`), 1: a route with a query (`#/r?a=1`), 2: parameters (`#a=1&b=2`). */
function fragmentOf(f) {
  const q = f.indexOf("?");
  const path = q >= 0 ? f.slice(0, q) : f;
  if (path.includes("=") && path[0] !== "/" && path[0] !== "!") return { kind: 2, q: f };
  return q >= 0 ? { kind: 1, path, q: f.slice(q + 1) } : { kind: 0, f };
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*/;

function userinfoRange(base) {
  const m = SCHEME.exec(base);
  let start;
  if (m !== null && base.startsWith("://", m[0].length)) start = m[0].length + 3;
  else if (base.startsWith("//")) start = 2;
  else return null;
  const rest = base.slice(start);
  let end = rest.search(/[/\\]/);
  if (end < 0) end = rest.length;
  const at = rest.slice(0, end).lastIndexOf("@");
  return at < 0 ? null : [start, start + at + 1];
}

function keepParam(p, allow) {
  const eq = p.indexOf("=");
  return p !== "" && allow.includes(eq < 0 ? p : p.slice(0, eq));
}

function allKept(query, allow) {
  return query !== "" && query.split("&").every((p) => keepParam(p, allow));
}

function keptParams(sep, query, allow) {
  const kept = query.split("&").filter((p) => keepParam(p, allow));
  return kept.length === 0 ? "" : sep + kept.join("&");
}

const NO_PARAMS = [];
const URL_END = /[ \t\n\f\r()"'<>`]/; // is_ascii_whitespace or a delimiter

/** scrub::scrub_urls_in_text: every absolute URL in free text scrubbed, `:line:col` kept. */
function scrubUrlsInText(text) {
  if (!/[?#@]/.test(text)) return text;
  let out = "", last = 0, i = text.indexOf("://");
  while (i >= 0) {
    let start = i;
    while (start > last && /[A-Za-z0-9+.-]/.test(text[start - 1])) start--;
    let end = i + 3;
    while (end < text.length && !URL_END.test(text[end])) end++;
    let coreEnd = end;
    for (let k = 0; k < 2; k++) {
      let j = coreEnd;
      while (j > i + 3 && isDigit(text.charCodeAt(j - 1))) j--;
      if (j < coreEnd && j > i + 3 && text[j - 1] === ":") coreEnd = j - 1;
      else break;
    }
    if (start < i) {
      const url = text.slice(start, coreEnd);
      const clean = scrubUrl(url, NO_PARAMS);
      if (clean !== url) {
        out += text.slice(last, start) + clean + text.slice(coreEnd, end);
        last = end;
      }
    }
    i = text.indexOf("://", end);
  }
  return last === 0 ? text : out + text.slice(last);
}

const isDigit = (c) => c >= 48 && c <= 57;
/** A character of an e-mail address (non-ASCII allowed). */
const isLocal = (c) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c >= 0x80;
const isAlpha = (c) => (c | 32) >= 97 && (c | 32) <= 122;

/** scrub::mask_message: addresses become [email], numbers of 7+ digits [number]; null when
 *  nothing is masked. */
function maskMessage(text) {
  const n = text.length;
  if (text.indexOf("@") < 0) {
    let digits = 0;
    for (let k = 0; k < n && digits < 7; k++) if (isDigit(text.charCodeAt(k))) digits++;
    if (digits < 7) return null;
  }
  const at = (k) => (k < n ? text.charCodeAt(k) : 0);
  let out = "", last = 0, i = 0;
  while (i < n) {
    let end = -1, token = "";
    if (i === last || !isLocal(at(i - 1))) {
      let sign = i;
      while (sign < n && isLocal(at(sign))) sign++;
      if (sign > i && at(sign) === 64) {
        let e = sign + 1, dotLetter = false;
        while (e < n && isLocal(at(e))) {
          dotLetter ||= at(e) === 46 && isAlpha(at(e + 1));
          e++;
        }
        while (at(e - 1) === 46) e--;
        if (dotLetter) (end = e), (token = "[email]");
      }
    }
    if (end < 0) {
      let e = i, digits = 0;
      while (isDigit(at(e))) {
        e++;
        digits++;
        const c = at(e);
        if ((c === 32 || c === 45 || c === 46) && isDigit(at(e + 1))) e++;
      }
      if (digits >= 7) (end = e), (token = "[number]");
    }
    if (end < 0) {
      i++;
      continue;
    }
    out += text.slice(last, i) + token;
    last = i = end;
  }
  return last > 0 ? out + text.slice(last) : null;
}

/** scrub::mask_text (click text): digits to `*`, words with `@` to `***`, whitespace collapsed. */
function maskText(text) {
  if (/^(?:[!-/:-?A-~]+(?: [!-/:-?A-~]+)*)?$/.test(text)) return text; // protect::plain
  const words = text.split(/\s+/).filter((w) => w !== "");
  return words.map((w) => (/[@\uFF20]/.test(w) ? "***" : w.replace(/[0-9\uFF10-\uFF19\u0660-\u0669\u06F0-\u06F9\u0966-\u096F]/g, "*"))).join(" ");
}

/** json::escaped_len over UTF-8. */
function escapedLen(s) {
  let n = utf8Length(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 || c === 92 || c === 10 || c === 13 || c === 9 || c === 8 || c === 12) n += 1;
    else if (c < 0x20) n += 5;
  }
  return n;
}

const mayBeCut = (s, max) => s.length * 6 + 6 > max && escapedLen(s) + 6 > max;

function dropPartialWord(s) {
  const m = /\s(?=\S*$)/.exec(s);
  return (m === null ? "" : s.slice(0, m.index)).trimEnd();
}

function dropPartialLine(s) {
  const nl = s.lastIndexOf("\n");
  return nl >= 0 ? s.slice(0, nl) : dropPartialWord(s);
}

/** protect::mask_v8_header: V8's `Type: message` atop the stack masked like the message. */
function maskV8Header(stack, message, messageCut) {
  const colon = stack.indexOf(":");
  if (colon < 0 || stack[colon + 1] !== " ") return null;
  const rest = stack.slice(colon + 2);
  if (!rest.startsWith(message)) return null;
  let end = message.length;
  if (messageCut) {
    end = rest.length;
    const frame = /\n\s*at /g;
    frame.lastIndex = message.length;
    const m = frame.exec(rest);
    if (m !== null) end = m.index;
  }
  const masked = maskMessage(rest.slice(0, end));
  return masked === null ? null : stack.slice(0, colon) + ": " + masked + rest.slice(end);
}

/** protect::protect_urls + protect::protect on one kept event (in place). */
function protect(ev, allow, maskMessages) {
  ev.url = scrubUrl(ev.url, allow);
  if (ev.type === "page_view") ev.referrer = scrubUrl(ev.referrer, allow);
  else if (ev.type === "click") ev.text = trunc(maskText(ev.text), L.TEXT).trimEnd();
  else if (ev.type === "error") {
    const messageCut = mayBeCut(ev.message, L.MESSAGE);
    if (messageCut) ev.message = dropPartialWord(ev.message);
    if (mayBeCut(ev.stack, L.STACK)) ev.stack = dropPartialLine(ev.stack);
    ev.message = scrubUrlsInText(ev.message);
    ev.stack = scrubUrlsInText(ev.stack);
    if (maskMessages) {
      ev.stack = maskV8Header(ev.stack, ev.message, messageCut) ?? ev.stack;
      ev.message = maskMessage(ev.message) ?? ev.message;
    }
    while (mayBeCut(ev.message, L.MESSAGE)) ev.message = dropPartialWord(ev.message);
    while (mayBeCut(ev.stack, L.STACK)) ev.stack = dropPartialLine(ev.stack);
    if (ev.kind === "") ev.kind = "Error";
  }
}

// ---------------------------------------------------------------- sampling (ids.rs / sample.rs)

const M64 = (1n << 64n) - 1n;

/** mix_hash: FNV-1a 64 over the UTF-8 bytes, then the splitmix64 finaliser. */
export function mixHash(s) {
  const bytes = new TextEncoder().encode(s);
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & M64;
  h = ((h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  h = ((h ^ (h >> 27n)) * 0x94d049bb133111ebn) & M64;
  return h ^ (h >> 31n);
}

/** Sampler::position: where a session falls in [0, 1). */
export function position(session) {
  return Number(mixHash(session) >> 11n) / 9007199254740992;
}

/** Sampler::new(rate).keep(session, isError), with the session's position computed lazily. */
function keep(rate, isError, pos) {
  if (Number.isNaN(rate)) rate = 1;
  rate = Math.min(1, Math.max(0, rate));
  return isError || rate >= 1 || pos() < rate;
}

// ---------------------------------------------------------------- enrichment (ua.rs, client hash)

const BOT_MARKERS = ["bot", "crawl", "spider", "slurp", "headless", "lighthouse", "pingdom", "monitor", "curl/", "wget/", "python-", "python/", "go-http-client", "java/", "okhttp", "axios/", "node-fetch", "phantomjs", "facebookexternalhit", "preview"];

export function classify(ua) {
  if (ua.trim() === "") return { device: "unknown", browser: "other", bot: false };
  const l = ua.replace(/[A-Z]+/g, (m) => m.toLowerCase()); // ASCII-only lowercasing, like to_ascii_lowercase
  const has = (s) => l.includes(s);
  const bot = BOT_MARKERS.some(has);
  const browser = has("edg/") || has("edge/") ? "edge"
    : has("opr/") || has("opera") ? "opera"
    : has("samsungbrowser") ? "samsung"
    : has("firefox/") || has("fxios/") ? "firefox"
    : has("chrome/") || has("crios/") || has("chromium/") ? "chrome"
    : has("safari/") && has("version/") ? "safari"
    : "other";
  const device = bot ? "bot"
    : has("ipad") || has("tablet") || (has("android") && !has("mobile")) ? "tablet"
    : has("mobi") || has("iphone") || has("ipod") || has("android") ? "mobile"
    : has("windows") || has("macintosh") || has("x11") || has("linux") || has("cros") ? "desktop"
    : "unknown";
  return { device, browser, bot };
}

const HEXCH = "0123456789abcdef";
const ENC = new TextEncoder();

/** SHA-256(salt ‖ day as u64 LE ‖ ip), first 8 bytes as 16 hex digits. */
async function clientHash(salt, ip, nowMs) {
  const ipBytes = ENC.encode(ip);
  const buf = new Uint8Array(salt.length + 8 + ipBytes.length);
  buf.set(salt, 0);
  const day = Math.floor(nowMs / 86400000);
  new DataView(buf.buffer).setUint32(salt.length, day, true); // the high 4 bytes stay 0
  buf.set(ipBytes, salt.length + 8);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  let out = "";
  for (let i = 0; i < 8; i++) out += HEXCH[d[i] >> 4] + HEXCH[d[i] & 15];
  return out;
}

// ---------------------------------------------------------------- stack parsing (stack.rs)

function lines(s) {
  const ls = s.split("\n");
  if (ls.length > 0 && ls[ls.length - 1] === "") ls.pop();
  for (let i = 0; i < ls.length; i++) if (ls[i].endsWith("\r")) ls[i] = ls[i].slice(0, -1);
  return ls;
}

function parseStack(stack) {
  const ls = lines(stack);
  const v8 = ls.some((l) => l.trimStart().startsWith("at "));
  const frames = [];
  for (const raw of ls) {
    if (frames.length >= 100) break;
    const line = raw.trim();
    const f = v8 ? (line.startsWith("at ") ? parseV8(line.slice(3)) : null) : parseGecko(line);
    if (f) frames.push(f);
  }
  return frames;
}

function parseV8(rest) {
  rest = rest.trim();
  if (rest === "") return null;
  let fn = "", loc = rest;
  const g = splitTrailingGroup(rest);
  if (g) {
    fn = g[0].trim();
    loc = g[1];
  }
  if (fn.startsWith("async ")) fn = fn.slice(6);
  if (fn.startsWith("new ")) fn = fn.slice(4);
  if (loc.startsWith("address at ")) loc = loc.slice(11);
  return frame(fn, loc);
}

function splitTrailingGroup(s) {
  if (!s.endsWith(")")) return null;
  const inner = s.slice(0, -1);
  let depth = 1;
  for (let i = inner.length - 1; i >= 0; i--) {
    const c = inner.charCodeAt(i);
    if (c === 41) depth++;
    else if (c === 40 && --depth === 0) return [inner.slice(0, i), inner.slice(i + 1)];
  }
  return null;
}

function parseGecko(line) {
  if (line === "[native code]") return frame("", line);
  const at = line.indexOf("@");
  if (at < 0) return null;
  let fn = line.slice(0, at);
  const loc = line.slice(at + 1);
  if (fn.split(":").slice(1).some((p) => p.startsWith(" ")) || loc.trim() === "") return null;
  const star = fn.lastIndexOf("*");
  if (star >= 0) fn = fn.slice(star + 1);
  return frame(fn, loc);
}

const NOT_APP = ["<anonymous>", "native", "[native code]"];
const NOT_APP_PREFIXES = ["chrome-extension://", "moz-extension://", "safari-extension://", "safari-web-extension://", "index "];

function frame(fn, loc) {
  const [file, line, column] = splitLocation(loc.trim());
  return { fn: fn === "" ? null : fn, file, line, column, inApp: !(NOT_APP.includes(file) || NOT_APP_PREFIXES.some((p) => file.startsWith(p))) };
}

const DIGITS = /^[0-9]+$/;
const U32_MAX = 4294967295;

function splitLocation(loc) {
  if (loc.startsWith("eval at ")) {
    const rest = loc.slice(8);
    const p = rest.lastIndexOf("(");
    let inner;
    if (p >= 0) inner = rest.slice(p + 1).split(")")[0];
    else {
      const c = rest.lastIndexOf(", ");
      inner = c >= 0 ? rest.slice(c + 2) : rest;
    }
    return splitLineCol(inner.trim());
  }
  const li = loc.indexOf(" line ");
  if (li >= 0 && loc.slice(li + 6).includes(" > ")) {
    const digits = /^[0-9]*/.exec(loc.slice(li + 6))[0];
    const n = digits === "" ? null : Number(digits);
    return [loc.slice(0, li), n !== null && n <= U32_MAX ? n : null, null];
  }
  const wi = loc.indexOf(":wasm-function[");
  if (wi >= 0) {
    const rest = loc.slice(wi + 15);
    const x = rest.lastIndexOf(":0x");
    let off = null;
    if (x >= 0) {
      const h = rest.slice(x + 3);
      if (/^\+?[0-9a-fA-F]+$/.test(h) && h !== "+") {
        const n = parseInt(h, 16);
        if (n <= U32_MAX) off = n;
      }
    }
    return [loc.slice(0, wi), null, off];
  }
  return splitLineCol(loc);
}

function splitLineCol(loc) {
  const a = splitNumber(loc);
  if (!a) return [loc, null, null];
  const b = splitNumber(a[0]);
  return b ? [b[0], b[1], a[1]] : [a[0], a[1], null];
}

function splitNumber(s) {
  const c = s.lastIndexOf(":");
  if (c < 0) return null;
  const num = s.slice(c + 1);
  if (!DIGITS.test(num)) return null;
  const n = Number(num);
  return n <= U32_MAX ? [s.slice(0, c), n] : null;
}

// ---------------------------------------------------------------- OTLP JSON (otlp.rs, json.rs)

const str = JSON.stringify; // the same escaping as json::push_str for well-formed strings
const kvStr = (k, v) => '{"key":"' + k + '","value":{"stringValue":' + str(v) + "}},";
const kvF64 = (k, v) => '{"key":"' + k + '","value":{"doubleValue":' + f64(v) + "}},";
const kvI64 = (k, v) => '{"key":"' + k + '","value":{"intValue":"' + v + '"}},';
const kvBool = (k, v) => '{"key":"' + k + '","value":{"boolValue":' + (v ? "true" : "false") + "}},";
const endList = (s) => (s.endsWith(",") ? s.slice(0, -1) : s);

/** json::push_f64: at most 6 decimals, no exponent, NaN/inf as 0. */
function f64(v) {
  if (!Number.isFinite(v)) return "0";
  const neg = v < 0;
  const a = neg ? -v : v;
  if (a >= 9007199254.740992) {
    const whole = Math.trunc(Math.min(a, 9007199254740992));
    return (neg && whole !== 0 ? "-" : "") + whole;
  }
  const scaled = Math.floor(a * 1000000 + 0.5);
  const whole = Math.floor(scaled / 1000000);
  const frac = scaled % 1000000;
  let s = (neg && scaled !== 0 ? "-" : "") + whole;
  if (frac !== 0) {
    let d = String(frac).padStart(6, "0");
    let end = 6;
    while (d.charCodeAt(end - 1) === 48) end--;
    s += "." + d.slice(0, end);
  }
  return s;
}

function encoderPrefix(env_, e) {
  let o = '{"resourceLogs":[{"resource":{"attributes":[';
  o += kvStr("service.name", env_.key);
  o += kvStr("session.id", env_.session);
  o += kvStr("telemetry.sdk.name", env_.sdkName);
  o += kvStr("telemetry.sdk.version", env_.sdkVersion);
  o += kvStr("telemetry.sdk.language", "webjs");
  if (e.country != null) o += kvStr("geo.country.iso_code", e.country);
  o += kvStr("ferrotel.ua_device", e.ua.device);
  o += kvStr("ferrotel.ua_browser", e.ua.browser);
  o += kvBool("ferrotel.bot", e.ua.bot);
  if (e.clientHash !== "") o += kvStr("ferrotel.client_hash", e.clientHash);
  return endList(o) + ']},"scopeLogs":[{"scope":{"name":"ferrotel","version":"' + SDK_VERSION + '"},"logRecords":[';
}
const SUFFIX = "]}]}]}";

function record(ev, rate, receivedMs) {
  const error = ev.type === "error";
  let o = '{"timeUnixNano":"' + ev.t + '000000","observedTimeUnixNano":"' + receivedMs + "000000";
  o += error ? '","severityNumber":17,"severityText":"ERROR","eventName":"' : '","severityNumber":9,"severityText":"INFO","eventName":"';
  o += "browser." + ev.type + '","attributes":[';
  o += '{"key":"event.id","value":{"stringValue":"' + ev.id + '"}},{"key":"event.name","value":{"stringValue":"browser.' + ev.type + '"}},';
  o += kvStr("url.full", ev.url);
  o += kvF64("ferrotel.sample_rate", rate);
  switch (ev.type) {
    case "page_view":
      o += kvStr("ferrotel.referrer", ev.referrer) + kvStr("ferrotel.cause", ev.cause);
      break;
    case "screen_time":
      o += kvStr("ferrotel.view", ev.view) + kvF64("ferrotel.visible_ms", ev.visible_ms);
      break;
    case "click":
      o += kvStr("ferrotel.selector", ev.selector) + kvStr("ferrotel.tag", ev.tag) + kvStr("ferrotel.text", ev.text) + kvI64("ferrotel.x", ev.x) + kvI64("ferrotel.y", ev.y);
      break;
    case "web_vital":
      o += kvStr("browser.web_vital.name", ev.name) + kvF64("browser.web_vital.value", ev.value) + kvF64("browser.web_vital.delta", ev.delta) +
        kvStr("browser.web_vital.id", ev.metric_id) + kvStr("browser.web_vital.rating", ev.rating) + kvStr("browser.web_vital.navigation_type", ev.navigation_type);
      break;
    case "nav_timing":
      o += kvF64("ferrotel.dns", ev.dns) + kvF64("ferrotel.tcp", ev.tcp) + kvF64("ferrotel.tls", ev.tls) + kvF64("ferrotel.ttfb", ev.ttfb) +
        kvF64("ferrotel.download", ev.download) + kvF64("ferrotel.dom_interactive", ev.dom_interactive) +
        kvF64("ferrotel.dom_content_loaded", ev.dom_content_loaded) + kvF64("ferrotel.load", ev.load) +
        kvF64("ferrotel.transfer_size", ev.transfer_size) + kvStr("ferrotel.navigation_type", ev.navigation_type);
      break;
    case "long_task":
      o += kvF64("ferrotel.start", ev.start) + kvF64("ferrotel.duration", ev.duration);
      break;
    case "error":
      o += kvStr("ferrotel.source", ev.source) + kvStr("exception.type", ev.kind) + kvStr("exception.message", ev.message) +
        kvStr("exception.stacktrace", ev.stack) + kvStr("ferrotel.fingerprint", ev.fingerprint) + kvI64("ferrotel.count", ev.count);
      // Frames are parsed at the edge, as in Rust.
      if (ev.stack !== "" && ev.source !== "panic") {
        const frames = parseStack(ev.stack);
        o += kvI64("ferrotel.frames", frames.length);
        const f = frames.find((x) => x.inApp) ?? frames[0];
        if (f) {
          if (f.fn !== null) o += kvStr("code.function.name", f.fn);
          o += kvStr("code.file.path", f.file);
          if (f.line !== null) o += kvI64("code.line.number", f.line);
          if (f.column !== null) o += kvI64("code.column.number", f.column);
        }
      }
      break;
    case "custom":
      o += kvStr("ferrotel.name", ev.name);
      if (ev.attrs !== null) {
        for (const [k, v] of ev.attrs) {
          const key = "ferrotel.attr." + str(k).slice(1, -1);
          if (typeof v === "string") o += kvStr(key, v);
          else if (typeof v === "number") o += kvF64(key, v);
          else o += kvBool(key, v);
        }
      }
      break;
  }
  return endList(o) + "]}";
}

/** LogsEncoder::documents: joins records into documents of at most `max` UTF-8 bytes each. */
function documents(prefix, records, max, ascii) {
  const size = ascii ? (s) => s.length : utf8Length;
  const prefixBytes = size(prefix);
  const docs = [];
  let cur = null, curBytes = 0;
  for (const r of records) {
    const rb = size(r);
    if (cur !== null && curBytes + 1 + rb + SUFFIX.length > max) {
      docs.push(cur + SUFFIX);
      cur = null;
    }
    if (cur === null) {
      cur = prefix + r;
      curBytes = prefixBytes + rb;
    } else {
      cur += "," + r;
      curBytes += 1 + rb;
    }
  }
  if (cur !== null) docs.push(cur + SUFFIX);
  return docs;
}

// ---------------------------------------------------------------- the request path

async function ingest(request, env) {
  if (CONFIG === null) {
    try {
      CONFIG = readConfig(env);
    } catch (p) {
      if (!(p instanceof ConfigProblem)) throw p;
      console.error(`ferrotel: misconfigured: ${p.name_}: ${p.message}`);
      return jsonError(500, "misconfigured", p.name_, p.message);
    }
  }
  const cfg = CONFIG;
  const h = request.headers;
  const origin = h.get("origin");
  const ct = (h.get("content-type") ?? "").toLowerCase();
  if (ct !== "" && !ct.startsWith("text/plain") && !ct.startsWith("application/json")) {
    return jsonError(415, "unsupported_media_type", "content-type", "send text/plain (sendBeacon) or application/json");
  }
  const declared = h.get("content-length");
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > MAX_BODY_BYTES) {
    return jsonError(413, "payload_too_large", "body", "exceeds 65536 bytes");
  }
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.byteLength > MAX_BODY_BYTES) return jsonError(413, "payload_too_large", "body", "exceeds 65536 bytes");
  let b;
  try {
    b = decode(body);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    const allowed = origin !== null && anyKeyAllows(cfg, origin) ? origin : null;
    return withCors(jsonError(400, "invalid_batch", e.field, e.reason), allowed);
  }
  const allowedOrigins = cfg.keys.get(b.key);
  if (allowedOrigins === undefined) return jsonError(401, "unknown_key", "key", "this write key is not configured");
  if (!allowedOrigins.some((a) => a === "*" || a === origin)) {
    return jsonError(403, "origin_not_allowed", "origin", "this origin may not send with this key");
  }
  const now = Date.now();
  const ip = h.get("cf-connecting-ip") ?? "";
  const hash = ip === "" ? "" : await clientHash(cfg.salt, ip, now);

  for (const [binding, key] of [["RL_KEY", b.key], ["RL_CLIENT", b.key + ":" + hash]]) {
    const rl = env[binding];
    if (rl !== undefined && !(await rl.limit({ key })).success) {
      const r = jsonError(429, "rate_limited", null, "too many batches; retry after the period");
      r.headers.set("retry-after", "60");
      return withCors(r, origin);
    }
  }

  const ua = classify(h.get("user-agent") ?? "");
  const country = request.cf?.country;
  const prefix = encoderPrefix(b, { country, ua, clientHash: hash });
  let pos = -1;
  const sessionPos = () => (pos >= 0 ? pos : (pos = position(b.session)));
  const records = [];
  for (const ev of b.events) {
    const rate = cfg.rateFor[ev.type];
    const isError = ev.type === "error";
    if (keep(rate, isError, sessionPos)) {
      if (cfg.protect) protect(ev, b.allowQuery, b.maskMessages);
      records.push(record(ev, isError ? 1 : rate, now));
    }
  }
  const docs = documents(prefix, records, MAX_CHUNK_BYTES, b.ascii);
  const q = env.EVENTS;
  for (const d of docs) {
    try {
      await q.send(d, { contentType: "json" }); // what worker::Queue::send does with a String
    } catch (e) {
      console.error(`ferrotel: queue send failed: ${e}`);
      const r = jsonError(503, "unavailable", null, "could not queue the batch; retry");
      r.headers.set("retry-after", "5");
      return withCors(r, origin);
    }
  }
  return withCors(new Response(null, { status: 204 }), origin);
}

export default {
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/v1/batch") {
      if (request.method === "POST") return ingest(request, env);
      return jsonError(405, "method_not_allowed", null, "use POST");
    }
    if (path === "/healthz" && request.method === "GET") return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
    return jsonError(404, "not_found", null, "routes: POST /v1/batch, GET /healthz");
  },
};
