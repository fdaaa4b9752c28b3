//! The ingest Worker (feature `edge`).

use wasm_bindgen::prelude::*;
use worker::*;

/// Probe export.
#[wasm_bindgen]
pub fn probe(bytes: &[u8]) -> u32 {
    bytes.len() as u32
}

#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("hi")
}
