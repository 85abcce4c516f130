//! Every input a fuzzer ever crashed on (fuzz/regressions/<target>/) is replayed here.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect()
}

#[test]
fn event_inputs_that_once_crashed() {
    for input in inputs("event") {
        monitoring_core::fuzzing::event(&input);
    }
}

#[test]
fn shape_inputs_that_once_crashed() {
    for input in inputs("shape") {
        monitoring_core::fuzzing::shape(&input);
    }
}

#[test]
fn config_inputs_that_once_crashed() {
    for input in inputs("config") {
        if let Ok(text) = std::str::from_utf8(&input) {
            monitoring_core::fuzzing::config(text);
        }
    }
}

#[test]
fn spool_segments_that_once_crashed() {
    let dir = tempfile::tempdir().unwrap();
    for input in inputs("spool_segment") {
        monitoring_core::fuzzing::spool_segment(&dir.path().join("spool"), &input);
    }
}
