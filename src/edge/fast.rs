//! The request path's thin entry: `worker/entry.mjs` reads the body as an `ArrayBuffer` and
//! calls this export directly, skipping the `worker` crate's per-request Request/Response
//! wrapping and its async glue (the costs that made a naive Rust Worker slower than plain JS;
//! see ARCHITECTURE.md, "The Worker's hot path"). The decisions are the same `prepare` the
//! crate path uses; the entry does only the binding calls (rate limits, queue) and the response.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::config_from;
use super::ingest::client_hash;
use crate::core::ingest::{error_body, prepare, BatchRequest};

fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

/// Decides one `POST /v1/batch`. Returns `{status, body?, cors?, key?, clientKey?, docs?}`:
/// status 204 with the rate-limit keys and the OTLP documents to queue, or the refusal's
/// status and JSON body (500 `misconfigured` when the Worker's config is wrong).
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn ingest_prepare(
    env: JsValue,
    body: &[u8],
    content_type: String,
    origin: Option<String>,
    user_agent: String,
    ip: String,
    country: Option<String>,
    now_ms: f64,
) -> JsValue {
    let out = Object::new();
    let cfg = match config_from(|name| {
        Reflect::get(&env, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    }) {
        Ok(c) => c,
        Err(p) => {
            web_sys_log(&p.to_string());
            set(&out, "status", &JsValue::from(500));
            set(
                &out,
                "body",
                &JsValue::from_str(&error_body("misconfigured", Some(p.name), &p.problem)),
            );
            return out.into();
        }
    };
    let now = now_ms as u64;
    let hash = client_hash(&cfg.ip_salt, &ip, now);
    let req = BatchRequest {
        body,
        content_type: &content_type,
        origin: origin.as_deref(),
        user_agent: &user_agent,
        country: country.as_deref(),
        client_hash: &hash,
        now_ms: now,
    };
    match prepare(&cfg, &req) {
        Ok(a) => {
            set(&out, "status", &JsValue::from(204));
            set(&out, "key", &JsValue::from_str(&a.key));
            set(&out, "clientKey", &JsValue::from_str(&a.client_key));
            let docs = Array::new_with_length(a.docs.len() as u32);
            for (i, d) in a.docs.iter().enumerate() {
                docs.set(i as u32, JsValue::from_str(d));
            }
            set(&out, "docs", &docs);
            if let Some(c) = &a.cors {
                set(&out, "cors", &JsValue::from_str(c));
            }
        }
        Err(r) => {
            set(&out, "status", &JsValue::from(r.status));
            set(&out, "body", &JsValue::from_str(&r.body()));
            if let Some(c) = &r.cors {
                set(&out, "cors", &JsValue::from_str(c));
            }
        }
    }
    out.into()
}

fn web_sys_log(msg: &str) {
    worker::console_error!("ferrotel: misconfigured: {msg}");
}
