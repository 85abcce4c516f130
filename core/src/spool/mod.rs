//! A per-backend disk spool: what a backend cannot take now waits here, in order, across
//! restarts.
//!
//! - Segments `seg-<first seq>.log`, append-only, rotated at `segment_bytes`. Naming a segment
//!   by the sequence number of its first record makes every count arithmetic: what a dropped
//!   or missing segment held is the difference of two names.
//! - Records are framed by `record` (magic, sequence number, length, CRC32C).
//! - The ledger (`ledger`, replaced atomically) holds the read position: the segment, the
//!   offset in it, and the next sequence number expected there. A segment is deleted only
//!   when every record in it has been acknowledged.
//! - Damage (a bit flip, zeroed blocks, a torn tail, a missing segment) is skipped, never
//!   retried: the reader resynchronises on the next magic and counts the records it lost by
//!   their sequence numbers.

mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use record::Read;

use crate::backend::Batch;
use crate::config::{SpoolConfig, SpoolFsync, SpoolOnFull};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFull {
    /// Make room by dropping the oldest segment (counted).
    DropOldest,
    /// Refuse the new records (the caller counts them).
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    Never,
    /// At most this long between an append and its fsync.
    Interval(Duration),
    Always,
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub on_full: OnFull,
    pub sync: Sync,
}

/// What recovery and reading found, for `stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Records lost to damage, counted by the gaps in sequence numbers.
    pub records_lost: u64,
    /// Torn tails cut off at startup (a write the process did not finish).
    pub torn_tails: u64,
}

#[derive(Debug)]
pub(crate) enum AppendError {
    /// `on_full: reject` and no room.
    Full,
    Io(io::Error),
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    bytes: u64,
}

/// The read position: `offset` bytes into the segment whose first record is `segment`,
/// where the next record should be `expected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    segment: u64,
    offset: u64,
    expected: u64,
}

/// A batch read from the spool, to acknowledge once delivered.
#[derive(Debug)]
pub(crate) struct Unacked {
    pub batch: Batch,
    next: Position,
}

pub(crate) struct Spool {
    dir: PathBuf,
    settings: Settings,
    /// Oldest first; the last one is written to.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_seq: u64,
    read: Position,
    synced_at: Instant,
    /// Every record below this sequence number is fsynced (by `sync`, on this thread).
    synced_through: u64,
    /// The highest watermark handed to the syncer.
    requested_through: u64,
    /// `fsync: interval` fsyncs on a helper thread (started on first use).
    syncer: Option<Syncer>,
    pub damage: Damage,
    /// Records dropped to stay under `max_bytes` (`on_full: drop_oldest`).
    pub dropped_oldest: u64,
    /// Held open for the spool's life: the `flock` that keeps other processes out.
    _lock: Option<File>,
    /// The spool root and backend name whose folders (`<name>`, `<name>.<pid>[.<n>]`) this one
    /// adopts when they are left behind; `None` for a bare spool.
    family: Option<(PathBuf, String)>,
    adopted_at: Instant,
}

