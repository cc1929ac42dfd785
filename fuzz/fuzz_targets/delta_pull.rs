//! Fuzzes the whole pull path through a static delta: see
//! `grove::delta::fuzz::PullFixture`. The input (`PullInput::parse`) is
//! served as the delta FROM->TO of the archive repository in
//! `fuzz/pull-repo/` (ref `m` at TO, whose parent is FROM; written by
//! `make-corpus.sh`) and pulled into a fresh repository holding FROM.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use grove::delta::fuzz::{PullFixture, PullInput};

fn fixture() -> &'static PullFixture {
    static F: OnceLock<PullFixture> = OnceLock::new();
    F.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("pull-repo");
        PullFixture::for_ref(&repo, "m").expect("fuzz/pull-repo (run fuzz/make-corpus.sh)")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fixture().pull(&PullInput::parse(data));
});
