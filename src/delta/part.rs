//! Delta parts: the compressed payload `(a(uuu)aa(ayay)ayay)` and its program.
//!
//! A part file is one compression byte — `0` (none) or `'x'` (a complete
//! `.xz` stream, CRC64) — followed by the payload
//! (`OSTREE_STATIC_DELTA_PART_PAYLOAD_FORMAT_V0`):
//! - `a(uuu)` modes: (uid, gid, mode), each **big-endian**;
//! - `aa(ayay)` xattr sets;
//! - `ay` raw data: object bytes, bsdiff patches, source checksums;
//! - `ay` operations: one opcode byte each, arguments as LEB128 varints.
//!
//! Opcodes (`OstreeStaticDeltaOpCode`, semantics from
//! `ostree-repo-static-delta-processing.c`):
//! - `S` open-splice-and-close: next object; metadata takes (length, offset),
//!   content takes (mode index, xattr index, length, offset) — the bytes of a
//!   regular file or a symlink's target;
//! - `o` open: next object (content), (mode index, xattr index, size);
//! - `w` write: (length, offset) from the read source if one is set, else
//!   from the raw data;
//! - `r` set-read-source: (offset) of a 32-byte checksum in the raw data,
//!   naming a content object the client already has;
//! - `R` unset-read-source;
//! - `c` close: finish the open object, move to the next;
//! - `B` bspatch: (offset, length) of a raw bsdiff patch applied to the read source.
//!
//! Content bytes in parts are uncompressed (the whole part is compressed);
//! the file header is rebuilt from the mode and xattr tables.

use std::io::{Read, Write};

use crate::gvariant::reader::{self as gv, fixed, var};
use crate::gvariant::{Array, Tuple};
pub use crate::objects::varint::{read_varint, write_varint};

pub const OP_OPEN_SPLICE_AND_CLOSE: u8 = b'S';
pub const OP_OPEN: u8 = b'o';
pub const OP_WRITE: u8 = b'w';
pub const OP_SET_READ_SOURCE: u8 = b'r';
pub const OP_UNSET_READ_SOURCE: u8 = b'R';
pub const OP_CLOSE: u8 = b'c';
pub const OP_BSPATCH: u8 = b'B';

/// The largest payload grove will decompress (a guard against xz bombs).
pub const MAX_PAYLOAD: u64 = 4 << 30;
/// The most memory the xz decoder may use. liblzma allocates the whole
/// dictionary a stream declares before decoding anything, and a 100-byte
/// part can declare 4 GiB; `xz -9` needs 65 MiB, ostree writes preset 8
/// (33 MiB).
pub const XZ_MEMLIMIT: u64 = 256 << 20;

/// How a part is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
}

/// A decoded part payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// (uid, gid, mode) in host order.
    pub modes: Vec<(u32, u32, u32)>,
    /// Serialized `a(ayay)` xattr sets.
    pub xattrs: Vec<Vec<u8>>,
    pub raw: Vec<u8>,
    pub ops: Vec<u8>,
}

