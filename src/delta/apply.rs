//! Applying a static delta to a repository (`static-delta apply-offline`).
//!
//! Mirrors `ostree_repo_static_delta_execute_offline` and
//! `_ostree_static_delta_part_execute`, with every offset, length, table
//! index and object count checked first: malformed or truncated input is an
//! error, never a panic. Unlike ostree, which can only run `open`/`write`/
//! `bspatch` against bare repositories, grove rebuilds each object in memory
//! and stores it through the transfer engine's sink
//! ([`crate::transfer::delta_source::DeltaSink`]), so deltas apply to
//! `archive` repositories too and every object gets the checks a loose
//! object gets ([`crate::transfer::verify`]); parts run in parallel (they
//! only read objects of the FROM commit). A pull applies deltas as a phase
//! of the engine ([`crate::transfer::delta_source::apply`]); this module
//! applies a delta from a directory (`apply-offline`, `pull-local
//! --require-static-deltas`).
//!
//! While parts are applied the TO commit is marked partial, so a failure
//! leaves no complete-looking commit behind.
//!
//! [`apply_offline`] takes the repository's shared lock itself, as ostree's
//! `static-delta apply-offline` does through `ostree_repo_prepare_transaction`
//! (`ot-builtin-static-delta.c`), so a prune (exclusive) never runs under it.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::part::{self, check_range, Op};
use super::superblock::{PartHeader, Superblock, DELTAPART_VERSION};
use super::{io_err, DeltaError, DeltaName, Result};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::file_header::{S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::metadata::Metadata;
use crate::objects::{FileHeader, Xattrs};
use crate::repo::{Repo, RepoError};
use crate::transfer::delta_source::DeltaSink;
use crate::transfer::verify::Checks;

/// What an application did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub name: Option<DeltaName>,
    pub parts_applied: usize,
    pub parts_skipped: usize,
    pub objects_written: usize,
}

/// Reads and parses a superblock file.
pub fn read_superblock(path: &Path) -> Result<Superblock> {
    let data = fs::read(path).map_err(io_err(path))?;
    Superblock::from_bytes(&data).map_err(|why| DeltaError::Superblock {
        path: path.to_path_buf(),
        why,
    })
}

/// Applies the delta at `path` (its directory, or its superblock file) to
/// `repo`, under the repository's shared lock. A delta with fallback
/// objects cannot be applied offline.
pub fn apply_offline(repo: &Repo, path: &Path) -> Result<ApplyStats> {
    let _lock = repo.lock(crate::repo::LockKind::Shared)?;
    let (dir, sb_path) = if path.is_dir() {
        (path.to_path_buf(), path.join("superblock"))
    } else {
        (
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            path.to_path_buf(),
        )
    };
    apply_dir(repo, &dir, &sb_path)
}

