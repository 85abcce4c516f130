//! JSONL files. One file per process (the name carries the pid and the start time), so that
//! processes sharing a directory never interleave; rotated by size.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::{Backend, Batch, DeliveryError};
use crate::config::{FilesystemConfig, Fsync};
use crate::error::Result;

pub(crate) struct Filesystem {
    cfg: FilesystemConfig,
    /// `<pid>-<start ms>`: unique per process, and per restart of one.
    tag: String,
    seq: u32,
    file: Option<(File, u64)>,
}

impl Filesystem {
    pub fn new(cfg: FilesystemConfig, instance_tag: &str) -> Result<Self> {
        Ok(Filesystem { cfg, tag: instance_tag.to_owned(), seq: 0, file: None })
    }

    fn next_path(&mut self) -> PathBuf {
        loop {
            let path = self.cfg.path.join(format!("events-{}-{:04}.jsonl", self.tag, self.seq));
            self.seq += 1;
            if !path.exists() {
                return path;
            }
        }
    }

    /// The open file and its size, rotating first if `incoming` bytes would pass `rotate_mb`.
    fn file_for(&mut self, incoming: u64) -> std::io::Result<&mut (File, u64)> {
        let limit = self.cfg.rotate_mb.saturating_mul(1024 * 1024);
        let rotate =
            matches!(&self.file, Some((_, size)) if *size > 0 && limit > 0 && size + incoming > limit);
        if rotate {
            self.close();
        }
        if self.file.is_none() {
            fs::create_dir_all(&self.cfg.path)?;
            let path = self.next_path();
            let file = OpenOptions::new().create_new(true).append(true).open(path)?;
            self.file = Some((file, 0));
        }
        self.file.as_mut().ok_or_else(|| std::io::Error::other("no file"))
    }

    fn write(&mut self, batch: &Batch) -> std::io::Result<()> {
        let fsync = self.cfg.fsync;
        let (file, size) = self.file_for(batch.jsonl().len() as u64)?;
        let before = *size;
        let result = match fsync {
            Fsync::Always => (0..batch.len()).try_for_each(|i| {
                file.write_all(batch.event_json(i))?;
                file.write_all(b"\n")?;
                file.sync_data()
            }),
            Fsync::Batch => file.write_all(batch.jsonl()).and_then(|_| file.sync_data()),
            Fsync::Never => file.write_all(batch.jsonl()),
        };
        match result {
            Ok(()) => {
                *size += batch.jsonl().len() as u64;
                Ok(())
            }
            Err(e) => {
                // A half-written batch would leave a torn line and, after the retry, duplicates:
                // cut the file back to where this batch began.
                let _ = file.set_len(before);
                let _ = file.seek(SeekFrom::End(0));
                Err(e)
            }
        }
    }
}

impl Backend for Filesystem {
    fn deliver(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        self.write(batch).map_err(|e| {
            self.file = None;
            DeliveryError::Retryable(format!("writing to {}: {e}", self.cfg.path.display()))
        })
    }

    fn close(&mut self) {
        if let Some((file, _)) = self.file.take() {
            if self.cfg.fsync != Fsync::Never {
                let _ = file.sync_all();
            }
        }
    }
}
