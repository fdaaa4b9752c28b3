#![cfg(not(target_arch = "wasm32"))]
//! Replays the bad-input corpus (tests/corpus/manifest.json) through `Envelope::decode_partial`:
//! every case must be refused (a broken envelope) or have its bad event dropped (status 200: the
//! envelope is fine) with the expected field and reason, and never panic. The same corpus is
//! replayed over HTTP against the Worker by worker/test/corpus.test.mjs. Content-type cases
//! (`"http_only": true`) only make sense over HTTP and are skipped here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use ferrotel::core::envelope::{Envelope, MAX_BODY_BYTES};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

struct Case {
    file: String,
    status: u64,
    field: Option<String>,
    reason_contains: String,
    /// For a 200 case: how many of its events are kept.
    accepted: Option<u64>,
    http_only: bool,
}

fn manifest() -> Vec<Case> {
    let path = corpus_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let s = |e: &Value, k: &str| {
        e[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {e}"))
            .to_owned()
    };
    v.as_array()
        .expect("manifest.json is an array")
        .iter()
        .map(|e| Case {
            file: s(e, "file"),
            status: e["status"]
                .as_u64()
                .unwrap_or_else(|| panic!("status in {e}")),
            field: e["field"].as_str().map(str::to_owned),
            reason_contains: s(e, "reason_contains"),
            accepted: e["accepted"].as_u64(),
            http_only: e["http_only"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Runs the generator if any file the manifest lists is missing (the large ones are not in git),
/// once per test binary: the tests run on parallel threads.
fn ensure_generated(cases: &[Case]) {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let dir = corpus_dir();
    if cases.iter().all(|c| dir.join(&c.file).exists()) {
        *done = true;
        return;
    }
    let status = Command::new("node")
        .arg(dir.join("generate.mjs"))
        .status()
        .expect("node is needed to generate the large corpus files (tests/corpus/generate.mjs)");
    assert!(
        status.success(),
        "tests/corpus/generate.mjs failed: {status}"
    );
    for c in cases {
        assert!(
            dir.join(&c.file).exists(),
            "{} is in the manifest but was not generated",
            c.file
        );
    }
    *done = true;
}

fn read(file: &str) -> Vec<u8> {
    let path = corpus_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_corpus_case_is_refused_with_its_field_and_reason() {
    let cases = manifest();
    assert!(cases.len() >= 34, "only {} cases", cases.len());
    ensure_generated(&cases);
    let mut failures = Vec::new();
    let mut run = 0;
    for c in cases.iter().filter(|c| !c.http_only) {
        run += 1;
        let body = read(&c.file);
        // Over HTTP a 413 has no field; the decoder itself names the body.
        let (field, reason) = match c.status {
            200 | 400 => (
                c.field.clone().expect("a 200 or 400 case names its field"),
                c.reason_contains.as_str(),
            ),
            413 => ("body".to_owned(), c.reason_contains.as_str()),
            other => {
                failures.push(format!(
                    "{}: status {other} needs \"http_only\": true",
                    c.file
                ));
                continue;
            }
        };
        if c.status == 413 {
            assert!(
                body.len() > MAX_BODY_BYTES,
                "{} is a 413 case but only {} bytes",
                c.file,
                body.len()
            );
        }
        let got = match catch_unwind(AssertUnwindSafe(|| Envelope::decode_partial(&body))) {
            Err(_) => {
                failures.push(format!("{}: decode PANICKED", c.file));
                continue;
            }
            Ok(r) => r,
        };
        match (c.status, got) {
            (200, Ok((env, dropped))) => {
                let want = c
                    .accepted
                    .expect("a 200 case says how many events are kept");
                match dropped.first() {
                    None => failures.push(format!("{}: ACCEPTED with no drop", c.file)),
                    Some(d) if d.field != field || !d.reason.contains(reason) => {
                        failures.push(format!(
                            "{}: dropped {}: {:?}; expected {field}: ...{reason:?}...",
                            c.file, d.field, d.reason
                        ))
                    }
                    Some(_) if env.events.len() as u64 != want => failures.push(format!(
                        "{}: kept {} events, expected {want}",
                        c.file,
                        env.events.len()
                    )),
                    Some(_) => {
                        // All or nothing, `decode` refuses the body for that event.
                        match Envelope::decode(&body) {
                            Err(e) if e.field == field => {}
                            other => failures.push(format!(
                                "{}: strict decode gave {other:?}, expected an error at {field}",
                                c.file
                            )),
                        }
                    }
                }
            }
            (200, Err(e)) => failures.push(format!(
                "{}: REFUSED ({}: {:?}) where one event should be dropped",
                c.file, e.field, e.reason
            )),
            (_, Ok((env, dropped))) => failures.push(format!(
                "{}: ACCEPTED with {} events ({} dropped)",
                c.file,
                env.events.len(),
                dropped.len()
            )),
            (_, Err(e)) => {
                if e.field != field || !e.reason.contains(reason) {
                    failures.push(format!(
                        "{}: got {}: {:?}; expected {field}: ...{reason:?}...",
                        c.file, e.field, e.reason
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {run} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The cases are mutations of this body; if it stopped decoding, every case would be refused for
/// the wrong reason and the corpus would prove nothing.
#[test]
fn the_unmutated_base_body_decodes() {
    let env =
        Envelope::decode(&read("valid-control.json")).expect("valid-control.json must decode");
    assert_eq!(env.events.len(), 1);
}

/// The 413 case is refused for its size alone: half of its events make a body that decodes.
#[test]
fn the_over_limit_case_is_otherwise_valid() {
    ensure_generated(&manifest());
    let mut v: Value = serde_json::from_slice(&read("over-64k-valid.json")).expect("is JSON");
    let events = v["events"].as_array_mut().expect("has events");
    let n = events.len();
    events.truncate(n / 2);
    let half = serde_json::to_vec(&v).unwrap();
    assert!(half.len() <= MAX_BODY_BYTES);
    let env =
        Envelope::decode(&half).unwrap_or_else(|e| panic!("half of over-64k-valid.json: {e}"));
    assert_eq!(env.events.len(), n / 2);
}
