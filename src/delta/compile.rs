//! Generating static deltas (`static-delta generate`).
//!
//! The same output format as `ostree-repo-static-delta-compilation.c`, with
//! a different strategy where it pays:
//! - **matching**: a new regular file is paired with an old one first by the
//!   same path in both trees, then (like ostree's
//!   `_ostree_delta_compute_similar_objects`) by basename — exact, then the
//!   part before the first dot — among old files within ±30% of its size;
//! - **identical content**: a new object whose bytes equal an old object's
//!   (only mode, owner or xattrs changed, or a renamed file with new
//!   metadata) is rebuilt with `set-read-source` + `write` — no data shipped;
//! - **bsdiff** for the other pairs, kept only if most of the new file comes
//!   from the old one; a patch that "resists diffing" is dropped, and the file
//!   is shipped whole — or as a *fallback* object if it is larger than
//!   `min_fallback_size`, as ostree does for unmatched large files;
//! - **parallelism**: bsdiff and content hashing run on rayon's thread pool;
//!   parts are compressed on one thread per core while the next are packed.
//!
//! Parts hold metadata first, then patched and reused files, then whole files
//! (in path order) and symlinks, so output is deterministic
//! apart from the superblock timestamp. ostree's rollsum matcher is not
//! implemented; bsdiff covers the same cases.
//!
//! [`generate`] reads the commits' objects under the repository's shared
//! lock, which it takes itself, so a prune (exclusive lock) cannot delete
//! them mid-generation. ostree's `ostree_repo_static_delta_generate` takes
//! no lock; grove does, as it does for every reader of many objects that
//! writes into the repository.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::part::{self, write_varint, Compression, Payload};
use super::superblock::{
    Endianness, Fallback, MetaValue, PartHeader, Superblock, DELTAPART_VERSION,
};
use super::{bsdiff, index::write_file_atomic, io_err, DeltaName, Result};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::FileHeader;
use crate::repo::refs::RefError;
use crate::repo::{Repo, RepoError};

/// Parameters of a delta (`ostree_repo_static_delta_generate`'s `params`).
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Source commit; `None` for a scratch delta.
    pub from: Option<Checksum>,
    pub to: Checksum,
    /// Whether the parts go inside the superblock.
    pub inline: InlineParts,
    /// New files larger than this (bytes) that are not diffed become fallbacks; 0 disables.
    pub min_fallback_size: u64,
    /// Pairs whose sizes add up to more than this (bytes) are not bsdiffed.
    pub max_bsdiff_size: u64,
    /// Start a new part when the raw data would grow beyond this (bytes).
    pub max_chunk_size: u64,
    pub bsdiff: bool,
    pub compression: Compression,
    /// Write the superblock to this file and parts beside it, instead of into the repository.
    pub filename: Option<PathBuf>,
    /// Superblock timestamp (seconds); default now.
    pub timestamp: Option<u64>,
    /// Byte order of the superblock's part and fallback integers
    /// (`ostree.endianness`): little-endian unless asked otherwise, as
    /// ostree on a little-endian host (`--set-endianness`, `--swap-endianness`).
    pub endianness: Endianness,
}

impl GenerateOptions {
    /// ostree's defaults: fallback above 4 MB, bsdiff up to 128 MB, 32 MB parts, xz.
    pub fn new(from: Option<Checksum>, to: Checksum) -> Self {
        GenerateOptions {
            from,
            to,
            inline: InlineParts::Auto,
            min_fallback_size: 4 * 1000 * 1000,
            max_bsdiff_size: 128 * 1000 * 1000,
            max_chunk_size: 32 * 1000 * 1000,
            bsdiff: true,
            compression: Compression::Xz,
            filename: None,
            timestamp: None,
            endianness: Endianness::Little,
        }
    }

    /// Sets the size limits given in megabytes as ostree counts them
    /// (1000 × 1000 bytes; `--min-fallback-size`, `--max-bsdiff-size`,
    /// `--max-chunk-size`); `None` keeps a limit's default.
    pub fn limits_mb(
        &mut self,
        min_fallback: Option<u64>,
        max_bsdiff: Option<u64>,
        max_chunk: Option<u64>,
    ) {
        let mb = |v: Option<u64>, default: u64| v.map_or(default, |mb| mb * 1000 * 1000);
        self.min_fallback_size = mb(min_fallback, self.min_fallback_size);
        self.max_bsdiff_size = mb(max_bsdiff, self.max_bsdiff_size);
        self.max_chunk_size = mb(max_chunk, self.max_chunk_size);
    }
}

/// Where a delta to generate starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaFrom {
    /// TO's parent (`TO^`), as `ostree static-delta generate` without `--from`.
    Parent,
    /// From scratch (`--empty`).
    Empty,
    /// This rev (`--from`).
    Rev(String),
}

