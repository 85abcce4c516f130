#![no_main]
// Any configuration text: an error or a configuration, never a panic.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        monitoring_core::fuzzing::config(text);
    }
});
