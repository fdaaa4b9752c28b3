//! The queue consumer, as an executor of `core::consume`'s decisions. worker/entry.mjs calls
//! [`consume_message`] for every message with its body and delivery count, and acks it or
//! retries it after the delay answered.
//!
//! A message is one OTLP logs document. It is projected into D1 rows (`INSERT OR IGNORE` on
//! the event id, so redelivery never duplicates) and, when `OTLP_ENDPOINT` is set, forwarded,
//! each attempt bounded by `OTLP_TIMEOUT_SECONDS` (default 10). Forwarding is idempotent across
//! redeliveries and resends, concurrent ones included: a delivery first claims the events it will
//! forward in D1 (those not forwarded and not claimed by another delivery in the last
//! [`CLAIM_TTL_MS`]), forwards only those, then marks them forwarded (or releases them if the
//! receiver failed). A message that keeps failing backs off
//! (`core::consume::after_failure`) and is dead-lettered by the consumer itself, with the
//! reason; the dead-letter consumer keeps dead letters in D1 with their reason.

use std::collections::BTreeSet;
use std::time::Duration;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use worker::*;

use super::config;
use crate::core::consume::{
    after_failure, dead_letter, read_dead_letter, without_records, AfterFailure,
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_RETRY_SECONDS,
};
use crate::core::otlp::{project, Row};
use crate::core::queue::is_final_status;

/// Why a message was not processed.
#[derive(Debug)]
pub enum Failure {
    /// Worth retrying later (network, timeout, 408/429/5xx, storage hiccup).
    Transient(String),
    /// Will never succeed (the receiver refuses it, or the document is corrupt).
    Permanent(String),
}

impl Failure {
    fn reason(&self) -> &str {
        match self {
            Failure::Transient(r) | Failure::Permanent(r) => r,
        }
    }
}

/// In-process attempts per delivery before the message is handed back to the queue.
const ATTEMPTS: u32 = 3;
/// Bound parameters per D1 statement (D1 allows 100).
const IDS_PER_STATEMENT: usize = 90;
/// A claim older than this is another delivery's that died before it finished (a claim is held
/// at most through 3 attempts of at most `OTLP_TIMEOUT_SECONDS` each, plus backoff).
pub const CLAIM_TTL_MS: f64 = 15.0 * 60_000.0;

/// Handles one queue message: `queue` is the queue's name, `id` the message's id, `attempts`
/// its delivery count (1-based). Resolves to `{}` (ack) or `{retry: seconds}`.
#[wasm_bindgen]
pub fn consume_message(
    env: JsValue,
    queue: String,
    id: String,
    body: String,
    attempts: u32,
) -> Promise {
    let env: Env = env.unchecked_into();
    wasm_bindgen_futures::future_to_promise(async move {
        let out = Object::new();
        let retry = if queue.ends_with("-dlq") {
            keep_dead_letter(&env, &body, attempts).await
        } else {
            deliver(&env, &id, &body, attempts).await
        };
        if let Some(s) = retry {
            let _ = Reflect::set(&out, &"retry".into(), &JsValue::from(s));
        }
        Ok(out.into())
    })
}

/// A message of the events queue: `None` to ack, `Some(seconds)` to retry.
async fn deliver(env: &Env, id: &str, doc: &str, attempts: u32) -> Option<u32> {
    let failure = match process(env, id, doc).await {
        Ok(()) => return None,
        Err(f) => f,
    };
    let base = config(env)
        .map(|c| c.retry_base_s)
        .unwrap_or(crate::core::consume::RETRY_BASE_SECONDS);
    match after_failure(attempts, matches!(failure, Failure::Permanent(_)), base) {
        AfterFailure::Retry(s) => {
            console_warn!(
                "ferrotel: delivery {attempts} failed, retry in {s} s: {}",
                failure.reason()
            );
            Some(s)
        }
        AfterFailure::DeadLetter => {
            console_error!(
                "ferrotel: dead-lettering after {attempts} deliveries: {}",
                failure.reason()
            );
            let letter = dead_letter(failure.reason(), attempts, doc);
            let sent = match env.queue("DEAD_LETTERS") {
                Ok(q) => q
                    .send_raw(
                        RawMessageBuilder::new(JsValue::from_str(&letter))
                            .build_with_content_type(QueueContentType::Text),
                    )
                    .await
                    .is_ok(),
                Err(_) => store_dead_letter(env, &letter).await.is_ok(),
            };
            // Not handed over: keep it on this queue (the platform's dead-lettering is the
            // last resort).
            (!sent).then_some(DEAD_LETTER_RETRY_SECONDS)
        }
    }
}