impl DeltaFrom {
    /// `--empty` and `--from=REV` as `ostree static-delta generate` takes
    /// them: not both; neither is TO's parent.
    pub fn from_flags(empty: bool, from: Option<String>) -> Result<DeltaFrom> {
        match (empty, from) {
            (true, Some(_)) => Err(super::DeltaError::EmptyAndFrom),
            (true, None) => Ok(DeltaFrom::Empty),
            (false, Some(r)) => Ok(DeltaFrom::Rev(r)),
            (false, None) => Ok(DeltaFrom::Parent),
        }
    }

    /// The delta from here to the rev `to`, both resolved in `repo`.
    pub fn resolve(&self, repo: &Repo, to: &str) -> Result<DeltaName, RefError> {
        let from = match self {
            DeltaFrom::Empty => None,
            DeltaFrom::Parent => Some(repo.resolve_rev(&format!("{to}^"))?),
            DeltaFrom::Rev(r) => Some(repo.resolve_rev(r)?),
        };
        Ok(DeltaName::new(from, repo.resolve_rev(to)?))
    }
}

/// What `static-delta generate` will do, its revisions resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerateTarget {
    /// Generate this delta.
    Generate(DeltaName),
    /// The repository holds this delta already (`--if-not-exists`): nothing to do.
    Exists(DeltaName),
}

impl GenerateTarget {
    /// `static-delta generate`'s revisions checked and resolved in ostree's
    /// order: TO must be given, `--empty` and `--from` not both
    /// ([`DeltaFrom::from_flags`]); then, with `if_not_exists`, a delta the
    /// repository holds already is [`GenerateTarget::Exists`].
    pub fn resolve(
        repo: &Repo,
        to: Option<&str>,
        empty: bool,
        from: Option<String>,
        if_not_exists: bool,
    ) -> Result<GenerateTarget> {
        let to = to.ok_or(super::DeltaError::NoTo)?;
        let name = DeltaFrom::from_flags(empty, from)?.resolve(repo, to)?;
        Ok(if if_not_exists && super::exists(repo, &name) {
            GenerateTarget::Exists(name)
        } else {
            GenerateTarget::Generate(name)
        })
    }
}

impl Endianness {
    /// `--set-endianness` (`l` or `B`; little-endian by default, as ostree on
    /// a little-endian host), then swapped with `--swap-endianness`.
    pub fn from_flags(set: Option<&str>, swap: bool) -> Result<Endianness> {
        let e = match set {
            None | Some("l") => Endianness::Little,
            Some("B") => Endianness::Big,
            Some(e) => return Err(super::DeltaError::InvalidEndianness(e.to_string())),
        };
        Ok(match (e, swap) {
            (Endianness::Big, true) => Endianness::Little,
            (_, true) => Endianness::Big,
            (e, false) => e,
        })
    }
}

/// Where a delta's parts go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InlineParts {
    /// Part files beside the superblock (ostree's default).
    Never,
    /// Inside the superblock (`--inline`).
    Always,
    /// For a FROM→TO delta: split into about [`AUTO_INLINE_PARTS`] parts of
    /// similar size, inside the superblock when they add up to at most
    /// [`AUTO_INLINE_MAX_BYTES`] compressed, otherwise as part files.
    ///
    /// Why: an ostree client before 2023.7 (Debian 12 ships 2022.7) scans the
    /// TO commit while the delta's parts are still being applied and fetches
    /// every object it does not find yet as a loose object (ostree issue
    /// 2053, fixed by "lib/pull: Don't scan commit objects we fetch via
    /// deltas"). Its request queue counts running part executions as writes
    /// and starts no fetch — not even the commit's `.commitmeta`, after which
    /// the scan begins — while three or more are outstanding. Inline parts all
    /// start executing as soon as the superblock is parsed, so with many parts
    /// of similar size the scan starts only when at most two are left running,
    /// and finds nearly every object already written. Scratch deltas keep part
    /// files: splitting them that finely costs several percent of their size.
    Auto,
}

impl InlineParts {
    /// `--inline` and `--no-inline`; neither: [`InlineParts::Auto`].
    pub fn from_flags(inline: bool, no_inline: bool) -> InlineParts {
        match (inline, no_inline) {
            (true, _) => InlineParts::Always,
            (_, true) => InlineParts::Never,
            _ => InlineParts::Auto,
        }
    }
}

/// [`InlineParts::Auto`] inlines parts adding up to at most this: ostree clients
/// refuse superblocks over 10 MiB (`OSTREE_MAX_METADATA_SIZE`).
pub const AUTO_INLINE_MAX_BYTES: u64 = 8 << 20;
/// How many parts [`InlineParts::Auto`] aims for when the delta may be inlined.
pub const AUTO_INLINE_PARTS: u64 = 32;
/// [`InlineParts::Auto`] splits a FROM→TO delta only when the objects it
/// rebuilds add up to at least this: below it, what the 2022.7 client's race
/// could fetch loose is smaller than the split costs, and the delta keeps
/// ostree's layout (one part file), which ostree's test suite checks.
pub const AUTO_SPLIT_MIN_OBJECTS: u64 = 64 << 10;
/// Above this much raw data a delta is split into one part per core, so the
/// parts compress in parallel (and clients fetch two at a time).
const PARALLEL_SPLIT_MIN_RAW: u64 = 8 << 20;

