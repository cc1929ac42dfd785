//! The delta superblock: `(a{sv}tayay(commit)aya(uayttay)a(yaytt))`.
//!
//! Members, in order (`OSTREE_STATIC_DELTA_SUPERBLOCK_FORMAT` in
//! `ostree-repo-static-delta-private.h`):
//! 1. metadata `a{sv}`: `ostree.endianness` (`y`, `'l'` or `'B'`), inline
//!    parts under their relative path (`(yay)`), the TO commit's detached
//!    metadata under `deltas/…/commitmeta` (`a{sv}`);
//! 2. timestamp `t`, **big-endian**;
//! 3. FROM checksum `ay` (empty for a scratch delta), 4. TO checksum `ay`;
//! 5. the TO commit object itself;
//! 6. "parent deltas" `ay` (always empty);
//! 7. part headers `a(uayttay)`: version, part checksum (SHA-256 of the part
//!    file), compressed size, uncompressed size, and the objects the part
//!    writes as 33-byte (objtype, checksum) records;
//! 8. fallbacks `a(yaytt)`: objtype, checksum, compressed and uncompressed
//!    size — objects the client fetches individually.
//!
//! The part/fallback integers are in the byte order the `ostree.endianness`
//! key names (grove writes little-endian, like ostree on x86). A superblock
//! may be wrapped in the signed form `(taya{sv})` starting with the magic
//! `OSTSGNDT`; that wrapper is unwrapped on reading.

use crate::gvariant::reader::{self as gv, fixed, var, Member};
use crate::gvariant::{Array, Tuple};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};

/// The superblock's members, `(a{sv} t ay ay COMMIT ay a(uayttay) a(yaytt))`: metadata,
/// timestamp, from, to, commit, dependencies, parts, fallbacks.
pub(crate) const SUPERBLOCK: [Member; 8] = [
    var(8),
    fixed(8, 8),
    var(1),
    var(1),
    var(8),
    var(1),
    var(8),
    var(8),
];

/// One entry of the superblock's part list, `(uayttay)`.
pub(crate) const PART_ENTRY: [Member; 5] = [fixed(4, 4), var(1), fixed(8, 8), fixed(8, 8), var(1)];

/// One entry of the superblock's fallback list, `(yaytt)`.
pub(crate) const FALLBACK_ENTRY: [Member; 4] = [fixed(1, 1), var(1), fixed(8, 8), fixed(8, 8)];

/// The part format version grove writes and accepts (`OSTREE_DELTAPART_VERSION`).
pub const DELTAPART_VERSION: u32 = 0;
/// The big-endian magic of a signed superblock (`OSTSGNDT`).
pub const SIGNED_MAGIC: u64 = 0x4F53_5453_474E_4454;

/// A superblock metadata value: its serialized bytes and GVariant type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaValue {
    pub bytes: Vec<u8>,
    pub ty: String,
}

/// One part's entry in the superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartHeader {
    pub version: u32,
    /// SHA-256 of the part file (compression byte + payload).
    pub checksum: Checksum,
    /// Size of the part file.
    pub size: u64,
    /// Total size of the objects the part writes.
    pub uncompressed_size: u64,
    pub objects: Vec<ObjectName>,
}

/// An object the client fetches on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub object: ObjectName,
    pub size: u64,
    pub uncompressed_size: u64,
}

/// Whether the part sizes were little- or big-endian, and whether that was guessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endianness {
    Little,
    Big,
    Invalid,
}

/// A parsed superblock.
#[derive(Clone, Debug, PartialEq)]
pub struct Superblock {
    pub metadata: Vec<(String, MetaValue)>,
    /// Seconds since the epoch (stored big-endian).
    pub timestamp: u64,
    pub from: Option<Checksum>,
    pub to: Checksum,
    /// The serialized TO commit object.
    pub commit: Vec<u8>,
    pub parts: Vec<PartHeader>,
    pub fallbacks: Vec<Fallback>,
    /// Whether the file was a signed wrapper.
    pub signed: bool,
    /// The byte order of the part and fallback integers, and whether it was a heuristic guess.
    pub endianness: (Endianness, bool),
}

fn object_records(objects: &[ObjectName]) -> Vec<u8> {
    let mut v = Vec::with_capacity(objects.len() * 33);
    for o in objects {
        v.push(o.objtype.to_u8());
        v.extend_from_slice(o.checksum.as_bytes());
    }
    v
}