/// Opens the spool of backend `name` under `cfg.path`. A spool belongs to one client at a time
/// (an exclusive `flock`); another client with the same configuration (in a forked child, or a
/// second client in one process) gets its own folder `<name>.<pid>[.<n>]`.
pub(crate) fn open_for_backend(cfg: &SpoolConfig, name: &str) -> crate::Result<Spool> {
    const MIB: u64 = 1024 * 1024;
    let max_bytes = cfg.max_mb.max(1) * MIB;
    let settings = Settings {
        max_bytes,
        segment_bytes: (cfg.segment_mb.max(1) * MIB).min(max_bytes / 4).max(64 * 1024),
        on_full: match cfg.on_full {
            SpoolOnFull::DropOldest => OnFull::DropOldest,
            SpoolOnFull::Reject => OnFull::Reject,
        },
        sync: match cfg.fsync {
            SpoolFsync::Never => Sync::Never,
            SpoolFsync::Interval => Sync::Interval(Duration::from_millis(cfg.fsync_interval_ms)),
            SpoolFsync::Always => Sync::Always,
        },
    };
    let fail = |dir: &Path, e: io::Error| crate::Error::Io(format!("spool {}: {e}", dir.display()));
    // `<name>`, else `<name>.<pid>`, `<name>.<pid>.1`, ... for more clients of one process.
    let pid = std::process::id();
    let candidates = std::iter::once(name.to_owned())
        .chain(std::iter::once(format!("{name}.{pid}")))
        .chain((1..64).map(|i| format!("{name}.{pid}.{i}")));
    let mut found = None;
    for candidate in candidates {
        let dir = cfg.path.join(candidate);
        match lock_dir(&dir) {
            Ok(lock) => {
                found = Some((dir, lock));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(fail(&dir, e)),
        }
    }
    let Some((dir, lock)) = found else {
        return Err(crate::Error::Io(format!(
            "spool {}: every folder for `{name}` is in use",
            cfg.path.display()
        )));
    };
    let mut spool = Spool::open(&dir, settings).map_err(|e| fail(&dir, e))?;
    spool._lock = Some(lock);
    spool.family = Some((cfg.path.clone(), name.to_owned()));
    spool.adopt_orphans();
    Ok(spool)
}

/// How often a running spool looks for folders of its family that were left behind (the main
/// folder is freed, for instance, when the agent's previous configuration stops after a reload).
const ADOPT_EVERY: Duration = Duration::from_secs(30);

/// Whether `folder` is `<name>.<pid>` or `<name>.<pid>.<n>`: a fallback folder of `name`.
fn is_fallback_of(folder: &str, name: &str) -> bool {
    let Some(rest) = folder.strip_prefix(name).and_then(|r| r.strip_prefix('.')) else { return false };
    let mut parts = rest.split('.');
    let numeric = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    match (parts.next(), parts.next(), parts.next()) {
        (pid, None, None) => numeric(pid),
        (pid, n @ Some(_), None) => numeric(pid) && numeric(n),
        _ => false,
    }
}

fn lock_dir(dir: &Path) -> io::Result<File> {
    for _ in 0..100 {
        fs::create_dir_all(dir)?;
        let path = dir.join("lock");
        let file = match OpenOptions::new().create(true).truncate(false).write(true).open(&path) {
            Ok(file) => file,
            // Deleted by an adopter between the two calls (see below): again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: flock on a descriptor we own; LOCK_NB makes it fail instead of waiting.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        // Another spool may have adopted this folder (a new one looks just like one left
        // behind until its lock is taken) and deleted it, under the lock, between our open and
        // our flock: a lock on a deleted file guards nothing, so the folder is made again.
        use std::os::unix::fs::MetadataExt;
        let (ours, now) = (file.metadata()?, fs::metadata(&path));
        if now.is_ok_and(|m| m.ino() == ours.ino() && m.dev() == ours.dev()) {
            return Ok(file);
        }
    }
    Err(io::Error::other("the folder keeps being deleted"))
}

const LEDGER: &str = "ledger";
/// How much is read from a segment at a time: a batch of ordinary events (a read_batch takes
/// `batch_max` of them), not the largest record there can be (read only when one is that big).
const CHUNK: usize = 256 << 10;

fn segment_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.log")
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, recovering what an earlier process left.
    pub fn open(dir: &Path, settings: Settings) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut firsts: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_owned(),
            settings,
            segments: VecDeque::new(),
            writer: None,
            next_seq: 0,
            read: Position { segment: 0, offset: 0, expected: 0 },
            synced_at: Instant::now(),
            synced_through: 0,
            requested_through: 0,
            syncer: None,
            damage: Damage::default(),
            dropped_oldest: 0,
            _lock: None,
            family: None,
            adopted_at: Instant::now(),
        };
        let ledger = spool.load_ledger();
        for first in firsts {
            match ledger {
                // Fully acknowledged before the last process stopped.
                Some(l) if first < l.segment => {
                    let _ = fs::remove_file(dir.join(segment_name(first)));
                }
                _ => {
                    let bytes = fs::metadata(dir.join(segment_name(first)))?.len();
                    spool.segments.push_back(Segment { first_seq: first, bytes });
                }
            }
        }
        spool.recover_tail()?;
        spool.read = match (ledger, spool.segments.front()) {
            (Some(l), Some(s)) if l.segment == s.first_seq => l,
            // The ledger's segment is gone: start at the oldest one there is.
            (_, Some(s)) => Position {
                segment: s.first_seq,
                offset: 0,
                expected: ledger.map_or(s.first_seq, |l| l.expected),
            },
            (_, None) => Position { segment: spool.next_seq, offset: 0, expected: spool.next_seq },
        };
        if let Some(l) = ledger {
            spool.next_seq = spool.next_seq.max(l.expected);
        }
        // What an earlier process left is as durable as it will get.
        spool.synced_through = spool.next_seq;
        Ok(spool)
    }

    /// Scans the last segment: the next sequence number follows its last intact record, and
    /// whatever follows that record is a torn write, cut off.
    fn recover_tail(&mut self) -> io::Result<()> {
        let Some(last) = self.segments.back() else { return Ok(()) };
        let path = self.dir.join(segment_name(last.first_seq));
        let data = fs::read(&path)?;
        let (mut at, mut good_end, mut next) = (0usize, 0usize, last.first_seq);
        while at < data.len() {
            match record::read_record(&data[at..]) {
                Read::Record { seq, size, .. } => {
                    at += size;
                    good_end = at;
                    next = next.max(seq + 1);
                }
                Read::Damaged => match record::resync(&data[at..]) {
                    Some(skip) => at += skip,
                    None => break,
                },
                Read::Incomplete => break,
            }
        }
        if good_end < data.len() {
            OpenOptions::new().write(true).open(&path)?.set_len(good_end as u64)?;
            self.damage.torn_tails += 1;
            log::warn!(
                "spool {}: cut {} bytes of an unfinished write",
                path.display(),
                data.len() - good_end
            );
        }
        if let Some(last) = self.segments.back_mut() {
            last.bytes = good_end as u64;
        }
        self.next_seq = next;
        Ok(())
    }

    fn load_ledger(&self) -> Option<Position> {
        let text = fs::read_to_string(self.dir.join(LEDGER)).ok()?;
        let mut it = text.split_whitespace().map(|t| t.parse::<u64>().ok());
        Some(Position { segment: it.next()??, offset: it.next()??, expected: it.next()?? })
    }

    /// Writes the read position. A ledger older than the truth only repeats deliveries
    /// (at-least-once), so it is fsynced only when `durable`: before segments are deleted, since
    /// a ledger pointing into a deleted segment would count its delivered records as lost.
    fn save_ledger(&self, durable: bool) -> io::Result<()> {
        let tmp = self.dir.join("ledger.tmp");
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {} {}", self.read.segment, self.read.offset, self.read.expected)?;
        if durable && self.settings.sync != Sync::Never {
            f.sync_data()?;
        }
        fs::rename(tmp, self.dir.join(LEDGER))
    }

    /// Saves the ledger after the read position moved, then deletes the segments it left.
    fn advance(&mut self) -> io::Result<()> {
        let deletes =
            self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.first_seq < self.read.segment);
        self.save_ledger(deletes)?;
        self.delete_finished();
        Ok(())
    }

    /// Every `ADOPT_EVERY`, adopts what [`Spool::adopt_orphans`] finds; returns how many events.
    pub fn adopt_due(&mut self) -> u64 {
        if self.family.is_none() || self.adopted_at.elapsed() < ADOPT_EVERY {
            return 0;
        }
        self.adopt_orphans()
    }

    /// Adopts the folders of this spool's family whose owner is gone (their lock is free): the
    /// fallback folders `<name>.<pid>[.<n>]` of processes that died (a forked child, a second
    /// client), and `<name>` itself when this spool is a fallback. Their records are appended to
    /// this spool, in order, and the folder is deleted once they are durable here; it is locked
    /// all along, so no two spools copy one folder. Damage found in an orphan is counted in this
    /// spool's `damage`. A failure leaves the rest of the orphan for later (what was copied is
    /// acknowledged there, so nothing is copied twice). Returns how many events were adopted.
    fn adopt_orphans(&mut self) -> u64 {
        self.adopted_at = Instant::now();
        let Some((root, name)) = self.family.clone() else { return 0 };
        let Ok(entries) = fs::read_dir(&root) else { return 0 };
        let mut orphans: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.file_name().to_str().is_some_and(|f| f == name || is_fallback_of(f, &name)))
            .map(|e| e.path())
            .filter(|dir| *dir != self.dir)
            .collect();
        orphans.sort();
        let mut total = 0;
        for dir in orphans {
            let lock = match lock_dir(&dir) {
                Ok(lock) => lock,
                // Its process lives (or the folder is unreadable): not an orphan.
                Err(_) => continue,
            };
            match self.adopt(&dir) {
                Ok(0) => {}
                Ok(n) => {
                    total += n;
                    log::info!(
                        "spool {}: adopted {n} events left by an earlier process in {}",
                        self.dir.display(),
                        dir.display()
                    )
                }
                Err(e) => {
                    log::warn!("spool {}: adopting {}: {e}", self.dir.display(), dir.display());
                    continue;
                }
            }
            // Drained and durable here: the orphan goes (its lock with it).
            let _ = fs::remove_dir_all(&dir);
            drop(lock);
        }
        total
    }

    /// Copies every record of the spool in `dir` to this one; returns how many.
    fn adopt(&mut self, dir: &Path) -> io::Result<u64> {
        let settings = Settings { max_bytes: u64::MAX, sync: Sync::Never, ..self.settings.clone() };
        let mut orphan = Spool::open(dir, settings)?;
        let mut copied = 0;
        let result = loop {
            let unacked = match orphan.read_batch(16 * 1024) {
                Ok(Some(u)) => u,
                Ok(None) => break Ok(copied),
                Err(e) => break Err(e),
            };
            match self.append(&unacked.batch) {
                Ok(_) => {}
                Err(AppendError::Full) => break Err(io::Error::other("this spool is full")),
                Err(AppendError::Io(e)) => break Err(e),
            }
            copied += unacked.batch.len() as u64;
            // Durable here before the orphan forgets it: a crash now duplicates, never loses.
            self.sync()?;
            orphan.ack(unacked)?;
        };
        self.damage.records_lost += orphan.damage.records_lost;
        self.damage.torn_tails += orphan.damage.torn_tails;
        result
    }

    /// Records waiting to be read (exact unless damage is found later).
    pub fn pending(&self) -> u64 {
        self.next_seq.saturating_sub(self.read.expected)
    }

    /// The sequence number the next record will get: every record appended so far is below it.
    pub fn head(&self) -> u64 {
        self.next_seq
    }

    /// Every record below this sequence number is durable (fsynced; everything under
    /// `fsync: never`, where nothing ever will be).
    pub fn durable_through(&self) -> u64 {
        if self.settings.sync == Sync::Never {
            return u64::MAX;
        }
        let by_syncer = self.syncer.as_ref().map_or(0, |s| s.state.done.load(Acquire));
        self.synced_through.max(by_syncer)
    }

    fn unsynced(&self) -> bool {
        self.durable_through() < self.next_seq
    }

    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Appends every event of `batch`. Durable when this returns under `sync: always`.
    /// Returns how many older records were dropped to make room.
    pub fn append(&mut self, batch: &Batch) -> Result<u64, AppendError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::with_capacity(batch.jsonl().len() + batch.len() * 64);
        record::encode_batch(batch, self.next_seq, &mut buf);
        let incoming = buf.len() as u64;
        let dropped = self.make_room(incoming)?;
        let needs_new = match self.segments.back() {
            None => true,
            Some(s) => s.bytes > 0 && s.bytes + incoming > self.settings.segment_bytes,
        };
        if needs_new || self.writer.is_none() {
            self.open_writer(needs_new).map_err(AppendError::Io)?;
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(AppendError::Io(io::Error::other("no segment")));
        };
        if let Err(e) = writer.write_all(&buf) {
            // Leave no torn record behind for the next append to follow.
            let before = self.segments.back().map_or(0, |s| s.bytes);
            let _ = writer.set_len(before);
            let _ = writer.seek(SeekFrom::End(0));
            return Err(AppendError::Io(e));
        }
        if let Some(s) = self.segments.back_mut() {
            s.bytes += incoming;
        }
        self.next_seq += batch.len() as u64;
        match self.settings.sync {
            Sync::Always => self.sync().map_err(AppendError::Io)?,
            Sync::Interval(d) if self.synced_at.elapsed() >= d => {
                self.request_sync().map_err(AppendError::Io)?
            }
            _ => {}
        }
        Ok(dropped)
    }

    fn open_writer(&mut self, new_segment: bool) -> io::Result<()> {
        if new_segment {
            // The segment being left: fsynced like the rest (without waiting under `interval`).
            match self.settings.sync {
                Sync::Interval(_) => self.request_sync()?,
                _ => self.sync()?,
            }
            let first = self.next_seq;
            self.segments.push_back(Segment { first_seq: first, bytes: 0 });
            if self.segments.len() == 1 {
                self.read = Position { segment: first, offset: 0, expected: self.read.expected.max(first) };
            }
        }
        let Some(last) = self.segments.back() else { return Err(io::Error::other("no segment")) };
        let path = self.dir.join(segment_name(last.first_seq));
        self.writer = Some(OpenOptions::new().create(true).append(true).open(path)?);
        Ok(())
    }

    /// Under `max_bytes`: drops the oldest segments (`drop_oldest`) or refuses (`reject`).
    fn make_room(&mut self, incoming: u64) -> Result<u64, AppendError> {
        let mut dropped = 0;
        while self.bytes() + incoming > self.settings.max_bytes && self.bytes() > 0 {
            if self.settings.on_full == OnFull::Reject {
                return Err(AppendError::Full);
            }
            if self.segments.len() == 1 {
                // Only the segment being written: start a new one so the old can go.
                self.writer = None;
                self.segments.push_back(Segment { first_seq: self.next_seq, bytes: 0 });
            }
            let Some(old) = self.segments.pop_front() else { break };
            let next_first = self.segments.front().map_or(self.next_seq, |s| s.first_seq);
            let lost = next_first.saturating_sub(self.read.expected.max(old.first_seq));
            dropped += lost;
            self.dropped_oldest += lost;
            let _ = fs::remove_file(self.dir.join(segment_name(old.first_seq)));
            if self.read.segment <= old.first_seq {
                self.read = Position { segment: next_first, offset: 0, expected: next_first };
                self.save_ledger(true).map_err(AppendError::Io)?;
            }
        }
        if dropped > 0 {
            log::warn!("spool {} full: dropped the {dropped} oldest events", self.dir.display());
        }
        Ok(dropped)
    }

    /// Fsyncs what was appended, if anything, and returns once it is durable (`fsync: never`:
    /// nothing is, by the user's choice; the data is written, so it survives the process, not the
    /// machine).
    pub fn sync(&mut self) -> io::Result<()> {
        self.synced_at = Instant::now();
        if !self.unsynced() {
            return Ok(());
        }
        // Earlier segments may still be in the syncer's hands: wait for them (they are few).
        if let Some(syncer) = self.syncer.as_ref() {
            syncer.wait_idle();
        }
        if let Some(w) = self.writer.as_ref() {
            w.sync_data()?;
        }
        self.synced_through = self.next_seq;
        Ok(())
    }

    /// Starts an fsync of what was appended and returns at once (`fsync: interval`): the
    /// delivery worker keeps appending while it runs, since a worker waiting on the disk would
    /// hold up the batcher, and every other backend with it. [`Spool::durable_through`] says when
    /// it is done. Without a helper thread (it could not start), fsyncs here.
    pub fn request_sync(&mut self) -> io::Result<()> {
        self.synced_at = Instant::now();
        if !self.unsynced() || self.requested_through >= self.next_seq {
            return Ok(());
        }
        let Some(writer) = self.writer.as_ref() else {
            // No segment open: what was appended is in segments already handed over, or gone.
            return self.sync();
        };
        if self.syncer.is_none() {
            self.syncer = Syncer::start(&self.dir);
        }
        let Some(syncer) = self.syncer.as_mut() else { return self.sync() };
        if syncer.submit(writer.try_clone()?, self.next_seq).is_err() {
            return self.sync();
        }
        self.requested_through = self.next_seq;
        Ok(())
    }

    /// For `sync: interval`: called now and then by the owner.
    pub fn tick(&mut self) -> io::Result<()> {
        match self.settings.sync {
            Sync::Interval(d) if self.unsynced() && self.synced_at.elapsed() >= d => self.request_sync(),
            _ => Ok(()),
        }
    }

    /// Reads up to `max` events from the read position, without consuming them: call
    /// [`Spool::ack`] once they are delivered. `None` when nothing is waiting.
    pub fn read_batch(&mut self, max: usize) -> io::Result<Option<Unacked>> {
        let mut pos = self.read;
        let mut batch = Batch::with_capacity(max.min(1024));
        while let Some(index) = self.segments.iter().position(|s| s.first_seq == pos.segment) {
            let seg_bytes = self.segments[index].bytes;
            let is_last = index + 1 == self.segments.len();
            if pos.offset >= seg_bytes {
                if is_last {
                    break;
                }
                // The end of a finished segment: on to the next one.
                let next = self.segments[index + 1].first_seq;
                pos = Position { segment: next, offset: 0, expected: pos.expected };
                continue;
            }
            let mut data = self.read_chunk(pos.segment, pos.offset, seg_bytes, CHUNK)?;
            if let Read::Incomplete = record::read_record(&data) {
                // A record larger than the chunk: read enough for the largest there can be.
                data = self.read_chunk(
                    pos.segment,
                    pos.offset,
                    seg_bytes,
                    record::HEADER + record::MAX_PAYLOAD,
                )?;
            }
            let mut at = 0usize;
            while at < data.len() && batch.len() < max {
                match record::read_record(&data[at..]) {
                    Read::Record { seq, payload, size } => {
                        if seq >= pos.expected {
                            self.count_lost(seq - pos.expected, pos);
                            if !record::decode_into(&data[at..][payload], &mut batch) {
                                self.count_lost(1, pos);
                            }
                            pos.expected = seq + 1;
                        }
                        at += size;
                    }
                    Read::Damaged => at += record::resync(&data[at..]).unwrap_or(data.len() - at),
                    Read::Incomplete if pos.offset + (at as u64) + (data.len() - at) as u64 >= seg_bytes => {
                        // Cut off inside a finished segment: the rest of it is lost.
                        at = data.len();
                    }
                    Read::Incomplete => break,
                }
            }
            pos.offset += at as u64;
            if batch.len() >= max || at == 0 {
                break;
            }
        }
        if pos.expected > self.read.expected && batch.is_empty() {
            // Only damage was found: consume it so it is never read again.
            self.read = pos;
            self.advance()?;
        }
        Ok((!batch.is_empty()).then_some(Unacked { batch, next: pos }))
    }

    fn count_lost(&mut self, n: u64, pos: Position) {
        if n > 0 {
            self.damage.records_lost += n;
            log::warn!(
                "spool {}: skipped {n} damaged or missing records before segment {} offset {}",
                self.dir.display(),
                pos.segment,
                pos.offset
            );
        }
    }

    /// Up to `max` bytes of the segment from `offset` (`len` is its size).
    fn read_chunk(&self, segment: u64, offset: u64, len: u64, max: usize) -> io::Result<Vec<u8>> {
        let mut f = File::open(self.dir.join(segment_name(segment)))?;
        f.seek(SeekFrom::Start(offset))?;
        let want = (len - offset).min(max as u64) as usize;
        let mut data = Vec::with_capacity(want);
        f.take(want as u64).read_to_end(&mut data)?;
        Ok(data)
    }

    /// The batch is delivered: move the read position past it and delete finished segments.
    pub fn ack(&mut self, done: Unacked) -> io::Result<()> {
        if done.next.expected > self.read.expected || done.next.segment != self.read.segment {
            self.read = done.next;
            self.advance()?;
        }
        Ok(())
    }

    fn delete_finished(&mut self) {
        while self.segments.len() > 1
            && self.segments.front().is_some_and(|s| s.first_seq < self.read.segment)
        {
            if let Some(s) = self.segments.pop_front() {
                let _ = fs::remove_file(self.dir.join(segment_name(s.first_seq)));
            }
        }
    }
}