/// What generation produced.
#[derive(Clone, Debug, Default)]
pub struct GenerateStats {
    pub name: Option<DeltaName>,
    pub superblock_path: PathBuf,
    pub parts: usize,
    /// The parts are inside the superblock.
    pub inline: bool,
    pub metadata_objects: usize,
    pub content_objects: usize,
    pub bsdiff_objects: usize,
    pub reused_objects: usize,
    pub fallback_objects: usize,
    /// Sum of the part files' sizes.
    pub compressed_size: u64,
    /// Sum of the objects' sizes.
    pub uncompressed_size: u64,
    /// Size of the new objects as stored in the repository.
    pub loose_size: u64,
    pub superblock_size: u64,
}

/// A new object and how it will be rebuilt.
enum Item {
    Meta(ObjectName, Vec<u8>),
    Whole {
        checksum: Checksum,
        header: FileHeader,
        size: u64,
    },
    Reuse {
        checksum: Checksum,
        header: FileHeader,
        size: u64,
        source: Checksum,
    },
    Patch {
        checksum: Checksum,
        header: FileHeader,
        size: u64,
        source: Checksum,
        patch: Vec<u8>,
    },
}

/// Header and size of a content object.
#[derive(Clone)]
struct Info {
    header: FileHeader,
    size: u64,
}

fn info(repo: &Repo, c: Checksum) -> Result<Info> {
    let o = repo.open_content(c)?;
    Ok(Info {
        header: o.header,
        size: o.size,
    })
}

fn read_all(repo: &Repo, c: Checksum) -> Result<Vec<u8>> {
    let mut o = repo.open_content(c)?;
    let mut v = Vec::with_capacity(o.size.min(1 << 30) as usize);
    o.reader.read_to_end(&mut v).map_err(|e| RepoError::Io {
        path: repo.content_path(c),
        source: e,
    })?;
    Ok(v)
}

/// Every file of a commit's tree as (path, content checksum).
fn tree_files(repo: &Repo, commit: Checksum) -> Result<Vec<(String, Checksum)>> {
    let c = repo.load_commit(commit)?;
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), c.root_contents)];
    while let Some((prefix, tree)) = stack.pop() {
        let t = repo.load_dirtree(tree)?;
        for f in t.files {
            out.push((format!("{prefix}/{}", f.name), f.checksum));
        }
        for d in t.dirs {
            stack.push((format!("{prefix}/{}", d.name), d.tree));
        }
    }
    Ok(out)
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Files ostree never diffs: already-compressed archives.
fn diffable_names(paths: &[&str]) -> bool {
    !paths.iter().any(|p| {
        let b = basename(p);
        b.rsplit_once('.')
            .is_some_and(|(_, ext)| ext == "xz" || ext == "bz2")
    })
}

/// Pairs each new regular file with an old one to diff against.
fn match_similar(
    from_files: &[(String, Checksum)],
    from_info: &HashMap<Checksum, Info>,
    new_paths: &HashMap<Checksum, Vec<&str>>,
    new_info: &HashMap<Checksum, Info>,
) -> HashMap<Checksum, Checksum> {
    let usable = |c: &Checksum| {
        from_info
            .get(c)
            .is_some_and(|i| i.header.is_regular() && i.size > 0 && i.header.mode & 0o004 != 0)
    };
    let by_path: HashMap<&str, Checksum> = from_files
        .iter()
        .filter(|(_, c)| usable(c))
        .map(|(p, c)| (p.as_str(), *c))
        .collect();
    let mut by_name: HashMap<&str, Vec<Checksum>> = HashMap::new();
    let mut by_stem: HashMap<&str, Vec<Checksum>> = HashMap::new();
    for (p, c) in from_files.iter().filter(|(_, c)| usable(c)) {
        let b = basename(p);
        by_name.entry(b).or_default().push(*c);
        if let Some((stem, _)) = b.split_once('.').filter(|(s, _)| !s.is_empty()) {
            by_stem.entry(stem).or_default().push(*c);
        }
    }
    let from_names: HashMap<Checksum, Vec<&str>> =
        from_files.iter().fold(HashMap::new(), |mut m, (p, c)| {
            m.entry(*c).or_insert_with(Vec::new).push(p.as_str());
            m
        });
    let mut out = HashMap::new();
    let mut keys: Vec<&Checksum> = new_paths.keys().collect();
    keys.sort();
    for to in keys {
        let paths = &new_paths[to];
        let Some(ti) = new_info.get(to) else { continue };
        if !ti.header.is_regular() || ti.size == 0 || !diffable_names(paths) {
            continue;
        }
        // 1. the same path in the old tree
        if let Some(&f) = paths.iter().find_map(|p| by_path.get(p)) {
            if diffable_names(&from_names[&f]) {
                out.insert(*to, f);
                continue;
            }
        }
        // 2. the same basename (then the same stem) with a similar size
        let lo = ti.size as f64 * 0.7;
        let hi = ti.size as f64 * 1.3;
        let pick = |cands: Option<&Vec<Checksum>>| -> Option<Checksum> {
            cands?
                .iter()
                .filter(|c| diffable_names(&from_names[c]))
                .filter_map(|c| from_info.get(c).map(|i| (*c, i.size)))
                .filter(|(_, s)| (*s as f64) >= lo && (*s as f64) <= hi)
                .min_by_key(|(c, s)| (s.abs_diff(ti.size), *c))
                .map(|(c, _)| c)
        };
        let found = paths
            .iter()
            .find_map(|p| pick(by_name.get(basename(p))))
            .or_else(|| {
                paths.iter().find_map(|p| {
                    basename(p)
                        .split_once('.')
                        .and_then(|(stem, _)| pick(by_stem.get(stem)))
                })
            });
        if let Some(f) = found {
            out.insert(*to, f);
        }
    }
    out
}

