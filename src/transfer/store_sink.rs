//! A publish target in object storage ([`super::store::Store`]) as a sink of
//! the transfer engine ([`super::engine::store_objects`]): the engine
//! orders, pools, counts and interrupts the uploads; this module says how
//! one object goes up and tallies what went up, by kind.
//!
//! Every object is a create-only write ([`Store::put_new`]) under its
//! archive path ([`super::remote::object_rel`]), as clients fetch it:
//! content as a `.filez` — an archive source's stored bytes as they are, a
//! bare or bare-user source's compressed on the way with the encoder every
//! archive write uses ([`crate::repo::content::write_archive`]); metadata as
//! its bytes; `.commitmeta` rewritten whole ([`Store::put`]: not named by
//! its content). An object the target holds already is success, counted as
//! present. Bodies over [`MULTIPART_THRESHOLD`] are spooled to a temporary
//! file and go up in parts. The target has no partial markers and nothing
//! to sync; what it holds already is what the publish plan found its refs
//! reaching. Refs, the summary and deltas are the publish's
//! ([`crate::lifecycle::publish`]), tallied here too.
//!
//! Upstream has no publisher (ostree leaves publishing to `rsync`); the
//! object layout is `ostree-repo.c`'s for an archive repository.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::error::Result;
use super::remote::object_rel;
use super::sink::{How, ObjectSink, Put};
use super::source::{Content, ObjectSource};
use super::store::{Payload, Store, StoreError, MULTIPART_THRESHOLD};
use super::verify::{self, Checks};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::repo::content::write_archive;

/// Objects and bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindCount {
    pub objects: u64,
    pub bytes: u64,
}

/// A publish target as the engine's sink; also the tally of everything a
/// publish uploads.
pub struct StoreSink<'a> {
    store: &'a Store,
    /// Objects the target holds already.
    known: &'a HashSet<ObjectName>,
    /// Where large bodies are spooled.
    spool: PathBuf,
    jobs: usize,
    uploaded: Mutex<BTreeMap<&'static str, KindCount>>,
    present: AtomicU64,
}

impl<'a> StoreSink<'a> {
    /// Uploads to `store` with `jobs` in flight; `known` is what the target
    /// holds already; large bodies are spooled in `spool`.
    pub fn new(
        store: &'a Store,
        known: &'a HashSet<ObjectName>,
        spool: &Path,
        jobs: usize,
    ) -> Self {
        StoreSink {
            store,
            known,
            spool: spool.to_path_buf(),
            jobs,
            uploaded: Mutex::new(BTreeMap::new()),
            present: AtomicU64::new(0),
        }
    }

    pub fn store(&self) -> &Store {
        self.store
    }

    /// Counts one upload of `kind`.
    pub fn record(&self, kind: &'static str, bytes: u64) {
        let mut k = self.uploaded.lock().expect("no panics holding the tally");
        let e = k.entry(kind).or_default();
        e.objects += 1;
        e.bytes += bytes;
    }

    /// Writes an immutable key unless it exists; true when uploaded.
    pub fn put_new(
        &self,
        kind: &'static str,
        key: &str,
        payload: Payload,
    ) -> Result<bool, StoreError> {
        let n = payload.len();
        let created = self.store.put_new(key, payload)?;
        if created {
            self.record(kind, n);
        } else {
            self.present.fetch_add(1, Ordering::Relaxed);
        }
        Ok(created)
    }

    /// Overwrites `key` whatever it holds.
    pub fn put(&self, kind: &'static str, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let n = bytes.len() as u64;
        self.store.put(key, bytes)?;
        self.record(kind, n);
        Ok(())
    }

    /// Uploaded by kind, and how many immutable objects were there already.
    pub fn into_tally(self) -> (BTreeMap<&'static str, KindCount>, u64) {
        let uploaded = self
            .uploaded
            .into_inner()
            .expect("no panics holding the tally");
        (uploaded, self.present.into_inner())
    }