/// A helper thread that fsyncs segment files handed to it (duplicated descriptors), in order.
struct Syncer {
    tx: crossbeam_channel::Sender<(File, u64)>,
    state: Arc<SyncerState>,
    submitted: u64,
}

#[derive(Default)]
struct SyncerState {
    /// Every record below this sequence number is fsynced.
    done: AtomicU64,
    /// Requests handled, fsynced or failed.
    handled: AtomicU64,
}

impl Syncer {
    fn start(dir: &Path) -> Option<Syncer> {
        let (tx, rx) = crossbeam_channel::unbounded::<(File, u64)>();
        let state = Arc::new(SyncerState::default());
        let shared = state.clone();
        let dir = dir.to_owned();
        let spawned = std::thread::Builder::new().name("mon-spool-sync".into()).spawn(move || {
            // Ends when the spool, and with it the sender, is dropped.
            for (file, upto) in rx {
                match file.sync_data() {
                    Ok(()) => {
                        shared.done.fetch_max(upto, AcqRel);
                    }
                    Err(e) => log::warn!("spool {}: fsync failed: {e}", dir.display()),
                }
                shared.handled.fetch_add(1, AcqRel);
            }
        });
        spawned.ok().map(|_| Syncer { tx, state, submitted: 0 })
    }

    fn submit(&mut self, file: File, upto: u64) -> Result<(), ()> {
        self.tx.send((file, upto)).map_err(|_| ())?;
        self.submitted += 1;
        Ok(())
    }

    /// Waits until every request submitted so far is handled.
    fn wait_idle(&self) {
        while self.state.handled.load(Acquire) < self.submitted {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

#[cfg(test)]
mod tests;

/// For the fuzz target: a spool whose only segment holds `bytes`, read to the end.
#[doc(hidden)]
pub(crate) fn fuzz_segment(dir: &Path, bytes: &[u8]) {
    let _ = fs::remove_dir_all(dir);
    if fs::create_dir_all(dir).is_err() || fs::write(dir.join(segment_name(0)), bytes).is_err() {
        return;
    }
    let settings = Settings {
        max_bytes: 1 << 30,
        segment_bytes: 1 << 20,
        on_full: OnFull::DropOldest,
        sync: Sync::Never,
    };
    let Ok(mut spool) = Spool::open(dir, settings) else { return };
    let mut guard = 0;
    while let Ok(Some(u)) = spool.read_batch(64) {
        let _ = spool.ack(u);
        guard += 1;
        assert!(guard < 100_000, "the reader must make progress");
    }
}
