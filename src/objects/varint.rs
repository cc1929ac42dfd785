//! LEB128 unsigned varints (`_ostree_write_varuint64`,
//! `_ostree_read_varuint64` in `ostree-varint.c`), used by static-delta
//! operations and the `ostree.sizes` commit metadata.

/// Appends a LEB128 varint (`_ostree_write_varuint64`).
pub fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a LEB128 varint of at most 10 bytes (`_ostree_read_varuint64`).
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut result = 0u64;
    for count in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err("Unexpected EOF reading varint".into());
        };
        *pos += 1;
        result |= ((b & 0x7f) as u64).checked_shl(7 * count).unwrap_or(0);
        if b & 0x80 == 0 {
            return Ok(result);
        }
    }
    Err("Unexpected EOF reading varint".into())
}