fn apply_dir(repo: &Repo, dir: &Path, sb_path: &Path) -> Result<ApplyStats> {
    let sb_path = sb_path.to_path_buf();
    let sb = read_superblock(&sb_path)?;
    let name = DeltaName::new(sb.from, sb.to);
    let mut stats = ApplyStats {
        name: Some(name),
        ..Default::default()
    };

    if let Some(from) = sb.from {
        if !repo.has_object(&ObjectName::new(from, ObjectType::Commit)) {
            return Err(DeltaError::MissingSource(from));
        }
    }
    // Fallback objects would need a server: refused before anything is written.
    if !sb.fallbacks.is_empty() {
        return Err(DeltaError::HasFallbacks);
    }
    let commit_name = ObjectName::new(sb.to, ObjectType::Commit);
    let wrote_commit = !repo.has_object(&commit_name);
    // A commit left partial by an earlier failed attempt is completed by this one.
    let clear_partial = wrote_commit || repo.is_partial(sb.to);
    if wrote_commit {
        let actual = Checksum::digest(&sb.commit);
        if actual != sb.to {
            return Err(DeltaError::Corrupted {
                name: commit_name,
                actual,
            });
        }
        crate::objects::Commit::from_bytes(&sb.commit).map_err(|e| DeltaError::Superblock {
            path: sb_path.clone(),
            why: format!("commit: {e}"),
        })?;
        if let Some(meta) = sb.meta(&name.commitmeta_key(), "a{sv}") {
            let m = Metadata::from_bytes(meta).map_err(|e| DeltaError::Superblock {
                path: sb_path.clone(),
                why: format!("detached metadata: {e}"),
            })?;
            repo.write_detached_metadata(sb.to, Some(&m))?;
        }
        repo.set_partial(sb.to, true, false)?;
        repo.write_metadata_as(commit_name, &sb.commit)?;
    }

    let todo: Vec<(usize, &PartHeader)> = sb
        .parts
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.objects.iter().all(|o| repo.has_object(o)))
        .collect();
    stats.parts_skipped = sb.parts.len() - todo.len();
    for (i, h) in &todo {
        if h.version > DELTAPART_VERSION {
            return Err(DeltaError::PartVersion {
                part: i.to_string(),
                version: h.version,
            });
        }
    }
    let written: Vec<usize> = todo
        .par_iter()
        .map(|&(i, h)| {
            let key = name.part_path(i);
            let payload = match sb.meta(&key, "(yay)") {
                // Inline parts are covered by the superblock; ostree does not checksum them.
                Some(bytes) => part::decode_part(bytes).map_err(|why| DeltaError::Part {
                    part: i.to_string(),
                    why,
                })?,
                None => {
                    let p = dir.join(i.to_string());
                    let data = fs::read(&p).map_err(io_err(&p))?;
                    let actual = Checksum::digest(&data);
                    if actual != h.checksum {
                        return Err(DeltaError::PartChecksum {
                            part: i.to_string(),
                            expected: h.checksum,
                            actual,
                        });
                    }
                    part::decode_part(&data).map_err(|why| DeltaError::Part {
                        part: i.to_string(),
                        why,
                    })?
                }
            };
            execute_part(repo, &h.objects, &payload).map_err(|e| match e {
                ExecError::Bad(why) => DeltaError::Execute {
                    part: i.to_string(),
                    why,
                },
                ExecError::Repo(e) => DeltaError::Repo(e),
            })
        })
        .collect::<Result<_>>()?;
    stats.parts_applied = todo.len();
    stats.objects_written = written.iter().sum();
    for (_, h) in &todo {
        if let Some(o) = h.objects.iter().find(|o| !repo.has_object(o)) {
            return Err(DeltaError::ObjectNotWritten(*o));
        }
    }
    if clear_partial {
        repo.set_partial(sb.to, false, false)?;
    }
    Ok(stats)
}

/// Why executing a part failed: bad input or a repository error.
#[derive(Debug)]
pub enum ExecError {
    Bad(String),
    Repo(RepoError),
}

impl From<RepoError> for ExecError {
    fn from(e: RepoError) -> Self {
        ExecError::Repo(e)
    }
}

impl From<String> for ExecError {
    fn from(s: String) -> Self {
        ExecError::Bad(s)
    }
}

/// An object being assembled by `open` / `write` / `bspatch`.
struct Open {
    name: ObjectName,
    header: FileHeader,
    size: u64,
    have: bool,
    buf: Vec<u8>,
}

fn header_for(payload: &part::Payload, mode: u64, xattr: u64) -> Result<FileHeader, String> {
    let &(uid, gid, mode) = usize::try_from(mode)
        .ok()
        .and_then(|m| payload.modes.get(m))
        .ok_or_else(|| format!("Invalid mode index {mode}"))?;
    let xb = usize::try_from(xattr)
        .ok()
        .and_then(|x| payload.xattrs.get(x))
        .ok_or_else(|| format!("Invalid xattr index {xattr}"))?;
    let xattrs = decode_xattrs(xb)?;
    Ok(FileHeader {
        uid,
        gid,
        mode,
        symlink_target: String::new(),
        xattrs,
    })
}

fn decode_xattrs(b: &[u8]) -> Result<Xattrs, String> {
    let mut pairs = Vec::new();
    for e in crate::gvariant::reader::var_array(b, 1).map_err(|e| format!("xattrs: {e}"))? {
        let m = crate::gvariant::reader::tuple(
            e,
            &[
                crate::gvariant::reader::var(1),
                crate::gvariant::reader::var(1),
            ],
        )
        .map_err(|e| format!("xattrs: {e}"))?;
        let name = m[0]
            .strip_suffix(&[0])
            .ok_or("xattr name is not NUL-terminated")?;
        pairs.push((name.to_vec(), m[1].to_vec()));
    }
    Ok(Xattrs::from_ordered_pairs(pairs))
}

