//! bsdiff patches in the raw stream ostree's bundled (mendsley) bsdiff uses:
//! no header and no bzip2 — repeated 24-byte control records (diff length,
//! extra length, old-position seek; sign-magnitude little-endian), each
//! followed by `diff` bytes (added to the old bytes) and `extra` bytes.
//!
//! Patches are made here with bsdiff 4's matching algorithm (the one in
//! ostree's `bsdiff/bsdiff.c`) over a suffix array built by divsufsort, which
//! is several times faster than bsdiff's own qsufsort and needs a quarter of
//! its memory; the `bsdiff` crate applies them (the same stream).

/// Computes a patch turning `old` into `new`.
///
/// `old` must be shorter than 2 GiB (the suffix array's index type); callers
/// cap bsdiff inputs far below that (`--max-bsdiff-size`).
pub fn diff(old: &[u8], new: &[u8]) -> Vec<u8> {
    assert!(old.len() < i32::MAX as usize, "bsdiff input over 2 GiB");
    let mut sa = vec![0i32; old.len()];
    divsufsort::sort_in_place(old, &mut sa);
    let mut out = Vec::with_capacity(new.len() / 4 + 64);
    // Whether new[i] equals the old byte `offset` positions away.
    let same_at = |i: usize, offset: isize| {
        let j = i as isize + offset;
        j >= 0 && (j as usize) < old.len() && old[j as usize] == new[i]
    };
    let (mut scan, mut len, mut pos) = (0usize, 0usize, 0usize);
    let (mut last_scan, mut last_pos, mut last_offset) = (0usize, 0usize, 0isize);
    while scan < new.len() {
        // Find the next exact match that beats extending the current
        // alignment (`last_offset`) by more than 8 bytes.
        let mut old_score = 0isize;
        scan += len;
        let mut counted = scan;
        while scan < new.len() {
            (len, pos) = longest_match(&sa, old, &new[scan..]);
            while counted < scan + len {
                old_score += same_at(counted, last_offset) as isize;
                counted += 1;
            }
            if (len as isize == old_score && len != 0) || len as isize > old_score + 8 {
                break;
            }
            old_score -= same_at(scan, last_offset) as isize;
            scan += 1;
        }
        if len as isize == old_score && scan != new.len() {
            continue;
        }
        // Extend the previous match forwards and this one backwards, as far
        // as at least half of the bytes agree.
        let (mut lenf, mut best, mut s) = (0usize, 0isize, 0isize);
        let mut i = 0;
        while last_scan + i < scan && last_pos + i < old.len() {
            s += (old[last_pos + i] == new[last_scan + i]) as isize;
            i += 1;
            if s * 2 - i as isize > best * 2 - lenf as isize {
                best = s;
                lenf = i;
            }
        }
        let mut lenb = 0usize;
        if scan < new.len() {
            let (mut best, mut s) = (0isize, 0isize);
            let mut i = 1;
            while scan >= last_scan + i && pos >= i {
                s += (old[pos - i] == new[scan - i]) as isize;
                if s * 2 - i as isize > best * 2 - lenb as isize {
                    best = s;
                    lenb = i;
                }
                i += 1;
            }
        }
        // Where the two extensions overlap, split at the best point.
        if last_scan + lenf > scan - lenb {
            let overlap = (last_scan + lenf) - (scan - lenb);
            let (mut s, mut best, mut lens) = (0isize, 0isize, 0usize);
            for i in 0..overlap {
                s += (new[last_scan + lenf - overlap + i] == old[last_pos + lenf - overlap + i])
                    as isize;
                s -= (new[scan - lenb + i] == old[pos - lenb + i]) as isize;
                if s > best {
                    best = s;
                    lens = i + 1;
                }
            }
            lenf = lenf + lens - overlap;
            lenb -= lens;
        }
        let extra = (scan - lenb) - (last_scan + lenf);
        let seek = (pos - lenb) as isize - (last_pos + lenf) as isize;
        for v in [lenf as isize, extra as isize, seek] {
            let mut m = v.unsigned_abs() as u64;
            if v < 0 {
                m |= 1 << 63;
            }
            out.extend_from_slice(&m.to_le_bytes());
        }
        out.extend((0..lenf).map(|i| new[last_scan + i].wrapping_sub(old[last_pos + i])));
        out.extend_from_slice(&new[last_scan + lenf..scan - lenb]);
        last_scan = scan - lenb;
        last_pos = pos - lenb;
        last_offset = pos as isize - scan as isize;
    }
    out
}

