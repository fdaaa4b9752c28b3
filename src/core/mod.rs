//! The pure core shared by both ends: no JS types, no I/O.

pub mod batch;
pub mod config;
pub mod envelope;
pub mod event;
pub mod ids;
pub mod ingest;
pub mod json;
pub mod otlp;
pub mod queue;
pub mod sample;
pub mod scrub;
pub mod sdk;
pub mod stack;
pub mod ua;
pub mod vitals;
