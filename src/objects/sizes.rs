//! The `ostree.sizes` commit metadata (`--generate-sizes`): one `ay` entry
//! per object of the commit's tree — the 32 checksum bytes, the archived
//! (compressed, as stored in an archive repository) size and the unpacked
//! size as LEB128 varints, then the object type as one byte (older commits
//! omit it: a content object). Entries are sorted by checksum.
//! Upstream: `add_size_index_to_metadata` in `ostree-repo-commit.c`, read
//! by `ostree show --print-sizes` and pull's size reporting.

use super::varint::{read_varint, write_varint};
use super::FormatError;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};

/// The commit metadata key holding the entries (`aay`).
pub const SIZES_KEY: &str = "ostree.sizes";

/// One object's sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeEntry {
    pub name: ObjectName,
    /// Bytes as stored in an archive repository (a `.filez` for content).
    pub archived: u64,
    /// Bytes once unpacked: a file's content length, a symlink target's
    /// length, a metadata object's length.
    pub unpacked: u64,
}

impl SizeEntry {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.name.checksum.as_bytes().to_vec();
        write_varint(&mut out, self.archived);
        write_varint(&mut out, self.unpacked);
        out.push(self.name.objtype.to_u8());
        out
    }

    pub fn from_bytes(e: &[u8]) -> Result<Self, FormatError> {
        let bad = |d: String| FormatError::malformed("ostree.sizes entry", d);
        if e.len() < 34 {
            return Err(bad(format!("{} bytes, expected at least 34", e.len())));
        }
        let checksum = Checksum::from_slice(&e[..32]).map_err(|err| bad(err.to_string()))?;
        let mut pos = 32;
        let archived = read_varint(e, &mut pos).map_err(bad)?;
        let unpacked = read_varint(e, &mut pos).map_err(bad)?;
        let objtype = match e.get(pos) {
            None => ObjectType::File,
            Some(&t) => {
                ObjectType::from_u8(t).ok_or_else(|| bad(format!("unexpected object type {t}")))?
            }
        };
        Ok(SizeEntry {
            name: ObjectName::new(checksum, objtype),
            archived,
            unpacked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let c = Checksum::digest(b"x");
        let mut e = c.as_bytes().to_vec();
        e.extend_from_slice(&[0xac, 0x02, 0x05]);
        let old = SizeEntry::from_bytes(&e).unwrap();
        assert_eq!(
            old,
            SizeEntry {
                name: ObjectName::new(c, ObjectType::File),
                archived: 300,
                unpacked: 5
            }
        );
        e.push(ObjectType::DirTree.to_u8());
        let new = SizeEntry::from_bytes(&e).unwrap();
        assert_eq!(new.name.objtype, ObjectType::DirTree);
        assert_eq!(new.to_bytes(), e);
        assert!(SizeEntry::from_bytes(&e[..33]).is_err());
    }
}
