//! Where a transfer's objects come from: [`ObjectSource`]. A repository on
//! this machine is one ([`Repo`], below: pull-local, and pull from a
//! `file://` remote that is no archive); an archive remote over HTTP or
//! `file://` is another ([`super::remote::RemoteRepo`]). A static delta is
//! one more way a source's objects arrive: a source says which deltas it
//! offers ([`ObjectSource::delta_offers`]) and serves their superblocks and
//! parts ([`ObjectSource::delta_superblock`], [`ObjectSource::delta_part`]),
//! each checked as [`crate::delta::fetch`] says; [`super::delta_source`]
//! runs them into the sink. A repository on this machine offers the deltas
//! its summary and delta indexes advertise, read from its `deltas/`.
//!
//! A source hands out metadata objects as bytes and content objects in the
//! encoding it keeps them ([`Content`]: decoded, or an archive's `.filez`
//! stream); it checks nothing itself — [`super::verify`] does, for every
//! source alike.
//!
//! Upstream: `ostree-repo-pull.c` reads a local source through
//! `ostree_repo_load_variant`/`ostree_repo_load_file` and a remote one
//! through its fetcher (`ostree-fetcher-*.c`).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::error::{Result, TransferError};
use crate::delta::fetch::{Fetched, Offer};
use crate::delta::superblock::PartHeader;
use crate::delta::DeltaName;
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

    /// [`content`](Self::content) for a caller that decodes a `.filez`
    /// and checks its length ([`super::verify::filez_body`]): a source may
    /// then spare the read that only finds the end
    /// ([`super::verify::EndsAtShortRead`]). Never for one that keeps the
    /// `.filez` as it is.
    fn content_to_decode(&self, checksum: Checksum) -> Result<Content> {
        self.content(checksum)
    }

    /// The error for reading object `name` failing part-way with `e`.
    fn read_error(&self, name: ObjectName, e: io::Error) -> TransferError;

    /// The repository, when the source is one on this machine: a sink may
    /// then hardlink or copy its files as they are.
    fn repo(&self) -> Option<&Repo> {
        None
    }

    /// How many objects to move at once from this source.
    fn workers(&self) -> usize;

    /// The static deltas to `to` the source offers; none by default.
    fn delta_offers(&self, _to: Checksum) -> Result<Vec<Offer>> {
        Ok(Vec::new())
    }

    /// The superblock of a delta the source offers, checked against the
    /// offer ([`crate::delta::fetch::accept_superblock`]). A source that
    /// serves no deltas says so (a plan only names deltas its source offered).
    fn delta_superblock(&self, offer: Offer) -> Result<Fetched> {
        Err(TransferError::Delta {
            name: offer.name,
            why: "no static deltas served here".into(),
        })
    }

    /// Part file `i` of static delta `name` (header `h`), checked at the
    /// size and SHA-256 the header gives ([`crate::delta::fetch::check_part`]).
    fn delta_part(&self, name: DeltaName, i: usize, _h: &PartHeader) -> Result<Vec<u8>> {
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
        repo_content(self, checksum, false)
    }

    fn content_to_decode(&self, checksum: Checksum) -> Result<Content> {
        repo_content(self, checksum, true)
    }

    fn read_error(&self, name: ObjectName, source: io::Error) -> TransferError {
        TransferError::SourceObject { name, source }
    }

    fn repo(&self) -> Option<&Repo> {
        Some(self)
    }

    /// Those its summary and its delta index for `to` advertise
    /// ([`crate::delta::advertised_to`]; a delta only on disk is not
    /// offered). No digest: the superblock is read as stored, as the
    /// source's objects are, and checked for the commit it carries.
    fn delta_offers(&self, to: Checksum) -> Result<Vec<Offer>> {
        Ok(crate::delta::advertised_to(self, to)
            .into_iter()
            .map(|name| Offer { name, digest: None })
            .collect())
    }

    fn delta_superblock(&self, offer: Offer) -> Result<Fetched> {
        let path = self.path().join(offer.name.superblock_path());
        let bytes =
            fs::read(&path).map_err(|e| delta_file_error(offer.name, "superblock", &path, e))?;
        crate::delta::fetch::accept_superblock(offer, bytes)
    }

    fn delta_part(&self, name: DeltaName, i: usize, h: &PartHeader) -> Result<Vec<u8>> {
        let path = self.path().join(name.part_path(i));
        let what = format!("part {i}");
        let io_error = |e| delta_file_error(name, &what, &path, e);
        let file = File::open(&path).map_err(io_error)?;
        let mut data = Vec::with_capacity(h.size.min(64 << 20) as usize);
        file.take(h.size.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(io_error)?;
        crate::delta::fetch::check_part(name, i, h, &data)?;
        Ok(data)
    }

    /// Local copies are bound by compression and disk: one per core.
    fn workers(&self) -> usize {
        rayon::current_num_threads()
    }
}

/// Reading file `what` of delta `name` at `path` failed: a missing file is
/// the delta's fault, anything else the repository's.
fn delta_file_error(name: DeltaName, what: &str, path: &Path, source: io::Error) -> TransferError {
    match source.kind() {
        io::ErrorKind::NotFound => TransferError::Delta {
            name,
            why: format!("no {what} at {}", path.display()),
        },
        _ => RepoError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into(),
    }
}

/// A repository's content object: the `.filez` as stored in an archive
/// (checked as a remote's is), read to its end only when `decoded` does
/// not check its length; else the decoded object.
fn repo_content(repo: &Repo, checksum: Checksum, decoded: bool) -> Result<Content> {
    if repo.mode() == RepoMode::Archive {
        match repo.open_loose(&ObjectName::new(checksum, ObjectType::File)) {
            Ok(f) => {
                let r: Box<dyn Read + Send> = if decoded {
                    Box::new(super::verify::EndsAtShortRead::new(f))
                } else {
                    Box::new(BufReader::with_capacity(64 * 1024, f))
                };
                return Ok(Content::Filez(r));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // maybe in core.parent
            Err(source) => {
                let path = repo.content_path(checksum);
                return Err(RepoError::Io { path, source }.into());
            }
        }
    }
    Ok(Content::Loose(repo.open_content(checksum)?))
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
