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

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::config_from;
use crate::core::ingest::{
    decide, Bindings, Decision, Incoming, Limit, Reply, QUEUE, RL_CLIENT, RL_KEY,
};

fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

fn has(env: &JsValue, binding: &str) -> bool {
    Reflect::get(env, &JsValue::from_str(binding)).is_ok_and(|v| !v.is_undefined() && !v.is_null())
}

/// `{status, headers: {name: value}, body?}`: what `new Response(body, {status, headers})` takes.
fn reply(r: &Reply) -> JsValue {
    let o = Object::new();
    set(&o, "status", &JsValue::from(r.status));
    let h = Object::new();
    for (k, v) in &r.headers {
        set(&h, k, &JsValue::from_str(v));
    }
    set(&o, "headers", &h);
    if let Some(b) = &r.body {
        set(&o, "body", &JsValue::from_str(b));
    }
    o.into()
}

fn limits(out: &Object, limits: &[Limit], limited: &Reply) {
    let a = Array::new_with_length(limits.len() as u32);
    for (i, (binding, key)) in limits.iter().enumerate() {
        let pair = Array::of2(&JsValue::from_str(binding), &JsValue::from_str(key));
        a.set(i as u32, pair.into());
    }
    set(out, "limits", &a);
    set(out, "limited", &reply(limited));
}

/// Decides one request (or the next step of one). Returns one of:
/// - `{route: true}`: not the ingest's; the `worker` crate's router answers (preflight,
///   `/healthz`, `GET /v1/events`);
/// - `{next: true, limits, limited, read, checked}`: consult the limiters in order (the first
///   refusal answers `limited`), read at most `read` bytes of body if `read` > 0, and call
///   again with the body and `checked`;
/// - `{reply, limits?, limited?}`: consult the limiters if any (a refusal answers `limited`),
///   else answer `reply` (every refusal, 404, 405, 500 misconfigured);
/// - `{reply, docs, queue?, direct, unavailable}`: send `docs` to `queue` (a failed send
///   answers `unavailable`) or, when `direct`, pass them to `ingest_store` under `waitUntil`;
///   then answer `reply`.
///
/// Each reply is `{status, headers, body?}`.
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
) -> JsValue {
    let cfg = config_from(|name| {
        Reflect::get(&env, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    });
    let bindings = Bindings {
        rl_key: has(&env, RL_KEY),
        rl_client: has(&env, RL_CLIENT),
        queue: has(&env, QUEUE),
    };
    let now = now_ms as u64;
    let decision = super::state::with_state(now, |day_salt, used_today| {
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
            day_salt,
            used_today,
        };
        decide(cfg.as_deref(), &req, bindings)
    });
    let out = Object::new();
    match decision {
        Decision::Route => set(&out, "route", &JsValue::TRUE),
        Decision::Next(s) => {
            set(&out, "next", &JsValue::TRUE);
            limits(&out, &s.limits, &s.limited);
            set(&out, "read", &JsValue::from(s.read as u32));
            set(&out, "checked", &JsValue::from_bool(s.checked));
        }
        Decision::Answer(r) => {
            if let Err(p) = &cfg {
                worker::console_error!("ferrotel: misconfigured: {p}");
            }
            set(&out, "reply", &reply(&r));
        }
        Decision::Refuse(r) => {
            limits(&out, std::slice::from_ref(&r.limit), &r.limited);
            set(&out, "reply", &reply(&r.reply));
        }
        Decision::Accept(p) => {
            super::state::count_accepted(now, &p.key, p.accepted);
            let docs = Array::new_with_length(p.docs.len() as u32);
            for (i, d) in p.docs.iter().enumerate() {
                docs.set(i as u32, JsValue::from_str(d));
            }
            set(&out, "docs", &docs);
            if let Some(q) = p.queue {
                set(&out, "queue", &JsValue::from_str(q));
            }
            set(&out, "direct", &JsValue::from_bool(p.direct));
            set(&out, "reply", &reply(&p.reply));
            set(&out, "unavailable", &reply(&p.unavailable));
        }
    }
    out.into()
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