/// Accumulates one part.
#[derive(Default)]
struct PartBuilder {
    objects: Vec<ObjectName>,
    payload: Payload,
    mode_index: HashMap<(u32, u32, u32), u64>,
    xattr_index: HashMap<Vec<u8>, u64>,
    uncompressed: u64,
}

impl PartBuilder {
    fn mode_xattr(&mut self, h: &FileHeader) -> (u64, u64) {
        let key = (h.uid, h.gid, h.mode);
        let n = self.payload.modes.len() as u64;
        let m = *self.mode_index.entry(key).or_insert_with(|| {
            self.payload.modes.push(key);
            n
        });
        let xb = h.xattrs.to_bytes();
        let n = self.payload.xattrs.len() as u64;
        let x = *self.xattr_index.entry(xb.clone()).or_insert_with(|| {
            self.payload.xattrs.push(xb);
            n
        });
        (m, x)
    }

    /// Starts content object `checksum` from the FROM commit's file
    /// `source` (copied whole or patched by the caller's next ops).
    fn open_from_source(
        &mut self,
        checksum: Checksum,
        header: &FileHeader,
        size: u64,
        source: Checksum,
        raw_start: u64,
    ) {
        self.objects
            .push(ObjectName::new(checksum, ObjectType::File));
        let (m, x) = self.mode_xattr(header);
        self.uncompressed += size;
        self.payload.raw.extend_from_slice(source.as_bytes());
        self.op(part::OP_SET_READ_SOURCE, &[raw_start]);
        self.op(part::OP_OPEN, &[m, x, size]);
    }

    fn op(&mut self, code: u8, args: &[u64]) {
        self.payload.ops.push(code);
        for &a in args {
            write_varint(&mut self.payload.ops, a);
        }
    }

    fn add(&mut self, repo: &Repo, item: &Item) -> Result<()> {
        let raw_start = self.payload.raw.len() as u64;
        match item {
            Item::Meta(name, bytes) => {
                self.objects.push(*name);
                self.uncompressed += bytes.len() as u64;
                self.payload.raw.extend_from_slice(bytes);
                self.op(
                    part::OP_OPEN_SPLICE_AND_CLOSE,
                    &[bytes.len() as u64, raw_start],
                );
            }
            Item::Whole {
                checksum,
                header,
                size,
            } => {
                self.objects
                    .push(ObjectName::new(*checksum, ObjectType::File));
                let (m, x) = self.mode_xattr(header);
                let len = if header.is_symlink() {
                    self.payload
                        .raw
                        .extend_from_slice(header.symlink_target.as_bytes());
                    header.symlink_target.len() as u64
                } else {
                    let mut o = repo.open_content(*checksum)?;
                    let n = (&mut o.reader)
                        .take(*size)
                        .read_to_end(&mut self.payload.raw)
                        .map_err(|e| RepoError::Io {
                            path: repo.content_path(*checksum),
                            source: e,
                        })?;
                    if n as u64 != *size {
                        return Err(RepoError::Io {
                            path: repo.content_path(*checksum),
                            source: std::io::ErrorKind::UnexpectedEof.into(),
                        }
                        .into());
                    }
                    *size
                };
                self.uncompressed += len;
                self.op(part::OP_OPEN_SPLICE_AND_CLOSE, &[m, x, len, raw_start]);
            }
            Item::Reuse {
                checksum,
                header,
                size,
                source,
            } => {
                self.open_from_source(*checksum, header, *size, *source, raw_start);
                self.op(part::OP_WRITE, &[*size, 0]);
                self.op(part::OP_CLOSE, &[]);
            }
            Item::Patch {
                checksum,
                header,
                size,
                source,
                patch,
            } => {
                self.open_from_source(*checksum, header, *size, *source, raw_start);
                let off = self.payload.raw.len() as u64;
                self.payload.raw.extend_from_slice(patch);
                self.op(part::OP_BSPATCH, &[off, patch.len() as u64]);
                self.op(part::OP_CLOSE, &[]);
                self.op(part::OP_UNSET_READ_SOURCE, &[]);
            }
        }
        Ok(())
    }
}

