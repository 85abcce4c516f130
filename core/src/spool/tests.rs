use super::*;
use crate::event::Kind;

fn settings(max_bytes: u64, segment_bytes: u64) -> Settings {
    Settings { max_bytes, segment_bytes, on_full: OnFull::DropOldest, sync: Sync::Never }
}

fn batch(from: usize, n: usize) -> Batch {
    let mut b = Batch::default();
    for i in from..from + n {
        b.push_with(Kind::Log, &format!("k{i}"), "job", |buf| {
            buf.extend_from_slice(format!(r#"{{"i":{i}}}"#).as_bytes())
        });
    }
    b
}

/// Reads and acknowledges everything; returns the event numbers in order.
fn drain(spool: &mut Spool) -> Vec<usize> {
    let mut out = Vec::new();
    while let Some(u) = spool.read_batch(100).unwrap() {
        for i in 0..u.batch.len() {
            let v: serde_json::Value = serde_json::from_slice(u.batch.event_json(i)).unwrap();
            out.push(v["i"].as_u64().unwrap() as usize);
        }
        spool.ack(u).unwrap();
    }
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[test]
fn appends_are_read_in_order_and_acknowledged_segments_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), settings(1 << 30, 4096)).unwrap();
    for k in 0..20 {
        s.append(&batch(k * 50, 50)).unwrap();
    }
    assert_eq!(s.pending(), 1000);
    assert!(segments(dir.path()).len() > 5);
    assert_eq!(drain(&mut s), (0..1000).collect::<Vec<_>>());
    assert_eq!(s.pending(), 0);
    assert_eq!(segments(dir.path()).len(), 1, "only the segment being written remains");
    assert_eq!(s.damage, Damage::default());
}

#[test]
fn what_was_not_acknowledged_is_replayed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path(), settings(1 << 30, 4096)).unwrap();
        for k in 0..10 {
            s.append(&batch(k * 30, 30)).unwrap();
        }
        let first = s.read_batch(100).unwrap().unwrap();
        s.ack(first).unwrap();
        let _unacked = s.read_batch(100).unwrap().unwrap();
    }
    let mut s = Spool::open(dir.path(), settings(1 << 30, 4096)).unwrap();
    assert_eq!(s.pending(), 200);
    s.append(&batch(300, 5)).unwrap();
    assert_eq!(drain(&mut s), (100..305).collect::<Vec<_>>());
}

#[test]
fn a_torn_tail_is_cut_off_and_appends_continue_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap();
        s.append(&batch(0, 10)).unwrap();
    }
    let seg = segments(dir.path()).pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&record::MAGIC).unwrap();
    f.write_all(&[7u8; 9]).unwrap();
    drop(f);
    let mut s = Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap();
    assert_eq!(s.damage.torn_tails, 1);
    s.append(&batch(10, 5)).unwrap();
    assert_eq!(drain(&mut s), (0..15).collect::<Vec<_>>());
    assert_eq!(s.damage.records_lost, 0);
}

/// Offsets of every record in a segment file.
fn record_offsets(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Read::Record { size, .. } = record::read_record(&data[at..]) {
        out.push((at, size));
        at += size;
    }
    out
}

#[test]
fn a_bit_flip_loses_exactly_one_record() {
    let dir = tempfile::tempdir().unwrap();
    Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap().append(&batch(0, 100)).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    let (at, _) = record_offsets(&data)[40];
    data[at + record::HEADER + 2] ^= 1;
    fs::write(&seg, &data).unwrap();
    let mut s = Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap();
    let got = drain(&mut s);
    assert_eq!(got.len(), 99);
    assert!(!got.contains(&40));
    assert_eq!(s.damage.records_lost, 1);
}

#[test]
fn a_zeroed_block_loses_exactly_the_records_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap().append(&batch(0, 500)).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = fs::read(&seg).unwrap();
    let (start, end) = (4096, 8192);
    let touched = record_offsets(&data).iter().filter(|(at, size)| *at < end && at + size > start).count();
    data[start..end].fill(0);
    fs::write(&seg, &data).unwrap();
    let mut s = Spool::open(dir.path(), settings(1 << 30, 1 << 20)).unwrap();
    let got = drain(&mut s);
    assert_eq!(got.len(), 500 - touched);
    assert_eq!(s.damage.records_lost, touched as u64);
}

