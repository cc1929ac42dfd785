//! Where a transfer's objects go: [`ObjectSink`]. A local repository is one
//! ([`Repo`], below); a publish target in object storage is another
//! ([`super::store_sink::StoreSink`]).
//!
//! A sink stores one object at a time and says how ([`Put`]): hardlinked
//! from a local source's file, copied as the source keeps it (an archive's
//! `.filez` as served, metadata bytes), or converted (decompressed into a
//! bare repository, compressed into an archive). An object it holds
//! already is success. Every object is checked on the way in as
//! [`Checks`] asks ([`super::verify`]); nothing half-written is ever
//! visible under `objects/` (temp file, then link into place). Partial
//! markers and the sync are the sink's too, so the engine
//! ([`super::engine::store_objects`]) only orders them.
//!
//! Upstream: `ostree-repo-pull.c` (`content_fetch_on_complete`,
//! `ostree_repo_write_content_async`, `ostree_repo_write_metadata_async`),
//! the hardlink fast path of `ostree-repo-commit.c`
//! (`import_one_object_link`, `import_via_reflink_is_possible`).

use std::io::{self, Read, Write};
use std::path::Path;

use super::error::{Result, TransferError};
use super::source::{Content, ObjectSource};
use super::verify::{self, Checks, ContentCheck, Tee};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::FormatError;
use crate::repo::content::Known;
use crate::repo::{Repo, RepoError, RepoMode};

/// How an object was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Hardlinked from a local source's file.
    Linked,
    /// Stored as the source keeps it.
    Copied,
    /// Decoded or re-encoded for the sink's mode.
    Converted,
}

/// What storing one object did.
#[derive(Clone, Copy, Debug)]
pub struct Put {
    pub how: How,
    /// Bytes written to the sink (none for a hardlink).
    pub bytes: u64,
    /// The content's size (a file's length), where it was read.
    pub size: u64,
}

impl Put {
    const LINKED: Put = Put {
        how: How::Linked,
        bytes: 0,
        size: 0,
    };
}

/// Where a transfer's objects go.
pub trait ObjectSink: Sync {
    fn has(&self, name: &ObjectName) -> bool;

    /// Stores a metadata object: `bytes` when the plan holds them (fetched
    /// and checked already), else read from `source` and checked here.
    fn put_metadata(
        &self,
        source: &dyn ObjectSource,
        name: &ObjectName,
        bytes: Option<&[u8]>,
        checks: &Checks,
    ) -> Result<Put>;

    /// Stores a content object read from `source`, checked as `checks` asks.
    /// Callers ask only for objects [`has`](Self::has) found missing; one
    /// that appeared since is success, left as it is.
    fn put_content(
        &self,
        source: &dyn ObjectSource,
        checksum: Checksum,
        checks: &Checks,
    ) -> Result<Put>;

    /// Stores a commit's detached metadata (signatures).
    fn put_detached(&self, commit: Checksum, meta: &Metadata) -> Result<()>;

    /// Marks a commit partial (its tree not all there) or complete.
    fn set_partial(&self, commit: Checksum, partial: bool) -> Result<()>;

    /// Makes every object stored so far durable.
    fn sync(&self) -> Result<()>;

    /// The repository on this machine the sink is, if it is one: where a
    /// static delta reads the files of its FROM commit, and where the
    /// engine checks what a delta left missing.
    fn local(&self) -> Option<&Repo> {
        None
    }

    /// How many objects to store at once; `None`: as many as the source
    /// serves at once ([`ObjectSource::workers`]).
    fn workers(&self) -> Option<usize> {
        None
    }

    /// Whether each dirtree must land only after the dirtrees it names: a
    /// publish target, where clients may fetch the moment an object exists.
    /// A repository's partial-commit marker and refs already keep half a
    /// tree from use, so there the engine stores all dirtrees at once and
    /// spares reading each a second time to order them.
    fn children_first(&self) -> bool {
        false
    }
}

impl ObjectSink for Repo {
    fn has(&self, name: &ObjectName) -> bool {
        self.has_object(name)
    }

    fn local(&self) -> Option<&Repo> {
        Some(self)
    }

    fn put_metadata(
        &self,
        source: &dyn ObjectSource,
        name: &ObjectName,
        bytes: Option<&[u8]>,
        checks: &Checks,
    ) -> Result<Put> {
        let read;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                read = verify::source_metadata(source, name, checks)?;
                // The same bytes in every mode: hardlinked when possible, as ostree does.
                if let Some(src) = source.repo() {
                    if name.objtype != ObjectType::CommitMeta && self.link_object_from(src, name)? {
                        return Ok(Put::LINKED);
                    }
                }
                &read
            }
        };
        self.write_metadata_as(*name, bytes)?;
        Ok(Put {
            how: How::Copied,
            bytes: bytes.len() as u64,
            size: 0,
        })
    }

    fn put_content(
        &self,
        source: &dyn ObjectSource,
        checksum: Checksum,
        checks: &Checks,
    ) -> Result<Put> {
        let name = ObjectName::new(checksum, ObjectType::File);
        if let Some(src) = source.repo() {
            if checks.bareuseronly_files {
                let header = super::source::content_header(source, checksum)?;
                verify::bareuseronly_mode(checks, checksum, header.mode)?;
            }
            verify::source_content(source, checksum, checks)?;
            if let Some(put) = self.put_stored(src, &name)? {
                return Ok(put);
            }
        }
        self.write_content_from(source, name, checks)
    }

    fn put_detached(&self, commit: Checksum, meta: &Metadata) -> Result<()> {
        Ok(self.write_detached_metadata(commit, Some(meta))?)
    }

    fn set_partial(&self, commit: Checksum, partial: bool) -> Result<()> {
        Ok(Repo::set_partial(self, commit, partial, false)?)
    }

    fn sync(&self) -> Result<()> {
        Ok(Repo::sync(self)?)
    }
}

