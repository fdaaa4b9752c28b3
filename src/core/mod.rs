//! The pure core shared by both ends: no JS types, no I/O.

pub mod batch;
pub mod config;
pub mod consume;
pub mod envelope;
pub mod event;
pub mod fields;
pub mod ids;
pub mod ingest;
pub mod json;
pub mod otlp;
pub mod protect;
pub mod queue;
pub mod sample;
pub mod schema;
pub mod scrub;
pub mod sdk;
pub mod stack;
pub mod ua;
pub mod vitals;
