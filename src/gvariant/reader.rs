//! The one bounds-checked GVariant reader, for formats whose bytes come
//! from a server: the summary ([`crate::objects::summary`]), static-delta
//! superblocks and parts ([`crate::delta`]).
//!
//! Every framing offset is checked before it is used and malformed input is
//! an error, never a panic; offsets and sizes follow GLib's
//! `gvariant-serialiser.c` (the width of framing offsets from the container
//! size, alignment padding, the last variable-size member of a tuple
//! unframed). Only what those formats need is here: tuples, arrays of
//! fixed- or variable-size elements, strings, bytestrings, boxed `v`
//! values and `a{sv}` dictionaries in stored order. Writing uses
//! [`crate::gvariant`].

use std::fmt;

/// Why a serialized variant could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GvError(pub String);

impl fmt::Display for GvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GvError {}

pub type Result<T> = std::result::Result<T, GvError>;

fn err<T>(what: impl Into<String>) -> Result<T> {
    Err(GvError(what.into()))
}

/// The width of framing offsets in a container of `len` bytes (GLib's rule).
fn offset_size(len: usize) -> usize {
    if len > u32::MAX as usize {
        8
    } else if len > 0xffff {
        4
    } else if len > 0xff {
        2
    } else {
        1
    }
}

fn read_offset(data: &[u8], at: usize, w: usize) -> Result<usize> {
    let Some(b) = data.get(
        at..at
            .checked_add(w)
            .ok_or_else(|| GvError("offset overflow".into()))?,
    ) else {
        return err("framing offset out of range");
    };
    let mut v = [0u8; 8];
    v[..w].copy_from_slice(b);
    usize::try_from(u64::from_le_bytes(v)).map_err(|_| GvError("framing offset too large".into()))
}

fn align_up(pos: usize, align: usize) -> Result<usize> {
    debug_assert!(align.is_power_of_two());
    pos.checked_add(align - 1)
        .map(|p| p & !(align - 1))
        .ok_or_else(|| GvError("offset overflow".into()))
}

/// One member of a tuple type: its alignment and, if fixed, its size.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub align: usize,
    pub fixed: Option<usize>,
}

/// A variable-size member with the given alignment.
pub const fn var(align: usize) -> Member {
    Member { align, fixed: None }
}

/// A fixed-size member.
pub const fn fixed(align: usize, size: usize) -> Member {
    Member {
        align,
        fixed: Some(size),
    }
}

/// Splits a serialized tuple into its members' bytes.
pub fn tuple<'a>(data: &'a [u8], members: &[Member]) -> Result<Vec<&'a [u8]>> {
    let len = data.len();
    let last_var = members.last().is_some_and(|m| m.fixed.is_none());
    let n_framed = members.iter().filter(|m| m.fixed.is_none()).count() - usize::from(last_var);
    let w = offset_size(len);
    let body_end = len
        .checked_sub(w * n_framed)
        .ok_or_else(|| GvError("tuple too short for its framing offsets".into()))?;
    let mut out = Vec::with_capacity(members.len());
    let mut pos = 0usize;
    let mut k = 0usize;
    for (i, m) in members.iter().enumerate() {
        let start = align_up(pos, m.align)?;
        let end = match m.fixed {
            Some(sz) => start
                .checked_add(sz)
                .ok_or_else(|| GvError("offset overflow".into()))?,
            None if i + 1 == members.len() => body_end,
            None => {
                k += 1;
                read_offset(data, len - w * k, w)?
            }
        };
        if start > end || end > body_end {
            return err(format!(
                "tuple member {i} out of range ({start}..{end} of {body_end})"
            ));
        }
        out.push(&data[start..end]);
        pos = end;
    }
    Ok(out)
}

/// Splits an array of fixed-size elements.
pub fn fixed_array(data: &[u8], elem_size: usize) -> Result<Vec<&[u8]>> {
    if elem_size == 0 || data.len() % elem_size != 0 {
        return err(format!(
            "array length {} is not a multiple of {elem_size}",
            data.len()
        ));
    }
    Ok(data.chunks(elem_size).collect())
}

