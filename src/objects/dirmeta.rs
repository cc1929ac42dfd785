//! Directory metadata objects: `(uuua(ayay))` — uid, gid, mode (big-endian), xattrs.

use serde::{Deserialize, Serialize};
use zgvariant::Type;

use super::{decode, FormatError, Xattrs};
use crate::gvariant::Tuple;
use crate::objects::checksum::Checksum;

/// The ownership, mode and xattrs of a directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DirMeta {
    pub uid: u32,
    pub gid: u32,
    /// Full `st_mode`, including `S_IFDIR`.
    pub mode: u32,
    pub xattrs: Xattrs,
}

#[derive(Serialize, Deserialize, Type)]
struct Wire(u32, u32, u32, Xattrs);

impl DirMeta {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut t = Tuple::new();
        t.u32(self.uid.to_be())
            .u32(self.gid.to_be())
            .u32(self.mode.to_be())
            .var(&self.xattrs.to_bytes(), 1);
        t.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let Wire(uid, gid, mode, xattrs) = decode("dirmeta", bytes)?;
        Ok(DirMeta {
            uid: u32::from_be(uid),
            gid: u32::from_be(gid),
            mode: u32::from_be(mode),
            xattrs,
        })
    }

    pub fn checksum(&self) -> Checksum {
        Checksum::digest(&self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_big_endian() {
        let m = DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o40755,
            xattrs: Xattrs::new(),
        };
        let b = m.to_bytes();
        assert_eq!(&b[8..12], &0o40755u32.to_be_bytes());
        assert_eq!(DirMeta::from_bytes(&b).unwrap(), m);
    }
}
