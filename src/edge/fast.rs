//! The request path's entry. `worker/entry.mjs` calls [`ingest_decide`] for every request, with
//! the method, URL and headers, and again with the body if asked to; `core::ingest::decide`
//! makes every decision (route, size, media type, decoding, key and origin, sampling,
//! enrichment, OTLP, which rate limiters with which keys, where the documents go, and every
//! answer with its headers). The entry only executes the plan: it calls the limiters named,
//! sends the documents to the Queue named (or hands them to [`ingest_store`] under `waitUntil`
//! when there is no Queue) and returns the answer described.
//!
//! This skips the `worker` crate's per-request Request/Response wrapping and its async glue
//! (the costs that made a naive Rust Worker slower than plain JS; bench/worker/).

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::config_from;
use crate::core::ingest::{
    decide, Bindings, Decision, Incoming, Limit, Reply, QUEUE, RL_CLIENT, RL_KEY,
};
use crate::core::json::push_u64;
use crate::core::otlp::push_text;

thread_local! {
    /// The binding names as JS strings, made once (each `JsValue::from_str` is a call out of
    /// the wasm and a text decode).
    static NAMES: [JsValue; 3] = [RL_KEY, RL_CLIENT, QUEUE].map(JsValue::from_str);
}

fn has(env: &JsValue, binding: usize) -> bool {
    NAMES.with(|n| Reflect::get(env, &n[binding]).is_ok_and(|v| !v.is_undefined() && !v.is_null()))
}

thread_local! {
    /// Which bindings the Worker has, looked up once per isolate like the configuration
    /// (`config_from`): bindings do not change under a running isolate. Three `Reflect.get`
    /// calls out of the wasm fewer per decision, three decisions per batch.
    static BINDINGS: std::cell::Cell<Option<Bindings>> = const { std::cell::Cell::new(None) };
}

fn bindings(env: &JsValue) -> Bindings {
    BINDINGS.with(|b| {
        b.get().unwrap_or_else(|| {
            let found = Bindings {
                rl_key: has(env, 0),
                rl_client: has(env, 1),
                queue: has(env, 2),
            };
            b.set(Some(found));
            found
        })
    })
}

/// `"name":` after an opening brace or a previous member.
fn key(o: &mut String, name: &str) {
    if !o.ends_with('{') {
        o.push(',');
    }
    o.push('"');
    o.push_str(name);
    o.push_str("\":");
}

/// `{"status":…,"headers":{name: value},"body":…}`: what `new Response(body, {status,
/// headers})` takes (a repeated header name keeps its last value).
fn reply(o: &mut String, name: &str, r: &Reply) {
    key(o, name);
    o.push_str("{\"status\":");
    push_u64(o, r.status.into());
    o.push_str(",\"headers\":{");
    for (i, (k, v)) in r.headers.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        push_text(o, k);
        o.push(':');
        push_text(o, v);
    }
    o.push('}');
    if let Some(b) = &r.body {
        o.push_str(",\"body\":");
        push_text(o, b);
    }
    o.push('}');
}

fn limits(o: &mut String, limits: &[Limit], limited: &Reply) {
    key(o, "limits");
    o.push('[');
    for (i, (binding, k)) in limits.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push('[');
        push_text(o, binding);
        o.push(',');
        push_text(o, k);
        o.push(']');
    }
    o.push(']');
    reply(o, "limited", limited);
}

fn flag(o: &mut String, name: &str, v: bool) {
    key(o, name);
    o.push_str(if v { "true" } else { "false" });
}

