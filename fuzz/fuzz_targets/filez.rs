//! Fuzzes what a server sends as a `.filez` object: see `grove::fuzz::filez`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::fuzz::filez(data));
