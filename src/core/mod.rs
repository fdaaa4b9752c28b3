//! The pure core shared by both ends: no JS types, no I/O.

pub mod batch;
pub mod bytes;
pub mod config;
pub mod consume;
pub mod envelope;
pub mod event;
pub mod fields;
pub mod ids;
pub mod ingest;
pub mod json;
pub mod nav;
pub mod otlp;
pub mod protect;
pub mod queue;
pub mod reports;
pub mod rules;
pub mod sample;
pub mod schema;
pub mod scrub;
pub mod sdk;
pub mod stack;
// Edge only (its crates are the `edge` feature's); native tests get them as dev-dependencies.
#[cfg(any(feature = "edge", all(test, not(target_arch = "wasm32"))))]
pub mod symbolicate;
pub mod ua;
pub mod vitals;
