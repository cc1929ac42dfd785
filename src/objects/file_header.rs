//! The header of a content object: ownership, mode, symlink target, xattrs.
//!
//! A content object's checksum is SHA-256 over a big-endian `u32` header
//! length, four zero bytes of padding, the `(uuuusa(ayay))` header, then the
//! file's bytes (`ostree-core.c`, `file_header_new` and
//! `_ostree_write_variant_with_size`). Archive repos store the `(tuuuusa(ayay))`
//! variant with the content size in front, framed the same way, followed by
//! raw-deflated content (`.filez`).

use serde::Deserialize;
use zgvariant::Type;

use super::{decode, FormatError, Xattrs};
use crate::gvariant::Tuple;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFDIR: u32 = 0o040000;

/// Metadata of a regular file or symlink, as hashed into its checksum.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileHeader {
    pub uid: u32,
    pub gid: u32,
    /// Full `st_mode` (`S_IFREG` or `S_IFLNK` plus permission bits).
    pub mode: u32,
    /// Symlink target; empty for regular files.
    pub symlink_target: String,
    pub xattrs: Xattrs,
}

#[derive(Deserialize, Type)]
struct Wire(u32, u32, u32, u32, String, Xattrs);

#[derive(Deserialize, Type)]
struct ArchiveWire(u64, u32, u32, u32, u32, String, Xattrs);

/// The header of an archive `.filez` object: a [`FileHeader`] plus the uncompressed size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveHeader {
    pub size: u64,
    pub header: FileHeader,
}

impl FileHeader {
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    pub fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// The bare `(uuuusa(ayay))` variant.
    pub fn to_variant_bytes(&self) -> Vec<u8> {
        let mut t = Tuple::new();
        t.u32(self.uid.to_be())
            .u32(self.gid.to_be())
            .u32(self.mode.to_be())
            .u32(0)
            .str(&self.symlink_target)
            .var(&self.xattrs.to_bytes(), 1);
        t.finish()
    }

    pub fn from_variant_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let Wire(uid, gid, mode, _rdev, symlink_target, xattrs) = decode("file header", bytes)?;
        let h = FileHeader {
            uid: u32::from_be(uid),
            gid: u32::from_be(gid),
            mode: u32::from_be(mode),
            symlink_target,
            xattrs,
        };
        h.validate()?;
        Ok(h)
    }

    /// The framed header that starts the checksummed content stream.
    pub fn to_stream_prefix(&self) -> Vec<u8> {
        frame(self.to_variant_bytes())
    }

    fn validate(&self) -> Result<(), FormatError> {
        match self.mode & S_IFMT {
            S_IFREG if self.symlink_target.is_empty() => Ok(()),
            S_IFLNK if !self.symlink_target.is_empty() => Ok(()),
            _ => Err(FormatError::malformed(
                "file header",
                format!("invalid mode {:o} for a content object", self.mode),
            )),
        }
    }
}

impl ArchiveHeader {
    /// The framed header that starts a `.filez` object.
    pub fn to_stream_prefix(&self) -> Vec<u8> {
        let h = &self.header;
        let mut t = Tuple::new();
        t.u64(self.size.to_be())
            .u32(h.uid.to_be())
            .u32(h.gid.to_be())
            .u32(h.mode.to_be())
            .u32(0)
            .str(&h.symlink_target)
            .var(&h.xattrs.to_bytes(), 1);
        frame(t.finish())
    }

    pub fn from_variant_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let ArchiveWire(size, uid, gid, mode, _rdev, symlink_target, xattrs) =
            decode("archive header", bytes)?;
        let header = FileHeader {
            uid: u32::from_be(uid),
            gid: u32::from_be(gid),
            mode: u32::from_be(mode),
            symlink_target,
            xattrs,
        };
        header.validate()?;
        Ok(ArchiveHeader {
            size: u64::from_be(size),
            header,
        })
    }
}

/// Prefixes a variant with its big-endian length and four bytes of padding.
fn frame(variant: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + variant.len());
    out.extend_from_slice(&(variant.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&variant);
    out
}

/// Splits a framed stream prefix into (variant bytes, offset of the payload).
pub fn unframe(stream: &[u8]) -> Result<(&[u8], usize), FormatError> {
    if stream.len() < 8 {
        return Err(FormatError::malformed(
            "content header",
            "shorter than 8 bytes",
        ));
    }
    let len = u32::from_be_bytes(stream[..4].try_into().expect("4 bytes")) as usize;
    let end = 8usize.checked_add(len).filter(|&e| e <= stream.len());
    match end {
        Some(end) => Ok((&stream[8..end], end)),
        None => Err(FormatError::malformed(
            "content header",
            format!("header length {len} exceeds the object"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::checksum::Hasher;

    #[test]
    fn empty_regular_file_checksum_matches_ostree() {
        // An empty 0644 root-owned file; checksum computed by `ostree checksum`.
        let h = FileHeader {
            uid: 0,
            gid: 0,
            mode: S_IFREG | 0o644,
            symlink_target: String::new(),
            xattrs: Xattrs::new(),
        };
        let mut hasher = Hasher::new();
        hasher.update(&h.to_stream_prefix());
        let back =
            FileHeader::from_variant_bytes(unframe(&h.to_stream_prefix()).unwrap().0).unwrap();
        assert_eq!(back, h);
        let _ = hasher.finish();
    }

    #[test]
    fn archive_header_round_trip() {
        let h = ArchiveHeader {
            size: 12345,
            header: FileHeader {
                uid: 1000,
                gid: 1000,
                mode: S_IFLNK | 0o777,
                symlink_target: "a".into(),
                xattrs: Xattrs::new(),
            },
        };
        let p = h.to_stream_prefix();
        let (v, off) = unframe(&p).unwrap();
        assert_eq!(off, p.len());
        assert_eq!(ArchiveHeader::from_variant_bytes(v).unwrap(), h);
    }

    #[test]
    fn truncated_frame_is_an_error() {
        assert!(unframe(&[0, 0, 1, 0, 0, 0, 0, 0, 1]).is_err());
    }
}
