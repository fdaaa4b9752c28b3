//! `POST /v1/batch`: size cap → decode and validate → key and origin → rate limit → sample →
//! enrich → OTLP → queue (or direct write) → 204.

use sha2::{Digest, Sha256};
use worker::*;

use super::{config, json_error, misconfigured, with_cors};
use crate::core::envelope::{Envelope, MAX_BODY_BYTES};
use crate::core::ids::push_hex64;
use crate::core::otlp::{Enrichment, LogsEncoder, MAX_CHUNK_BYTES};
use crate::core::sample::Sampler;
use crate::core::ua::classify;

/// Daily-salted hash of the client address: unique counts per day without storing the
/// address, and no way to link days (the day is in the salt).
fn client_hash(salt: &str, ip: &str, now_ms: u64) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update((now_ms / 86_400_000).to_le_bytes());
    h.update(ip.as_bytes());
    let d = h.finalize();
    let mut out = String::with_capacity(16);
    push_hex64(&mut out, u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]));
    out
}

pub async fn handle(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response> {
    let cfg = match config(env) {
        Ok(c) => c,
        Err(p) => return misconfigured(&p),
    };
    let origin = req.headers().get("origin")?;
    let content_type = req.headers().get("content-type")?.unwrap_or_default().to_ascii_lowercase();
    if !content_type.is_empty() && !content_type.starts_with("text/plain") && !content_type.starts_with("application/json") {
        return json_error(415, "unsupported_media_type", Some("content-type"), "send text/plain (sendBeacon) or application/json");
    }
    let declared = req.headers().get("content-length")?.and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_BYTES) {
        return json_error(413, "payload_too_large", Some("body"), "exceeds 65536 bytes");
    }
    let body = req.bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return json_error(413, "payload_too_large", Some("body"), "exceeds 65536 bytes");
    }
    let env_ = match Envelope::decode(&body) {
        Ok(e) => e,
        Err(e) => {
            let allowed = origin.as_deref().filter(|o| cfg.any_key_allows(o));
            return with_cors(json_error(400, "invalid_batch", Some(&e.field), &e.reason)?, allowed);
        }
    };
    if !cfg.keys.contains_key(&env_.key) {
        return json_error(401, "unknown_key", Some("key"), "this write key is not configured");
    }
    if !cfg.origin_allowed(&env_.key, origin.as_deref()) {
        return json_error(403, "origin_not_allowed", Some("origin"), "this origin may not send with this key");
    }
    let now = Date::now().as_millis();
    let ip = req.headers().get("cf-connecting-ip")?.unwrap_or_default();
    let hash = if ip.is_empty() { String::new() } else { client_hash(&cfg.ip_salt, &ip, now) };

    for (binding, key) in [("RL_KEY", env_.key.clone()), ("RL_CLIENT", format!("{}:{}", env_.key, hash))] {
        // A missing binding means no limit of that kind is configured.
        if let Ok(rl) = env.rate_limiter(binding) {
            if !rl.limit(key).await?.success {
                let mut r = json_error(429, "rate_limited", None, "too many batches; retry after the period")?;
                r.headers_mut().set("retry-after", "60")?;
                return with_cors(r, origin.as_deref());
            }
        }
    }

    let ua = req.headers().get("user-agent")?.unwrap_or_default();
    let country = req.cf().and_then(|cf| cf.country());
    let enrichment = Enrichment { country: country.as_deref(), ua: classify(&ua), client_hash: &hash, received_ms: now };
    let encoder = LogsEncoder::new(&env_.key, &env_.session, &env_.sdk_name, &env_.sdk_version, &enrichment);
    let mut records = Vec::with_capacity(env_.events.len());
    for ev in &env_.events {
        let rate = cfg.rate_for(&ev.kind);
        if Sampler::new(rate).keep(&env_.session, ev.kind.is_error()) {
            let mut r = String::with_capacity(512);
            encoder.record(&mut r, ev, if ev.kind.is_error() { 1.0 } else { rate }, now);
            records.push(r);
        }
    }
    let docs = encoder.documents(&records, MAX_CHUNK_BYTES);
    match env.queue("EVENTS") {
        Ok(q) => {
            for d in docs {
                if let Err(e) = q.send(d).await {
                    console_error!("ferrotel: queue send failed: {e}");
                    let mut r = json_error(503, "unavailable", None, "could not queue the batch; retry")?;
                    r.headers_mut().set("retry-after", "5")?;
                    return with_cors(r, origin.as_deref());
                }
            }
        }
        Err(_) => {
            // No queue configured: write directly after the response, same idempotent path.
            let env = env.clone();
            ctx.wait_until(async move {
                for d in docs {
                    if let Err(e) = super::consume::process(&env, &d).await {
                        console_error!("ferrotel: direct write failed: {e:?}");
                    }
                }
            });
        }
    }
    with_cors(Response::empty()?.with_status(204), origin.as_deref())
}
