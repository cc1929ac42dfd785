//! The key order of an `a{sv}` that went through a `GVariantDict` (GLib's
//! `GHashTable` iteration order, `ghash.c`): commit metadata for
//! `--bootable` and the summary's dictionaries ([`crate::objects::summary`]) use it.
//!
//! Most of OSTree's metadata is built with `GVariantBuilder` (insertion
//! order, see [`Metadata`]), but a few paths — `ostree commit --bootable`
//! (`ostree_commit_metadata_for_bootable`) — load the dictionary into a
//! `GVariantDict` and serialize it back. `GVariantDict` keeps its entries in
//! a GLib `GHashTable` with `g_str_hash` keys, so the result lists keys in
//! the table's bucket order. To reproduce ostree's commit checksums grove
//! replays the same table: an open-addressing array whose size is a power of
//! two (8 at least), bucket `(hash * 11) % prime(shift)`, quadratic probing,
//! and GLib's in-place rehash when the table grows (GLib 2.58 and later,
//! as shipped with ostree 2022.7 on Debian 12).

use crate::objects::metadata::Metadata;

const MIN_SHIFT: u32 = 3;

/// `prime_mod[shift]`: the largest prime below `1 << shift`.
const PRIME_MOD: [u32; 32] = [
    1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
    262139, 524287, 1048573, 2097143, 4194301, 8388593, 16777213, 33554393, 67108859, 134217689,
    268435399, 536870909, 1073741789, 2147483647,
];

/// GLib's `g_str_hash` (djb2 over *signed* chars).
fn str_hash(s: &str) -> u32 {
    let mut h: u32 = 5381;
    for &b in s.as_bytes() {
        h = (h << 5).wrapping_add(h).wrapping_add(b as i8 as i32 as u32);
    }
    // 0 and 1 mark empty and deleted buckets; GLib stores such hashes as 2.
    if h < 2 {
        2
    } else {
        h
    }
}

/// A string-keyed GHashTable reduced to what decides iteration order.
struct Table {
    shift: u32,
    hashes: Vec<u32>,
    /// Index into the caller's entries for each occupied bucket.
    slots: Vec<Option<usize>>,
    nnodes: usize,
    noccupied: usize,
}

impl Table {
    fn new() -> Self {
        let size = 1usize << MIN_SHIFT;
        Table {
            shift: MIN_SHIFT,
            hashes: vec![0; size],
            slots: vec![None; size],
            nnodes: 0,
            noccupied: 0,
        }
    }

    fn size(&self) -> usize {
        1 << self.shift
    }

    fn mask(&self) -> u32 {
        (self.size() - 1) as u32
    }

    fn bucket(&self, hash: u32) -> u32 {
        hash.wrapping_mul(11) % PRIME_MOD[self.shift as usize]
    }

    /// The bucket holding `key`, or the free bucket where it would go.
    fn lookup(&self, key: &str, hash: u32, keys: &[&str]) -> usize {
        let mut i = self.bucket(hash);
        let mut step = 0u32;
        while self.hashes[i as usize] != 0 {
            if self.hashes[i as usize] == hash
                && self.slots[i as usize].is_some_and(|e| keys[e] == key)
            {
                return i as usize;
            }
            step += 1;
            i = i.wrapping_add(step) & self.mask();
        }
        i as usize
    }

    /// Inserts entry `entry` (named `keys[entry]`); an existing key keeps its bucket and the new value.
    fn insert(&mut self, entry: usize, keys: &[&str]) {
        let key = keys[entry];
        let hash = str_hash(key);
        let i = self.lookup(key, hash, keys);
        let old = self.hashes[i];
        self.slots[i] = Some(entry);
        if old >= 2 {
            return;
        }
        self.hashes[i] = hash;
        self.nnodes += 1;
        if old == 0 {
            self.noccupied += 1;
            self.maybe_resize();
        }
    }

    fn maybe_resize(&mut self) {
        let size = self.size();
        if (size > self.nnodes * 4 && size > 1 << MIN_SHIFT)
            || size <= self.noccupied + self.noccupied / 16
        {
            self.resize();
        }
    }

