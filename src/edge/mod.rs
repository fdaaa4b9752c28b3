//! The ingest Worker (feature `edge`): `worker` crate glue only. Every decision (decoding,
//! validation, sampling, enrichment, OTLP encoding, row projection) is in `core`.
//!
//! Routes: `POST /v1/batch` (ingest), `OPTIONS *` (CORS preflight), `GET /healthz`,
//! `GET /v1/events` (token-guarded read of the embedded store). The queue consumer writes to D1
//! and forwards OTLP; see `consume`.

mod consume;
mod fast;
mod ingest;
mod read;

use std::cell::RefCell;
use std::rc::Rc;

use worker::*;

use crate::core::ingest::{ConfigProblem, IngestConfig};

thread_local! {
    /// Parsed once per isolate: vars and secrets do not change under a running isolate.
    static CONFIG: RefCell<Option<Rc<IngestConfig>>> = const { RefCell::new(None) };
}

/// The configuration, validated on first use; `var` reads a var or secret.
fn config_from(
    var: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Rc<IngestConfig>, ConfigProblem> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let parsed = Rc::new(IngestConfig::from_vars(var)?);
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

fn config(env: &Env) -> std::result::Result<Rc<IngestConfig>, ConfigProblem> {
    config_from(|name| {
        env.secret(name)
            .map(|s| s.to_string())
            .or_else(|_| env.var(name).map(|v| v.to_string()))
            .ok()
    })
}

/// A JSON error body `{error, field?, reason}` with a status.
fn json_error(status: u16, error: &str, field: Option<&str>, reason: &str) -> Result<Response> {
    let body = crate::core::ingest::error_body(error, field, reason);
    let mut r = Response::ok(body)?.with_status(status);
    r.headers_mut().set("content-type", "application/json")?;
    Ok(r)
}

/// The one 5xx the Worker gives on purpose: its own configuration is wrong.
fn misconfigured(p: &ConfigProblem) -> Result<Response> {
    console_error!("ferrotel: misconfigured: {p}");
    json_error(500, "misconfigured", Some(p.name), &p.problem)
}

/// Adds CORS headers for an allowed origin.
fn with_cors(mut r: Response, origin: Option<&str>) -> Result<Response> {
    if let Some(o) = origin {
        let h = r.headers_mut();
        h.set("access-control-allow-origin", o)?;
        h.set("vary", "Origin")?;
    }
    Ok(r)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    match (method, path.as_str()) {
        (Method::Get, "/healthz") => {
            let ok = config(&env).is_ok();
            let mut r = Response::ok(if ok {
                "{\"ok\":true}"
            } else {
                "{\"ok\":false,\"error\":\"misconfigured\"}"
            })?
            .with_status(if ok { 200 } else { 500 });
            r.headers_mut().set("content-type", "application/json")?;
            Ok(r)
        }
        (Method::Options, _) => {
            let cfg = match config(&env) {
                Ok(c) => c,
                Err(p) => return misconfigured(&p),
            };
            let origin = req.headers().get("origin")?;
            match origin.filter(|o| cfg.any_key_allows(o)) {
                Some(o) => {
                    let mut r = Response::empty()?.with_status(204);
                    let h = r.headers_mut();
                    h.set("access-control-allow-origin", &o)?;
                    h.set("access-control-allow-methods", "POST, GET, OPTIONS")?;
                    h.set(
                        "access-control-allow-headers",
                        "content-type, authorization",
                    )?;
                    h.set("access-control-max-age", "86400")?;
                    h.set("vary", "Origin")?;
                    Ok(r)
                }
                None => json_error(
                    403,
                    "origin_not_allowed",
                    Some("origin"),
                    "no write key accepts this origin",
                ),
            }
        }
        (Method::Post, "/v1/batch") => ingest::handle(&mut req, &env, &ctx).await,
        (Method::Get, "/v1/events") => read::handle(&req, &env).await,
        (_, "/v1/batch") => json_error(405, "method_not_allowed", None, "use POST"),
        _ => json_error(
            404,
            "not_found",
            None,
            "routes: POST /v1/batch, GET /v1/events, GET /healthz",
        ),
    }
}

#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    consume::handle(batch, &env).await;
    // Always Ok: an Err here would redeliver the whole batch, acked messages included.
    Ok(())
}
