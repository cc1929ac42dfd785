//! A GVariant normal-form serialiser.
//!
//! Decoding uses `zgvariant`; encoding is done here because OSTree's
//! checksums depend on exact normal-form bytes, including the framing
//! offsets of containers whose members are all empty (the empty dirtree
//! `(a(say)a(sayay))` is the single byte `00`), which zgvariant 2.0 omits.
//! The rules are GLib's `gvariant-serialiser.c`: members aligned relative to
//! the container start, end offsets of variable-size members (all but the
//! last, for tuples) stored reversed at the end, offset width chosen from the
//! container's total size.

pub mod reader;
pub mod text;
pub mod vardict;

use zgvariant::{Signature, Variant};

/// Width in bytes of the framing offsets of a container with `body` bytes and `n` offsets.
fn offset_width(body: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    for w in [1usize, 2, 4] {
        if body + n * w < (1usize << (8 * w)) {
            return w;
        }
    }
    8
}

fn push_offsets(out: &mut Vec<u8>, offsets: impl Iterator<Item = usize>, w: usize) {
    for o in offsets {
        out.extend_from_slice(&o.to_le_bytes()[..w]);
    }
}

fn pad(out: &mut Vec<u8>, align: usize) {
    while out.len() % align != 0 {
        out.push(0);
    }
}

/// Builds a tuple (or dict entry) member by member.
#[derive(Default)]
pub struct Tuple {
    buf: Vec<u8>,
    ends: Vec<usize>,
    align: usize,
    fixed: bool,
}

impl Tuple {
    pub fn new() -> Self {
        Tuple {
            buf: Vec::new(),
            ends: Vec::new(),
            align: 1,
            fixed: true,
        }
    }

    /// Adds a member of a fixed-size type.
    pub fn fixed(&mut self, bytes: &[u8], align: usize) -> &mut Self {
        pad(&mut self.buf, align);
        self.align = self.align.max(align);
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Adds a member of a variable-size type; its end is framed unless it is the last.
    pub fn var(&mut self, bytes: &[u8], align: usize) -> &mut Self {
        pad(&mut self.buf, align);
        self.align = self.align.max(align);
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
        self.fixed = false;
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.fixed(&v.to_le_bytes(), 4)
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.fixed(&v.to_le_bytes(), 8)
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.var(&string(s), 1)
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.var(b, 1)
    }

    /// Finishes the tuple. The last member's end is implicit.
    pub fn finish(mut self) -> Vec<u8> {
        if self.fixed {
            if self.buf.is_empty() {
                return vec![0]; // the unit tuple is one zero byte
            }
            pad(&mut self.buf, self.align);
            return self.buf;
        }
        // The last member's end is implicit when it is variable-size (a fixed
        // member always moves the end past the last recorded offset).
        if self.ends.last() == Some(&self.buf.len()) {
            self.ends.pop();
        }
        let w = offset_width(self.buf.len(), self.ends.len());
        let ends = std::mem::take(&mut self.ends);
        push_offsets(&mut self.buf, ends.into_iter().rev(), w);
        self.buf
    }
}

/// Builds an array element by element.
pub struct Array {
    buf: Vec<u8>,
    ends: Vec<usize>,
    elem_fixed: bool,
}

impl Array {
    pub fn new(elem_fixed: bool) -> Self {
        Array {
            buf: Vec::new(),
            ends: Vec::new(),
            elem_fixed,
        }
    }

