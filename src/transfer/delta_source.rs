//! Static deltas as one more way a transfer's objects arrive: the objects a
//! delta part rebuilds ([`crate::delta::apply::execute_part_with`]) land in
//! the engine's [`ObjectSink`] with the checks every loose object gets
//! ([`super::verify`]): a metadata object must hash to its name, a content
//! object is handed to the sink as a decoded source object (hashed again as
//! it is written, its mode checked for a bare-user-only sink).
//!
//! [`DeltaSink`] is the executor's store ([`ObjectStore`]) made of a sink
//! and the repository holding the FROM commit (where `bspatch` and `write`
//! read their sources).
//!
//! [`apply`] is the engine's deltas phase for one [`PlannedDelta`], for
//! `pull` and `pull-local` alike: the plan chose it
//! ([`crate::delta::fetch::choose_deltas`]) and read its superblock
//! through the source ([`ObjectSource::delta_superblock`]: a remote's over
//! HTTP, a local repository's from its `deltas/`). The parts whose objects
//! the sink lacks are read from the source on [`super::pool`] (each at the
//! size and SHA-256 its superblock header gives,
//! [`ObjectSource::delta_part`]; inline parts are covered by the
//! superblock's digest), executed, and every object they list required in
//! the sink afterwards. Its FROM commit is in the sink, or is the TO of a
//! delta the same phase applied before it. The delta's fallback objects
//! and anything else the TO commit still lacks are the engine's to fetch
//! loose afterwards.
//!
//! Upstream: `ostree-repo-static-delta-processing.c`
//! (`dispatch_close`, `dispatch_splice_object`: objects written through
//! `ostree_repo_write_content` / `ostree_repo_write_metadata` with their
//! expected checksum).

use std::io::{self, Cursor, Read};
use std::sync::Mutex;

use super::engine::PlannedDelta;
use super::error::{Result, TransferError};
use super::pool;
use super::sink::ObjectSink;
use super::source::{Content, ObjectSource};
use super::verify::{self, Checks, ContentCheck};
use crate::delta::apply::{execute_part_with, ExecError, ObjectStore};
use crate::delta::superblock::DELTAPART_VERSION;
use crate::delta::{part, DeltaError};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::FileHeader;
use crate::progress::Counter;
use crate::repo::content::ContentObject;
use crate::repo::{Repo, RepoError};

/// The executor's store over an engine sink: objects go into `sink`,
/// checked as loose objects are; read sources come from `sources` (the
/// repository that holds the FROM commit, usually the sink itself).
pub struct DeltaSink<'a> {
    sink: &'a dyn ObjectSink,
    sources: &'a Repo,
    checks: Checks,
}

impl<'a> DeltaSink<'a> {
    /// A store into `sink` reading sources from `sources`. Whatever `checks`
    /// says about the source, rebuilt objects are always hashed: a delta is
    /// assembled here, never stored as served.
    pub fn new(sink: &'a dyn ObjectSink, sources: &'a Repo, checks: Checks) -> Self {
        DeltaSink {
            sink,
            sources,
            checks: Checks {
                metadata: true,
                content: ContentCheck::Always,
                ..checks
            },
        }
    }
}

impl ObjectStore for DeltaSink<'_> {
    fn has_object(&self, name: &ObjectName) -> bool {
        self.sink.has(name)
    }

    fn read_source(&self, c: Checksum) -> Result<Vec<u8>, ExecError> {
        let mut obj = self.sources.open_content(c)?;
        if !obj.header.is_regular() {
            return Err(ExecError::Bad(format!(
                "opcode set-read-source: {c} is not a regular file"
            )));
        }
        let mut data = Vec::with_capacity(obj.size.min(1 << 30) as usize);
        obj.reader
            .read_to_end(&mut data)
            .map_err(|e| RepoError::Io {
                path: self.sources.content_path(c),
                source: e,
            })?;
        Ok(data)
    }

    fn store_metadata(&self, name: ObjectName, bytes: &[u8]) -> Result<(), ExecError> {
        verify::metadata(&name, bytes)?;
        let none = Rebuilt::new(name.checksum, None);
        self.sink
            .put_metadata(&none, &name, Some(bytes), &self.checks)?;
        Ok(())
    }

    fn store_content(
        &self,
        name: ObjectName,
        header: &FileHeader,
        size: u64,
        data: Vec<u8>,
    ) -> Result<(), ExecError> {
        let obj = ContentObject {
            header: header.clone(),
            size,
            reader: Box::new(Cursor::new(data)),
        };
        let one = Rebuilt::new(name.checksum, Some(obj));
        self.sink.put_content(&one, name.checksum, &self.checks)?;
        Ok(())
    }
}

/// What applying one delta did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Applied {
    /// Part files fetched (inline parts are not counted).
    pub parts_fetched: u64,
    /// Bytes of those part files.
    pub bytes: u64,
    pub objects_written: u64,
}

