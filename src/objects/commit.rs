//! Commit objects: `(a{sv}aya(say)sstayay)` — metadata, parent checksum (empty
//! for none), related objects, subject, body, big-endian timestamp, root
//! dirtree and root dirmeta checksums. Tombstones are `a{sv}` whose `commit`
//! key holds the hex checksum as a bytestring.

use serde::Deserialize;
use serde_bytes::ByteBuf;
use zgvariant::Type;

use super::{decode, FormatError};
use crate::gvariant::{Array, Tuple};
use crate::objects::checksum::Checksum;
use crate::objects::metadata::Metadata;

#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    pub metadata: Metadata,
    pub parent: Option<Checksum>,
    pub related: Vec<(String, Checksum)>,
    pub subject: String,
    pub body: String,
    /// Seconds since the epoch, UTC.
    pub timestamp: u64,
    pub root_contents: Checksum,
    pub root_meta: Checksum,
}

#[derive(Deserialize, Type)]
struct Wire(
    Metadata,
    ByteBuf,
    Vec<(String, ByteBuf)>,
    String,
    String,
    u64,
    ByteBuf,
    ByteBuf,
);

fn csum(what: &'static str, b: &[u8]) -> Result<Checksum, FormatError> {
    Checksum::from_slice(b).map_err(|e| FormatError::malformed(what, e))
}

impl Commit {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut related = Array::new(false);
        for (name, c) in &self.related {
            let mut t = Tuple::new();
            t.str(name).bytes(c.as_bytes());
            related.push(&t.finish(), 1);
        }
        let parent: &[u8] = match &self.parent {
            Some(p) => p.as_bytes(),
            None => &[],
        };
        let mut t = Tuple::new();
        t.var(&self.metadata.to_bytes(), 8)
            .bytes(parent)
            .var(&related.finish(), 1)
            .str(&self.subject)
            .str(&self.body)
            .u64(self.timestamp.to_be())
            .bytes(self.root_contents.as_bytes())
            .bytes(self.root_meta.as_bytes());
        t.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let Wire(metadata, parent, related, subject, body, ts, root, meta) =
            decode("commit", bytes)?;
        let parent = if parent.is_empty() {
            None
        } else {
            Some(csum("commit", &parent)?)
        };
        let related = related
            .into_iter()
            .map(|(n, c)| Ok((n, csum("commit", &c)?)))
            .collect::<Result<_, FormatError>>()?;
        Ok(Commit {
            metadata,
            parent,
            related,
            subject,
            body,
            timestamp: u64::from_be(ts),
            root_contents: csum("commit", &root)?,
            root_meta: csum("commit", &meta)?,
        })
    }

    pub fn checksum(&self) -> Checksum {
        Checksum::digest(&self.to_bytes())
    }

    /// The `version` metadata string, if any.
    pub fn version(&self) -> Option<String> {
        self.metadata.get_str("version")
    }

    /// The checksum of the commit's content alone: SHA-256 over the root
    /// dirtree checksum bytes followed by the root dirmeta checksum bytes
    /// (`ostree_commit_get_content_checksum`). Two commits of the same tree
    /// share it whatever their metadata.
    pub fn content_checksum(&self) -> Checksum {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(self.root_contents.as_bytes());
        buf[32..].copy_from_slice(self.root_meta.as_bytes());
        Checksum::digest(&buf)
    }
}

/// A tombstone left where a commit was deleted (`.commit-tombstone`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tombstone {
    pub commit: Checksum,
}

impl Tombstone {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut m = Metadata::new();
        // A bytestring: the hex checksum with its NUL, as ostree writes it.
        let mut hex = self.commit.to_hex().into_bytes();
        hex.push(0);
        m.insert_bytes("commit", &hex);
        m.to_bytes()
    }
}