/// Where [`execute_part_with`] reads its sources and puts the objects it rebuilds.
///
/// [`DeltaSink`] (any transfer sink, objects checked by
/// [`crate::transfer::verify`] as loose objects are) is the real one; [`MemoryStore`] keeps everything in memory so
/// the executor can be tested and fuzzed without touching the disk. A store
/// verifies checksums when it stores (the executor only assembles bytes).
#[doc(hidden)]
pub trait ObjectStore {
    fn has_object(&self, name: &ObjectName) -> bool;
    /// The bytes of the regular-file content object `checksum` (a read source).
    fn read_source(&self, checksum: Checksum) -> Result<Vec<u8>, ExecError>;
    /// Stores a metadata object, checking that `bytes` hash to its name.
    fn store_metadata(&self, name: ObjectName, bytes: &[u8]) -> Result<(), ExecError>;
    /// Stores a content object, checking that header and data hash to its name.
    fn store_content(
        &self,
        name: ObjectName,
        header: &FileHeader,
        size: u64,
        data: Vec<u8>,
    ) -> Result<(), ExecError>;
}

/// The checksum of a content object made of `header` and `data`.
fn content_checksum(header: &FileHeader, data: &[u8]) -> Checksum {
    let mut h = crate::objects::checksum::Hasher::new();
    h.update(&header.to_stream_prefix());
    h.update(data);
    h.finish()
}

/// An in-memory [`ObjectStore`] for tests and fuzzing.
///
/// `sources` are the regular files of the FROM commit (checksum → bytes).
/// With `verify` off, objects whose bytes do not hash to their names are
/// stored anyway (counted in `mismatches`), so a fuzzer gets past them.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct MemoryStore {
    pub sources: std::collections::HashMap<Checksum, Vec<u8>>,
    pub verify: bool,
    pub written: std::sync::Mutex<Vec<(ObjectName, Vec<u8>)>>,
    pub mismatches: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    fn check(&self, name: ObjectName, actual: Checksum) -> Result<(), ExecError> {
        if actual == name.checksum {
            return Ok(());
        }
        if self.verify {
            return Err(ExecError::Bad(format!(
                "Corrupted object {name}; actual checksum {actual}"
            )));
        }
        self.mismatches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn written(&self) -> std::sync::MutexGuard<'_, Vec<(ObjectName, Vec<u8>)>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ObjectStore for MemoryStore {
    fn has_object(&self, name: &ObjectName) -> bool {
        (name.objtype == ObjectType::File && self.sources.contains_key(&name.checksum))
            || self.written().iter().any(|(n, _)| n == name)
    }

    fn read_source(&self, c: Checksum) -> Result<Vec<u8>, ExecError> {
        self.sources.get(&c).cloned().ok_or_else(|| {
            ExecError::Repo(RepoError::ObjectMissing(ObjectName::new(
                c,
                ObjectType::File,
            )))
        })
    }

    fn store_metadata(&self, name: ObjectName, bytes: &[u8]) -> Result<(), ExecError> {
        self.check(name, Checksum::digest(bytes))?;
        self.written().push((name, bytes.to_vec()));
        Ok(())
    }

    fn store_content(
        &self,
        name: ObjectName,
        header: &FileHeader,
        size: u64,
        data: Vec<u8>,
    ) -> Result<(), ExecError> {
        if data.len() as u64 != size {
            return Err(ExecError::Bad(format!(
                "content object {name}: {} bytes, expected {size}",
                data.len()
            )));
        }
        self.check(name, content_checksum(header, &data))?;
        self.written().push((name, data));
        Ok(())
    }
}

/// Runs one part's program against `repo` (sources read there, objects
/// stored there through the transfer engine's sink and checks,
/// [`DeltaSink`]); returns the number of objects written.
pub fn execute_part(
    repo: &Repo,
    objects: &[ObjectName],
    payload_bytes: &[u8],
) -> Result<usize, ExecError> {
    let store = DeltaSink::new(repo, repo, Checks::default());
    execute_part_with(&store, objects, payload_bytes)
}

