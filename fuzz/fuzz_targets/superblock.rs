//! Fuzzes the static-delta superblock parser: see `grove::delta::fuzz::superblock`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| grove::delta::fuzz::superblock(data));
