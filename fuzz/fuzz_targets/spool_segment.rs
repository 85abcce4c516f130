#![no_main]
// Any bytes in a spool segment: recovery and replay skip damage and always make progress.
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    monitoring_core::fuzzing::spool_segment(&dir.path().join("spool"), data);
});
