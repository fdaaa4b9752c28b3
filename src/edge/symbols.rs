//! Symbolication's I/O (the decisions are `core::symbolicate`'s): `PUT /v1/sourcemaps` stores
//! source maps and wasm modules' names in D1, and the queue consumer loads them, through a
//! bounded per-isolate cache, to rewrite error records before storing and forwarding.
//!
//! D1 keeps one `artifacts` row per (release, URL) and the prepared text in `artifact_chunks`,
//! content-addressed by the upload's SHA-256 and cut into chunks of at most [`CHUNK_BYTES`]
//! (D1 takes at most 2 MB in a row or value): an upload of the same file under several
//! releases stores it once, and replacing one drops chunks no row uses any more.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use worker::*;

use super::{config, json_error, misconfigured, respond, unauthorized};
use crate::core::ingest::Reply;
use crate::core::symbolicate::{
    self, artifact_url, candidates, Artifact, Cache, Kind, Loaded, Miss, Need,
    MAX_LOADS_PER_DOCUMENT, MAX_RELEASE_BYTES, MAX_UPLOAD_BYTES, MAX_URL_BYTES,
};

/// Bytes of one stored chunk (D1's limit for a value is 2,000,000 bytes).
pub const CHUNK_BYTES: usize = 1_000_000;
/// Loaded artifacts an isolate keeps, by count and by estimated memory.
const CACHE_ENTRIES: usize = 64;
const CACHE_BYTES: usize = 48 * 1024 * 1024;
/// How long a loaded artifact is trusted (a re-upload of the same release and URL is seen
/// after at most this), and how long "nothing uploaded" is.
const FOUND_TTL_MS: u64 = 5 * 60_000;
const MISSING_TTL_MS: u64 = 60_000;

type Found = std::result::Result<Rc<Artifact>, Miss>;