fn raw_len(item: &Item) -> u64 {
    match item {
        Item::Meta(_, b) => b.len() as u64,
        Item::Whole { header, size, .. } => {
            if header.is_symlink() {
                header.symlink_target.len() as u64
            } else {
                *size
            }
        }
        Item::Reuse { .. } => 32,
        Item::Patch { patch, .. } => 32 + patch.len() as u64,
    }
}

/// What an object costs a client to execute: its size plus a per-object share.
fn weight(item: &Item) -> u64 {
    512 + match item {
        Item::Meta(_, b) => b.len() as u64,
        Item::Whole { header, size, .. } => {
            if header.is_symlink() {
                header.symlink_target.len() as u64
            } else {
                *size
            }
        }
        Item::Reuse { size, .. } | Item::Patch { size, .. } => *size,
    }
}

/// A finished, compressed part.
struct BuiltPart {
    objects: Vec<ObjectName>,
    uncompressed: u64,
    file: Vec<u8>,
}

/// Compresses parts while `pack` is still filling the next ones: `pack`
/// hands each finished part to `emit`, and one worker per core compresses
/// them as they come. At most one part per worker waits, which bounds the
/// raw bytes held in memory. Returns the parts in the order they were emitted;
/// an empty part is dropped unless it is the only one.
fn compress_pipelined(
    compression: Compression,
    pack: impl FnOnce(&mut dyn FnMut(PartBuilder)) -> Result<()>,
) -> Result<Vec<BuiltPart>> {
    let workers = rayon::current_num_threads().max(1);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, PartBuilder)>(workers);
    let rx = std::sync::Mutex::new(rx);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Ok((i, b)) = rx.lock().expect("part queue").recv() else {
                    break;
                };
                let file = part::encode_part(&b.payload.to_bytes(), compression);
                done.lock().expect("parts").push((
                    i,
                    file.map(|file| BuiltPart {
                        objects: b.objects,
                        uncompressed: b.uncompressed,
                        file,
                    }),
                ));
            });
        }
        let mut n = 0;
        let packed = pack(&mut |b: PartBuilder| {
            if !b.objects.is_empty() || n == 0 {
                tx.send((n, b))
                    .expect("compression workers run until the queue closes");
                n += 1;
            }
        });
        drop(tx);
        packed
    })?;
    let mut done = done.into_inner().expect("parts");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter()
        .map(|(_, r)| r.map_err(io_err("xz")))
        .collect()
}

