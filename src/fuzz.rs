//! The bodies of the fuzz targets in `fuzz/` for every parser that reads
//! bytes a server sends (the static-delta ones are in [`crate::delta::fuzz`]):
//! the summary, commit, dirtree, dirmeta, detached metadata with its
//! signatures, and the `.filez` header. `tests/fuzz_replay.rs` replays the
//! seeds and every saved crash input through the same functions.
//!
//! Not an API: these functions panic (via `assert!`) when an invariant the
//! fuzzer checks does not hold; errors in the input are fine.

use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use crate::objects::file_header::{unframe, ArchiveHeader};
use crate::objects::metadata::Metadata;
use crate::objects::summary::{split_vardict, Summary};
use crate::objects::{Commit, DirMeta, DirTree};
use crate::trust::gpg::{self, Keyring};

/// Target `summary`: the summary parser and its raw metadata splitter.
pub fn summary(data: &[u8]) {
    if let Ok(s) = Summary::from_bytes(data, Path::new("fuzz-summary")) {
        for r in &s.refs {
            let _ = (&r.name, r.checksum, r.timestamp);
        }
    }
    let _ = split_vardict(data);
}

/// Target `commit`: a parsed commit re-encodes to bytes that parse to the same commit.
pub fn commit(data: &[u8]) {
    if let Ok(c) = Commit::from_bytes(data) {
        let bytes = c.to_bytes();
        let again = Commit::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("a parsed commit re-encodes to an invalid one: {e}"));
        assert_eq!(again.to_bytes(), bytes, "commit encoding is not stable");
        let _ = c.version();
    }
}

/// Target `dirtree`: names of a parsed dirtree are single path components, and it round-trips.
pub fn dirtree(data: &[u8]) {
    if let Ok(t) = DirTree::from_bytes(data) {
        for name in t
            .files
            .iter()
            .map(|f| &f.name)
            .chain(t.dirs.iter().map(|d| &d.name))
        {
            assert!(
                !name.is_empty() && name != "." && name != ".." && !name.contains('/'),
                "accepted name {name:?}"
            );
        }
        let bytes = t.to_bytes();
        let again = DirTree::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("a parsed dirtree re-encodes to an invalid one: {e}"));
        assert_eq!(again.to_bytes(), bytes, "dirtree encoding is not stable");
    }
}

/// Target `dirmeta`: a parsed dirmeta round-trips.
pub fn dirmeta(data: &[u8]) {
    if let Ok(m) = DirMeta::from_bytes(data) {
        let again = DirMeta::from_bytes(&m.to_bytes())
            .unwrap_or_else(|e| panic!("a parsed dirmeta re-encodes to an invalid one: {e}"));
        assert_eq!(again, m);
    }
}

/// Target `commitmeta`: detached metadata, its `ostree.gpgsigs`, and the
/// signature check `pull` runs on them (against an empty keyring: every
/// signature must come out as not good, never as a panic).
pub fn commitmeta(data: &[u8]) {
    let Ok(meta) = Metadata::from_bytes(data) else {
        return;
    };
    let _ = meta.to_bytes();
    if let Ok(sigs) = gpg::gpgsigs(&meta) {
        if let Ok(reports) = gpg::verify(
            b"commit",
            &sigs,
            &Keyring::new(),
            SystemTime::UNIX_EPOCH,
            "fuzz",
        ) {
            assert!(
                gpg::invalid_reason(&reports).is_some() || reports.is_empty(),
                "a signature verified with no key"
            );
        }
    }
    assert!(
        gpg::require_good(b"commit", &meta, &Keyring::new(), "fuzz").is_err(),
        "no key, yet a good signature"
    );
}

/// Target `filez`: the framed archive header of a `.filez` object, then up
/// to 64 KiB of its raw-deflate body.
pub fn filez(data: &[u8]) {
    let Ok((variant, offset)) = unframe(data) else {
        return;
    };
    assert!(offset <= data.len());
    if let Ok(h) = ArchiveHeader::from_variant_bytes(variant) {
        let again =
            ArchiveHeader::from_variant_bytes(unframe(&h.to_stream_prefix()).expect("own frame").0)
                .unwrap_or_else(|e| {
                    panic!("a parsed archive header re-encodes to an invalid one: {e}")
                });
        assert_eq!(again, h);
        let mut body = flate2::read::DeflateDecoder::new(&data[offset..]).take(64 << 10);
        let _ = std::io::copy(&mut body, &mut std::io::sink());
    }
}
