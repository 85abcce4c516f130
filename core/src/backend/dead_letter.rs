//! The dead-letter file: events a backend refused for good (a 4xx), or that could not be
//! delivered before shutdown, kept as JSONL with the reason so an operator can replay them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::Batch;
use crate::event::{format_micros, now_micros};

pub(crate) struct DeadLetter {
    path: PathBuf,
    backend: String,
    file: Option<File>,
}

impl DeadLetter {
    pub fn new(dir: PathBuf, backend: &str) -> Self {
        DeadLetter { path: dir.join(format!("{backend}.jsonl")), backend: backend.to_owned(), file: None }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends `indices` of `batch` with `reason`. One write per call, O_APPEND, so that
    /// processes sharing the directory do not interleave within a record.
    pub fn write(&mut self, batch: &Batch, indices: &[usize], reason: &str) -> std::io::Result<()> {
        let mut at = [0u8; 27];
        let header = serde_json::json!({
            "dead_lettered_at": format_micros(now_micros(), &mut at),
            "backend": self.backend,
            "reason": reason,
        })
        .to_string();
        let prefix = &header[..header.len() - 1];
        let mut out = Vec::new();
        for &i in indices {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b",\"event\":");
            out.extend_from_slice(batch.event_json(i));
            out.extend_from_slice(b"}\n");
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                fs::create_dir_all(dir)?;
            }
            self.file = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        match self.file.as_mut() {
            Some(f) => {
                // On a full disk, leave no half line behind for the next write to follow.
                let before = f.metadata().map(|m| m.len());
                let written = f.write_all(&out);
                if let (Err(_), Ok(len)) = (&written, before) {
                    let _ = f.set_len(len);
                }
                written
            }
            None => Ok(()),
        }
    }
}
