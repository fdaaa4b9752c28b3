//! `POST /v1/batch` through the `worker` crate: size cap → `core::ingest::prepare` (decode,
//! validate, key and origin, sample, enrich, OTLP) → rate limits → queue (or a direct write)
//! → 204. The deployed entry (worker/entry.mjs) takes a thinner path to the same `prepare`
//! (see `fast`); this one serves requests it hands over.

use sha2::{Digest, Sha256};
use worker::*;

use super::{config, json_error, misconfigured, with_cors};
use crate::core::envelope::MAX_BODY_BYTES;
use crate::core::ids::push_hex64;
use crate::core::ingest::{prepare, BatchRequest};

/// Daily-salted hash of the client address: unique counts per day without storing the
/// address, and no way to link days (the day is in the salt).
pub fn client_hash(salt: &str, ip: &str, now_ms: u64) -> String {
    if ip.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update((now_ms / 86_400_000).to_le_bytes());
    h.update(ip.as_bytes());
    let d = h.finalize();
    let mut out = String::with_capacity(16);
    push_hex64(
        &mut out,
        u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]),
    );
    out
}

pub async fn handle(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response> {
    let cfg = match config(env) {
        Ok(c) => c,
        Err(p) => return misconfigured(&p),
    };
    // Refused before reading: a 10 MB body is never buffered.
    if req
        .headers()
        .get("content-length")?
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| l > MAX_BODY_BYTES)
    {
        return json_error(
            413,
            "payload_too_large",
            Some("body"),
            "exceeds 65536 bytes",
        );
    }
    let origin = req.headers().get("origin")?;
    let content_type = req.headers().get("content-type")?.unwrap_or_default();
    let user_agent = req.headers().get("user-agent")?.unwrap_or_default();
    let ip = req.headers().get("cf-connecting-ip")?.unwrap_or_default();
    let country = req.cf().and_then(|cf| cf.country());
    let body = req.bytes().await?;
    let now = Date::now().as_millis();
    let hash = client_hash(&cfg.ip_salt, &ip, now);
    let batch = BatchRequest {
        body: &body,
        content_type: &content_type,
        origin: origin.as_deref(),
        user_agent: &user_agent,
        country: country.as_deref(),
        client_hash: &hash,
        now_ms: now,
    };
    let accepted = match prepare(&cfg, &batch) {
        Ok(a) => a,
        Err(r) => {
            return with_cors(
                json_error(r.status, r.error, r.field.as_deref(), &r.reason)?,
                r.cors.as_deref(),
            )
        }
    };
    for (binding, key) in [
        ("RL_KEY", &accepted.key),
        ("RL_CLIENT", &accepted.client_key),
    ] {
        // A missing binding means no limit of that kind is configured.
        if let Ok(rl) = env.rate_limiter(binding) {
            if !rl.limit(key.clone()).await?.success {
                let mut r = json_error(
                    429,
                    "rate_limited",
                    None,
                    "too many batches; retry after the period",
                )?;
                r.headers_mut().set("retry-after", "60")?;
                return with_cors(r, accepted.cors.as_deref());
            }
        }
    }
    match env.queue("EVENTS") {
        Ok(q) => {
            for d in accepted.docs {
                if let Err(e) = q.send(d).await {
                    console_error!("ferrotel: queue send failed: {e}");
                    let mut r =
                        json_error(503, "unavailable", None, "could not queue the batch; retry")?;
                    r.headers_mut().set("retry-after", "5")?;
                    return with_cors(r, accepted.cors.as_deref());
                }
            }
        }
        Err(_) => {
            // No queue configured: write directly after the response, same idempotent path.
            let env = env.clone();
            let docs = accepted.docs;
            ctx.wait_until(async move {
                for d in docs {
                    if let Err(e) = super::consume::process(&env, &d).await {
                        console_error!("ferrotel: direct write failed: {e:?}");
                    }
                }
            });
        }
    }
    with_cors(
        Response::empty()?.with_status(204),
        accepted.cors.as_deref(),
    )
}