#[test]
fn a_missing_segment_is_counted_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spool::open(dir.path(), settings(1 << 30, 2048)).unwrap();
        for k in 0..10 {
            s.append(&batch(k * 20, 20)).unwrap();
        }
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    let victim = &segs[1];
    let lost = record_offsets(&fs::read(victim).unwrap()).len();
    fs::remove_file(victim).unwrap();
    let mut s = Spool::open(dir.path(), settings(1 << 30, 2048)).unwrap();
    let got = drain(&mut s);
    assert_eq!(got.len(), 200 - lost);
    assert_eq!(s.damage.records_lost, lost as u64);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "still in order");
}

#[test]
fn a_full_spool_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), settings(20_000, 4096)).unwrap();
    let mut dropped = 0;
    for k in 0..100 {
        dropped += s.append(&batch(k * 10, 10)).unwrap();
    }
    assert!(dropped > 0);
    assert!(s.bytes() <= 20_000, "{}", s.bytes());
    let got = drain(&mut s);
    assert_eq!(got.len() as u64 + dropped, 1000, "every event delivered or counted as dropped");
    assert_eq!(got.last(), Some(&999), "the newest are kept");
    assert_eq!(s.dropped_oldest, dropped);
}

#[test]
fn reject_refuses_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = settings(10_000, 4096);
    cfg.on_full = OnFull::Reject;
    let mut s = Spool::open(dir.path(), cfg).unwrap();
    let mut refused = 0;
    for k in 0..100 {
        if matches!(s.append(&batch(k * 10, 10)), Err(AppendError::Full)) {
            refused += 1;
        }
    }
    assert!(refused > 0);
    assert_eq!(drain(&mut s).len() + refused * 10, 1000);
}

fn spool_config(root: &Path) -> SpoolConfig {
    SpoolConfig { path: root.to_owned(), ..SpoolConfig::default() }
}

#[test]
fn fallback_folder_names_are_recognised_exactly() {
    assert!(is_fallback_of("local.4242", "local"));
    assert!(is_fallback_of("local.4242.3", "local"));
    for other in ["local", "local.", "local.x", "local.42.", "local.1.2.3", "localx.1", "other.1", "local.-1"]
    {
        assert!(!is_fallback_of(other, "local"), "{other}");
    }
}

#[test]
fn a_dead_processs_fallback_spool_is_adopted_replayed_in_order_and_deleted() {
    let root = tempfile::tempdir().unwrap();
    // What a forked child (pid 99999, gone) and a second client of it left behind, and a
    // torn tail in one of them: it is cut and counted, the rest is adopted.
    let orphans = [("local.99999", 0usize), ("local.99999.1", 100)];
    for (folder, from) in orphans {
        let mut s = Spool::open(&root.path().join(folder), settings(1 << 30, 4096)).unwrap();
        s.append(&batch(from, 60)).unwrap();
        let _consumed = s.read_batch(10).map(|u| s.ack(u.unwrap())).unwrap();
        s.append(&batch(from + 60, 40)).unwrap();
    }
    let torn = segments(&root.path().join("local.99999.1")).pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&torn).unwrap();
    f.write_all(&record::MAGIC[..2]).unwrap();
    drop(f);
    // Someone else's folder and a non-fallback name are left alone.
    Spool::open(&root.path().join("other.99999"), settings(1 << 30, 4096))
        .unwrap()
        .append(&batch(900, 5))
        .unwrap();
    fs::create_dir_all(root.path().join("local.backup")).unwrap();

    let mut main = open_for_backend(&spool_config(root.path()), "local").unwrap();
    assert_eq!(main.pending(), 180, "90 + 90 unacknowledged events adopted");
    assert_eq!(main.damage, Damage { records_lost: 0, torn_tails: 1 });
    let got = drain(&mut main);
    let want: Vec<usize> = (10..100).chain(110..200).collect();
    assert_eq!(got, want, "each orphan's events, in order, exactly once");
    for (folder, _) in orphans {
        assert!(!root.path().join(folder).exists(), "{folder} deleted once adopted");
    }
    assert!(root.path().join("other.99999").exists());
    assert!(root.path().join("local.backup").exists());
    drop(main);
    // Adopted means moved: a restart finds them neither in the orphans nor twice here.
    let mut again = open_for_backend(&spool_config(root.path()), "local").unwrap();
    assert_eq!(again.pending(), 0);
    assert!(drain(&mut again).is_empty());
}

