#![no_main]
// Two events separated by a zero byte: the second read with the shape of the first must give
// what the walk gives (emit's per-thread shapes, core/src/event/shape.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| monitoring_core::fuzzing::shape(data));
