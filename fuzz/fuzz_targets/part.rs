//! Fuzzes the static-delta part decoder, op parser and executor: see
//! `grove::delta::fuzz::part`. The read sources are the FROM commit's files
//! in `fuzz/sources/` (written by `make-corpus.sh`).
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use grove::Checksum;

fn sources() -> &'static HashMap<Checksum, Vec<u8>> {
    static S: OnceLock<HashMap<Checksum, Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sources");
        let mut m = HashMap::new();
        for e in std::fs::read_dir(&dir).expect("fuzz/sources (run fuzz/make-corpus.sh)").flatten() {
            if let Some(c) = e.file_name().to_str().and_then(|n| n.parse::<Checksum>().ok()) {
                m.insert(c, std::fs::read(e.path()).expect("readable source"));
            }
        }
        m
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    grove::delta::fuzz::part(data, sources());
});