#[test]
fn a_live_processs_fallback_spool_is_not_adopted() {
    let root = tempfile::tempdir().unwrap();
    let cfg = spool_config(root.path());
    let first = open_for_backend(&cfg, "local").unwrap();
    let mut second = open_for_backend(&cfg, "local").unwrap();
    let fallback = format!("local.{}", std::process::id());
    assert_eq!(second.dir, root.path().join(&fallback));
    second.append(&batch(0, 7)).unwrap();
    drop(first);
    // The main folder is free again, the fallback still locked by its (live) owner.
    let mut main = open_for_backend(&cfg, "local").unwrap();
    assert_eq!(main.pending(), 0);
    assert!(drain(&mut main).is_empty());
    assert_eq!(second.pending(), 7);
    assert_eq!(drain(&mut second), (0..7).collect::<Vec<_>>());
    drop(second);
    drop(main);
    // Once its owner is gone, the next holder of the main folder adopts what is left (here:
    // nothing pending, so the folder just goes).
    let _main = open_for_backend(&cfg, "local").unwrap();
    assert!(!root.path().join(&fallback).exists());
}

#[test]
fn records_larger_than_a_read_chunk_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), settings(1 << 30, 8 << 20)).unwrap();
    let big = "x".repeat(CHUNK + 1000);
    let mut b = batch(0, 3);
    b.push_with(Kind::Log, "k3", "job", |buf| {
        buf.extend_from_slice(format!(r#"{{"i":3,"pad":"{big}"}}"#).as_bytes())
    });
    s.append(&b).unwrap();
    s.append(&batch(4, 3)).unwrap();
    assert_eq!(drain(&mut s), (0..7).collect::<Vec<_>>());
    assert_eq!(s.damage, Damage::default());
}

#[test]
fn a_fallback_spool_adopts_the_main_folder_once_its_owner_is_gone() {
    // The agent's reload: the new configuration's spool opens while the old one still holds
    // `<name>/`, so it gets a fallback; the old one stops with events still spooled.
    let root = tempfile::tempdir().unwrap();
    let cfg = spool_config(root.path());
    let mut old = open_for_backend(&cfg, "local").unwrap();
    old.append(&batch(0, 30)).unwrap();
    let mut new = open_for_backend(&cfg, "local").unwrap();
    new.append(&batch(30, 5)).unwrap();
    assert_eq!(new.adopt_due(), 0, "not due yet");
    assert_eq!(new.adopt_orphans(), 0, "the old spool is still held");
    drop(old);
    assert_eq!(new.adopt_orphans(), 30);
    assert!(!root.path().join("local").exists());
    let mut got = drain(&mut new);
    got.sort_unstable();
    assert_eq!(got, (0..35).collect::<Vec<_>>());
}

#[test]
fn interval_fsyncs_run_on_the_helper_thread_and_report_how_far_they_got() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(
        dir.path(),
        Settings { sync: Sync::Interval(Duration::from_secs(3600)), ..settings(1 << 30, 4096) },
    )
    .unwrap();
    s.append(&batch(0, 10)).unwrap();
    assert_eq!(s.durable_through(), 0, "nothing fsynced before it is asked for");
    s.request_sync().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.durable_through() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(s.durable_through(), 10);
    // Across segment rotations (4 KiB segments), then a blocking sync: everything durable.
    for k in 1..20 {
        s.append(&batch(k * 10, 10)).unwrap();
    }
    assert!(s.durable_through() < 200);
    s.sync().unwrap();
    assert_eq!(s.durable_through(), 200);
    assert_eq!(drain(&mut s), (0..200).collect::<Vec<_>>());
    let never = Spool::open(&dir.path().join("never"), settings(1 << 30, 4096)).unwrap();
    assert_eq!(never.durable_through(), u64::MAX, "fsync: never waits for nothing");
}
