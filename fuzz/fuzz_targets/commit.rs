//! Fuzzes what a server sends as a commit: see `grove::fuzz::commit`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::commit(data));