/// [`execute_part`] against any [`ObjectStore`].
#[doc(hidden)]
pub fn execute_part_with(
    store: &dyn ObjectStore,
    objects: &[ObjectName],
    payload_bytes: &[u8],
) -> Result<usize, ExecError> {
    if objects.is_empty() {
        return Ok(0);
    }
    let payload = part::Payload::from_bytes(payload_bytes)?;
    let is_meta: Vec<bool> = objects.iter().map(|o| o.objtype.is_meta()).collect();
    let ops = part::parse_ops(&payload.ops, &is_meta)?;
    let raw = &payload.raw;
    let mut index = 0usize;
    let mut source: Option<(Checksum, Vec<u8>)> = None;
    let mut open: Option<Open> = None;
    let mut written = 0usize;
    let next = |index: usize| {
        objects.get(index).copied().ok_or_else(|| {
            ExecError::Bad(format!(
                "object index {index} beyond the part's {} objects",
                objects.len()
            ))
        })
    };
    for op in ops {
        match op {
            Op::SpliceMeta { len, offset } => {
                let name = next(index)?;
                let bytes = &raw[check_range(offset, len, raw.len())?];
                if !store.has_object(&name) {
                    store.store_metadata(name, bytes)?;
                    written += 1;
                }
                index += 1;
                source = None;
            }
            Op::SpliceContent {
                mode,
                xattr,
                len,
                offset,
            } => {
                let name = next(index)?;
                let mut header = header_for(&payload, mode, xattr)?;
                let bytes = &raw[check_range(offset, len, raw.len())?];
                let size = match header.mode & S_IFMT {
                    S_IFREG => len,
                    S_IFLNK => {
                        header.symlink_target = String::from_utf8(bytes.to_vec())
                            .map_err(|_| "symlink target is not UTF-8".to_string())?;
                        if header.symlink_target.is_empty() || header.symlink_target.contains('\0')
                        {
                            return Err(ExecError::Bad("invalid symlink target".into()));
                        }
                        0
                    }
                    m => {
                        return Err(ExecError::Bad(format!(
                            "Invalid mode {m:o} for content object {name}"
                        )))
                    }
                };
                if !store.has_object(&ObjectName::new(name.checksum, ObjectType::File)) {
                    let data = if size > 0 { bytes.to_vec() } else { Vec::new() };
                    store.store_content(name, &header, size, data)?;
                    written += 1;
                }
                index += 1;
                source = None;
            }
            Op::Open { mode, xattr, size } => {
                if open.is_some() {
                    return Err(ExecError::Bad(
                        "opcode open: an object is already open".into(),
                    ));
                }
                let name = next(index)?;
                if name.objtype != ObjectType::File {
                    return Err(ExecError::Bad(format!(
                        "opcode open: {name} is not a content object"
                    )));
                }
                let header = header_for(&payload, mode, xattr)?;
                if header.mode & S_IFMT != S_IFREG {
                    return Err(ExecError::Bad(format!(
                        "opcode open: invalid mode {:o}",
                        header.mode
                    )));
                }
                let have = store.has_object(&name);
                open = Some(Open {
                    name,
                    header,
                    size,
                    have,
                    buf: Vec::new(),
                });
            }
            Op::Write { len, offset } => {
                let o = open
                    .as_mut()
                    .ok_or_else(|| ExecError::Bad("opcode write: no object open".into()))?;
                let data: &[u8] = match &source {
                    Some((c, src)) => {
                        &src[check_range(offset, len, src.len()).map_err(|_| {
                            format!("opcode write: Unexpected EOF reading object {c}")
                        })?]
                    }
                    None => &raw[check_range(offset, len, raw.len())?],
                };
                if o.buf.len() as u64 + len > o.size {
                    return Err(ExecError::Bad(format!(
                        "opcode write: more than the declared {} bytes",
                        o.size
                    )));
                }
                if !o.have {
                    o.buf.extend_from_slice(data);
                }
            }
            Op::SetReadSource { offset } => {
                let c = Checksum::from_slice(&raw[check_range(offset, 32, raw.len())?])
                    .map_err(|e| e.to_string())?;
                source = Some((c, store.read_source(c)?));
            }
            Op::UnsetReadSource => source = None,
            Op::Bspatch { offset, len } => {
                let patch_bytes = &raw[check_range(offset, len, raw.len())?];
                let o = open
                    .as_mut()
                    .ok_or_else(|| ExecError::Bad("opcode bspatch: no object open".into()))?;
                let (_, src) = source
                    .as_ref()
                    .ok_or_else(|| ExecError::Bad("opcode bspatch: no read source".into()))?;
                if !o.have {
                    o.buf = super::bsdiff::patch(src, patch_bytes, o.size)?;
                }
            }
            Op::Close => {
                if let Some(o) = open.take() {
                    if !o.have {
                        if o.buf.len() as u64 != o.size {
                            return Err(ExecError::Bad(format!(
                                "opcode close: {} has {} of {} bytes",
                                o.name,
                                o.buf.len(),
                                o.size
                            )));
                        }
                        store.store_content(o.name, &o.header, o.size, o.buf)?;
                        written += 1;
                    }
                }
                index += 1;
                source = None;
            }
        }
    }
    if open.is_some() {
        return Err(ExecError::Bad(
            "part ended with an object still open".into(),
        ));
    }
    Ok(written)
}

