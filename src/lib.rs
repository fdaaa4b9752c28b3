//! ferrotel: small, privacy-first web telemetry.
//!
//! One crate, two ends of the wire:
//!
//! * [`core`] (always built): the event model, the versioned wire envelope, the batcher, the
//!   sampler, privacy scrubbing, stack parsing, web-vitals math and config validation. Pure Rust,
//!   no I/O, tested natively with `cargo test`.
//! * `browser` (feature `browser`): the wasm SDK that a web app starts with one `init` call.
//! * `edge` (feature `edge`): the Cloudflare Worker that receives the batches.
#![deny(missing_docs)]

pub mod core;

#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub mod browser;

#[cfg(all(feature = "edge", target_arch = "wasm32"))]
pub mod edge;

// Single-threaded wasm in a browser page: the allocator needs no locking.
#[cfg(all(feature = "small-alloc", target_arch = "wasm32"))]
#[global_allocator]
// SAFETY: browser wasm without threads has one thread of execution.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