impl Payload {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut modes = Array::new(true);
        for &(u, g, m) in &self.modes {
            let mut t = Tuple::new();
            t.u32(u.to_be()).u32(g.to_be()).u32(m.to_be());
            modes.push(&t.finish(), 4);
        }
        let mut xattrs = Array::new(false);
        for x in &self.xattrs {
            xattrs.push(x, 1);
        }
        let mut t = Tuple::new();
        t.var(&modes.finish(), 4)
            .var(&xattrs.finish(), 1)
            .bytes(&self.raw)
            .bytes(&self.ops);
        t.finish()
    }

    pub fn from_bytes(data: &[u8]) -> Result<Payload, String> {
        let m = gv::tuple(data, &[var(4), var(1), var(1), var(1)]).map_err(|e| e.to_string())?;
        let modes = gv::fixed_array(m[0], 12)
            .map_err(|e| format!("modes: {e}"))?
            .into_iter()
            .map(|r| {
                let f = gv::tuple(r, &[fixed(4, 4), fixed(4, 4), fixed(4, 4)])
                    .map_err(|e| e.to_string())?;
                let be = |b: &[u8]| gv::u32_le(b).map(u32::from_be).map_err(|e| e.to_string());
                Ok((be(f[0])?, be(f[1])?, be(f[2])?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let xattrs = gv::var_array(m[1], 1)
            .map_err(|e| format!("xattrs: {e}"))?
            .into_iter()
            .map(|x| x.to_vec())
            .collect();
        Ok(Payload {
            modes,
            xattrs,
            raw: m[2].to_vec(),
            ops: m[3].to_vec(),
        })
    }
}

/// The dictionary size of xz preset 8 (32 MiB).
const XZ_PRESET8_DICT: u32 = 32 << 20;

/// Compresses a payload into a part file (compression byte + data).
pub fn encode_part(payload: &[u8], compression: Compression) -> std::io::Result<Vec<u8>> {
    match compression {
        Compression::None => {
            let mut v = Vec::with_capacity(payload.len() + 1);
            v.push(0);
            v.extend_from_slice(payload);
            Ok(v)
        }
        Compression::Xz => {
            let mut out = vec![b'x'];
            // ostree's preset 8, with the dictionary cut down to the payload
            // (as `xz` does for a file of known size): the same output, but
            // without allocating and faulting in a 32 MiB dictionary's match
            // finder for every small part.
            let mut opts =
                liblzma::stream::LzmaOptions::new_preset(8).map_err(std::io::Error::other)?;
            let fit = (payload.len() as u64)
                .next_power_of_two()
                .clamp(4096, XZ_PRESET8_DICT as u64) as u32;
            opts.dict_size(fit);
            let mut filters = liblzma::stream::Filters::new();
            filters.lzma2(&opts);
            let stream = liblzma::stream::Stream::new_stream_encoder(
                &filters,
                liblzma::stream::Check::Crc64,
            )
            .map_err(std::io::Error::other)?;
            let mut enc = liblzma::write::XzEncoder::new_stream(&mut out, stream);
            enc.write_all(payload)?;
            enc.finish()?;
            Ok(out)
        }
    }
}

/// Decompresses a part file into its payload bytes.
pub fn decode_part(part: &[u8]) -> Result<Vec<u8>, String> {
    let Some((&kind, rest)) = part.split_first() else {
        return Err("Reading initial compression flag byte: empty part".into());
    };
    match kind {
        0 => Ok(rest.to_vec()),
        b'x' => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
                .map_err(|e| e.to_string())?;
            let dec = liblzma::read::XzDecoder::new_stream(rest, stream);
            let mut out = Vec::new();
            dec.take(MAX_PAYLOAD + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("decompressing: {e}"))?;
            if out.len() as u64 > MAX_PAYLOAD {
                return Err("decompressed part too large".into());
            }
            Ok(out)
        }
        other => Err(format!("Invalid compression type '{other}'")),
    }
}

/// One decoded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Metadata object from `raw[offset..offset+len]`.
    SpliceMeta {
        len: u64,
        offset: u64,
    },
    /// Content object: file bytes or symlink target from `raw[offset..offset+len]`.
    SpliceContent {
        mode: u64,
        xattr: u64,
        len: u64,
        offset: u64,
    },
    Open {
        mode: u64,
        xattr: u64,
        size: u64,
    },
    Write {
        len: u64,
        offset: u64,
    },
    SetReadSource {
        offset: u64,
    },
    UnsetReadSource,
    Close,
    Bspatch {
        offset: u64,
        len: u64,
    },
}

impl Op {
    /// The index of the op in `show`'s counters (S o w r R c B).
    pub fn counter(&self) -> usize {
        match self {
            Op::SpliceMeta { .. } | Op::SpliceContent { .. } => 0,
            Op::Open { .. } => 1,
            Op::Write { .. } => 2,
            Op::SetReadSource { .. } => 3,
            Op::UnsetReadSource => 4,
            Op::Close => 5,
            Op::Bspatch { .. } => 6,
        }
    }
}

/// Decodes an op stream. Whether `S` takes two or four arguments depends on
/// the type of the object it opens, so the part's object types are needed.
pub fn parse_ops(ops: &[u8], objects_are_meta: &[bool]) -> Result<Vec<Op>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut index = 0usize;
    while pos < ops.len() {
        let at = out.len();
        let code = ops[pos];
        pos += 1;
        let mut v = || read_varint(ops, &mut pos);
        let op = match code {
            OP_OPEN_SPLICE_AND_CLOSE => {
                let Some(&meta) = objects_are_meta.get(index) else {
                    return Err(format!(
                        "opcode open-splice-and-close at {at}: no object left to write"
                    ));
                };
                index += 1;
                if meta {
                    Op::SpliceMeta {
                        len: v()?,
                        offset: v()?,
                    }
                } else {
                    Op::SpliceContent {
                        mode: v()?,
                        xattr: v()?,
                        len: v()?,
                        offset: v()?,
                    }
                }
            }
            OP_OPEN => Op::Open {
                mode: v()?,
                xattr: v()?,
                size: v()?,
            },
            OP_WRITE => Op::Write {
                len: v()?,
                offset: v()?,
            },
            OP_SET_READ_SOURCE => Op::SetReadSource { offset: v()? },
            OP_UNSET_READ_SOURCE => Op::UnsetReadSource,
            OP_CLOSE => {
                index += 1;
                Op::Close
            }
            OP_BSPATCH => Op::Bspatch {
                offset: v()?,
                len: v()?,
            },
            other => return Err(format!("Unknown opcode {other} at offset {at}")),
        };
        out.push(op);
    }
    Ok(out)
}

