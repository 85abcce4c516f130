//! Backends: one module per destination, all behind [`Backend`]. A backend is owned by exactly
//! one delivery worker thread, so it needs no locking of its own.

mod batch;
mod dead_letter;
mod filesystem;
mod http;
mod sidecar;
mod webhook;

pub use batch::{Batch, Item};
pub(crate) use dead_letter::DeadLetter;

use crate::config::{BackendConfig, BackendKind};
use crate::error::Result;

/// Why a delivery did not (fully) succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryError {
    /// Worth retrying: network errors, timeouts, 5xx, 408/429, a full disk.
    Retryable(String),
    /// Retrying cannot fix it (a 4xx): the batch goes to the dead-letter file.
    Permanent(String),
    /// Some items succeeded. `retry` lists the indices to retry alone; `rejected` the ones
    /// to dead-letter, with the reason.
    Partial { retry: Vec<usize>, rejected: Vec<(usize, String)> },
}

/// One destination. `deliver` is called with batches in order, from one thread.
pub trait Backend: Send {
    /// Delivers every event of `batch`, or says what failed.
    fn deliver(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError>;
    /// Releases resources (closes files, syncs) when the client shuts down.
    fn close(&mut self) {}
}

/// Builds the backend a configuration entry describes.
pub(crate) fn build(cfg: &BackendConfig, instance_tag: &str) -> Result<Box<dyn Backend>> {
    Ok(match &cfg.kind {
        BackendKind::Filesystem(c) => Box::new(filesystem::Filesystem::new(c.clone(), instance_tag)?),
        BackendKind::Webhook(c) => Box::new(webhook::Webhook::new(c)?),
        BackendKind::Sidecar(c) => Box::new(sidecar::Sidecar::new(c)?),
    })
}
