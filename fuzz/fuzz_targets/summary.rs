//! Fuzzes the summary parser (what a server sends as `summary`): see `grove::fuzz::summary`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::summary(data));