    fn put_object(&self, name: &ObjectName, payload: Payload) -> Result<Put> {
        let n = payload.len();
        let created = self.put_new(kind(name.objtype), &object_rel(name), payload)?;
        Ok(Put {
            how: How::Copied,
            bytes: if created { n } else { 0 },
            size: 0,
        })
    }
}

/// The kind an object is tallied as.
fn kind(t: ObjectType) -> &'static str {
    match t {
        ObjectType::File => "content",
        ObjectType::DirTree => "dirtree",
        ObjectType::DirMeta => "dirmeta",
        ObjectType::Commit => "commit",
        ObjectType::TombstoneCommit => "tombstone",
        ObjectType::CommitMeta => "commitmeta",
    }
}

impl ObjectSink for StoreSink<'_> {
    fn has(&self, name: &ObjectName) -> bool {
        self.known.contains(name)
    }

    fn put_metadata(
        &self,
        source: &dyn ObjectSource,
        name: &ObjectName,
        bytes: Option<&[u8]>,
        checks: &Checks,
    ) -> Result<Put> {
        let bytes = match bytes {
            Some(b) => b.to_vec(),
            None => verify::source_metadata(source, name, checks)?,
        };
        self.put_object(name, Payload::Bytes(bytes))
    }

    fn put_content(
        &self,
        source: &dyn ObjectSource,
        checksum: Checksum,
        checks: &Checks,
    ) -> Result<Put> {
        let name = ObjectName::new(checksum, ObjectType::File);
        verify::source_content(source, checksum, checks)?;
        let mut body = Spill {
            dir: &self.spool,
            body: Body::Bytes(Vec::new()),
        };
        match source.content(checksum)? {
            Content::Filez(mut r) => {
                io::copy(&mut r, &mut body).map_err(|e| source.read_error(name, e))?;
            }
            Content::Loose(obj) => {
                let (level, at) = match source.repo() {
                    Some(r) => (r.zlib_level(), r.object_path(&name)),
                    None => (6, PathBuf::from(object_rel(&name))),
                };
                write_archive(obj, level, &mut body, &at)?;
            }
        }
        let payload = body.into_payload().map_err(|source| StoreError::Io {
            path: self.spool.clone(),
            source,
        })?;
        self.put_object(&name, payload)
    }

    fn put_detached(&self, commit: Checksum, meta: &Metadata) -> Result<()> {
        let name = ObjectName::new(commit, ObjectType::CommitMeta);
        Ok(self.put(kind(name.objtype), &object_rel(&name), meta.to_bytes())?)
    }

    /// A target has no partial markers: a commit is there once its refs name it.
    fn set_partial(&self, _commit: Checksum, _partial: bool) -> Result<()> {
        Ok(())
    }

    /// Every upload is complete when its request returns.
    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn workers(&self) -> Option<usize> {
        Some(self.jobs)
    }

    fn children_first(&self) -> bool {
        true
    }
}

/// A body held in memory until it grows past [`MULTIPART_THRESHOLD`], then
/// spooled to a temporary file in `dir`.
struct Spill<'d> {
    dir: &'d Path,
    body: Body,
}

enum Body {
    Bytes(Vec<u8>),
    File(File, u64),
}

impl Spill<'_> {
    fn into_payload(self) -> io::Result<Payload> {
        Ok(match self.body {
            Body::Bytes(b) => Payload::Bytes(b),
            Body::File(mut file, len) => {
                file.flush()?;
                Payload::File { file, len }
            }
        })
    }
}

impl Write for Spill<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Body::Bytes(b) = &mut self.body {
            if (b.len() + buf.len()) as u64 <= MULTIPART_THRESHOLD {
                b.extend_from_slice(buf);
                return Ok(buf.len());
            }
            let mut file = tempfile::tempfile_in(self.dir)?;
            file.write_all(b)?;
            let len = b.len() as u64;
            self.body = Body::File(file, len);
        }
        let Body::File(file, len) = &mut self.body else {
            unreachable!("spilled above")
        };
        file.write_all(buf)?;
        *len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