/// Applies delta `d` from `source` into `sink`, reading the FROM commit's
/// files in `local` (the sink's own repository): the FROM commit is there,
/// or is one of `landed` (the TO commits of deltas this transfer applied
/// before, whose trees are in the sink already); see the module doc.
/// Errors name the delta ([`TransferError::Delta`]), except an interruption.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    source: &dyn ObjectSource,
    sink: &dyn ObjectSink,
    local: &Repo,
    d: &PlannedDelta,
    landed: &[Checksum],
    checks: &Checks,
    progress: &Counter<'_>,
    workers: usize,
) -> Result<Applied> {
    let name = d.name;
    let bad = |e: DeltaError| TransferError::Delta {
        name,
        why: e.to_string(),
    };
    if let Some(from) = name.from {
        if !landed.contains(&from) && !local.has_object(&ObjectName::new(from, ObjectType::Commit))
        {
            return Err(bad(DeltaError::MissingSource(from)));
        }
    }
    let sb = &d.superblock;
    let todo: Vec<usize> = (0..sb.parts.len())
        .filter(|&i| !sb.parts[i].objects.iter().all(|o| sink.has(o)))
        .collect();
    if let Some(&i) = todo
        .iter()
        .find(|&&i| sb.parts[i].version > DELTAPART_VERSION)
    {
        return Err(bad(DeltaError::PartVersion {
            part: i.to_string(),
            version: sb.parts[i].version,
        }));
    }
    // Parts whose objects are all here already count as done.
    for _ in todo.len()..sb.parts.len() {
        progress.tick(0)?;
    }
    let store = DeltaSink::new(sink, local, *checks);
    let done = pool::map(&todo, workers, |&i| {
        let h = &sb.parts[i];
        let part_err = |why: String| {
            bad(DeltaError::Part {
                part: i.to_string(),
                why,
            })
        };
        let (file, fetched) = match sb.meta(&name.part_path(i), "(yay)") {
            Some(inline) => (part::decode_part(inline).map_err(part_err)?, 0),
            None => {
                let data = source.delta_part(name, i, h)?;
                let n = data.len() as u64;
                (part::decode_part(&data).map_err(part_err)?, n)
            }
        };
        let written = execute_part_with(&store, &h.objects, &file).map_err(|e| match e {
            ExecError::Bad(why) => bad(DeltaError::Execute {
                part: i.to_string(),
                why,
            }),
            ExecError::Repo(e) => TransferError::Repo(e),
        })?;
        progress.tick(fetched)?;
        Ok::<_, TransferError>(Applied {
            parts_fetched: (fetched > 0) as u64,
            bytes: fetched,
            objects_written: written as u64,
        })
    })?;
    for &i in &todo {
        if let Some(o) = sb.parts[i].objects.iter().find(|o| !sink.has(o)) {
            return Err(bad(DeltaError::ObjectNotWritten(*o)));
        }
    }
    Ok(done.iter().fold(Applied::default(), |a, b| Applied {
        parts_fetched: a.parts_fetched + b.parts_fetched,
        bytes: a.bytes + b.bytes,
        objects_written: a.objects_written + b.objects_written,
    }))
}

impl From<TransferError> for ExecError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Repo(e) => ExecError::Repo(e),
            // The executor's own words for a rebuilt object that is not what its name says.
            TransferError::Corrupted { name, actual } => {
                ExecError::Bad(format!("Corrupted object {name}; actual checksum {actual}"))
            }
            e => ExecError::Bad(e.to_string()),
        }
    }
}

/// One object a delta rebuilt, as the source the sink reads it from
/// (once: the sink takes the bytes).
struct Rebuilt {
    checksum: Checksum,
    content: Mutex<Option<ContentObject>>,
}

impl Rebuilt {
    fn new(checksum: Checksum, content: Option<ContentObject>) -> Self {
        Rebuilt {
            checksum,
            content: Mutex::new(content),
        }
    }
}

impl ObjectSource for Rebuilt {
    fn place(&self) -> &'static str {
        "in the static delta"
    }

    fn metadata(&self, _: &ObjectName) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn missing(&self, name: &ObjectName) -> TransferError {
        TransferError::SourceObject {
            name: *name,
            source: io::Error::new(io::ErrorKind::NotFound, "not rebuilt by the static delta"),
        }
    }

    fn content(&self, checksum: Checksum) -> Result<Content> {
        let taken = (checksum == self.checksum)
            .then(|| {
                self.content
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
            })
            .flatten();
        taken
            .map(Content::Loose)
            .ok_or_else(|| self.missing(&ObjectName::new(checksum, ObjectType::File)))
    }

    fn read_error(&self, name: ObjectName, source: io::Error) -> TransferError {
        TransferError::SourceObject { name, source }
    }

    fn workers(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::RepoMode;

    fn header() -> FileHeader {
        FileHeader {
            uid: 0,
            gid: 0,
            mode: 0o100644,
            symlink_target: String::new(),
            xattrs: Default::default(),
        }
    }

    #[test]
    fn rebuilt_objects_are_checked_before_they_land() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path(), RepoMode::BareUser, None).unwrap();
        let store = DeltaSink::new(&repo, &repo, Checks::default());

        // A dirmeta whose bytes are not what its name says never lands.
        let name = ObjectName::new(Checksum::digest(b"other"), ObjectType::DirMeta);
        let err = store.store_metadata(name, b"bytes").unwrap_err();
        assert!(matches!(&err, ExecError::Bad(why) if why.starts_with("Corrupted object")));
        assert!(!repo.has_object(&name));
        let good = ObjectName::new(Checksum::digest(b"bytes"), ObjectType::DirMeta);
        store.store_metadata(good, b"bytes").unwrap();
        assert!(repo.has_object(&good));

        // Content: header and bytes hash to the name, or nothing lands.
        let wrong = ObjectName::new(Checksum::digest(b"x"), ObjectType::File);
        let err = store
            .store_content(wrong, &header(), 5, b"hello".to_vec())
            .unwrap_err();
        assert!(matches!(&err, ExecError::Bad(why) if why.starts_with("Corrupted object")));
        assert!(!repo.has_object(&wrong));
        let mut h = crate::objects::checksum::Hasher::new();
        h.update(&header().to_stream_prefix());
        h.update(b"hello");
        let right = ObjectName::new(h.finish(), ObjectType::File);
        store
            .store_content(right, &header(), 5, b"hello".to_vec())
            .unwrap();
        assert_eq!(store.read_source(right.checksum).unwrap(), b"hello");
    }
}
