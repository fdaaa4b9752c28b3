//! What the request path needs from D1, kept per isolate so that a request rarely waits for
//! it: today's random salt for the client hash, today's event counts per write key (for
//! `DAILY_QUOTAS`), and the sampling rules (read at most every `RULES_CACHE_SECONDS`).
//! worker/entry.mjs calls [`ingest_prepare`] before deciding; it returns nothing when all are
//! current (the common case) and a promise when D1 must be read. Whether a session had an
//! error (for rules with `keep_sessions_with_error`) is remembered here too, and looked up in
//! D1 by [`ingest_lookup`] when a decision asks.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{console_error, D1Database, Env};

use super::config;
use crate::core::rules::{ErrorSessions, Rules};

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

/// The isolate's copy of the sampling rules.
struct CachedRules {
    read_at: u64,
    /// `None`: no rules stored (the static `SAMPLE_RATES` decide).
    rules: Option<Rc<Rules>>,
}

thread_local! {
    static SALT: RefCell<Option<Salt>> = const { RefCell::new(None) };
    static USAGE: RefCell<Option<Usage>> = const { RefCell::new(None) };
    static RULES: RefCell<Option<CachedRules>> = const { RefCell::new(None) };
    static ERROR_SESSIONS: RefCell<Option<ErrorSessions>> = const { RefCell::new(None) };
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

fn rules_current(env: &Env, now: u64) -> bool {
    let cache_ms = config(env).map_or(30, |c| c.rules_cache_s) as u64 * 1000;
    RULES.with(|r| {
        r.borrow()
            .as_ref()
            .is_some_and(|r| now.saturating_sub(r.read_at) < cache_ms)
    })
}

/// What `decide` reads from the isolate's state.
pub struct State<'a> {
    /// Today's salt (empty before the first [`ingest_prepare`]).
    pub day_salt: &'a str,
    /// Today's counts per key, if read.
    pub used_today: Option<&'a BTreeMap<String, u64>>,
    /// The sampling rules in force, if any.
    pub rules: Option<&'a Rules>,
    /// Sessions known to have had an error, or not.
    pub error_sessions: &'a ErrorSessions,
}

/// The isolate's state, for `decide`.
pub fn with_state<R>(now: u64, f: impl FnOnce(State<'_>) -> R) -> R {
    let day = now / DAY_MS;
    let salt = SALT.with(|s| {
        s.borrow()
            .as_ref()
            .filter(|s| s.day == day)
            .map(|s| s.salt.clone())
    });
    let rules = RULES.with(|r| r.borrow().as_ref().and_then(|r| r.rules.clone()));
    USAGE.with(|u| {
        let u = u.borrow();
        let counts = u.as_ref().filter(|u| u.day == day).map(|u| &u.counts);
        ERROR_SESSIONS.with(|m| {
            let mut m = m.borrow_mut();
            let m = m.get_or_insert_with(ErrorSessions::default);
            f(State {
                day_salt: salt.as_deref().unwrap_or(""),
                used_today: counts,
                rules: rules.as_deref(),
                error_sessions: m,
            })
        })
    })
}

/// Remembers that `session` had an error (its batch held one), or none (looked up in D1).
pub fn remember_session(session: &str, errored: bool, now: u64) {
    ERROR_SESSIONS.with(|m| {
        m.borrow_mut()
            .get_or_insert_with(ErrorSessions::default)
            .set(session, errored, now)
    });
}

/// Puts rules in force in this isolate at once (after a `PUT`; other isolates read them from
/// D1 within `RULES_CACHE_SECONDS`).
pub fn set_rules(rules: Option<Rules>, now: u64) {
    RULES.with(|r| {
        *r.borrow_mut() = Some(CachedRules {
            read_at: now,
            rules: rules.filter(|r| !r.is_empty()).map(Rc::new),
        })
    });
}

/// The stored rule set (`{"rules":[...]}`) and when it was stored, if any.
pub async fn read_rules(db: &D1Database) -> Result<Option<(String, f64)>, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        rules: String,
        updated_at: f64,
    }
    let row = db
        .prepare("SELECT rules, updated_at FROM sampling_rules WHERE id = 1")
        .first::<Row>(None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.map(|r| (r.rules, r.updated_at)))
}

async fn refresh_rules(db: Option<&D1Database>, now: u64) {
    let read = match db {
        Some(db) => read_rules(db).await,
        None => Ok(None),
    };
    match read {
        Ok(None) => set_rules(None, now),
        Ok(Some((text, _))) => {
            match Rules::parse(text.as_bytes()) {
                Ok(r) => set_rules(Some(r), now),
                Err(e) => {
                    // Only the endpoint writes the table, after validating; a row that does not
                    // parse was written by hand. Keep what was in force.
                    console_error!("ferrotel: stored sampling rules are invalid ({e}); keeping the previous ones");
                    keep_rules(now);
                }
            }
        }
        Err(e) => {
            console_error!(
                "ferrotel: sampling rules not read from D1 ({e}); keeping the previous ones"
            );
            keep_rules(now);
        }
    }
}

/// Keeps the rules in force until the next refresh (none if there were none).
fn keep_rules(now: u64) {
    RULES.with(|r| {
        let mut r = r.borrow_mut();
        let rules = r.as_ref().and_then(|r| r.rules.clone());
        *r = Some(CachedRules {
            read_at: now,
            rules,
        });
    });
}

async fn lookup_error(env: &Env, session: &str) -> Result<bool, String> {
    let db = env.d1("DB").map_err(|e| e.to_string())?;
    let row = db
        .prepare("SELECT 1 AS one FROM error_sessions WHERE session = ?1")
        .bind(&[JsValue::from_str(session)])
        .map_err(|e| e.to_string())?
        .first::<f64>(Some("one"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.is_some())
}

/// Looks up in D1 whether `session` had an error (a mark the queue consumer writes for every
/// stored error) and remembers the answer; then worker/entry.mjs decides again. Never rejects:
/// when D1 cannot answer, the session counts as without error.
#[wasm_bindgen]
pub fn ingest_lookup(env: JsValue, session: String, now_ms: f64) -> Promise {
    let env: Env = env.unchecked_into();
    let now = now_ms as u64;
    worker::wasm_bindgen_futures::future_to_promise(async move {
        let errored = match lookup_error(&env, &session).await {
            Ok(found) => found,
            Err(e) => {
                console_error!("ferrotel: error_sessions not read from D1: {e}");
                false
            }
        };
        remember_session(&session, errored, now);
        Ok(JsValue::UNDEFINED)
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
    let need_rules = !rules_current(&env, now);
    if !need_salt && !need_usage && !need_rules {
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
        if need_rules {
            refresh_rules(db.as_ref(), now).await;
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
