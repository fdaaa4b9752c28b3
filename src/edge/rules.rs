//! `GET` / `PUT /v1/sampling-rules`: read and replace the sampling rules, guarded by
//! `ADMIN_TOKEN`. The rules are validated by `core::rules` (400 naming the field otherwise),
//! stored as one row of D1's `sampling_rules`, put in force in this isolate at once, and read
//! by every other isolate within `RULES_CACHE_SECONDS` (src/edge/state.rs).

use wasm_bindgen::JsValue;
use worker::*;

use super::{config, json_error, misconfigured, unauthorized};
use crate::core::json::push_u64;
use crate::core::rules::{Rules, MAX_BODY_BYTES};

/// `{"rules":[...],"updated_at":ms|null,"cache_seconds":n}`.
fn answer(rules_json: &str, updated_at: Option<f64>, cache_s: u32) -> Result<Response> {
    let inner = rules_json
        .trim()
        .strip_suffix('}')
        .unwrap_or("{\"rules\":[]");
    let mut body = String::with_capacity(inner.len() + 48);
    body.push_str(inner);
    body.push_str(",\"updated_at\":");
    match updated_at {
        Some(t) => push_u64(&mut body, t as u64),
        None => body.push_str("null"),
    }
    body.push_str(",\"cache_seconds\":");
    push_u64(&mut body, cache_s.into());
    body.push('}');
    let mut r = Response::ok(body)?;
    r.headers_mut().set("content-type", "application/json")?;
    r.headers_mut().set("cache-control", "no-store")?;
    Ok(r)
}

pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    let cfg = match config(env) {
        Ok(c) => c,
        Err(p) => return misconfigured(&p),
    };
    let Some(token) = &cfg.admin_token else {
        return json_error(
            404,
            "not_found",
            None,
            "the sampling-rules endpoint is off: set the ADMIN_TOKEN secret",
        );
    };
    if let Some(r) = unauthorized(&req, token, "ADMIN_TOKEN")? {
        return Ok(r);
    }
    let db = env.d1("DB")?;
    match req.method() {
        Method::Get => match super::state::read_rules(&db).await {
            Ok(Some((text, at))) => answer(&text, Some(at), cfg.rules_cache_s),
            Ok(None) => answer("{\"rules\":[]}", None, cfg.rules_cache_s),
            Err(e) => {
                console_error!("ferrotel: sampling rules not read: {e}");
                json_error(503, "unavailable", None, "D1 could not be read; retry")
            }
        },
        Method::Put => {
            let declared = req
                .headers()
                .get("content-length")?
                .and_then(|l| l.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
                return json_error(
                    413,
                    "payload_too_large",
                    Some("body"),
                    &format!("exceeds {MAX_BODY_BYTES} bytes"),
                );
            }
            let body = req.bytes().await?;
            let rules = match Rules::parse(&body) {
                Ok(r) => r,
                Err(e) => return json_error(400, "invalid_rules", Some(&e.field), &e.reason),
            };
            let text = rules.to_json();
            let now = Date::now().as_millis();
            let stored = db
                .prepare(
                    "INSERT INTO sampling_rules (id, rules, updated_at) VALUES (1, ?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at",
                )
                .bind(&[JsValue::from_str(&text), JsValue::from_f64(now as f64)])?
                .run()
                .await;
            if let Err(e) = stored {
                console_error!("ferrotel: sampling rules not stored: {e}");
                return json_error(503, "unavailable", None, "D1 could not be written; retry");
            }
            super::state::set_rules(Some(rules), now);
            answer(&text, Some(now as f64), cfg.rules_cache_s)
        }
        _ => {
            let mut r = json_error(405, "method_not_allowed", None, "use GET or PUT")?;
            r.headers_mut().set("allow", "GET, PUT")?;
            Ok(r)
        }
    }
}