/// Parses the 33-byte (objtype, checksum) records of a part header.
pub fn parse_object_records(b: &[u8]) -> Result<Vec<ObjectName>, String> {
    if b.len() % 33 != 0 {
        return Err(format!("Invalid checksum array length {}", b.len()));
    }
    b.chunks(33)
        .map(|r| {
            let t =
                ObjectType::from_u8(r[0]).ok_or_else(|| format!("Invalid object type {}", r[0]))?;
            let c = Checksum::from_slice(&r[1..]).map_err(|e| e.to_string())?;
            Ok(ObjectName::new(c, t))
        })
        .collect()
}

impl Superblock {
    /// Looks up a metadata value of the given type.
    pub fn meta(&self, key: &str, ty: &str) -> Option<&[u8]> {
        self.metadata
            .iter()
            .find(|(k, v)| k == key && v.ty == ty)
            .map(|(_, v)| v.bytes.as_slice())
    }

    /// Serializes in normal form (never signed), the part and fallback
    /// integers in the byte order of [`Superblock::endianness`] (which the
    /// `ostree.endianness` metadata must name).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut meta = Array::new(false);
        for (k, v) in &self.metadata {
            let mut boxed = v.bytes.clone();
            boxed.push(0);
            boxed.extend_from_slice(v.ty.as_bytes());
            let mut e = Tuple::new();
            e.str(k).var(&boxed, 8);
            meta.push(&e.finish(), 8);
        }
        // The part and fallback integers go in the byte order `endianness`
        // names (big-endian ones are byte-swapped little-endian GVariant).
        let swap = self.endianness.0 == Endianness::Big;
        let s32 = |v: u32| if swap { v.swap_bytes() } else { v };
        let s64 = |v: u64| if swap { v.swap_bytes() } else { v };
        let mut parts = Array::new(false);
        for p in &self.parts {
            let mut t = Tuple::new();
            t.u32(s32(p.version))
                .bytes(p.checksum.as_bytes())
                .u64(s64(p.size))
                .u64(s64(p.uncompressed_size))
                .bytes(&object_records(&p.objects));
            parts.push(&t.finish(), 8);
        }
        let mut fallbacks = Array::new(false);
        for f in &self.fallbacks {
            let mut t = Tuple::new();
            t.fixed(&[f.object.objtype.to_u8()], 1)
                .bytes(f.object.checksum.as_bytes())
                .u64(s64(f.size))
                .u64(s64(f.uncompressed_size));
            fallbacks.push(&t.finish(), 8);
        }
        let mut t = Tuple::new();
        t.var(&meta.finish(), 8)
            .fixed(&self.timestamp.to_be_bytes(), 8)
            .bytes(self.from.as_ref().map(|c| &c.as_bytes()[..]).unwrap_or(&[]))
            .bytes(self.to.as_bytes())
            .var(&self.commit, 8)
            .bytes(&[])
            .var(&parts.finish(), 8)
            .var(&fallbacks.finish(), 8);
        t.finish()
    }

    /// Parses a superblock file (plain or signed). Every offset is checked.
    pub fn from_bytes(data: &[u8]) -> Result<Superblock, String> {
        let (data, signed) = unwrap_signed(data)?;
        let m = gv::tuple(data, &SUPERBLOCK).map_err(|e| e.to_string())?;
        let mut metadata = Vec::new();
        for (k, v, ty) in gv::vardict(m[0]).map_err(|e| format!("metadata: {e}"))? {
            metadata.push((
                k.to_string(),
                MetaValue {
                    bytes: v.to_vec(),
                    ty: ty.to_string(),
                },
            ));
        }
        let timestamp =
            u64::from_be_bytes(m[1].try_into().map_err(|_| "bad timestamp".to_string())?);
        let from = match m[2].len() {
            0 => None,
            _ => Some(Checksum::from_slice(m[2]).map_err(|e| format!("from checksum: {e}"))?),
        };
        let to = Checksum::from_slice(m[3]).map_err(|e| format!("to checksum: {e}"))?;
        let commit = m[4].to_vec();
        let mut sb = Superblock {
            metadata,
            timestamp,
            from,
            to,
            commit,
            parts: Vec::new(),
            fallbacks: Vec::new(),
            signed,
            endianness: (Endianness::Little, false),
        };
        let raw_parts = gv::var_array(m[6], 8).map_err(|e| format!("part headers: {e}"))?;
        let raw_fallbacks = gv::var_array(m[7], 8).map_err(|e| format!("fallbacks: {e}"))?;
        let mut parts = Vec::with_capacity(raw_parts.len());
        for (i, p) in raw_parts.into_iter().enumerate() {
            let f = gv::tuple(p, &PART_ENTRY).map_err(|e| format!("part header {i}: {e}"))?;
            let checksum =
                Checksum::from_slice(f[1]).map_err(|e| format!("part header {i}: {e}"))?;
            let objects =
                parse_object_records(f[4]).map_err(|e| format!("part header {i}: {e}"))?;
            parts.push((
                gv::u32_le(f[0]).map_err(|e| e.to_string())?,
                checksum,
                gv::u64_le(f[2]).map_err(|e| e.to_string())?,
                gv::u64_le(f[3]).map_err(|e| e.to_string())?,
                objects,
            ));
        }
        let mut fallbacks = Vec::new();
        for (i, fb) in raw_fallbacks.into_iter().enumerate() {
            let f = gv::tuple(fb, &FALLBACK_ENTRY).map_err(|e| format!("fallback {i}: {e}"))?;
            let objtype = ObjectType::from_u8(f[0][0])
                .ok_or_else(|| format!("fallback {i}: invalid object type {}", f[0][0]))?;
            let checksum = Checksum::from_slice(f[1]).map_err(|e| format!("fallback {i}: {e}"))?;
            fallbacks.push((
                ObjectName::new(checksum, objtype),
                gv::u64_le(f[2]).map_err(|e| e.to_string())?,
                gv::u64_le(f[3]).map_err(|e| e.to_string())?,
            ));
        }
        // Byte order of the part integers (`_ostree_delta_get_endianness`).
        let endianness = match sb.meta("ostree.endianness", "y") {
            Some([b'l']) => (Endianness::Little, false),
            Some([b'B']) => (Endianness::Big, false),
            Some(_) => (Endianness::Invalid, false),
            None => {
                let mut swapped = false;
                let (mut total, mut nobj) = (0u64, 0u64);
                for (_, _, size, usize_, objs) in &parts {
                    total = total.saturating_add(*size);
                    nobj += objs.len() as u64;
                    if size > usize_ && (*size as f64) / (*usize_ as f64) > 1.2 {
                        swapped = true;
                        break;
                    }
                }
                if !swapped && nobj > 0 && total / nobj > u32::MAX as u64 {
                    swapped = true;
                }
                (
                    if swapped {
                        Endianness::Big
                    } else {
                        Endianness::Invalid
                    },
                    true,
                )
            }
        };
        let swap = endianness.0 == Endianness::Big;
        let s32 = |v: u32| if swap { v.swap_bytes() } else { v };
        let s64 = |v: u64| if swap { v.swap_bytes() } else { v };
        sb.parts = parts
            .into_iter()
            .map(|(version, checksum, size, us, objects)| PartHeader {
                version: s32(version),
                checksum,
                size: s64(size),
                uncompressed_size: s64(us),
                objects,
            })
            .collect();
        sb.fallbacks = fallbacks
            .into_iter()
            .map(|(object, size, us)| Fallback {
                object,
                size: s64(size),
                uncompressed_size: s64(us),
            })
            .collect();
        sb.endianness = endianness;
        Ok(sb)
    }
}