/// The longest prefix of `needle` found in `old`, as (length, position),
/// by binary search over `old`'s suffix array.
fn longest_match(sa: &[i32], old: &[u8], needle: &[u8]) -> (usize, usize) {
    let Some(last) = sa.len().checked_sub(1) else {
        return (0, 0);
    };
    let (mut lo, mut hi) = (0usize, last);
    while hi - lo >= 2 {
        let mid = lo + (hi - lo) / 2;
        let suffix = &old[sa[mid] as usize..];
        let n = suffix.len().min(needle.len());
        if suffix[..n] < needle[..n] {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (a, b) = (sa[lo] as usize, sa[hi] as usize);
    let (la, lb) = (
        common_prefix(&old[a..], needle),
        common_prefix(&old[b..], needle),
    );
    if la > lb {
        (la, a)
    } else {
        (lb, b)
    }
}

/// Length of the common prefix of two byte strings, eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().expect("8 bytes"))
            ^ u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Applies a patch; the result must be exactly `expected_len` bytes.
/// Malformed patches are an error (the output can never outgrow the patch).
pub fn patch(old: &[u8], patch: &[u8], expected_len: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(
        (expected_len as usize)
            .min(patch.len().saturating_mul(2))
            .min(1 << 30),
    );
    let mut r = patch;
    bsdiff::patch(old, &mut r, &mut out).map_err(|e| format!("bsdiff patch failed: {e}"))?;
    if out.len() as u64 != expected_len {
        return Err(format!(
            "bsdiff patch failed: produced {} bytes, expected {expected_len}",
            out.len()
        ));
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
        let rd = |o: usize| {
            u64::from_le_bytes(patch[pos + o..pos + o + 8].try_into().expect("8 bytes"))
                & !(1 << 63)
        };
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

    /// A deterministic byte stream (xorshift) for test inputs.
    fn noise(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

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

    #[test]
    fn edge_cases_round_trip() {
        let r = noise(5000, 1);
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (vec![], vec![]),
            (vec![], b"only new".to_vec()),
            (b"only old".to_vec(), vec![]),
            (b"a".to_vec(), b"a".to_vec()),
            (vec![0; 10000], vec![0; 12000]),
            (vec![0; 10000], vec![1; 300]),
            (r.clone(), r.clone()),
            (r.clone(), noise(5000, 2)),
            (r.iter().rev().copied().collect(), r.clone()),
            (r[..2500].repeat(3), r.clone()),
        ];
        for (old, new) in cases {
            let p = diff(&old, &new);
            assert_eq!(
                patch(&old, &p, new.len() as u64).unwrap(),
                new,
                "old {} new {}",
                old.len(),
                new.len()
            );
        }
    }

    /// Random edits (inserts, deletes, changed bytes) of random data over
    /// small and large alphabets: every patch applies exactly.
    #[test]
    fn random_edits_round_trip() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for case in 0..300 {
            let n = (next() % 4000) as usize;
            let alphabet = 1 + next() % 255;
            let old: Vec<u8> = (0..n).map(|_| (next() % alphabet) as u8).collect();
            let mut new = old.clone();
            for _ in 0..next() % 8 {
                let at = if new.is_empty() {
                    0
                } else {
                    next() as usize % new.len()
                };
                match next() % 3 {
                    0 => {
                        let k = (next() % 64) as usize;
                        let bytes: Vec<u8> = (0..k).map(|_| next() as u8).collect();
                        new.splice(at..at, bytes);
                    }
                    1 => {
                        let k = ((next() % 64) as usize).min(new.len() - at);
                        new.drain(at..at + k);
                    }
                    _ => {
                        if let Some(b) = new.get_mut(at) {
                            *b = next() as u8;
                        }
                    }
                }
            }
            let p = diff(&old, &new);
            assert_eq!(
                patch(&old, &p, new.len() as u64).unwrap(),
                new,
                "case {case}"
            );
        }
    }

    /// Shaped like a rebuilt binary: shifted blocks, small edits, inserted
    /// and deleted runs. The patch applies and is no larger than the one
    /// bsdiff's reference implementation (the `bsdiff` crate) makes.
    #[test]
    fn edited_binary_matches_reference_size() {
        let old = noise(300_000, 7);
        let mut new = Vec::new();
        new.extend_from_slice(&old[1000..120_000]);
        new.extend_from_slice(&noise(3000, 9));
        for (i, b) in old[120_000..250_000].iter().enumerate() {
            new.push(if i % 997 == 0 { b.wrapping_add(4) } else { *b });
        }
        new.extend_from_slice(&old[..1000]);
        new.extend_from_slice(&old[260_000..]);
        let ours = diff(&old, &new);
        assert_eq!(patch(&old, &ours, new.len() as u64).unwrap(), new);
        let mut reference = Vec::new();
        ::bsdiff::diff(&old, &new, &mut reference).unwrap();
        assert_eq!(literal_bytes(&ours), literal_bytes(&reference));
        assert!(
            ours.len() <= reference.len() + 48,
            "ours {} reference {}",
            ours.len(),
            reference.len()
        );
    }
}
