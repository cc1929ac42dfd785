//! Ordered `a{sv}` dictionaries: commit metadata, detached metadata
//! (`.commitmeta`), tombstones and summary metadata.
//!
//! OSTree builds these with `GVariantBuilder`, so key order is insertion
//! order and must be kept to reproduce checksums; a map type would reorder.

use serde::{Deserialize, Serialize};
use zgvariant::{OwnedVariant, Type, Variant};

use crate::objects::FormatError;

/// An ordered list of `(key, value)` pairs encoded as `a{sv}`.
#[derive(Debug, Default, Serialize, Deserialize, Type)]
pub struct Metadata(Vec<(String, OwnedVariant)>);

impl Clone for Metadata {
    fn clone(&self) -> Self {
        Metadata(
            self.0
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.try_clone()
                            .expect("metadata values hold no file descriptors"),
                    )
                })
                .collect(),
        )
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.0 == b.0 && *a.1 == *b.1)
    }
}

/// Wraps any value as an owned variant.
pub fn owned<'a>(v: impl Into<Variant<'a>>) -> OwnedVariant {
    OwnedVariant::try_from(v.into()).expect("plain values convert to owned variants")
}

impl Metadata {
    pub fn new() -> Self {
        Metadata(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Appends a pair; like `g_variant_builder_add`, an existing key is not replaced.
    pub fn push(&mut self, key: impl Into<String>, value: OwnedVariant) {
        self.0.push((key.into(), value));
    }

    /// Sets a key, replacing the first existing value in place or appending.
    pub fn insert(&mut self, key: impl Into<String>, value: OwnedVariant) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn insert_str(&mut self, key: impl Into<String>, value: &str) {
        self.insert(key, owned(value.to_string()));
    }

    pub fn insert_bytes(&mut self, key: impl Into<String>, value: &[u8]) {
        self.insert(key, owned(value.to_vec()));
    }

    pub fn remove(&mut self, key: &str) -> Option<OwnedVariant> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    pub fn get(&self, key: &str) -> Option<&OwnedVariant> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match &**self.get(key)? {
            Variant::Str(s) => Some(s.as_str().to_string()),
            _ => None,
        }
    }

    /// The value of `key` if it is a byte array (`ay`).
    pub fn get_bytes(&self, key: &str) -> Option<Vec<u8>> {
        match &**self.get(key)? {
            Variant::Array(a) if a.element_signature().to_string() == "y" => a
                .inner()
                .iter()
                .map(|e| {
                    if let Variant::U8(b) = e {
                        Some(*b)
                    } else {
                        None
                    }
                })
                .collect(),
            _ => None,
        }
    }

    /// The value of `key` if it is a list of byte arrays (`aay`), as `ostree.gpgsigs`.
    pub fn get_bytes_list(&self, key: &str) -> Option<Vec<Vec<u8>>> {
        match &**self.get(key)? {
            Variant::Array(a) => a
                .inner()
                .iter()
                .map(|e| match e {
                    Variant::Array(inner) => inner
                        .inner()
                        .iter()
                        .map(|b| {
                            if let Variant::U8(b) = b {
                                Some(*b)
                            } else {
                                None
                            }
                        })
                        .collect(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// The pairs, in order.
    pub fn into_entries(self) -> Vec<(String, OwnedVariant)> {
        self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Variant<'static>)> {
        self.0.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut arr = crate::gvariant::Array::new(false);
        for (k, v) in &self.0 {
            let mut t = crate::gvariant::Tuple::new();
            t.str(k).var(&crate::gvariant::encode_boxed(v), 8);
            arr.push(&t.finish(), 8);
        }
        arr.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.is_empty() {
            return Ok(Metadata::new());
        }
        crate::objects::decode("metadata", bytes)
    }
}
