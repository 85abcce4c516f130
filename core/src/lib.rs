//! The monitoring engine: event validation and enrichment, configuration, the router
//! (bounded queue, batching, per-backend delivery workers with retry and circuit breaker)
//! and the backends. Pure Rust; the C ABI lives in the `monitoring-ffi` crate.
//!
//! See ARCHITECTURE.md at the repository root for the threads and the locking rules.

#[cfg(feature = "mimalloc")]
mod alloc;
pub mod backend;
pub mod config;
pub use fork::{after_fork_child, after_fork_parent, before_fork};
mod client;
mod diag;
mod error;
pub mod event;
mod fork;
mod job;
pub mod json_out;
mod router;
mod rusage;
mod spool;
mod stats;

pub use client::{default_instance_id, Client};
pub use config::Config;
pub use error::{Error, Result};
pub use event::{Kind, Status};
pub use job::{parse_final_status, Job, JobOptions};
pub use stats::{BackendSnapshot, StatsSnapshot};

/// The version of the engine and of the C ABI library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Entry points for the fuzz targets in `fuzz/`: the parsers that take untrusted bytes.
#[doc(hidden)]
pub mod fuzzing {
    /// Validates an event; when valid, enriches and encodes it, and checks the stored form is
    /// one valid JSON object. Also checks that `emit`'s fast path agrees with the complete
    /// validation (never accepts what it rejects, stores the same bytes).
    pub fn event(bytes: &[u8]) {
        crate::event::fast_path_agrees(bytes);
        if let Ok((text, v)) = crate::event::validate(bytes, 64 * 1024) {
            let raw = crate::event::parse(text).expect("validated events parse again");
            let enrich = crate::event::Enrichment::new(Some("s"), None, None, "fuzz:1");
            let mut batch = crate::backend::Batch::default();
            crate::event::encode_event(&raw, v.at_micros, 0, &enrich, &mut batch);
            let stored: serde_json::Value =
                serde_json::from_slice(batch.event_json(0)).expect("stored form is JSON");
            assert!(stored.is_object());
        }
    }

    /// Two events separated by a zero byte (which JSON never contains): reading the second with
    /// the first one's shape must give what the walk gives (see `event/shape.rs`).
    pub fn shape(bytes: &[u8]) {
        let cut = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let (first, second) = bytes.split_at(cut);
        crate::event::shape_agrees(first, second.get(1..).unwrap_or_default());
    }

    /// Loads a configuration document (no environment).
    pub fn config(text: &str) {
        let env = std::collections::HashMap::<String, String>::new();
        let _ = crate::config::Config::load_with(Some(text), None, &env);
    }

    /// Opens a spool whose one segment holds `bytes`, and reads everything it can.
    pub fn spool_segment(dir: &std::path::Path, bytes: &[u8]) {
        crate::spool::fuzz_segment(dir, bytes);
    }
}
