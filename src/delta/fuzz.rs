//! The bodies of the fuzz targets in `fuzz/`, shared with `tests/delta_fuzz.rs`
//! so a saved crash input replays through exactly the code that found it.
//!
//! Not an API: these functions panic (by design, via `assert!`) when an
//! invariant the fuzzer checks does not hold; errors in the input are fine.

use std::collections::HashMap;

use super::apply::{describe_bytes, execute_part_with, MemoryStore};
use super::superblock::{FALLBACK_ENTRY, PART_ENTRY, SUPERBLOCK};
use super::{part, DeltaError, DeltaName, Superblock};
use crate::gvariant::reader as gv;
use crate::objects::checksum::Checksum;

/// Target `superblock`: a superblock file, to the raw GVariant readers, to
/// [`Superblock::from_bytes`] (whose result must survive a round trip), to
/// [`describe_bytes`] (inline parts and their op streams) and to the checks
/// a pull makes before using a served superblock
/// ([`super::fetch::accept_superblock`]).
pub fn superblock(data: &[u8]) {
    if let Ok(m) = gv::tuple(data, &SUPERBLOCK) {
        let _ = gv::vardict(m[0]);
        for p in gv::var_array(m[6], 8).unwrap_or_default() {
            let _ = gv::tuple(p, &PART_ENTRY);
        }
        for f in gv::var_array(m[7], 8).unwrap_or_default() {
            let _ = gv::tuple(f, &FALLBACK_ENTRY);
        }
    }
    let _ = gv::vardict(data);
    if let Ok(sb) = Superblock::from_bytes(data) {
        let again = match Superblock::from_bytes(&sb.to_bytes()) {
            Ok(a) => a,
            Err(e) => panic!("a parsed superblock re-serializes to an invalid one: {e}"),
        };
        assert_eq!(
            (&again.from, &again.to, &again.commit, &again.metadata),
            (&sb.from, &sb.to, &sb.commit, &sb.metadata)
        );
        assert_eq!(again.parts.len(), sb.parts.len());
        assert_eq!(again.fallbacks.len(), sb.fallbacks.len());
        for (a, b) in again.parts.iter().zip(&sb.parts) {
            assert_eq!((&a.checksum, &a.objects), (&b.checksum, &b.objects));
        }
    }
    let _ = describe_bytes(data, |i| {
        Err(DeltaError::NotFound(format!("part {i} is not inline")))
    });
    // The pull's acceptance of a served superblock, offered under the name it
    // claims (so the name checks pass and the commit check is reached), with
    // and without the summary's digest of it.
    if let Ok(sb) = Superblock::from_bytes(data) {
        let name = DeltaName::new(sb.from, sb.to);
        for digest in [None, Some(Checksum::digest(data))] {
            let offer = super::fetch::Offer { name, digest };
            if let Ok(f) = super::fetch::accept_superblock(offer, data.to_vec()) {
                assert_eq!(Checksum::digest(&f.superblock.commit), sb.to);
            }
        }
    }
}

/// Target `part`: `u32` LE length `n`, an `n`-byte superblock, then the
/// file of part 0. Every part (inline, or part 0) is decoded, its op stream
/// parsed and executed against a [`MemoryStore`] holding `sources`, without
/// checksum verification. Returns the number of objects written.
pub fn part(data: &[u8], sources: &HashMap<Checksum, Vec<u8>>) -> usize {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return 0;
    };
    let n = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (sb, part0) = rest.split_at(n);
    let Ok(sb) = Superblock::from_bytes(sb) else {
        return 0;
    };
    let name = DeltaName::new(sb.from, sb.to);
    let mut written = 0;
    for (i, h) in sb.parts.iter().enumerate() {
        let file = match sb.meta(&name.part_path(i), "(yay)") {
            Some(b) => b,
            None if i == 0 => part0,
            None => continue,
        };
        let Ok(payload) = part::decode_part(file) else {
            continue;
        };
        if let Ok(p) = part::Payload::from_bytes(&payload) {
            let is_meta: Vec<bool> = h.objects.iter().map(|o| o.objtype.is_meta()).collect();
            let _ = part::parse_ops(&p.ops, &is_meta);
        }
        let store = MemoryStore {
            sources: sources.clone(),
            ..Default::default()
        };
        written += execute_part_with(&store, &h.objects, &payload).unwrap_or(0);
    }
    written
}
