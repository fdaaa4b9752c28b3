//! The ingest Worker (feature `edge`): `worker` crate glue only. Every decision (routing,
//! decoding, validation, sampling, enrichment, OTLP encoding, rate-limit keys, answers, row
//! projection) is in `core`.
//!
//! Routes (`core::ingest::route`): `POST /v1/batch` and `POST /v1/reports` (ingest:
//! worker/entry.mjs over `core::ingest::decide`, see `fast`), `OPTIONS *` (CORS preflight),
//! `GET /healthz`, `GET /v1/events` (token-guarded read of the embedded store), `GET`/`PUT
//! /v1/sampling-rules` (`ADMIN_TOKEN`-guarded sampling rules, see `rules`), `PUT
//! /v1/sourcemaps` (`UPLOAD_TOKEN`-guarded uploads for symbolication, see `symbols`); the last
//! five through the `worker` crate router below. The queue consumer writes to D1 and forwards
//! OTLP; see `consume`.

mod consume;
mod cron;
mod fast;
mod read;
mod rules;
mod state;
mod symbols;

use std::cell::RefCell;
use std::rc::Rc;

use worker::*;

use crate::core::ingest::{
    decide, preflight, route, Bindings, ConfigProblem, Decision, Incoming, IngestConfig, Reply,
    Route,
};

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

/// The answer `core` described, as a `worker` crate response.
fn respond(r: Reply) -> Result<Response> {
    let mut resp = match r.body {
        Some(b) => Response::ok(b)?,
        None => Response::empty()?,
    }
    .with_status(r.status);
    let h = resp.headers_mut();
    for (k, v) in &r.headers {
        h.set(k, v)?;
    }
    Ok(resp)
}

/// Constant-time comparison, so a token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request carries `Authorization: Bearer <token>`; otherwise the `401` to
/// answer, naming the secret (`READ_TOKEN`, `ADMIN_TOKEN`, `UPLOAD_TOKEN`) to send.
fn unauthorized(req: &Request, token: &str, secret: &str) -> Result<Option<Response>> {
    let auth = req.headers().get("authorization")?.unwrap_or_default();
    if same(
        auth.strip_prefix("Bearer ").unwrap_or("").as_bytes(),
        token.as_bytes(),
    ) {
        return Ok(None);
    }
    let reason = format!("send Authorization: Bearer <{secret}>");
    let mut r = json_error(401, "unauthorized", Some("authorization"), &reason)?;
    r.headers_mut().set("www-authenticate", "Bearer")?;
    Ok(Some(r))
}

/// A JSON error body `{error, field?, reason}` with a status.
fn json_error(status: u16, error: &str, field: Option<&str>, reason: &str) -> Result<Response> {
    respond(Reply::error(status, error, field, reason))
}

/// The one 5xx the Worker gives on purpose: its own configuration is wrong.
fn misconfigured(p: &ConfigProblem) -> Result<Response> {
    console_error!("ferrotel: misconfigured: {p}");
    respond(crate::core::ingest::misconfigured(p))
}

/// The router for what worker/entry.mjs hands over (`Decision::Route`), routing with the same
/// `core::ingest::route`; when this module is the Worker's main itself, it also answers what
/// needs no bindings (404, 405, refusals made from the headers).
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let method = req.method();
    let url = req.url()?;
    match route(method.as_ref(), url.as_str()) {
        Route::Health => match config(&env) {
            Ok(_) => respond(Reply::json(200, "{\"ok\":true}".to_owned())),
            Err(p) => misconfigured(&p),
        },
        Route::Preflight => match config(&env) {
            Ok(cfg) => respond(preflight(&cfg, req.headers().get("origin")?.as_deref())),
            Err(p) => misconfigured(&p),
        },
        Route::Events => read::handle(&req, &env).await,
        Route::Rules => rules::handle(req, &env).await,
        Route::Artifacts => symbols::handle(req, &env).await,
        Route::Batch | Route::Reports | Route::WrongMethod | Route::NotFound => {
            let cfg = config(&env);
            let origin = req.headers().get("origin")?;
            let content_type = req.headers().get("content-type")?;
            let content_length = req.headers().get("content-length")?;
            let incoming = Incoming {
                method: method.as_ref(),
                url: url.as_str(),
                origin: origin.as_deref(),
                content_type: content_type.as_deref(),
                content_length: content_length.as_deref(),
                ..Incoming::default()
            };
            let none = Bindings {
                rl_key: false,
                rl_client: false,
                queue: false,
            };
            match decide(cfg.as_deref(), &incoming, none) {
                Decision::Answer(r) => respond(r),
                Decision::Refuse(r) => respond(r.reply),
                // Batches are served by worker/entry.mjs only (one ingest path).
                _ => json_error(
                    500,
                    "misconfigured",
                    Some("main"),
                    "POST /v1/batch and /v1/reports are served by worker/entry.mjs: make it the Worker's main module",
                ),
            }
        }
    }
}