thread_local! {
    static CACHE: RefCell<Cache<Found>> = RefCell::new(Cache::new(CACHE_ENTRIES, CACHE_BYTES));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text cut into chunks of at most `max` bytes, on character boundaries.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// `PUT /v1/sourcemaps?release=R&url=U` with `Authorization: Bearer <UPLOAD_TOKEN>`: the body
/// is a source map or a wasm module. `201` with what was stored; `400`/`401`/`404`/`405`/
/// `411`/`413` with a reason.
pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    let cfg = match config(env) {
        Ok(c) => c,
        Err(p) => return misconfigured(&p),
    };
    let Some(token) = &cfg.upload_token else {
        return json_error(
            404,
            "not_found",
            None,
            "uploads are off: set the UPLOAD_TOKEN secret",
        );
    };
    if req.method() != Method::Put {
        let mut r = json_error(
            405,
            "method_not_allowed",
            None,
            "use PUT with a source map or wasm module",
        )?;
        r.headers_mut().set("allow", "PUT")?;
        return Ok(r);
    }
    if let Some(r) = unauthorized(&req, token, "UPLOAD_TOKEN")? {
        return Ok(r);
    }
    let url = req.url()?;
    let (mut release, mut file) = (None, None);
    for (k, v) in url.query_pairs() {
        match &*k {
            "release" => release = Some(v.into_owned()),
            "url" => file = Some(v.into_owned()),
            _ => {}
        }
    }
    let bad = |field: &str, reason: &str| json_error(400, "invalid_query", Some(field), reason);
    let release = match release {
        Some(r) if !r.is_empty() && r.len() <= MAX_RELEASE_BYTES => r,
        _ => {
            return bad(
                "release",
                "required: the release your app sends (init({ release })), at most 64 bytes",
            )
        }
    };
    let file = match file {
        Some(u)
            if !u.is_empty()
                && u.len() <= MAX_URL_BYTES
                && !u.chars().any(|c| c.is_control() || c == ' ') =>
        {
            artifact_url(&u).to_owned()
        }
        _ => {
            return bad(
                "url",
                "required: the minified file's or wasm module's URL as it appears in stacks (or ~/path for any origin), at most 2048 bytes",
            )
        }
    };
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|l| l.trim().parse::<usize>().ok());
    match declared {
        None => {
            return json_error(
                411,
                "length_required",
                None,
                "send Content-Length (curl --data-binary @file does)",
            )
        }
        Some(n) if n > MAX_UPLOAD_BYTES => {
            return json_error(
                413,
                "too_large",
                None,
                &format!("at most {MAX_UPLOAD_BYTES} bytes"),
            )
        }
        Some(_) => {}
    }
    let body = req.bytes().await?;
    if body.len() > MAX_UPLOAD_BYTES {
        return json_error(
            413,
            "too_large",
            None,
            &format!("at most {MAX_UPLOAD_BYTES} bytes"),
        );
    }
    let prepared = match symbolicate::prepare_upload(&body) {
        Ok(p) => p,
        Err(reason) => return json_error(400, "invalid_artifact", None, &reason),
    };
    let hash = hex(&Sha256::digest(&body));
    let db = env.d1("DB")?;
    let parts = chunks(&prepared.text, CHUNK_BYTES);
    let mut stmts = vec![db
        .prepare("DELETE FROM artifact_chunks WHERE hash = ?1")
        .bind(&[JsValue::from_str(&hash)])?];
    for (seq, part) in parts.iter().enumerate() {
        stmts.push(
            db.prepare("INSERT INTO artifact_chunks (hash, seq, data) VALUES (?1, ?2, ?3)")
                .bind(&[
                    JsValue::from_str(&hash),
                    JsValue::from_f64(seq as f64),
                    JsValue::from_str(part),
                ])?,
        );
    }
    stmts.push(
        db.prepare(
            "INSERT OR REPLACE INTO artifacts (release, url, kind, hash, bytes, chunks, uploaded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&[
            JsValue::from_str(&release),
            JsValue::from_str(&file),
            JsValue::from_str(prepared.kind.as_str()),
            JsValue::from_str(&hash),
            JsValue::from_f64(prepared.text.len() as f64),
            JsValue::from_f64(parts.len() as f64),
            JsValue::from_f64(Date::now().as_millis() as f64),
        ])?,
    );
    // Chunks of a file this upload replaced, unless another release still uses them.
    stmts.push(
        db.prepare("DELETE FROM artifact_chunks WHERE hash NOT IN (SELECT hash FROM artifacts)"),
    );
    if let Err(e) = db.batch(stmts).await {
        console_error!("ferrotel: upload not stored: {e}");
        return json_error(
            503,
            "unavailable",
            None,
            "the upload could not be stored; retry",
        );
    }
    let body = serde_json::json!({
        "release": release,
        "url": file,
        "kind": prepared.kind.as_str(),
        "sha256": hash,
        "bytes": prepared.text.len(),
        "summary": prepared.summary,
    });
    respond(Reply::json(201, body.to_string()))
}

#[derive(Deserialize)]
struct ArtifactRow {
    url: String,
    hash: String,
    chunks: f64,
}

#[derive(Deserialize)]
struct ChunkRow {
    data: String,
}

/// Loads what `need` names: from the cache, else from D1 (the most specific URL; for wasm,
/// else the release's only module) while `budget` lasts (one is spent per D1 load).
async fn load(db: &D1Database, need: &Need, now_ms: u64, budget: &mut usize) -> Found {
    let key = format!("{}\t{}\t{}", need.kind, need.release, need.file);
    if let Some(found) = CACHE.with(|c| c.borrow_mut().get(&key, now_ms)) {
        return found;
    }
    if *budget == 0 {
        return Err(Miss::TooManyFiles);
    }
    *budget -= 1;
    let found = match fetch(db, need).await {
        Ok(f) => f,
        Err(e) => {
            // Not cached: storage may be back for the next message.
            console_warn!("ferrotel: symbols not loaded for {}: {e}", need.file);
            return Err(Miss::Unavailable);
        }
    };
    let (weight, ttl) = match &found {
        Ok(a) => (a.weight(), FOUND_TTL_MS),
        Err(_) => (key.len(), MISSING_TTL_MS),
    };
    CACHE.with(|c| {
        c.borrow_mut()
            .insert(key, found.clone(), weight, now_ms.saturating_add(ttl))
    });
    found
}

