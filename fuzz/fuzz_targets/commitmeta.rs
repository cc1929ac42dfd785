//! Fuzzes what a server sends as a commitmeta: see `grove::fuzz::commitmeta`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::commitmeta(data));