/// A message of the dead-letter queue: stored in D1 with its reason, retried while D1 fails
/// up to the dead-letter consumer's own limit.
async fn keep_dead_letter(env: &Env, message: &str, attempts: u32) -> Option<u32> {
    match store_dead_letter(env, message).await {
        Ok(()) => None,
        Err(e) if attempts < DEAD_LETTER_ATTEMPTS => {
            console_error!("ferrotel: dead letter not stored (delivery {attempts}): {e}");
            Some(DEAD_LETTER_RETRY_SECONDS)
        }
        Err(e) => {
            let (reason, doc) = read_dead_letter(message);
            console_error!(
                "ferrotel: dead letter dropped after {attempts} deliveries ({e}); reason: {reason}; {} bytes",
                doc.len()
            );
            None
        }
    }
}

/// `?first,?first+1,…` for `n` bound ids.
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Claims for `owner` the rows not yet forwarded and not claimed by another delivery (or
/// claimed longer than [`CLAIM_TTL_MS`] ago); returns the ids claimed.
async fn claim(
    db: &D1Database,
    rows: &[Row],
    owner: &str,
    now: f64,
) -> std::result::Result<BTreeSet<String>, Failure> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let mut claimed = BTreeSet::new();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let marks = marks(4, chunk.len());
        let mut binds = vec![
            JsValue::from_str(owner),
            JsValue::from_f64(now),
            JsValue::from_f64(now - CLAIM_TTL_MS),
        ];
        binds.extend(chunk.iter().map(|id| JsValue::from_str(id)));
        let res = db
            .prepare(format!(
                "UPDATE events SET claim = ?1, claim_at = ?2 WHERE forwarded = 0 \
                 AND (claim IS NULL OR claim = ?1 OR claim_at < ?3) AND id IN ({marks}) RETURNING id"
            ))
            .bind(&binds)
            .map_err(|e| Failure::Transient(e.to_string()))?
            .all()
            .await
            .map_err(|e| Failure::Transient(format!("D1: {e}")))?;
        for r in res
            .results::<Id>()
            .map_err(|e| Failure::Transient(e.to_string()))?
        {
            claimed.insert(r.id);
        }
    }
    Ok(claimed)
}

/// Ends `owner`'s claim on `ids`: forwarded (`done`) or released for a later delivery.
async fn settle(
    db: &D1Database,
    ids: &[&str],
    owner: &str,
    done: bool,
) -> std::result::Result<(), Failure> {
    let mut stmts = Vec::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let marks = marks(2, chunk.len());
        let set = if done {
            "forwarded = 1, claim = NULL"
        } else {
            "claim = NULL"
        };
        let mut binds = vec![JsValue::from_str(owner)];
        binds.extend(chunk.iter().map(|id| JsValue::from_str(id)));
        stmts.push(
            db.prepare(format!(
                "UPDATE events SET {set} WHERE claim = ?1 AND id IN ({marks})"
            ))
            .bind(&binds)
            .map_err(|e| Failure::Transient(e.to_string()))?,
        );
    }
    if !stmts.is_empty() {
        db.batch(stmts)
            .await
            .map_err(|e| Failure::Transient(format!("D1: {e}")))?;
    }
    Ok(())
}

