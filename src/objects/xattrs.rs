//! Extended attributes as OSTree stores them: `a(ayay)`, sorted by name,
//! each name a NUL-terminated bytestring (`ostree-core.c`, `canonicalize_xattrs`).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use zgvariant::Type;

/// A sorted list of extended attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Type)]
pub struct Xattrs(Vec<(ByteBuf, ByteBuf)>);

impl Xattrs {
    pub fn new() -> Self {
        Xattrs(Vec::new())
    }

    /// Builds the canonical form from `(name, value)` pairs; names without their NUL.
    pub fn from_pairs<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(pairs: I) -> Self {
        let mut v: Vec<(ByteBuf, ByteBuf)> = pairs
            .into_iter()
            .map(|(mut name, value)| {
                name.push(0);
                (ByteBuf::from(name), ByteBuf::from(value))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        Xattrs(v)
    }

    /// Keeps the given order and empty values (xattrs from tar pax headers,
    /// which ostree stores as libarchive hands them over).
    pub fn from_ordered_pairs<I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>>(pairs: I) -> Self {
        Xattrs(
            pairs
                .into_iter()
                .map(|(mut name, value)| {
                    name.push(0);
                    (ByteBuf::from(name), ByteBuf::from(value))
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(name, value)` pairs, names without their trailing NUL.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.0.iter().map(|(n, v)| {
            let n: &[u8] = n;
            (n.strip_suffix(&[0]).unwrap_or(n), v.as_slice())
        })
    }

    /// The `a(ayay)` encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut arr = crate::gvariant::Array::new(false);
        for (n, v) in &self.0 {
            let mut t = crate::gvariant::Tuple::new();
            t.bytes(n).bytes(v);
            arr.push(&t.finish(), 1);
        }
        arr.finish()
    }

    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}
