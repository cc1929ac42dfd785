//! Fuzzes what a server sends as a dirmeta: see `grove::fuzz::dirmeta`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::dirmeta(data));
