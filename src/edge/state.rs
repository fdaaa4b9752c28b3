//! What the request path needs from D1, kept per isolate so that a request rarely waits for
//! it: today's random salt for the client hash, and today's event counts per write key (for
//! `DAILY_QUOTAS`). worker/entry.mjs calls [`ingest_prepare`] before deciding; it returns
//! nothing when both are current (the common case) and a promise when D1 must be read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{console_error, D1Database, Env};

use super::config;

const DAY_MS: u64 = 86_400_000;
/// How long an isolate trusts its copy of the day's counts before reading D1 again.
pub const USAGE_REFRESH_MS: u64 = 30_000;
/// How long an isolate uses a salt of its own when D1 could not give the day's.
const FALLBACK_SALT_MS: u64 = 60_000;

struct Salt {
    day: u64,
    salt: Rc<str>,
    /// When to ask D1 again (a salt of our own, after D1 failed), if ever.
    retry_at: Option<u64>,
}

#[derive(Default)]
struct Usage {
    day: u64,
    read_at: u64,
    /// Stored counts as read from D1, plus what this isolate accepted since.
    counts: BTreeMap<String, u64>,
}

thread_local! {
    static SALT: RefCell<Option<Salt>> = const { RefCell::new(None) };
    static USAGE: RefCell<Option<Usage>> = const { RefCell::new(None) };
}

/// 32 random bytes from `crypto.getRandomValues`, as hex.
fn random_hex() -> String {
    let bytes = Uint8Array::new_with_length(32);
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(f) = Reflect::get(&crypto, &"getRandomValues".into()) {
        if let Some(f) = f.dyn_ref::<Function>() {
            let _ = f.call1(&crypto, &bytes);
        }
    }
    bytes.to_vec().iter().map(|b| format!("{b:02x}")).collect()
}

fn salt_current(now: u64) -> bool {
    SALT.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|s| s.day == now / DAY_MS && s.retry_at.is_none_or(|at| now < at))
    })
}

fn usage_current(env: &Env, now: u64) -> bool {
    let quotas = config(env).is_ok_and(|c| !c.daily_quotas.is_empty());
    !quotas
        || USAGE.with(|u| {
            u.borrow().as_ref().is_some_and(|u| {
                u.day == now / DAY_MS && now.saturating_sub(u.read_at) < USAGE_REFRESH_MS
            })
        })
}

/// Today's salt (empty before the first [`ingest_prepare`]) and counts, for `decide`.
pub fn with_state<R>(now: u64, f: impl FnOnce(&str, Option<&BTreeMap<String, u64>>) -> R) -> R {
    let day = now / DAY_MS;
    let salt = SALT.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|s| s.day == day)
            .map(|s| s.salt.clone())
    });
    USAGE.with(|u| {
        let u = u.borrow();
        let counts = u.as_ref().filter(|u| u.day == day).map(|u| &u.counts);
        f(salt.as_deref().unwrap_or(""), counts)
    })
}

/// Counts events this isolate accepted for `key` (until the next read of D1's counts).
pub fn count_accepted(now: u64, key: &str, n: usize) {
    USAGE.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut().filter(|u| u.day == now / DAY_MS) {
            *u.counts.entry(key.to_owned()).or_default() += n as u64;
        }
    });
}

async fn read_salt(db: Option<&D1Database>, day: u64) -> Result<String, String> {
    let db = db.ok_or("no DB binding")?;
    let fresh = random_hex();
    let d = JsValue::from_f64(day as f64);
    db.prepare("INSERT OR IGNORE INTO salts (day, salt) VALUES (?1, ?2)")
        .bind(&[d.clone(), JsValue::from_str(&fresh)])
        .map_err(|e| e.to_string())?
        .run()
        .await
        .map_err(|e| e.to_string())?;
    db.prepare("SELECT salt FROM salts WHERE day = ?1")
        .bind(&[d])
        .map_err(|e| e.to_string())?
        .first::<String>(Some("salt"))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no salt row".to_owned())
}

async fn read_usage(db: &D1Database, day: u64) -> Result<BTreeMap<String, u64>, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        key: String,
        events: f64,
    }
    let rows = db
        .prepare("SELECT key, events FROM usage WHERE day = ?1")
        .bind(&[JsValue::from_f64(day as f64)])
        .map_err(|e| e.to_string())?
        .all()
        .await
        .map_err(|e| e.to_string())?
        .results::<Row>()
        .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| (r.key, r.events as u64)).collect())
}

/// Makes today's salt and counts current. Returns `undefined` when they are (nothing to wait
/// for), else a promise to await before deciding. Never rejects: without D1 the isolate uses a
/// random salt of its own (hashes then do not match across isolates, and still cannot be
/// linked across days) and the last counts it had.
#[wasm_bindgen]
pub fn ingest_prepare(env: JsValue, now_ms: f64) -> JsValue {
    let env: Env = env.unchecked_into();
    let now = now_ms as u64;
    let need_salt = !salt_current(now);
    let need_usage = !usage_current(&env, now);
    if !need_salt && !need_usage {
        return JsValue::UNDEFINED;
    }
    let promise: Promise = worker::wasm_bindgen_futures::future_to_promise(async move {
        let day = now / DAY_MS;
        let db = env.d1("DB").ok();
        if need_salt {
            let s = match read_salt(db.as_ref(), day).await {
                Ok(salt) => Salt {
                    day,
                    salt: salt.into(),
                    retry_at: None,
                },
                Err(e) => {
                    // Without a DB binding there is nothing to retry: the isolate's salt
                    // serves the day. A failing D1 is asked again after a minute.
                    let bound = db.is_some();
                    if bound {
                        console_error!(
                            "ferrotel: day salt not read from D1 ({e}); using an isolate salt"
                        );
                    }
                    Salt {
                        day,
                        salt: random_hex().into(),
                        retry_at: bound.then_some(now + FALLBACK_SALT_MS),
                    }
                }
            };
            SALT.with(|c| *c.borrow_mut() = Some(s));
        }
        if need_usage {
            let read = match &db {
                Some(db) => read_usage(db, day).await,
                None => Err("no DB binding".to_owned()),
            };
            USAGE.with(|c| {
                let mut c = c.borrow_mut();
                match read {
                    Ok(counts) => {
                        *c = Some(Usage {
                            day,
                            read_at: now,
                            counts,
                        })
                    }
                    Err(e) => {
                        console_error!("ferrotel: quota counts not read from D1: {e}");
                        let u = c.get_or_insert_with(Usage::default);
                        if u.day != day {
                            *u = Usage {
                                day,
                                ..Usage::default()
                            };
                        }
                        u.read_at = now;
                    }
                }
            });
        }
        Ok(JsValue::UNDEFINED)
    });
    promise.into()
}
