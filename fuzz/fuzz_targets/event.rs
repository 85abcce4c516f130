#![no_main]
// Untrusted bytes into emit: never a panic; a valid event always encodes to one JSON object.
libfuzzer_sys::fuzz_target!(|data: &[u8]| monitoring_core::fuzzing::event(data));