async fn fetch(db: &D1Database, need: &Need) -> Result<Found> {
    let kind = if need.kind == Kind::Wasm.as_str() {
        Kind::Wasm
    } else {
        Kind::SourceMap
    };
    let mut row = None;
    if !need.file.is_empty() {
        let cands = candidates(&need.file);
        let mut binds = vec![
            JsValue::from_str(&need.release),
            JsValue::from_str(need.kind),
        ];
        binds.extend(cands.iter().map(|c| JsValue::from_str(c)));
        let marks: Vec<String> = (3..3 + cands.len()).map(|i| format!("?{i}")).collect();
        let rows: Vec<ArtifactRow> = db
            .prepare(format!(
                "SELECT url, hash, chunks FROM artifacts WHERE release = ?1 AND kind = ?2 AND url IN ({})",
                marks.join(",")
            ))
            .bind(&binds)?
            .all()
            .await?
            .results()?;
        row = cands
            .iter()
            .find_map(|c| rows.iter().find(|r| &r.url == c))
            .map(|r| (r.hash.clone(), r.chunks));
    }
    if row.is_none() && kind == Kind::Wasm {
        let rows: Vec<ArtifactRow> = db
            .prepare("SELECT url, hash, chunks FROM artifacts WHERE release = ?1 AND kind = 'wasm' LIMIT 2")
            .bind(&[JsValue::from_str(&need.release)])?
            .all()
            .await?
            .results()?;
        match rows.as_slice() {
            [only] => row = Some((only.hash.clone(), only.chunks)),
            [] => {}
            _ => return Ok(Err(Miss::Ambiguous)),
        }
    }
    let Some((hash, n)) = row else {
        return Ok(Err(Miss::NotUploaded));
    };
    let parts: Vec<ChunkRow> = db
        .prepare("SELECT data FROM artifact_chunks WHERE hash = ?1 ORDER BY seq")
        .bind(&[JsValue::from_str(&hash)])?
        .all()
        .await?
        .results()?;
    if parts.len() != n as usize {
        return Err(Error::RustError(format!(
            "artifact {hash}: {} of {n} chunks",
            parts.len()
        )));
    }
    let text: String = parts.into_iter().map(|p| p.data).collect();
    Ok(match Artifact::load(kind, &text) {
        Ok(a) => Ok(Rc::new(a)),
        Err(e) => {
            console_error!("ferrotel: stored artifact {hash} unreadable: {e}");
            Err(Miss::Unavailable)
        }
    })
}

/// The document with its error records symbolicated (see `core::symbolicate::apply`), or
/// `None` when it has none. Never fails the message: what cannot be loaded is marked so on
/// the frames.
pub async fn apply(env: &Env, doc: &str) -> Option<String> {
    // Most documents hold no error: they are not parsed here at all.
    memchr::memmem::find(doc.as_bytes(), b"\"browser.error\"")?;
    let needs = symbolicate::needs(doc).ok()?;
    let mut loaded = Loaded::default();
    if !needs.is_empty() {
        let now = Date::now().as_millis();
        let mut budget = MAX_LOADS_PER_DOCUMENT;
        match env.d1("DB") {
            Ok(db) => {
                for need in needs {
                    let found = load(&db, &need, now, &mut budget).await;
                    loaded.insert(need, found);
                }
            }
            Err(_) => {
                for need in needs {
                    loaded.insert(need, Err(Miss::Unavailable));
                }
            }
        }
    }
    match symbolicate::apply(doc, &loaded) {
        Ok(out) => out,
        Err(e) => {
            console_error!("ferrotel: symbolication skipped: {e}");
            None
        }
    }
}
