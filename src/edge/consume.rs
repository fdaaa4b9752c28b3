//! The queue consumer: each message is one OTLP logs document. It is projected into D1 rows
//! (`INSERT OR IGNORE` on the event id, so redelivery never duplicates) and, when
//! `OTLP_ENDPOINT` is set, forwarded with retry and backoff. Messages that cannot succeed go to
//! the dead-letter queue; the dead-letter consumer keeps them in D1 for inspection.

use std::time::Duration;

use wasm_bindgen::JsValue;
use worker::*;

use super::config;
use crate::core::otlp::project;
use crate::core::queue::is_final_status;

/// Why a message was not processed.
#[derive(Debug)]
pub enum Failure {
    /// Worth retrying later (network, 408/429/5xx, storage hiccup).
    Transient(String),
    /// Will never succeed (the receiver refuses it, or the document is corrupt).
    Permanent(String),
}

/// In-process attempts before the message is handed back to the queue for a later retry.
const ATTEMPTS: u32 = 3;

pub async fn handle(batch: MessageBatch<String>, env: &Env) {
    let dead_letters = batch.queue().ends_with("-dlq");
    let messages = match batch.messages() {
        Ok(m) => m,
        Err(e) => {
            console_error!("ferrotel: unreadable queue batch: {e}");
            batch.retry_all();
            return;
        }
    };
    for m in messages {
        if dead_letters {
            match store_dead_letter(env, m.body(), "retries exhausted or refused").await {
                Ok(()) => m.ack(),
                Err(e) => {
                    console_error!("ferrotel: dead letter not stored: {e}");
                    m.retry();
                }
            }
            continue;
        }
        match process(env, m.body()).await {
            Ok(()) => m.ack(),
            Err(Failure::Transient(why)) => {
                console_warn!("ferrotel: will retry message {}: {why}", m.id());
                m.retry();
            }
            Err(Failure::Permanent(why)) => {
                console_error!("ferrotel: message {} refused for good: {why}", m.id());
                // Straight to the dead-letter queue: retrying cannot help.
                let sent = match env.queue("DEAD_LETTERS") {
                    Ok(q) => q.send(m.body().clone()).await.is_ok(),
                    Err(_) => store_dead_letter(env, m.body(), &why).await.is_ok(),
                };
                if sent {
                    m.ack();
                } else {
                    m.retry();
                }
            }
        }
    }
}

/// Stores and forwards one OTLP document. Idempotent.
pub async fn process(env: &Env, doc: &str) -> std::result::Result<(), Failure> {
    let rows = project(doc.as_bytes()).map_err(Failure::Permanent)?;
    if let Ok(db) = env.d1("DB") {
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
            db.batch(stmts)
                .await
                .map_err(|e| Failure::Transient(format!("D1: {e}")))?;
        }
    }
    let cfg = config(env).map_err(|p| Failure::Transient(p.to_string()))?;
    if let Some(endpoint) = &cfg.otlp_endpoint {
        forward(endpoint, &cfg.otlp_headers, doc).await?;
    }
    Ok(())
}

/// POSTs the document, retrying 408/429/5xx and network errors with backoff (100 ms, 400 ms).
async fn forward(
    endpoint: &str,
    headers: &[(String, String)],
    doc: &str,
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
        match Fetch::Request(req).send().await {
            Ok(resp) => {
                let status = resp.status_code() as u32;
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
            Err(e) => last = format!("OTLP network error: {e}"),
        }
    }
    Err(Failure::Transient(last))
}

async fn store_dead_letter(env: &Env, doc: &str, reason: &str) -> Result<()> {
    let db = env.d1("DB")?;
    db.prepare("INSERT INTO dead_letters (received_at, reason, body) VALUES (?1, ?2, ?3)")
        .bind(&[
            JsValue::from_f64(Date::now().as_millis() as f64),
            JsValue::from_str(reason),
            JsValue::from_str(doc),
        ])?
        .run()
        .await?;
    Ok(())
}
