//! `GET /v1/events`: the dashboard's read of the embedded store, guarded by `READ_TOKEN`.
//! Query: `type`, `since` and `until` (ms), `limit` (1-1000, default 100), `before` (the
//! `next` cursor of the previous page). Newest first.

use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::*;

use super::{config, json_error, misconfigured, unauthorized};

#[derive(Deserialize)]
struct Stored {
    id: String,
    t: f64,
    data: String,
}

pub async fn handle(req: &Request, env: &Env) -> Result<Response> {
    let cfg = match config(env) {
        Ok(c) => c,
        Err(p) => return misconfigured(&p),
    };
    let Some(token) = &cfg.read_token else {
        return json_error(
            404,
            "not_found",
            None,
            "the read endpoint is off: set the READ_TOKEN secret",
        );
    };
    if let Some(r) = unauthorized(req, token, "READ_TOKEN")? {
        return Ok(r);
    }
    let url = req.url()?;
    let mut sql = String::from("SELECT id, t, data FROM events WHERE 1=1");
    let mut args: Vec<JsValue> = Vec::new();
    let mut limit = 100u32;
    for (k, v) in url.query_pairs() {
        let num = || v.parse::<u64>().map_err(|_| k.to_string());
        let bad = |f: String| json_error(400, "invalid_query", Some(&f), "must be a whole number");
        match &*k {
            "type" => {
                args.push(JsValue::from_str(&v));
                sql.push_str(&format!(" AND type = ?{}", args.len()));
            }
            "since" | "until" => match num() {
                Ok(n) => {
                    args.push(JsValue::from_f64(n as f64));
                    sql.push_str(&format!(
                        " AND t {} ?{}",
                        if k == "since" { ">=" } else { "<" },
                        args.len()
                    ));
                }
                Err(f) => return bad(f),
            },
            "limit" => match num() {
                Ok(n) => limit = n.clamp(1, 1000) as u32,
                Err(f) => return bad(f),
            },
            "before" => {
                let Some((t, id)) = v
                    .split_once('_')
                    .and_then(|(t, id)| Some((t.parse::<u64>().ok()?, id.to_owned())))
                else {
                    return json_error(
                        400,
                        "invalid_query",
                        Some("before"),
                        "must be the `next` cursor of a previous page",
                    );
                };
                args.push(JsValue::from_f64(t as f64));
                let ti = args.len();
                args.push(JsValue::from_str(&id));
                sql.push_str(&format!(
                    " AND (t < ?{ti} OR (t = ?{ti} AND id < ?{}))",
                    args.len()
                ));
            }
            _ => {}
        }
    }
    sql.push_str(&format!(" ORDER BY t DESC, id DESC LIMIT {limit}"));
    let db = env.d1("DB")?;
    let rows: Vec<Stored> = db.prepare(sql).bind(&args)?.all().await?.results()?;
    let mut body = String::from("{\"events\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&r.data);
    }
    body.push_str("],\"next\":");
    match rows.last().filter(|_| rows.len() == limit as usize) {
        Some(last) => body.push_str(&format!("\"{}_{}\"", last.t as u64, last.id)),
        None => body.push_str("null"),
    }
    body.push('}');
    let mut r = Response::ok(body)?;
    r.headers_mut().set("content-type", "application/json")?;
    Ok(r)
}