/// Decides one request (or the next step of one). Returns the decision as JSON text, followed
/// by the OTLP documents to store when there are any (one array: two calls out of the wasm
/// instead of one per property). The decision is one of:
/// - `{"route":true}`: not the ingest's; the `worker` crate's router answers (preflight,
///   `/healthz`, `GET /v1/events`);
/// - `{"next":true,"limits","limited","read","checked","lookup"?}`: consult the limiters in
///   order (the first refusal answers `limited`), read at most `read` bytes of body if `read`
///   > 0, look up the session `lookup` with `ingest_lookup` if given, and call again with the
///   body, `checked` and `looked_up` (true once a lookup was done);
/// - `{"reply","limits"?,"limited"?}`: consult the limiters if any (a refusal answers
///   `limited`), else answer `reply` (every refusal, 404, 405, 500 misconfigured);
/// - `{"reply","queue"?,"direct","unavailable"}` and the documents: send them to `queue` (a
///   failed send answers `unavailable`) or, when `direct`, pass them to `ingest_store` under
///   `waitUntil`; then answer `reply`.
///
/// Each reply is `{"status","headers":{name: value},"body"?}`.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn ingest_decide(
    env: JsValue,
    method: String,
    url: String,
    content_type: Option<String>,
    content_length: Option<String>,
    origin: Option<String>,
    user_agent: Option<String>,
    ip: Option<String>,
    country: Option<String>,
    now_ms: f64,
    body: Option<Box<[u8]>>,
    checked: bool,
    looked_up: bool,
) -> Vec<String> {
    let cfg = config_from(|name| {
        Reflect::get(&env, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    });
    let bindings = bindings(&env);
    let now = now_ms as u64;
    let decision = super::state::with_state(now, |state| {
        let req = Incoming {
            method: &method,
            url: &url,
            content_type: content_type.as_deref(),
            content_length: content_length.as_deref(),
            origin: origin.as_deref(),
            user_agent: user_agent.as_deref(),
            ip: ip.as_deref(),
            country: country.as_deref(),
            now_ms: now,
            body: body.as_deref(),
            checked,
            day_salt: state.day_salt,
            used_today: state.used_today,
            rules: state.rules,
            error_sessions: Some(state.error_sessions),
            looked_up,
        };
        decide(cfg.as_deref(), &req, bindings)
    });
    let mut o = String::with_capacity(512);
    o.push('{');
    let mut docs = Vec::new();
    match decision {
        Decision::Route => flag(&mut o, "route", true),
        Decision::Next(s) => {
            flag(&mut o, "next", true);
            limits(&mut o, &s.limits, &s.limited);
            key(&mut o, "read");
            push_u64(&mut o, s.read as u64);
            flag(&mut o, "checked", s.checked);
            if let Some(session) = &s.lookup {
                key(&mut o, "lookup");
                push_text(&mut o, session);
            }
        }
        Decision::Answer(r) => {
            if let Err(p) = &cfg {
                worker::console_error!("ferrotel: misconfigured: {p}");
            }
            reply(&mut o, "reply", &r);
        }
        Decision::Refuse(r) => {
            limits(&mut o, std::slice::from_ref(&r.limit), &r.limited);
            reply(&mut o, "reply", &r.reply);
        }
        Decision::Accept(p) => {
            super::state::count_accepted(now, &p.key, p.accepted);
            if let Some(session) = &p.errored_session {
                super::state::remember_session(session, true, now);
            }
            if let Some(q) = p.queue {
                key(&mut o, "queue");
                push_text(&mut o, q);
            }
            flag(&mut o, "direct", p.direct);
            reply(&mut o, "reply", &p.reply);
            reply(&mut o, "unavailable", &p.unavailable);
            docs = p.docs;
        }
    }
    o.push('}');
    docs.insert(0, o);
    docs
}

/// Without a Queue: stores (and forwards) the documents of a plan directly, with the queue
/// consumer's idempotent `consume::process`. The entry passes the promise to `waitUntil`.
#[wasm_bindgen]
pub fn ingest_store(env: JsValue, docs: Array) -> Promise {
    let env: worker::Env = env.unchecked_into();
    worker::wasm_bindgen_futures::future_to_promise(async move {
        // No queue message: the delivery is named by a random token.
        let owner = format!(
            "direct-{:016x}",
            (js_sys::Math::random() * 2f64.powi(53)) as u64
        );
        for d in docs.iter().filter_map(|d| d.as_string()) {
            if let Err(e) = super::consume::process(&env, &owner, &d).await {
                worker::console_error!("ferrotel: direct write failed: {e:?}");
            }
        }
        Ok(JsValue::UNDEFINED)
    })
}
