//! The cron trigger (`[triggers] crons` in worker/wrangler.toml): retention. Deletes events
//! older than `RETENTION_DAYS`, dead letters older than 90 days, salts and quota counts
//! older than yesterday, and error marks of sessions older than a day (`core::consume::cutoffs`), in bounded chunks.

use wasm_bindgen::JsValue;
use worker::*;

use super::config;
use crate::core::consume::{cutoffs, DELETE_CHUNK};

/// Chunks per table per run (a run that leaves rows behind is finished by the next one).
const MAX_CHUNKS: u32 = 40;

async fn delete_chunked(db: &D1Database, sql: &str, cutoff: f64) -> Result<usize> {
    let mut total = 0;
    for _ in 0..MAX_CHUNKS {
        let r = db
            .prepare(sql)
            .bind(&[
                JsValue::from_f64(cutoff),
                JsValue::from_f64(DELETE_CHUNK as f64),
            ])?
            .run()
            .await?;
        let n = r.meta()?.and_then(|m| m.changes).unwrap_or(0);
        total += n;
        if n < DELETE_CHUNK as usize {
            break;
        }
    }
    Ok(total)
}

/// One retention run at `now_ms`; returns (events, dead letters, salts + counts + error marks)
/// deleted.
pub async fn retention(env: &Env, now_ms: u64) -> Result<(usize, usize, usize)> {
    let cfg = config(env).map_err(|p| Error::RustError(p.to_string()))?;
    let c = cutoffs(now_ms, cfg.retention_days);
    let db = env.d1("DB")?;
    let events = delete_chunked(
        &db,
        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE t < ?1 LIMIT ?2)",
        c.events_before_ms as f64,
    )
    .await?;
    let letters = delete_chunked(
        &db,
        "DELETE FROM dead_letters WHERE rowid IN (SELECT rowid FROM dead_letters WHERE received_at < ?1 LIMIT ?2)",
        c.dead_letters_before_ms as f64,
    )
    .await?;
    let days = c.days_before as f64;
    let mut small = 0;
    for (sql, cutoff) in [
        ("DELETE FROM salts WHERE day < ?1", days),
        ("DELETE FROM usage WHERE day < ?1", days),
        (
            "DELETE FROM error_sessions WHERE at < ?1",
            c.error_sessions_before_ms as f64,
        ),
    ] {
        let r = db
            .prepare(sql)
            .bind(&[JsValue::from_f64(cutoff)])?
            .run()
            .await?;
        small += r.meta()?.and_then(|m| m.changes).unwrap_or(0);
    }
    Ok((events, letters, small))
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match retention(&env, event.schedule() as u64).await {
        Ok((e, d, s)) => console_log!(
            "ferrotel: retention deleted {e} events, {d} dead letters, {s} salts/quota counts/error marks"
        ),
        Err(e) => console_error!("ferrotel: retention failed (the next run retries): {e}"),
    }
}
