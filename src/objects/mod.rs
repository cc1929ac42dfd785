//! The GVariant-encoded objects of an OSTree repository.
//!
//! Owns the byte layout of commit, dirtree, dirmeta and commitmeta objects
//! and of the content-object file header, as `ostree-core.h` defines them
//! (`OSTREE_COMMIT_GVARIANT_FORMAT`, `OSTREE_TREE_GVARIANT_FORMAT`,
//! `OSTREE_DIRMETA_GVARIANT_FORMAT`, `OSTREE_FILE_HEADER_GVARIANT_FORMAT`).
//! Integers that OSTree stores big-endian inside the little-endian GVariant
//! (uid, gid, mode, timestamps) are converted here, so callers see native values.

pub mod checksum;
mod commit;
mod dirmeta;
mod dirtree;
pub mod file_header;
pub mod metadata;
pub mod sizes;
pub mod summary;
pub mod text;
pub mod varint;
mod xattrs;

pub use checksum::{Checksum, LooseRel, ObjectName, ObjectType};
pub use commit::{Commit, Tombstone};
pub use dirmeta::DirMeta;
pub use dirtree::{DirTree, DirTreeDir, DirTreeFile};
pub use file_header::{ArchiveHeader, FileHeader};
pub use metadata::Metadata;
pub use xattrs::Xattrs;

use serde::de::DeserializeOwned;
use zgvariant::serialized::{Context, Data};
use zgvariant::{Type, LE};

/// An object's bytes that do not decode as the expected GVariant.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// A dirtree entry name that is not one path component.
    #[error("{0}")]
    Filename(String),
}

impl FormatError {
    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        FormatError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

/// Deserialises GVariant bytes, rejecting anything that is not exactly one value of `T`.
pub(crate) fn decode<T: DeserializeOwned + Type>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, FormatError> {
    let data = Data::new(bytes, Context::new(LE, 0));
    let (value, used): (T, usize) = data
        .deserialize()
        .map_err(|e| FormatError::malformed(what, e))?;
    if used != bytes.len() && !bytes.is_empty() {
        // Fixed-size trailing framing is legal only when consumed; anything else is junk.
        return Err(FormatError::malformed(
            what,
            format!("{} trailing bytes", bytes.len() - used),
        ));
    }
    Ok(value)
}