    /// GLib's in-place rehash: buckets are visited in order and each entry is
    /// moved to its new home, evicting (and then placing) whatever sat there.
    fn resize(&mut self) {
        let old_size = self.size();
        let wanted = (self.nnodes as f64 * 1.333) as usize;
        let mut shift = 0;
        let mut n = wanted;
        while n != 0 {
            n >>= 1;
            shift += 1;
        }
        self.shift = shift.max(MIN_SHIFT);
        let new_size = self.size();
        if new_size > old_size {
            self.hashes.resize(new_size, 0);
            self.slots.resize(new_size, None);
        }
        let mut placed = vec![false; new_size.max(old_size)];
        for i in 0..old_size {
            let mut hash = self.hashes[i];
            if hash < 2 {
                self.hashes[i] = 0;
                continue;
            }
            if placed[i] {
                continue;
            }
            self.hashes[i] = 0;
            let mut slot = self.slots[i].take();
            loop {
                let mut j = self.bucket(hash);
                let mut step = 0u32;
                while placed[j as usize] {
                    step += 1;
                    j = j.wrapping_add(step) & self.mask();
                }
                let j = j as usize;
                placed[j] = true;
                let replaced = self.hashes[j];
                self.hashes[j] = hash;
                let evicted = std::mem::replace(&mut self.slots[j], slot);
                if replaced < 2 {
                    break;
                }
                hash = replaced;
                slot = evicted;
            }
        }
        if new_size < old_size {
            self.hashes.truncate(new_size);
            self.slots.truncate(new_size);
        }
        self.noccupied = self.nnodes;
    }
}

/// The order in which a `GHashTable` of strings, filled with `keys` in
/// order, iterates them: indexes into `keys`, a repeated key once (at its
/// last index, the value a `GVariantDict` keeps).
pub fn ghash_order(keys: &[&str]) -> Vec<usize> {
    let mut table = Table::new();
    for i in 0..keys.len() {
        table.insert(i, keys);
    }
    table.slots.iter().flatten().copied().collect()
}

/// Reorders `metadata` as `g_variant_dict_init` + `g_variant_dict_end` would:
/// entries inserted in their current order (a repeated key keeps its first
/// bucket and takes the later value), then listed in bucket order.
pub fn reorder(metadata: Metadata) -> Metadata {
    let entries: Vec<(String, zgvariant::OwnedVariant)> = metadata.into_entries();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let order = ghash_order(&keys);
    let mut entries: Vec<Option<(String, zgvariant::OwnedVariant)>> =
        entries.into_iter().map(Some).collect();
    let mut out = Metadata::new();
    for i in order {
        if let Some((k, v)) = entries[i].take() {
            out.push(k, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Metadata) -> Vec<&str> {
        m.iter().map(|(k, _)| k).collect()
    }

    fn dict(names: &[&str]) -> Metadata {
        let mut m = Metadata::new();
        for n in names {
            m.push(*n, crate::objects::metadata::owned(n.to_string()));
        }
        m
    }

    #[test]
    fn str_hash_matches_glib() {
        assert_eq!(str_hash(""), 5381);
        assert_eq!(str_hash("a"), 5381 * 33 + 97);
    }

    #[test]
    fn bootable_order_as_ostree_2022_7() {
        // Seen from `ostree commit -b a --bootable --add-metadata-string=foo=bar --add-metadata-string=version=1`.
        let m = dict(&[
            "foo",
            "version",
            "ostree.ref-binding",
            "ostree.bootable",
            "ostree.linux",
        ]);
        assert_eq!(
            keys(&reorder(m)),
            [
                "ostree.linux",
                "version",
                "ostree.bootable",
                "ostree.ref-binding",
                "foo"
            ]
        );
    }

    #[test]
    fn repeated_key_keeps_first_bucket_last_value() {
        let mut m = dict(&["a", "b"]);
        m.push("a", crate::objects::metadata::owned("second".to_string()));
        let r = reorder(m);
        assert_eq!(r.len(), 2);
        assert_eq!(r.get_str("a").as_deref(), Some("second"));
    }

    #[test]
    fn growing_keeps_every_key() {
        let names: Vec<String> = (0..40).map(|i| format!("key{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = reorder(dict(&refs));
        let mut got: Vec<&str> = keys(&r);
        got.sort();
        let mut want = refs.clone();
        want.sort();
        assert_eq!(got, want);
    }
}