/// Counts ops per kind (S o w r R c B), as `static-delta show` prints them.
pub fn count_ops(ops: &[Op]) -> [usize; 7] {
    let mut n = [0usize; 7];
    for op in ops {
        n[op.counter()] += 1;
    }
    n
}

/// Checks that `offset..offset+len` lies within a buffer of `size` bytes.
pub fn check_range(offset: u64, len: u64, size: usize) -> Result<std::ops::Range<usize>, String> {
    match offset.checked_add(len) {
        Some(end) if end <= size as u64 => Ok(offset as usize..end as usize),
        _ => Err(format!("Invalid offset/length {offset}/{len}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for n in [0u64, 1, 127, 128, 300, 1 << 32, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, n);
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos).unwrap(), n);
            assert_eq!(pos, b.len());
        }
        assert!(read_varint(&[0x80, 0x80], &mut 0).is_err());
    }

    #[test]
    fn payload_round_trip_both_compressions() {
        let p = Payload {
            modes: vec![(0, 0, 0o100644), (1000, 1000, 0o120777)],
            xattrs: vec![Vec::new(), b"ab".to_vec()],
            raw: b"hello".to_vec(),
            ops: vec![b'S', 0, 0, 5, 0],
        };
        let bytes = p.to_bytes();
        assert_eq!(Payload::from_bytes(&bytes).unwrap(), p);
        for c in [Compression::None, Compression::Xz] {
            let part = encode_part(&bytes, c).unwrap();
            assert_eq!(decode_part(&part).unwrap(), bytes);
        }
        let ops = parse_ops(&p.ops, &[false]).unwrap();
        assert_eq!(
            ops,
            vec![Op::SpliceContent {
                mode: 0,
                xattr: 0,
                len: 5,
                offset: 0
            }]
        );
        assert!(parse_ops(&p.ops, &[]).is_err());
        assert!(parse_ops(b"Z", &[]).is_err());
        assert!(check_range(u64::MAX, 2, 10).is_err());
    }
}
