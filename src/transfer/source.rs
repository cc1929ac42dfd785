//! Where a transfer's objects come from: [`ObjectSource`]. A repository on
//! this machine is one ([`Repo`], below: pull-local, and pull from a
//! `file://` remote that is no archive); an archive remote over HTTP or
//! `file://` is another ([`super::remote::RemoteRepo`]); a static delta is
//! one more way a remote's objects arrive ([`ObjectSource::delta_part`],
//! [`super::delta_source`]).
//!
//! A source hands out metadata objects as bytes and content objects in the
//! encoding it keeps them ([`Content`]: decoded, or an archive's `.filez`
//! stream); it checks nothing itself — [`super::verify`] does, for every
//! source alike.
//!
//! Upstream: `ostree-repo-pull.c` reads a local source through
//! `ostree_repo_load_variant`/`ostree_repo_load_file` and a remote one
//! through its fetcher (`ostree-fetcher-*.c`).

use std::fs::File;
use std::io::{self, BufReader, Read};

use super::error::{Result, TransferError};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::repo::content::ContentObject;
use crate::repo::{Repo, RepoError, RepoMode};

/// A content object as a source keeps it.
pub enum Content {
    /// Decoded: header, size and the file's bytes (bare repositories).
    Loose(ContentObject),
    /// As an archive stores and serves it: a `.filez` stream (header, then
    /// the deflated content).
    Filez(Box<dyn Read + Send>),
}

/// Where a transfer's objects come from.
pub trait ObjectSource: Sync {
    /// Where a missing commit was looked for, as errors say it.
    fn place(&self) -> &'static str;

    /// Appended to the error of a commit that carries no signature: how
    /// the check is turned off for this kind of source.
    fn gpg_hint(&self) -> &'static str {
        ""
    }

    /// A metadata object's bytes, unchecked; `None` if the source lacks it.
    fn metadata(&self, name: &ObjectName) -> Result<Option<Vec<u8>>>;

    /// The error for an object the source lacks.
    fn missing(&self, name: &ObjectName) -> TransferError;

    /// A metadata object's bytes; the source's error if it lacks it.
    fn metadata_required(&self, name: &ObjectName) -> Result<Vec<u8>> {
        self.metadata(name)?.ok_or_else(|| self.missing(name))
    }

    /// Opens a content object in the encoding the source keeps.
    fn content(&self, checksum: Checksum) -> Result<Content>;

    /// The error for reading object `name` failing part-way with `e`.
    fn read_error(&self, name: ObjectName, e: io::Error) -> TransferError;

    /// The repository, when the source is one on this machine: a sink may
    /// then hardlink or copy its files as they are.
    fn repo(&self) -> Option<&Repo> {
        None
    }

    /// How many objects to move at once from this source.
    fn workers(&self) -> usize;

    /// Part file `i` of static delta `name` (header `h`), checked at the
    /// size and SHA-256 the header gives. A source that serves no deltas
    /// says so (a plan only names deltas its source offered).
    fn delta_part(
        &self,
        name: crate::delta::DeltaName,
        i: usize,
        _h: &crate::delta::superblock::PartHeader,
    ) -> Result<Vec<u8>> {
        Err(TransferError::Delta {
            name,
            why: format!("part {i}: no static deltas served here"),
        })
    }

    /// Bytes received from the source so far (a network source).
    fn bytes_received(&self) -> u64 {
        0
    }
}

/// A repository on this machine as a source.
impl ObjectSource for Repo {
    fn place(&self) -> &'static str {
        "in the source repository"
    }

    fn metadata(&self, name: &ObjectName) -> Result<Option<Vec<u8>>> {
        match self.read_metadata(name) {
            Ok(b) => Ok(Some(b)),
            Err(RepoError::ObjectMissing(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn missing(&self, name: &ObjectName) -> TransferError {
        RepoError::ObjectMissing(*name).into()
    }

    fn content(&self, checksum: Checksum) -> Result<Content> {
        if self.mode() == RepoMode::Archive {
            // The file as stored, so the `.filez` is checked as a remote's is.
            let path = self.content_path(checksum);
            match File::open(&path) {
                Ok(f) => {
                    return Ok(Content::Filez(Box::new(BufReader::with_capacity(
                        64 * 1024,
                        f,
                    ))))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // maybe in core.parent
                Err(source) => return Err(RepoError::Io { path, source }.into()),
            }
        }
        Ok(Content::Loose(self.open_content(checksum)?))
    }

    fn read_error(&self, name: ObjectName, source: io::Error) -> TransferError {
        TransferError::SourceObject { name, source }
    }

    fn repo(&self) -> Option<&Repo> {
        Some(self)
    }

    /// Local copies are bound by compression and disk: one per core.
    fn workers(&self) -> usize {
        rayon::current_num_threads()
    }
}

/// The header of a content object, read from the source.
pub fn content_header(
    source: &dyn ObjectSource,
    checksum: Checksum,
) -> Result<crate::objects::FileHeader> {
    let name = ObjectName::new(checksum, ObjectType::File);
    match source.content(checksum)? {
        Content::Loose(obj) => Ok(obj.header),
        Content::Filez(mut r) => Ok(super::verify::read_archive_header(&mut r)
            .map_err(|source| TransferError::Format { name, source })?
            .header),
    }
}