    pub fn push(&mut self, bytes: &[u8], align: usize) -> &mut Self {
        pad(&mut self.buf, align);
        self.buf.extend_from_slice(bytes);
        if !self.elem_fixed {
            self.ends.push(self.buf.len());
        }
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let w = offset_width(self.buf.len(), self.ends.len());
        let ends = std::mem::take(&mut self.ends);
        push_offsets(&mut self.buf, ends.into_iter(), w);
        self.buf
    }
}

/// A string: its bytes and a terminating NUL.
pub fn string(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

/// Serialises any `zgvariant` value in normal form.
pub fn encode_value(v: &Variant<'_>) -> Vec<u8> {
    match v {
        Variant::U8(x) => vec![*x],
        Variant::Bool(b) => vec![*b as u8],
        Variant::I16(x) => x.to_le_bytes().to_vec(),
        Variant::U16(x) => x.to_le_bytes().to_vec(),
        Variant::I32(x) => x.to_le_bytes().to_vec(),
        Variant::U32(x) => x.to_le_bytes().to_vec(),
        Variant::I64(x) => x.to_le_bytes().to_vec(),
        Variant::U64(x) => x.to_le_bytes().to_vec(),
        Variant::F64(x) => x.to_le_bytes().to_vec(),
        Variant::Str(s) => string(s.as_str()),
        Variant::ObjectPath(p) => string(p.as_str()),
        Variant::Signature(s) => string(&s.to_string_no_parens()),
        Variant::Variant(inner) => encode_boxed(inner),
        Variant::Array(a) => {
            let es = a.element_signature();
            let mut arr = Array::new(es.is_fixed_sized());
            for e in a.inner() {
                arr.push(&encode_value(e), es.alignment_gvariant());
            }
            arr.finish()
        }
        Variant::Dict(d) => {
            let (ks, vs) = match d.signature() {
                Signature::Dict { key, value } => {
                    (key.signature().clone(), value.signature().clone())
                }
                other => unreachable!("dict with signature {other}"),
            };
            let entry_fixed = ks.is_fixed_sized() && vs.is_fixed_sized();
            let entry_align = ks.alignment_gvariant().max(vs.alignment_gvariant());
            let mut arr = Array::new(entry_fixed);
            for (k, val) in d.iter() {
                let mut t = Tuple::new();
                member(&mut t, k, &ks);
                member(&mut t, val, &vs);
                arr.push(&t.finish(), entry_align);
            }
            arr.finish()
        }
        Variant::Structure(s) => {
            let mut t = Tuple::new();
            for f in s.fields() {
                member(&mut t, f, f.value_signature());
            }
            t.finish()
        }
        Variant::Maybe(m) => match m.inner() {
            None => Vec::new(),
            Some(inner) => {
                let mut out = encode_value(inner);
                if !inner.value_signature().is_fixed_sized() {
                    out.push(0);
                }
                out
            }
        },
    }
}

/// Serialises `inner` as the content of a `v`: the value, a NUL, its type string.
pub fn encode_boxed(inner: &Variant<'_>) -> Vec<u8> {
    let mut out = encode_value(inner);
    out.push(0);
    out.extend_from_slice(inner.value_signature().to_string().as_bytes());
    out
}

fn member(t: &mut Tuple, v: &Variant<'_>, sig: &Signature) {
    let bytes = encode_value(v);
    if sig.is_fixed_sized() {
        t.fixed(&bytes, sig.alignment_gvariant());
    } else {
        t.var(&bytes, sig.alignment_gvariant());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dirtree_is_one_zero_byte() {
        let mut t = Tuple::new();
        t.var(&Array::new(false).finish(), 8)
            .var(&Array::new(false).finish(), 8);
        assert_eq!(t.finish(), vec![0]);
    }

    #[test]
    fn matches_glib_examples() {
        // From the GVariant specification: ("foo", -1) as (si) and ["hi", "bye"] as as.
        let mut t = Tuple::new();
        t.str("foo").fixed(&(-1i32).to_le_bytes(), 4);
        assert_eq!(t.finish(), b"foo\0\xff\xff\xff\xff\x04".to_vec());
        let mut a = Array::new(false);
        a.push(&string("hi"), 1).push(&string("bye"), 1);
        assert_eq!(a.finish(), b"hi\0bye\0\x03\x07".to_vec());
    }
}
