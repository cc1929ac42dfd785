//! Fuzzes what a server sends as a dirtree: see `grove::fuzz::dirtree`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::dirtree(data));