/// What `static-delta show` prints about one part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    pub header: PartHeader,
    pub n_modes: usize,
    pub n_xattrs: usize,
    pub blob_size: usize,
    pub ops_size: usize,
    /// Op counts in the order S o w r R c B.
    pub op_counts: [usize; 7],
}

/// Parses a delta's superblock and every part (inline or in `part_dir`), without applying it.
pub fn describe(superblock_path: &Path, part_dir: &Path) -> Result<(Superblock, Vec<PartInfo>)> {
    let sb = read_superblock(superblock_path)?;
    describe_parts(sb, |i| {
        let p = part_dir.join(i.to_string());
        fs::read(&p).map_err(io_err(&p))
    })
}

/// [`describe`] from memory: parses the superblock and every part (inline,
/// or the bytes `part_file(i)` returns), touching no files.
#[doc(hidden)]
pub fn describe_bytes(
    superblock: &[u8],
    part_file: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<(Superblock, Vec<PartInfo>)> {
    let sb = Superblock::from_bytes(superblock).map_err(|why| DeltaError::Superblock {
        path: PathBuf::from("(memory)"),
        why,
    })?;
    describe_parts(sb, part_file)
}

fn describe_parts(
    sb: Superblock,
    mut part_file: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<(Superblock, Vec<PartInfo>)> {
    let name = DeltaName::new(sb.from, sb.to);
    let mut infos = Vec::new();
    for (i, h) in sb.parts.iter().enumerate() {
        let bad = |why: String| DeltaError::Part {
            part: i.to_string(),
            why,
        };
        let payload = match sb.meta(&name.part_path(i), "(yay)") {
            Some(b) => part::decode_part(b).map_err(bad)?,
            None => part::decode_part(&part_file(i)?).map_err(bad)?,
        };
        let pl = part::Payload::from_bytes(&payload).map_err(bad)?;
        let is_meta: Vec<bool> = h.objects.iter().map(|o| o.objtype.is_meta()).collect();
        let ops = part::parse_ops(&pl.ops, &is_meta).map_err(bad)?;
        infos.push(PartInfo {
            header: h.clone(),
            n_modes: pl.modes.len(),
            n_xattrs: pl.xattrs.len(),
            blob_size: pl.raw.len(),
            ops_size: pl.ops.len(),
            op_counts: part::count_ops(&ops),
        });
    }
    Ok((sb, infos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{LockKind, RepoMode};

    #[test]
    fn apply_offline_waits_for_the_repository_lock() {
        let d = tempfile::tempdir().unwrap();
        let mut repo = Repo::init(&d.path().join("repo"), RepoMode::Archive, None).unwrap();
        let mut cfg = repo.config().clone();
        cfg.set("core", "lock-timeout-secs", "1");
        repo.write_config(cfg).unwrap();
        let delta = d.path().join("no-such-delta");
        let held = repo.lock(LockKind::Exclusive).unwrap();
        let e = apply_offline(&repo, &delta).unwrap_err();
        assert!(
            matches!(e, DeltaError::Repo(RepoError::Lock { .. })),
            "apply-offline ran under a prune's lock: {e}"
        );
        drop(held);
        // Unlocked, it gets as far as the (absent) superblock.
        let e = apply_offline(&repo, &delta).unwrap_err();
        assert!(matches!(e, DeltaError::Io { .. }), "{e}");
    }
}
