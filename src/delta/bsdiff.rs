//! bsdiff patches in the raw stream ostree's bundled (mendsley) bsdiff uses:
//! no header and no bzip2 — repeated 24-byte control records (diff length,
//! extra length, old-position seek; sign-magnitude little-endian), each
//! followed by `diff` bytes (added to the old bytes) and `extra` bytes.
//! The `bsdiff` crate writes and reads exactly this stream.

/// Computes a patch turning `old` into `new`.
pub fn diff(old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(new.len() / 4 + 64);
    bsdiff::diff(old, new, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Applies a patch; the result must be exactly `expected_len` bytes.
/// Malformed patches are an error (the output can never outgrow the patch).
pub fn patch(old: &[u8], patch: &[u8], expected_len: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity((expected_len as usize).min(patch.len().saturating_mul(2)).min(1 << 30));
    let mut r = patch;
    bsdiff::patch(old, &mut r, &mut out).map_err(|e| format!("bsdiff patch failed: {e}"))?;
    if out.len() as u64 != expected_len {
        return Err(format!("bsdiff patch failed: produced {} bytes, expected {expected_len}", out.len()));
    }
    Ok(out)
}

/// How many bytes of `new` the patch could not take from `old`: extra bytes
/// plus non-zero diff bytes. A patch whose literal share is high "resists
/// diffing" and is not worth shipping instead of the file.
pub fn literal_bytes(patch: &[u8]) -> u64 {
    let mut pos = 0usize;
    let mut literal = 0u64;
    while pos + 24 <= patch.len() {
        let rd = |o: usize| u64::from_le_bytes(patch[pos + o..pos + o + 8].try_into().expect("8 bytes")) & !(1 << 63);
        let (mix, copy) = (rd(0) as usize, rd(8) as usize);
        pos += 24;
        let mix_end = pos.saturating_add(mix).min(patch.len());
        literal += patch[pos..mix_end].iter().filter(|&&b| b != 0).count() as u64;
        let copy_end = mix_end.saturating_add(copy).min(patch.len());
        literal += (copy_end - mix_end) as u64;
        pos = copy_end;
    }
    literal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_patches() {
        let old: Vec<u8> = (0..20000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut new = old.clone();
        new[100] ^= 0xff;
        new.extend_from_slice(b"tail");
        let p = diff(&old, &new);
        assert_eq!(patch(&old, &p, new.len() as u64).unwrap(), new);
        assert!(literal_bytes(&p) < 100);
        assert!(patch(&old, &p, new.len() as u64 + 1).is_err());
        for n in 0..p.len().min(200) {
            let _ = patch(&old, &p[..n], new.len() as u64);
        }
        let mut bad = p.clone();
        bad[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(patch(&old, &bad, new.len() as u64).is_err());
    }
}