/// Splits an array of variable-size elements.
pub fn var_array(data: &[u8], align: usize) -> Result<Vec<&[u8]>> {
    let len = data.len();
    if len == 0 {
        return Ok(Vec::new());
    }
    let w = offset_size(len);
    if len < w {
        return err("array too short");
    }
    let last_end = read_offset(data, len - w, w)?;
    if last_end > len {
        return err("array framing offset out of range");
    }
    let offsets_len = len - last_end;
    if offsets_len % w != 0 || offsets_len == 0 {
        return err("array framing offsets misaligned");
    }
    let n = offsets_len / w;
    let mut out = Vec::with_capacity(n.min(1 << 20));
    let mut pos = 0usize;
    for i in 0..n {
        let end = read_offset(data, last_end + i * w, w)?;
        let start = align_up(pos, align)?;
        if start > end || end > last_end {
            return err(format!("array element {i} out of range"));
        }
        out.push(&data[start..end]);
        pos = end;
    }
    Ok(out)
}

/// A `s`: UTF-8 bytes with a single trailing NUL.
pub fn string(data: &[u8]) -> Result<&str> {
    let Some((&0, body)) = data.split_last() else {
        return err("string is not NUL-terminated");
    };
    if body.contains(&0) {
        return err("string contains NUL");
    }
    std::str::from_utf8(body).map_err(|_| GvError("string is not UTF-8".into()))
}

/// A `v`: the value's bytes and its type string.
pub fn variant(data: &[u8]) -> Result<(&[u8], &str)> {
    let Some(nul) = data.iter().rposition(|&b| b == 0) else {
        return err("variant has no type string");
    };
    let ty = std::str::from_utf8(&data[nul + 1..])
        .map_err(|_| GvError("variant type is not UTF-8".into()))?;
    if ty.is_empty() {
        return err("variant has an empty type string");
    }
    Ok((&data[..nul], ty))
}

/// An `a{sv}` as (key, value bytes, value type) triples.
pub fn vardict(data: &[u8]) -> Result<Vec<(&str, &[u8], &str)>> {
    var_array(data, 8)?
        .into_iter()
        .map(|entry| {
            let m = tuple(entry, &[var(1), var(8)])?;
            let key = string(m[0])?;
            let (v, ty) = variant(m[1])?;
            Ok((key, v, ty))
        })
        .collect()
}

pub fn u32_le(data: &[u8]) -> Result<u32> {
    data.try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| GvError("bad u32".into()))
}

pub fn u64_le(data: &[u8]) -> Result<u64> {
    data.try_into()
        .map(u64::from_le_bytes)
        .map_err(|_| GvError("bad u64".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gvariant::{Array, Tuple};

    #[test]
    fn reads_what_the_encoder_writes() {
        let mut t = Tuple::new();
        t.u32(7).bytes(b"abc").u64(9).u64(10).bytes(b"xyz");
        let b = t.finish();
        let m = tuple(&b, &[fixed(4, 4), var(1), fixed(8, 8), fixed(8, 8), var(1)]).unwrap();
        assert_eq!(u32_le(m[0]).unwrap(), 7);
        assert_eq!(m[1], b"abc");
        assert_eq!(u64_le(m[2]).unwrap(), 9);
        assert_eq!(m[4], b"xyz");

        let mut a = Array::new(false);
        a.push(&crate::gvariant::string("hi"), 1)
            .push(&crate::gvariant::string("bye"), 1);
        let b = a.finish();
        let v = var_array(&b, 1).unwrap();
        assert_eq!(string(v[0]).unwrap(), "hi");
        assert_eq!(string(v[1]).unwrap(), "bye");
    }

    #[test]
    fn garbage_is_an_error() {
        for data in [&b""[..], b"\xff", b"\x00\xff\xff", b"abc\x09"] {
            let _ = tuple(data, &[var(1), var(8), fixed(8, 8), var(1)]);
            let _ = var_array(data, 8);
            let _ = vardict(data);
        }
        assert!(var_array(b"\x05", 1).is_err());
        assert!(string(b"abc").is_err());
    }
}