/// Stores and forwards one OTLP document for the delivery `owner` (a queue message's id).
/// Idempotent.
pub async fn process(env: &Env, owner: &str, doc: &str) -> std::result::Result<(), Failure> {
    // Error records are symbolicated first, so D1 and the receiver get the same frames.
    let symbolicated = super::symbols::apply(env, doc).await;
    let doc = symbolicated.as_deref().unwrap_or(doc);
    let rows = project(doc.as_bytes()).map_err(Failure::Permanent)?;
    let db = env.d1("DB").ok();
    if let Some(db) = &db {
        let now = Date::now().as_millis() as f64;
        let mut stmts = Vec::with_capacity(rows.len());
        for r in &rows {
            let stmt = db
                .prepare("INSERT OR IGNORE INTO events (id, t, type, session, key, data, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .bind(&[
                    JsValue::from_str(&r.id),
                    JsValue::from_f64(r.t as f64),
                    JsValue::from_str(&r.kind),
                    JsValue::from_str(&r.session),
                    JsValue::from_str(&r.key),
                    JsValue::from_str(&r.data),
                    JsValue::from_f64(now),
                ])
                .map_err(|e| Failure::Transient(e.to_string()))?;
            stmts.push(stmt);
        }
        if !stmts.is_empty() {
            let results = db
                .batch(stmts)
                .await
                .map_err(|e| Failure::Transient(format!("D1: {e}")))?;
            // Newly stored events count against the key's daily quota (a redelivery or a
            // resend stores nothing new and counts nothing).
            let mut new_per_key: std::collections::BTreeMap<&str, usize> = Default::default();
            for (r, res) in rows.iter().zip(&results) {
                if res
                    .meta()
                    .ok()
                    .flatten()
                    .and_then(|m| m.changes)
                    .unwrap_or(0)
                    > 0
                {
                    *new_per_key.entry(r.key.as_str()).or_default() += 1;
                }
            }
            let day = JsValue::from_f64((now / 86_400_000.0).floor());
            let mut counts = Vec::new();
            for (key, n) in new_per_key {
                counts.push(
                    db.prepare("INSERT INTO usage (key, day, events) VALUES (?1, ?2, ?3) ON CONFLICT (key, day) DO UPDATE SET events = events + excluded.events")
                        .bind(&[JsValue::from_str(key), day.clone(), JsValue::from_f64(n as f64)])
                        .map_err(|e| Failure::Transient(e.to_string()))?,
                );
            }
            // Sessions with an error, for sampling rules that keep them from the error on
            // (src/edge/state.rs looks these up).
            let mut errored: Vec<&str> = rows
                .iter()
                .filter(|r| r.kind == "error")
                .map(|r| r.session.as_str())
                .collect();
            errored.sort_unstable();
            errored.dedup();
            for session in errored {
                counts.push(
                    db.prepare(
                        "INSERT OR IGNORE INTO error_sessions (session, at) VALUES (?1, ?2)",
                    )
                    .bind(&[JsValue::from_str(session), JsValue::from_f64(now)])
                    .map_err(|e| Failure::Transient(e.to_string()))?,
                );
            }
            if !counts.is_empty() {
                // The events are stored: a failed count only loosens the quota (and a missing
                // error mark only keeps less of a session), so it is logged, not retried (a
                // retry would not count them again anyway).
                if let Err(e) = db.batch(counts).await {
                    console_error!("ferrotel: quota count / error marks not updated: {e}");
                }
            }
        }
    }
    let cfg = config(env).map_err(|p| Failure::Transient(p.to_string()))?;
    let Some(endpoint) = &cfg.otlp_endpoint else {
        return Ok(());
    };
    let Some(db) = &db else {
        return forward(endpoint, &cfg.otlp_headers, doc, cfg.otlp_timeout_s * 1000).await;
    };
    let now = Date::now().as_millis() as f64;
    let mine = claim(db, &rows, owner, now).await?;
    // Records not claimed here went out already, or are another delivery's to send.
    let others: BTreeSet<String> = rows
        .iter()
        .filter(|r| !mine.contains(&r.id))
        .map(|r| r.id.clone())
        .collect();
    let Some(rest) = without_records(doc, &others).map_err(Failure::Permanent)? else {
        return Ok(());
    };
    let ids: Vec<&str> = mine.iter().map(String::as_str).collect();
    let sent = forward(
        endpoint,
        &cfg.otlp_headers,
        &rest,
        cfg.otlp_timeout_s * 1000,
    )
    .await;
    if let Err(e) = settle(db, &ids, owner, sent.is_ok()).await {
        if sent.is_ok() {
            // Forwarded but not marked: a redelivery would send these again (the claim
            // expires), so retry the message now rather than lose the mark.
            return Err(e);
        }
        console_warn!("ferrotel: claim not released (it expires): {e:?}");
    }
    sent
}

/// POSTs the document, retrying 408/429/5xx, network errors and timeouts with backoff
/// (100 ms, 400 ms); each attempt is aborted after `timeout_ms`.
async fn forward(
    endpoint: &str,
    headers: &[(String, String)],
    doc: &str,
    timeout_ms: u32,
) -> std::result::Result<(), Failure> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            Delay::from(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
        }
        let h = Headers::new();
        let _ = h.set("content-type", "application/json");
        for (k, v) in headers {
            let _ = h.set(k, v);
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(JsValue::from_str(doc)));
        let req = Request::new_with_init(endpoint, &init)
            .map_err(|e| Failure::Permanent(format!("bad OTLP request: {e}")))?;
        let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
        match Fetch::Request(req).send_with_signal(&signal).await {
            Ok(mut resp) => {
                let status = resp.status_code() as u32;
                // Read the answer within the same limit; its content is not needed.
                let _ = resp.bytes().await;
                if (200..300).contains(&status) {
                    return Ok(());
                }
                if is_final_status(status) {
                    return Err(Failure::Permanent(format!(
                        "OTLP receiver answered {status}"
                    )));
                }
                last = format!("OTLP receiver answered {status}");
            }
            Err(e) if signal.aborted() => {
                last = format!("OTLP attempt timed out after {timeout_ms} ms ({e})")
            }
            Err(e) => last = format!("OTLP network error: {e}"),
        }
    }
    Err(Failure::Transient(last))
}

async fn store_dead_letter(env: &Env, message: &str) -> Result<()> {
    let (reason, doc) = read_dead_letter(message);
    let db = env.d1("DB")?;
    db.prepare("INSERT INTO dead_letters (received_at, reason, body) VALUES (?1, ?2, ?3)")
        .bind(&[
            JsValue::from_f64(Date::now().as_millis() as f64),
            JsValue::from_str(&reason),
            JsValue::from_str(doc),
        ])?
        .run()
        .await?;
    Ok(())
}