/// Returns the plain superblock inside a signed wrapper, or the data itself.
fn unwrap_signed(data: &[u8]) -> Result<(&[u8], bool), String> {
    if data.len() >= 8 && u64::from_be_bytes(data[..8].try_into().expect("8 bytes")) == SIGNED_MAGIC
    {
        let m = gv::tuple(data, &[fixed(8, 8), var(1), var(8)])
            .map_err(|e| format!("signed superblock: {e}"))?;
        return Ok((m[1], true));
    }
    Ok((data, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Checksum::digest(b"x");
        let sb = Superblock {
            metadata: vec![(
                "ostree.endianness".into(),
                MetaValue {
                    bytes: vec![b'l'],
                    ty: "y".into(),
                },
            )],
            timestamp: 1_700_000_000,
            from: Some(Checksum::digest(b"a")),
            to: c,
            commit: b"commit-bytes-here".to_vec(),
            parts: vec![PartHeader {
                version: 0,
                checksum: c,
                size: 123,
                uncompressed_size: 456,
                objects: vec![ObjectName::new(c, ObjectType::File)],
            }],
            fallbacks: vec![Fallback {
                object: ObjectName::new(c, ObjectType::File),
                size: 1,
                uncompressed_size: 2,
            }],
            signed: false,
            endianness: (Endianness::Little, false),
        };
        let b = sb.to_bytes();
        assert_eq!(Superblock::from_bytes(&b).unwrap(), sb);
        for n in 0..b.len() {
            let _ = Superblock::from_bytes(&b[..n]);
        }
    }
}