impl Repo {
    /// A local source's content file, hardlinked or copied as it is when
    /// both repositories store content the same way; `None` when it must
    /// be converted.
    fn put_stored(&self, src: &Repo, name: &ObjectName) -> Result<Option<Put>> {
        // A bare-user regular file is a plain file with its own mode: ostree
        // links it into bare-user-only too (not a symlink, which bare-user
        // keeps as a file).
        if src.mode() == RepoMode::BareUser
            && self.mode() == RepoMode::BareUserOnly
            && !src.open_content(name.checksum)?.header.is_symlink()
            && self.link_object_from(src, name)?
        {
            return Ok(Some(Put::LINKED));
        }
        if src.mode() != self.mode() {
            return Ok(None);
        }
        if self.link_object_from(src, name)? {
            return Ok(Some(Put::LINKED));
        }
        if self.mode() != RepoMode::Archive {
            return Ok(None);
        }
        let from = src.object_path(name);
        // Another filesystem: archive bytes are copied unchanged, never recompressed.
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RepoError::Io { path, source }
        };
        let mut tmp = self.temp_file_with_mode(0o644)?;
        let mut f = src.open_loose(name).map_err(io_err(&from))?;
        let n = io::copy(&mut f, tmp.as_file_mut()).map_err(io_err(&from))?;
        self.place_object(tmp, name)?;
        Ok(Some(Put {
            how: How::Copied,
            bytes: n,
            size: 0,
        }))
    }

    /// Writes a content object as the source hands it: a `.filez` into an
    /// archive repository as served (hashed on the way unless trusted),
    /// anything else decoded into the store, which hashes it again unless
    /// the source is trusted.
    fn write_content_from(
        &self,
        source: &dyn ObjectSource,
        name: ObjectName,
        checks: &Checks,
    ) -> Result<Put> {
        let checksum = name.checksum;
        let format = |source: FormatError| TransferError::Format { name, source };
        let content = if self.mode() == RepoMode::Archive {
            source.content(checksum)?
        } else {
            source.content_to_decode(checksum)?
        };
        let (header, size, mut reader): (_, u64, Box<dyn Read + Send>) = match content {
            Content::Filez(body) if self.mode() == RepoMode::Archive => {
                return self.store_filez(source, name, body, checks)
            }
            Content::Filez(mut body) => {
                let ah = verify::read_archive_header(&mut body).map_err(format)?;
                let size = if ah.header.is_regular() { ah.size } else { 0 };
                let reader = Box::new(verify::filez_body(&ah, body));
                (ah.header, size, reader)
            }
            Content::Loose(obj) => (obj.header, obj.size, obj.reader),
        };
        verify::bareuseronly_mode(checks, checksum, header.mode)?;
        // The engine and the delta applier ask only for objects they found
        // missing: no second presence check here.
        let known = match checks.content {
            ContentCheck::Never => Known::Trust(checksum),
            ContentCheck::Always | ContentCheck::WhenDecoded => Known::Verify(checksum),
        };
        self.write_missing_content(known, &header, size, &mut reader)
            .map_err(|e| match e {
                RepoError::Corrupted { name, actual } => TransferError::Corrupted { name, actual },
                RepoError::ContentRead { source: e } => source.read_error(name, e),
                RepoError::Io { source: e, .. } if e.kind() == io::ErrorKind::UnexpectedEof => {
                    format(FormatError::malformed("compressed content", e))
                }
                e => e.into(),
            })?;
        Ok(Put {
            how: How::Converted,
            bytes: size,
            size,
        })
    }

    /// Keeps a `.filez` as served; its header is read and its content
    /// hashed on the way (unless [`ContentCheck::Always`] is off).
    fn store_filez(
        &self,
        source: &dyn ObjectSource,
        name: ObjectName,
        body: Box<dyn Read + Send>,
        checks: &Checks,
    ) -> Result<Put> {
        let checksum = name.checksum;
        let mut tmp = self.temp_file_with_mode(0o644)?;
        let tpath = tmp.path().to_path_buf();
        let io_err = |source| RepoError::Io {
            path: tpath.clone(),
            source,
        };
        let (n, size) = {
            let mut w = io::BufWriter::with_capacity(128 * 1024, tmp.as_file_mut());
            let mut tee = Tee {
                inner: body,
                out: &mut w,
                err: None,
                count: 0,
            };
            let step = (|| -> Result<u64> {
                let ah = verify::read_archive_header(&mut tee)
                    .map_err(|source| TransferError::Format { name, source })?;
                verify::bareuseronly_mode(checks, checksum, ah.header.mode)?;
                if checks.content == ContentCheck::Always {
                    let actual = verify::hash_filez_body(&ah, &mut tee)
                        .map_err(|e| source.read_error(name, e))?;
                    if actual != checksum {
                        return Err(TransferError::Corrupted { name, actual });
                    }
                }
                io::copy(&mut tee, &mut io::sink()).map_err(|e| source.read_error(name, e))?;
                Ok(ah.size)
            })();
            if let Some(e) = tee.err.take() {
                return Err(io_err(e).into());
            }
            let size = step?;
            let n = tee.count;
            w.flush().map_err(io_err)?;
            (n, size)
        };
        self.place_object(tmp, &name)?;
        Ok(Put {
            how: How::Copied,
            bytes: n,
            size,
        })
    }
}