fn storage_size(repo: &Repo, name: &ObjectName) -> u64 {
    fs::symlink_metadata(repo.object_path(name))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Generates a delta and writes it into the repository (or
/// `opts.filename`), under the repository's shared lock.
pub fn generate(repo: &Repo, opts: &GenerateOptions) -> Result<GenerateStats> {
    let _lock = repo.lock(crate::repo::LockKind::Shared)?;
    let name = DeltaName::new(opts.from, opts.to);
    let commit_name = ObjectName::new(opts.to, ObjectType::Commit);
    let commit_bytes = repo.read_metadata(&commit_name)?;
    let to_reach = crate::tree::traverse::traverse_commit(repo, opts.to, 0)?;
    let from_reach = match opts.from {
        Some(f) => crate::tree::traverse::traverse_commit(repo, f, 0)?,
        None => HashSet::new(),
    };
    let mut new: Vec<ObjectName> = to_reach
        .difference(&from_reach)
        .copied()
        .filter(|o| *o != commit_name)
        .collect();
    new.sort();
    let mut stats = GenerateStats {
        name: Some(name),
        ..Default::default()
    };
    stats.loose_size = new.iter().map(|o| storage_size(repo, o)).sum();

    let new_content: Vec<Checksum> = new
        .iter()
        .filter(|o| o.objtype == ObjectType::File)
        .map(|o| o.checksum)
        .collect();
    let new_info: HashMap<Checksum, Info> = new_content
        .par_iter()
        .map(|c| Ok((*c, info(repo, *c)?)))
        .collect::<Result<_>>()?;

    // Pair new regular files with old ones.
    let mut pairs: HashMap<Checksum, Checksum> = HashMap::new();
    let mut from_info: HashMap<Checksum, Info> = HashMap::new();
    let to_files = tree_files(repo, opts.to)?;
    let mut new_paths: HashMap<Checksum, Vec<&str>> = HashMap::new();
    for (p, c) in &to_files {
        if new_info.contains_key(c) {
            new_paths.entry(*c).or_default().push(p.as_str());
        }
    }
    if let Some(from) = opts.from {
        let from_files = tree_files(repo, from)?;
        let uniq: HashSet<Checksum> = from_files.iter().map(|(_, c)| *c).collect();
        let uniq: Vec<Checksum> = uniq.into_iter().collect();
        from_info = uniq
            .par_iter()
            .map(|c| Ok((*c, info(repo, *c)?)))
            .collect::<Result<_>>()?;
        pairs = match_similar(&from_files, &from_info, &new_paths, &new_info);
    }
    // Whole files are packed in path order, as a tar of the tree would hold
    // them: neighbouring files are often alike, which xz rewards. (Grouping
    // by extension first saved 0.2% on a scratch delta of libc6 and systemd
    // but cost 15% more xz time.)
    let pack_key = |c: &Checksum| -> &str {
        new_paths
            .get(c)
            .and_then(|v| v.iter().min())
            .copied()
            .unwrap_or("")
    };

    // Diff (or recognise as identical) each pair, in parallel.
    // Largest pairs first, so no big bsdiff starts last and runs alone on one core.
    let mut pair_list: Vec<(Checksum, Checksum)> = pairs.iter().map(|(t, f)| (*t, *f)).collect();
    pair_list.sort_by_key(|(t, f)| (std::cmp::Reverse(new_info[t].size + from_info[f].size), *t));
    enum Plan {
        Reuse(Checksum),
        Patch(Checksum, Vec<u8>),
        Whole,
    }
    let plans: HashMap<Checksum, Plan> = pair_list
        .par_iter()
        .map(|&(to, from)| {
            let (ti, fi) = (&new_info[&to], &from_info[&from]);
            if ti.size == fi.size {
                let (a, b) = (read_all(repo, from)?, read_all(repo, to)?);
                if a == b {
                    return Ok((to, Plan::Reuse(from)));
                }
                if opts.bsdiff && ti.size + fi.size <= opts.max_bsdiff_size {
                    return Ok((to, patch_plan(&a, &b, from)));
                }
                return Ok((to, Plan::Whole));
            }
            if !opts.bsdiff || ti.size + fi.size > opts.max_bsdiff_size {
                return Ok((to, Plan::Whole));
            }
            let (a, b) = (read_all(repo, from)?, read_all(repo, to)?);
            Ok((to, patch_plan(&a, &b, from)))
        })
        .collect::<Result<_>>()?;
    fn patch_plan(old: &[u8], new: &[u8], from: Checksum) -> Plan {
        let p = bsdiff::diff(old, new);
        // Keep the patch only if most of the new file comes from the old one.
        if bsdiff::literal_bytes(&p) * 2 > new.len() as u64 {
            Plan::Whole
        } else {
            Plan::Patch(from, p)
        }
    }

    // Identical bytes under a different header, without a path or name match.
    let mut reuse_extra: HashMap<Checksum, Checksum> = HashMap::new();
    if opts.from.is_some() {
        let unmatched: Vec<Checksum> = new_content
            .iter()
            .copied()
            .filter(|c| !matches!(plans.get(c), Some(Plan::Reuse(_) | Plan::Patch(..))))
            .filter(|c| new_info[c].header.is_regular() && new_info[c].size >= 1024)
            .collect();
        let sizes: HashSet<u64> = unmatched.iter().map(|c| new_info[c].size).collect();
        let mut cands: Vec<Checksum> = from_info
            .iter()
            .filter(|(_, i)| {
                i.header.is_regular() && i.header.mode & 0o004 != 0 && sizes.contains(&i.size)
            })
            .map(|(c, _)| *c)
            .collect();
        cands.sort();
        if !cands.is_empty() {
            let hash = |c: &Checksum| -> Result<(Checksum, (u64, Checksum))> {
                let mut o = repo.open_content(*c)?;
                let mut h = crate::objects::checksum::Hasher::new();
                std::io::copy(&mut o.reader, &mut h).map_err(|e| RepoError::Io {
                    path: repo.content_path(*c),
                    source: e,
                })?;
                Ok((*c, (o.size, h.finish())))
            };
            let old: HashMap<(u64, Checksum), Checksum> = cands
                .par_iter()
                .map(hash)
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .map(|(c, k)| (k, c))
                .collect();
            for (c, k) in unmatched.par_iter().map(hash).collect::<Result<Vec<_>>>()? {
                if let Some(src) = old.get(&k) {
                    reuse_extra.insert(c, *src);
                }
            }
        }
    }

    // Order the items: metadata, then patched/reused, then whole files, then symlinks.
    let mut items: Vec<Item> = Vec::new();
    for o in new.iter().filter(|o| o.objtype.is_meta()) {
        items.push(Item::Meta(*o, repo.read_metadata(o)?));
        stats.metadata_objects += 1;
    }
    let mut plans = plans;
    let mut wholes = Vec::new();
    let mut symlinks = Vec::new();
    let mut fallbacks = Vec::new();
    for c in &new_content {
        let i = new_info[c].clone();
        stats.content_objects += 1;
        match plans.remove(c) {
            Some(Plan::Reuse(source)) => {
                stats.reused_objects += 1;
                items.push(Item::Reuse {
                    checksum: *c,
                    header: i.header,
                    size: i.size,
                    source,
                });
                continue;
            }
            Some(Plan::Patch(source, patch)) => {
                stats.bsdiff_objects += 1;
                items.push(Item::Patch {
                    checksum: *c,
                    header: i.header,
                    size: i.size,
                    source,
                    patch,
                });
                continue;
            }
            _ => {}
        }
        if let Some(&source) = reuse_extra.get(c) {
            stats.reused_objects += 1;
            items.push(Item::Reuse {
                checksum: *c,
                header: i.header,
                size: i.size,
                source,
            });
        } else if i.header.is_symlink() {
            symlinks.push(Item::Whole {
                checksum: *c,
                header: i.header,
                size: 0,
            });
        } else if opts.min_fallback_size > 0 && i.size > opts.min_fallback_size {
            let name = ObjectName::new(*c, ObjectType::File);
            fallbacks.push(Fallback {
                object: name,
                size: storage_size(repo, &name),
                uncompressed_size: i.size,
            });
        } else {
            wholes.push(Item::Whole {
                checksum: *c,
                header: i.header,
                size: i.size,
            });
        }
    }
    wholes.sort_by_cached_key(|i| match i {
        Item::Whole { checksum, .. } => pack_key(checksum),
        _ => Default::default(),
    });
    items.extend(wholes);
    items.extend(symlinks);
    stats.fallback_objects = fallbacks.len();

    // Pack into parts of similar client cost, compressed as they are finished.
    let raw_total: u64 = items.iter().map(raw_len).sum();
    let objects_total: u64 = items
        .iter()
        .map(|i| match i {
            Item::Meta(_, b) => b.len() as u64,
            Item::Whole { size, .. } | Item::Reuse { size, .. } | Item::Patch { size, .. } => *size,
        })
        .sum();
    let may_inline = match opts.inline {
        InlineParts::Always => true,
        InlineParts::Auto => opts.from.is_some() && objects_total >= AUTO_SPLIT_MIN_OBJECTS,
        InlineParts::Never => false,
    };
    let target_parts = if may_inline && opts.from.is_some() {
        AUTO_INLINE_PARTS
    } else if raw_total >= PARALLEL_SPLIT_MIN_RAW {
        rayon::current_num_threads().max(1) as u64
    } else {
        1
    };
    let part_weight = items.iter().map(weight).sum::<u64>().div_ceil(target_parts);
    let built = compress_pipelined(opts.compression, |emit| {
        let mut cur = PartBuilder::default();
        let mut cur_weight = 0u64;
        for item in &items {
            if !cur.objects.is_empty()
                && (cur.payload.raw.len() as u64 + raw_len(item) > opts.max_chunk_size
                    || cur_weight + weight(item) / 2 > part_weight)
            {
                emit(std::mem::take(&mut cur));
                cur_weight = 0;
            }
            cur_weight += weight(item);
            cur.add(repo, item)?;
        }
        // The last part, or the one empty part of a delta without new objects.
        emit(cur);
        Ok(())
    })?;
    let parts_size: u64 = built.iter().map(|p| p.file.len() as u64).sum();
    let inline = match opts.inline {
        InlineParts::Never => false,
        InlineParts::Always => true,
        InlineParts::Auto => may_inline && built.len() >= 3 && parts_size <= AUTO_INLINE_MAX_BYTES,
    };
    stats.inline = inline;

    // The superblock.
    let endian_char = if opts.endianness == Endianness::Big {
        b'B'
    } else {
        b'l'
    };
    let mut metadata = vec![(
        "ostree.endianness".to_string(),
        MetaValue {
            bytes: vec![endian_char],
            ty: "y".into(),
        },
    )];
    let mut headers = Vec::new();
    for (i, p) in built.iter().enumerate() {
        headers.push(PartHeader {
            version: DELTAPART_VERSION,
            checksum: Checksum::digest(&p.file),
            size: p.file.len() as u64,
            uncompressed_size: p.uncompressed,
            objects: p.objects.clone(),
        });
        stats.compressed_size += p.file.len() as u64;
        stats.uncompressed_size += p.uncompressed;
        if inline {
            metadata.push((
                name.part_path(i),
                MetaValue {
                    bytes: p.file.clone(),
                    ty: "(yay)".into(),
                },
            ));
        }
    }
    if let Some(detached) = repo.read_detached_metadata(opts.to)? {
        metadata.push((
            name.commitmeta_key(),
            MetaValue {
                bytes: detached.to_bytes(),
                ty: "a{sv}".into(),
            },
        ));
    }
    let timestamp = opts.timestamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let sb = Superblock {
        metadata,
        timestamp,
        from: opts.from,
        to: opts.to,
        commit: commit_bytes,
        parts: headers,
        fallbacks,
        signed: false,
        endianness: (opts.endianness, false),
    };
    let sb_bytes = sb.to_bytes();
    stats.parts = built.len();
    stats.superblock_size = sb_bytes.len() as u64;

    // Write: parts first, the superblock last.
    let parts: Vec<&[u8]> = if inline {
        Vec::new()
    } else {
        built.iter().map(|p| p.file.as_slice()).collect()
    };
    stats.superblock_path = match &opts.filename {
        Some(f) => {
            let dir = f
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            for (i, p) in parts.iter().enumerate() {
                write_file_atomic(&dir.join(i.to_string()), p)?;
            }
            write_file_atomic(f, &sb_bytes)?;
            f.clone()
        }
        None => write_into_repo(repo, &name, &parts, &sb_bytes)?,
    };
    Ok(stats)
}

/// Builds the delta in a temporary directory beside its final place, then swaps it in.
fn write_into_repo(
    repo: &Repo,
    name: &DeltaName,
    parts: &[&[u8]],
    superblock: &[u8],
) -> Result<PathBuf> {
    let final_dir = repo.path().join(name.relative_dir());
    let parent = final_dir.parent().expect("delta dirs have a parent");
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-delta-")
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    for (i, p) in parts.iter().enumerate() {
        write_file_atomic(&tmp.path().join(i.to_string()), p)?;
    }
    write_file_atomic(&tmp.path().join("superblock"), superblock)?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_err(tmp.path()))?;
    }
    let tmp_path = tmp.keep();
    if final_dir.exists() {
        let trash = parent.join(format!(
            ".old-{}",
            tmp_path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("delta")
        ));
        fs::rename(&final_dir, &trash).map_err(io_err(&final_dir))?;
        fs::rename(&tmp_path, &final_dir).map_err(io_err(&final_dir))?;
        let _ = fs::remove_dir_all(&trash);
    } else {
        fs::rename(&tmp_path, &final_dir).map_err(io_err(&final_dir))?;
    }
    Ok(final_dir.join("superblock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_flags_as_ostree_takes_them() {
        assert_eq!(
            DeltaFrom::from_flags(false, None).unwrap(),
            DeltaFrom::Parent
        );
        assert_eq!(DeltaFrom::from_flags(true, None).unwrap(), DeltaFrom::Empty);
        assert_eq!(
            DeltaFrom::from_flags(false, Some("r".into())).unwrap(),
            DeltaFrom::Rev("r".into())
        );
        let e = DeltaFrom::from_flags(true, Some("r".into())).unwrap_err();
        assert_eq!(e.to_string(), "Cannot specify both --empty and --from=REV");
        assert_eq!(InlineParts::from_flags(false, false), InlineParts::Auto);
        assert_eq!(InlineParts::from_flags(true, false), InlineParts::Always);
        assert_eq!(InlineParts::from_flags(false, true), InlineParts::Never);
        let mut o = GenerateOptions::new(None, Checksum::digest(b"x"));
        o.limits_mb(Some(1), None, Some(0));
        assert_eq!(o.min_fallback_size, 1_000_000);
        assert_eq!(o.max_bsdiff_size, 128_000_000);
        assert_eq!(o.max_chunk_size, 0);
    }

    #[test]
    fn generate_target_checks_in_ostree_order() {
        use crate::repo::RepoMode;
        let d = tempfile::tempdir().unwrap();
        let repo = Repo::init(d.path(), RepoMode::Archive, None).unwrap();
        let e = GenerateTarget::resolve(&repo, None, true, Some("r".into()), false).unwrap_err();
        assert_eq!(e.to_string(), "TO revision must be specified");
        let e =
            GenerateTarget::resolve(&repo, Some("t"), true, Some("r".into()), false).unwrap_err();
        assert_eq!(e.to_string(), "Cannot specify both --empty and --from=REV");
        let e = GenerateTarget::resolve(&repo, Some("t"), true, None, true).unwrap_err();
        assert!(matches!(e, super::super::DeltaError::Ref(_)), "{e}");
    }

    #[test]
    fn generate_waits_for_the_repository_lock() {
        use crate::repo::{LockKind, RepoMode};
        let d = tempfile::tempdir().unwrap();
        let mut repo = Repo::init(d.path(), RepoMode::Archive, None).unwrap();
        let mut cfg = repo.config().clone();
        cfg.set("core", "lock-timeout-secs", "1");
        repo.write_config(cfg).unwrap();
        let opts = GenerateOptions::new(None, Checksum::digest(b"absent"));
        let held = repo.lock(LockKind::Exclusive).unwrap();
        let e = generate(&repo, &opts).unwrap_err();
        assert!(
            matches!(e, super::super::DeltaError::Repo(RepoError::Lock { .. })),
            "generate ran under a prune's lock: {e}"
        );
        drop(held);
        // Unlocked, it gets as far as the (absent) commit.
        let e = generate(&repo, &opts).unwrap_err();
        assert!(
            matches!(
                e,
                super::super::DeltaError::Repo(RepoError::ObjectMissing(_))
            ),
            "{e}"
        );
    }
}
