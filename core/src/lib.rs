//! The monitoring engine: event validation and enrichment, configuration, the router
//! (bounded queue, batching, per-backend delivery workers with retry and circuit breaker)
//! and the backends. Pure Rust; the C ABI lives in the `monitoring-ffi` crate.
//!
//! See ARCHITECTURE.md at the repository root for the threads and the locking rules.

pub mod backend;
pub mod config;
pub use fork::{after_fork_child, after_fork_parent, before_fork};
mod client;
mod error;
pub mod event;
mod fork;
mod job;
mod router;
mod rusage;
mod spool;
mod stats;

pub use client::Client;
pub use config::Config;
pub use error::{Error, Result};
pub use event::{Kind, Status};
pub use job::{parse_final_status, Job, JobOptions};
pub use stats::{BackendSnapshot, StatsSnapshot};

/// The version of the engine and of the C ABI library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
