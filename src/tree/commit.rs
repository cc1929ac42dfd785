//! Building commits: importing directories and stored trees into a
//! [`MutableTree`], the commit filter (`--owner-uid`, `--canonical-permissions`,
//! `--no-xattrs`), the (device, inode) cache behind `--link-checkout-speedup`,
//! and writing the commit object itself.
//! Upstream: `ostree-repo-commit.c` (`write_directory_to_mtree`,
//! `_ostree_repo_commit_modifier_apply`, `ostree_repo_write_commit_with_time`)
//! and `ot-builtin-commit.c`.
//!
//! Files are checksummed in parallel before anything is written, so content
//! the repository already holds is never compressed or copied again.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::metadata::Metadata;
use crate::objects::sizes::{SizeEntry, SIZES_KEY};
use crate::objects::{Commit, DirMeta, FileHeader, Xattrs};
use crate::repo::content::{checksum_content, Known};
use crate::repo::{Repo, RepoError, RepoMode};
use crate::tree::mtree::{MtreeError, MutableTree};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Unsupported file type for path \"{}\"", .0.display())]
    UnsupportedType(PathBuf),
    #[error("Invalid UTF-8 in filename {}", .0.display())]
    NonUtf8Name(PathBuf),
    #[error("{}: file changed while it was being committed", .0.display())]
    Changed(PathBuf),
    #[error("content object {checksum}: {source}")]
    SourceObject {
        checksum: Checksum,
        source: std::io::Error,
    },
    #[error("Malformed statoverride file (no space found)")]
    MalformedStatoverride,
    /// Added modes (`+MODE PATH`) whose path is in none of the trees.
    #[error("Unmatched statoverride paths")]
    UnmatchedStatoverride(Vec<String>),
    #[error("Unmatched skip-list paths")]
    UnmatchedSkipList(Vec<String>),
    #[error(transparent)]
    Tree(#[from] MtreeError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = CommitError> = std::result::Result<T, E>;

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> CommitError + '_ {
    move |source| CommitError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How file and directory metadata is rewritten on the way in.
#[derive(Clone, Debug, Default)]
pub struct CommitFilter {
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// uid/gid 0, modes masked to 0755 (implied in bare-user-only repos).
    pub canonical_permissions: bool,
    /// Drop xattrs (implied in bare-user-only repos).
    pub skip_xattrs: bool,
    /// `--mode-ro-executables`: regular files with an execute bit lose their write bits.
    pub ro_executables: bool,
    /// `--statoverride` and `--skip-list`, by path in the commit.
    pub paths: Option<std::sync::Arc<PathRules>>,
}

impl CommitFilter {
    /// The filter with what `repo`'s mode implies added.
    pub fn for_repo(mut self, repo: &Repo) -> Self {
        if repo.mode() == RepoMode::BareUserOnly {
            self.canonical_permissions = true;
            self.skip_xattrs = true;
        }
        if matches!(
            repo.config().get_bool("core", "disable-xattrs"),
            Some(Ok(true))
        ) {
            self.skip_xattrs = true;
        }
        self
    }

    /// Whether the filter can change anything.
    pub fn is_identity(&self) -> bool {
        self.owner_uid.is_none()
            && self.owner_gid.is_none()
            && !self.canonical_permissions
            && !self.skip_xattrs
            && !self.ro_executables
            && self.paths.is_none()
    }

    /// Applies the rules that do not depend on the path to (uid, gid, mode).
    pub fn apply(&self, uid: &mut u32, gid: &mut u32, mode: &mut u32) {
        self.apply_owner(uid, gid, mode);
        self.apply_canonical(uid, gid, mode);
    }

    /// Applies every rule to the entry at `path` in the commit (`/`, `/a/b`);
    /// false when the skip list leaves it out. In ostree's order: owner,
    /// read-only executables, statoverride, skip list, canonical permissions.
    pub fn apply_at(&self, path: &str, uid: &mut u32, gid: &mut u32, mode: &mut u32) -> bool {
        self.apply_owner(uid, gid, mode);
        let keep = match &self.paths {
            Some(rules) => rules.apply(path, mode),
            None => true,
        };
        self.apply_canonical(uid, gid, mode);
        keep
    }

    fn apply_owner(&self, uid: &mut u32, gid: &mut u32, mode: &mut u32) {
        if let Some(u) = self.owner_uid {
            *uid = u;
        }
        if let Some(g) = self.owner_gid {
            *gid = g;
        }
        if self.ro_executables && *mode & S_IFMT == S_IFREG && *mode & 0o111 != 0 {
            *mode &= !0o222;
        }
    }

    fn apply_canonical(&self, uid: &mut u32, gid: &mut u32, mode: &mut u32) {
        if self.canonical_permissions {
            *uid = 0;
            *gid = 0;
            match *mode & S_IFMT {
                S_IFREG => *mode &= S_IFREG | 0o755,
                S_IFDIR => *mode &= S_IFDIR | 0o755,
                _ => {}
            }
        }
    }

    pub fn apply_header(&self, h: &mut FileHeader) {
        self.apply(&mut h.uid, &mut h.gid, &mut h.mode);
        if self.skip_xattrs {
            h.xattrs = Xattrs::new();
        }
    }

    pub fn apply_dirmeta(&self, m: &mut DirMeta) {
        self.apply(&mut m.uid, &mut m.gid, &mut m.mode);
        if self.skip_xattrs {
            m.xattrs = Xattrs::new();
        }
    }

    /// [`apply_header`](Self::apply_header) with the path rules; false when skipped.
    pub fn apply_header_at(&self, path: &str, h: &mut FileHeader) -> bool {
        let keep = self.apply_at(path, &mut h.uid, &mut h.gid, &mut h.mode);
        if self.skip_xattrs {
            h.xattrs = Xattrs::new();
        }
        keep
    }

    /// [`apply_dirmeta`](Self::apply_dirmeta) with the path rules; false when skipped.
    pub fn apply_dirmeta_at(&self, path: &str, m: &mut DirMeta) -> bool {
        let keep = self.apply_at(path, &mut m.uid, &mut m.gid, &mut m.mode);
        if self.skip_xattrs {
            m.xattrs = Xattrs::new();
        }
        keep
    }

    /// For local directories ostree also drops xattrs under canonical permissions.
    fn drops_local_xattrs(&self) -> bool {
        self.skip_xattrs || self.canonical_permissions
    }
}

/// Per-path rules: `--statoverride=FILE` and `--skip-list=FILE`, keyed by
/// the path in the commit (`/usr/bin/x`). Upstream: `commit_filter` in
/// `ot-builtin-commit.c`.
///
/// A statoverride line is `MODE PATH` or `+MODE PATH` (bits or'ed into the
/// mode) or `=MODE PATH` (permission bits replaced, file type kept); MODE is
/// decimal (`2048` is setuid). An added mode applies to the first entry with
/// that path only, and every one must match something; a replaced mode
/// applies each time. As in ostree, a directory's rules are looked up twice
/// (when its parent lists it, then for the directory itself), so an added
/// mode on a directory is used up by the first look and has no effect.
#[derive(Debug, Default)]
pub struct PathRules {
    adds: std::sync::Mutex<HashMap<String, u32>>,
    overrides: HashMap<String, u32>,
    skip: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// The leading number of a statoverride MODE, read as `g_ascii_strtod` does
/// and truncated to a 32-bit integer (0 when there is none).
fn parse_mode(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut end = 0;
    let skip_digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_end = skip_digits(i);
    let mut j = int_end;
    if j < b.len() && b[j] == b'.' {
        j = skip_digits(j + 1);
    }
    if j > i && !(j == i + 1 && b[i] == b'.') {
        end = j;
        if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
            let mut k = end + 1;
            if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                k += 1;
            }
            let k2 = skip_digits(k);
            if k2 > k {
                end = k2;
            }
        }
    }
    if end == 0 {
        return 0;
    }
    let v: f64 = s[start..end].parse().unwrap_or(0.0);
    // C's (gint32) cast of an out-of-range double is undefined; saturate.
    (v as i64).clamp(i32::MIN as i64, i32::MAX as i64) as i32 as u32
}

/// Non-empty lines, as `ot_parse_file_by_line` reads them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').filter(|l| !l.is_empty())
}

impl PathRules {
    pub fn new() -> Self {
        PathRules::default()
    }

    /// Adds the lines of a statoverride file.
    pub fn add_statoverride(&mut self, text: &str) -> Result<()> {
        let adds = self.adds.get_mut().unwrap_or_else(|e| e.into_inner());
        for line in lines(text) {
            let (mode, path) = line
                .split_once(' ')
                .ok_or(CommitError::MalformedStatoverride)?;
            match mode.strip_prefix('=') {
                Some(m) => {
                    self.overrides.insert(path.to_string(), parse_mode(m));
                }
                None => {
                    adds.insert(path.to_string(), parse_mode(mode));
                }
            }
        }
        Ok(())
    }

    /// Adds the lines of a skip list (one path per line).
    pub fn add_skip_list(&mut self, text: &str) {
        let skip = self.skip.get_mut().unwrap_or_else(|e| e.into_inner());
        skip.extend(lines(text).map(str::to_string));
    }

    /// Applies the statoverride to `mode`; false when the skip list has `path`.
    fn apply(&self, path: &str, mode: &mut u32) -> bool {
        let add = self
            .adds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
        if let Some(add) = add {
            *mode |= add;
        } else if let Some(m) = self.overrides.get(path) {
            *mode = (*mode & S_IFMT) | m;
        }
        !self
            .skip
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path)
    }

    /// Fails naming the added modes and skipped paths that matched nothing.
    pub fn check_all_matched(&self) -> Result<()> {
        let mut adds: Vec<String> = self
            .adds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        if !adds.is_empty() {
            adds.sort();
            return Err(CommitError::UnmatchedStatoverride(adds));
        }
        let mut skip: Vec<String> = self
            .skip
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        if !skip.is_empty() {
            skip.sort();
            return Err(CommitError::UnmatchedSkipList(skip));
        }
        Ok(())
    }
}

/// A (device, inode) → content checksum map of the repository's objects, so
/// a tree of hardlinks into the repository is committed without reading it
/// (`--link-checkout-speedup`; upstream `ostree_repo_scan_hardlinks`).
#[derive(Clone, Debug, Default)]
pub struct DevInoCache {
    map: HashMap<(u64, u64), Checksum>,
}

impl DevInoCache {
    /// Scans the content objects of a bare or bare-user repository.
    pub fn scan(repo: &Repo) -> Result<Self> {
        let mut map = HashMap::new();
        if repo.mode() == RepoMode::Archive {
            return Ok(DevInoCache { map });
        }
        for name in repo.list_objects(Some(ObjectType::File))? {
            let p = repo.object_path(&name);
            if let Ok(st) = fs::symlink_metadata(&p) {
                if st.file_type().is_file() {
                    map.insert((st.dev(), st.ino()), name.checksum);
                }
            }
        }
        Ok(DevInoCache { map })
    }

    pub fn get(&self, dev: u64, ino: u64) -> Option<Checksum> {
        self.map.get(&(dev, ino)).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Options for importing a directory.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    pub filter: CommitFilter,
    pub devino: Option<DevInoCache>,
    /// `-I`/`--devino-canonical`: a (device, inode) hit is taken as is,
    /// without looking at the file or running the filter.
    pub devino_canonical: bool,
    /// `--consume`: the source goes away after the commit, so in bare and
    /// bare-user-only repositories a file may be renamed into the object
    /// store instead of copied ("adopted").
    pub consume: bool,
}

/// What an import did (ostree's `--table-output` counts).
#[derive(Clone, Debug, Default)]
pub struct ImportStats {
    /// Files seen.
    pub files: u64,
    /// Files that went through checksumming (ostree's "Content Total").
    pub content_total: u64,
    /// Content objects the repository did not have ("Content Written").
    pub files_written: u64,
    /// Files taken from the (device, inode) cache ("Content Cache Hits").
    pub devino_hits: u64,
    /// Bytes of content in the written objects.
    pub bytes_written: u64,
}

impl ImportStats {
    pub fn add(&mut self, other: &ImportStats) {
        self.files += other.files;
        self.content_total += other.content_total;
        self.files_written += other.files_written;
        self.devino_hits += other.devino_hits;
        self.bytes_written += other.bytes_written;
    }
}

/// How a file's checksum is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The (device, inode) cache named an object with this exact header.
    Cached(Checksum),
    /// Read and hashed; written when missing.
    Read,
    /// Read and hashed, then renamed into the object store (`--consume`).
    Adopt,
}

struct FileJob {
    /// The directory in the commit and on disk, shared by its files: one
    /// job per file of a 100,000-file tree is held at once.
    dir: Arc<[String]>,
    dir_path: Arc<Path>,
    name: String,
    header: FileHeader,
    size: u64,
    /// The job of an earlier link of the same inode in this batch
    /// (hardlinks in the source).
    same_as: Option<usize>,
    source: Source,
}

/// Files are checksummed and written in batches of this many, so a tree
/// of 100,000 files never holds 100,000 jobs.
const JOB_BATCH: usize = 4096;

impl FileJob {
    fn path(&self) -> PathBuf {
        self.dir_path.join(&self.name)
    }
}

fn name_of(path: &Path, os: &std::ffi::OsStr) -> Result<String> {
    os.to_str()
        .map(str::to_string)
        .ok_or_else(|| CommitError::NonUtf8Name(path.to_path_buf()))
}

/// The path of an entry in the commit: `/` for the root, else `/a/b`.
fn tree_path(dir: &[String], name: Option<&str>) -> String {
    let mut p = String::new();
    for c in dir.iter().map(String::as_str).chain(name) {
        p.push('/');
        p.push_str(c);
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

/// Commits the directory at `src` into `mtree`, overlaying what is there.
pub fn import_dir(
    repo: &Repo,
    mtree: &mut MutableTree,
    src: &Path,
    opts: &ImportOptions,
) -> Result<ImportStats> {
    let filter = &opts.filter;
    let mode = repo.mode();
    // Adopting renames into the object store: same file system, and a store
    // whose objects are plain files with the file's own mode.
    let can_adopt_here = opts.consume
        && matches!(mode, RepoMode::Bare | RepoMode::BareUserOnly)
        && fs::metadata(repo.path())
            .ok()
            .zip(fs::metadata(src).ok())
            .is_some_and(|(r, s)| r.dev() == s.dev());
    // Whether xattrs come out as they were read (ostree takes a cache hit only then).
    let xattrs_kept = !filter.drops_local_xattrs() && mode != RepoMode::BareUserOnly;
    let readers = Readers::new();
    let mut jobs: Vec<FileJob> = Vec::new();
    // (device, inode) of the batch's files with more links: their first job.
    let mut inodes: HashMap<(u64, u64), usize> = HashMap::new();
    let mut stats = ImportStats::default();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(src.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let st = fs::symlink_metadata(&dir).map_err(io_at(&dir))?;
        let xattrs = if filter.drops_local_xattrs() {
            Xattrs::new()
        } else {
            crate::tree::xattr::read_path(&dir).map_err(io_at(&dir))?
        };
        let mut meta = DirMeta {
            uid: st.uid(),
            gid: st.gid(),
            mode: st.mode(),
            xattrs,
        };
        // Skipped directories never get here (their parent checked), see PathRules.
        filter.apply_dirmeta_at(&tree_path(&rel, None), &mut meta);
        let meta_csum = repo.write_dirmeta(&meta)?;
        {
            let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
            let (parent, last) = match refs.split_last() {
                Some((last, parent)) => (parent.to_vec(), Some(*last)),
                None => (Vec::new(), None),
            };
            let node = mtree.walk(repo, &parent)?;
            let node = match last {
                Some(l) => node.ensure_dir(repo, l)?,
                None => node,
            };
            node.set_metadata(meta_csum);
        }
        let (shared_rel, shared_dir): (Arc<[String]>, Arc<Path>) =
            (rel.clone().into(), dir.as_path().into());
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(io_at(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io_at(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = name_of(&path, &e.file_name())?;
            let st = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            let ft = st.file_type();
            let at = tree_path(&rel, Some(&name));
            if ft.is_dir() {
                let (mut uid, mut gid, mut m) = (st.uid(), st.gid(), st.mode());
                if !filter.apply_at(&at, &mut uid, &mut gid, &mut m) {
                    continue;
                }
                let mut r = rel.clone();
                r.push(name);
                stack.push((path, r));
                continue;
            }
            let cached = opts.devino.as_ref().and_then(|c| c.get(st.dev(), st.ino()));
            if let (Some(c), true) = (cached, opts.devino_canonical) {
                jobs.push(FileJob {
                    dir: shared_rel.clone(),
                    dir_path: shared_dir.clone(),
                    name,
                    header: FileHeader {
                        uid: 0,
                        gid: 0,
                        mode: S_IFREG,
                        symlink_target: String::new(),
                        xattrs: Xattrs::new(),
                    },
                    size: st.len(),
                    same_as: None,
                    source: Source::Cached(c),
                });
                continue;
            }
            // What ostree sees before filtering: a bare-user object's stored
            // ownership and mode for a hardlink into the repository, else the file.
            let base = match cached {
                Some(c) if mode == RepoMode::BareUser => Some(repo.open_content(c)?.header),
                _ => None,
            };
            let mut header = match base.clone() {
                Some(h) => h,
                None => {
                    if !ft.is_file() && !ft.is_symlink() {
                        // Still subject to the skip list, as in ostree.
                        let (mut u, mut g, mut m) = (st.uid(), st.gid(), st.mode());
                        if !filter.apply_at(&at, &mut u, &mut g, &mut m) {
                            continue;
                        }
                        return Err(CommitError::UnsupportedType(path));
                    }
                    let xattrs = if filter.drops_local_xattrs() {
                        Xattrs::new()
                    } else {
                        crate::tree::xattr::read_path(&path).map_err(io_at(&path))?
                    };
                    let symlink_target = if ft.is_symlink() {
                        let t = fs::read_link(&path).map_err(io_at(&path))?;
                        t.into_os_string()
                            .into_string()
                            .map_err(|_| CommitError::NonUtf8Name(path.clone()))?
                    } else {
                        String::new()
                    };
                    let mode = if ft.is_symlink() {
                        S_IFLNK | (st.mode() & 0o7777)
                    } else {
                        st.mode()
                    };
                    FileHeader {
                        uid: st.uid(),
                        gid: st.gid(),
                        mode,
                        symlink_target,
                        xattrs,
                    }
                }
            };
            let before = header.clone();
            if !filter.apply_header_at(&at, &mut header) {
                continue;
            }
            let unmodified = header.uid == before.uid
                && header.gid == before.gid
                && header.mode == before.mode
                && xattrs_kept;
            let source = match cached {
                Some(c) if unmodified => Source::Cached(c),
                _ if can_adopt_here
                    && ft.is_file()
                    && (mode == RepoMode::BareUserOnly || unmodified) =>
                {
                    Source::Adopt
                }
                _ => Source::Read,
            };
            // Links of one inode share the first one's checksum within a
            // batch; a link met in a later batch is read again (its object
            // is then present). Remembering every inode with more links for
            // the whole tree would hold an entry per file of a hardlink
            // checkout, where each file's object is its second link.
            let same_as = if ft.is_file() && st.nlink() > 1 && source == Source::Read {
                let first = *inodes.entry((st.dev(), st.ino())).or_insert(jobs.len());
                (first != jobs.len()).then_some(first)
            } else {
                None
            };
            jobs.push(FileJob {
                dir: shared_rel.clone(),
                dir_path: shared_dir.clone(),
                name,
                header,
                size: st.len(),
                same_as,
                source,
            });
            if jobs.len() >= JOB_BATCH {
                store_files(repo, mtree, &mut jobs, &mut inodes, &mut stats, &readers)?;
            }
        }
    }
    store_files(repo, mtree, &mut jobs, &mut inodes, &mut stats, &readers)?;
    Ok(stats)
}

/// Source files are read by this many threads per core: a file not in the
/// page cache blocks its reader on the disk, and with one reader per core
/// both cores waited on reads for most files of a 600,000-file tree
/// (`perf record -e sched:sched_switch`: 576,000 waits in `filemap_read`).
/// Measured on 100,000 files evicted from the cache: 22.6-25.6 s wall with
/// 2 threads, 16.6-17.9 s with 8, the same CPU time; no slower when cached.
const READERS_PER_CORE: usize = 4;

/// At most this many readers: each holds a buffer of up to
/// [`WHOLE_READ_MAX`] and a few open files.
const MAX_READERS: usize = 32;

/// The threads that read, hash and write a batch of files; the global
/// rayon pool if a pool of its own cannot be made.
struct Readers(Option<rayon::ThreadPool>);

impl Readers {
    fn new() -> Self {
        let threads = rayon::current_num_threads()
            .saturating_mul(READERS_PER_CORE)
            .min(MAX_READERS);
        Readers(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .ok(),
        )
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.0 {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}

/// Checksums (and writes when missing) a batch of files in parallel, puts
/// them into `mtree`, and empties the batch and its hardlink map.
fn store_files(
    repo: &Repo,
    mtree: &mut MutableTree,
    jobs: &mut Vec<FileJob>,
    inodes: &mut HashMap<(u64, u64), usize>,
    total: &mut ImportStats,
    readers: &Readers,
) -> Result<()> {
    // Checksum (and write when missing) every file in parallel, each into
    // its slot of `sums` (no per-file result is held beyond its checksum).
    let mut sums: Vec<Checksum> = vec![Checksum::default(); jobs.len()];
    let jobs_ref: &[FileJob] = jobs;
    let mut stats = readers.install(|| {
        sums.par_iter_mut()
            .zip(jobs_ref.par_iter())
            .map(|(slot, job)| -> Result<ImportStats> {
                let (c, s) = match job.source {
                    Source::Cached(c) => (
                        c,
                        ImportStats {
                            devino_hits: 1,
                            ..Default::default()
                        },
                    ),
                    // Filled in below, once the first link of the inode has its checksum.
                    _ if job.same_as.is_some() => return Ok(ImportStats::default()),
                    Source::Read => import_file(repo, job)?,
                    Source::Adopt => adopt_file(repo, job)?,
                };
                *slot = c;
                Ok(s)
            })
            .try_reduce(ImportStats::default, |mut a, b| {
                a.add(&b);
                Ok(a)
            })
    })?;
    for i in 0..jobs.len() {
        let Some(j) = jobs[i].same_as else {
            continue;
        };
        // Hardlinks share content but the filter may differ per path; same header ⇒ same checksum.
        let (c, s) = if jobs[j].header == jobs[i].header {
            (
                sums[j],
                ImportStats {
                    content_total: 1,
                    ..Default::default()
                },
            )
        } else {
            import_file(repo, &jobs[i])?
        };
        sums[i] = c;
        stats.add(&s);
    }
    stats.files += jobs.len() as u64;
    total.add(&stats);
    for (job, c) in jobs.drain(..).zip(sums) {
        let refs: Vec<&str> = job.dir.iter().map(String::as_str).collect();
        mtree.walk(repo, &refs)?.replace_file(repo, &job.name, c)?;
    }
    inodes.clear();
    Ok(())
}

/// Regular files up to this size are read whole, with one `read`, into a
/// buffer each worker thread reuses, then hashed and (when missing) written
/// from memory: one open, one read and one SHA-256 pass per file. Larger
/// files are streamed twice (hashed, then copied while hashed again), so
/// no file is held in memory whole.
const WHOLE_READ_MAX: u64 = 1024 * 1024;

/// Reads the regular file `f`, `size` bytes long when it was stat'ed, into
/// `buf` (grown as needed, never shrunk or cleared) and returns its bytes.
/// A read that stops short once `size` bytes are in is the end of the file,
/// so a file that kept its size costs one `read`; a file that grew or
/// shrank since is [`CommitError::Changed`].
fn read_whole<'b>(f: &mut File, size: u64, buf: &'b mut Vec<u8>, path: &Path) -> Result<&'b [u8]> {
    use std::io::Read;
    let size = size as usize;
    // One byte more than expected, to see a file that grew.
    if buf.len() < size + 1 {
        buf.resize(size + 1, 0);
    }
    let mut got = 0;
    loop {
        match f.read(&mut buf[got..=size]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if got >= size {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_at(path)(e)),
        }
    }
    if got != size {
        return Err(CommitError::Changed(path.to_path_buf()));
    }
    Ok(&buf[..size])
}

/// Checksums one file and writes it if the repository lacks it.
fn import_file(repo: &Repo, job: &FileJob) -> Result<(Checksum, ImportStats)> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let path = &job.path();
    let written = |size| ImportStats {
        content_total: 1,
        files_written: 1,
        bytes_written: size,
        ..Default::default()
    };
    let present = ImportStats {
        content_total: 1,
        ..Default::default()
    };
    let stats =
        |(c, new): (Checksum, bool), size| (c, if new { written(size) } else { present.clone() });
    if job.header.is_symlink() {
        return Ok(stats(repo.write_content_bytes(&job.header, &[])?, 0));
    }
    let mut f = File::open(path).map_err(io_at(path))?;
    if job.size <= WHOLE_READ_MAX {
        return BUF.with(|b| {
            let mut buf = b.borrow_mut();
            let data = read_whole(&mut f, job.size, &mut buf, path)?;
            drop(f);
            Ok(stats(
                repo.write_content_bytes(&job.header, data)?,
                job.size,
            ))
        });
    }
    let c = checksum_content(&job.header, &mut f).map_err(io_at(path))?;
    drop(f);
    if repo.has_content(c) {
        return Ok((c, present));
    }
    let mut f = File::open(path).map_err(io_at(path))?;
    match repo.write_missing_content(Known::Verify(c), &job.header, job.size, &mut f) {
        Ok(()) => Ok((c, written(job.size))),
        Err(RepoError::Corrupted { .. }) => Err(CommitError::Changed(path.clone())),
        Err(RepoError::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(CommitError::Changed(path.clone()))
        }
        Err(RepoError::ContentRead { source }) => Err(CommitError::Io {
            path: path.clone(),
            source,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Checksums one regular file and renames it into the object store.
fn adopt_file(repo: &Repo, job: &FileJob) -> Result<(Checksum, ImportStats)> {
    let path = &job.path();
    let mut f = File::open(path).map_err(io_at(path))?;
    let c = checksum_content(&job.header, &mut f).map_err(io_at(path))?;
    let adopted = repo.adopt_content(c, &job.header, path)?;
    let stats = ImportStats {
        content_total: 1,
        files_written: adopted as u64,
        bytes_written: if adopted { job.size } else { 0 },
        ..Default::default()
    };
    Ok((c, stats))
}

/// Overlays a stored commit's tree (`--tree=ref=`). With a non-identity
/// filter every file and directory is rewritten through it, as ostree does.
pub fn import_commit_tree(
    repo: &Repo,
    mtree: &mut MutableTree,
    commit: Checksum,
    filter: &CommitFilter,
) -> Result<()> {
    let c = repo.load_commit(commit)?;
    if filter.is_identity() {
        mtree.merge_stored(repo, c.root_contents, c.root_meta)?;
        return Ok(());
    }
    filter_stored_tree(repo, mtree, c.root_contents, c.root_meta, filter, &[])
}

fn filter_stored_tree(
    repo: &Repo,
    mtree: &mut MutableTree,
    contents: Checksum,
    meta: Checksum,
    filter: &CommitFilter,
    rel: &[String],
) -> Result<()> {
    let mut m = repo.load_dirmeta(meta)?;
    filter.apply_dirmeta_at(&tree_path(rel, None), &mut m);
    mtree.set_metadata(repo.write_dirmeta(&m)?);
    let tree = repo.load_dirtree(contents)?;
    let rewritten: Vec<Result<Option<(String, Checksum)>>> = tree
        .files
        .par_iter()
        .map(|f| {
            let obj = repo.open_content(f.checksum)?;
            let mut h = obj.header.clone();
            if !filter.apply_header_at(&tree_path(rel, Some(&f.name)), &mut h) {
                return Ok(None);
            }
            if h == obj.header {
                return Ok(Some((f.name.clone(), f.checksum)));
            }
            let mut reader = obj.reader;
            let c = repo
                .write_content(&h, obj.size, &mut reader)
                .map_err(|e| match e {
                    RepoError::ContentRead { source } => CommitError::SourceObject {
                        checksum: f.checksum,
                        source,
                    },
                    e => e.into(),
                })?;
            Ok(Some((f.name.clone(), c)))
        })
        .collect();
    for r in rewritten {
        if let Some((name, c)) = r? {
            mtree.replace_file(repo, &name, c)?;
        }
    }
    for d in tree.dirs {
        let mut sub_rel = rel.to_vec();
        sub_rel.push(d.name.clone());
        // The parent's look at the entry (see PathRules): it may skip it.
        let dm = repo.load_dirmeta(d.meta)?;
        let (mut uid, mut gid, mut mode) = (dm.uid, dm.gid, dm.mode);
        if !filter.apply_at(&tree_path(&sub_rel, None), &mut uid, &mut gid, &mut mode) {
            continue;
        }
        let sub = mtree.ensure_dir(repo, &d.name)?;
        filter_stored_tree(repo, sub, d.tree, d.meta, filter, &sub_rel)?;
    }
    Ok(())
}

/// Everything in a commit object besides its tree.
#[derive(Clone, Debug, Default)]
pub struct CommitSpec {
    pub subject: String,
    pub body: String,
    pub parent: Option<Checksum>,
    /// Seconds since the epoch.
    pub timestamp: u64,
    pub metadata: Metadata,
    /// Written as `.commitmeta` when set.
    pub detached: Option<Metadata>,
    /// Append `ostree.sizes` for the tree (`--generate-sizes`; archive repositories only).
    pub generate_sizes: bool,
}

/// Writes a commit for the tree `(contents, meta)`, plus its detached metadata.
pub fn write_commit(
    repo: &Repo,
    root: (Checksum, Checksum),
    spec: &CommitSpec,
) -> Result<Checksum> {
    let mut metadata = spec.metadata.clone();
    if spec.generate_sizes {
        // After everything else, as ostree_repo_write_commit_with_time adds it.
        let entries = tree_sizes(repo, root)?;
        if !entries.is_empty() {
            let list: Vec<Vec<u8>> = entries.iter().map(SizeEntry::to_bytes).collect();
            metadata.push(SIZES_KEY, crate::objects::metadata::owned(list));
        }
    }
    let commit = Commit {
        metadata,
        parent: spec.parent,
        related: Vec::new(),
        subject: spec.subject.clone(),
        body: spec.body.clone(),
        timestamp: spec.timestamp,
        root_contents: root.0,
        root_meta: root.1,
    };
    let c = repo.write_commit(&commit)?;
    if let Some(d) = &spec.detached {
        repo.write_detached_metadata(c, Some(d))?;
    }
    Ok(c)
}

/// The `ostree.sizes` entries of the tree `(contents, meta)`: every distinct
/// content, dirtree and dirmeta object in it, sorted by checksum, with the
/// sizes as stored in this archive repository. Other modes record nothing
/// (ostree generates sizes for archive repositories only).
pub fn tree_sizes(repo: &Repo, root: (Checksum, Checksum)) -> Result<Vec<SizeEntry>> {
    if !repo.mode().is_archive() {
        return Ok(Vec::new());
    }
    let stored_len = |name: ObjectName| -> Result<u64> {
        let path = repo.object_path(&name);
        Ok(fs::metadata(&path).map_err(io_at(&path))?.len())
    };
    let mut entries: BTreeMap<Checksum, SizeEntry> = BTreeMap::new();
    let metadata_entry =
        |entries: &mut BTreeMap<Checksum, SizeEntry>, name: ObjectName| -> Result<bool> {
            if entries.contains_key(&name.checksum) {
                return Ok(false);
            }
            let len = stored_len(name)?;
            entries.insert(
                name.checksum,
                SizeEntry {
                    name,
                    archived: len,
                    unpacked: len,
                },
            );
            Ok(true)
        };
    let mut stack = vec![root];
    while let Some((contents, meta)) = stack.pop() {
        metadata_entry(&mut entries, ObjectName::new(meta, ObjectType::DirMeta))?;
        if !metadata_entry(&mut entries, ObjectName::new(contents, ObjectType::DirTree))? {
            continue; // an identical directory was walked already
        }
        let tree = repo.load_dirtree(contents)?;
        for f in &tree.files {
            if entries.contains_key(&f.checksum) {
                continue;
            }
            let name = ObjectName::new(f.checksum, ObjectType::File);
            let obj = repo.open_content(f.checksum)?;
            let unpacked = if obj.header.is_symlink() {
                obj.header.symlink_target.len() as u64
            } else {
                obj.size
            };
            entries.insert(
                f.checksum,
                SizeEntry {
                    name,
                    archived: stored_len(name)?,
                    unpacked,
                },
            );
        }
        stack.extend(tree.dirs.iter().map(|d| (d.tree, d.meta)));
    }
    Ok(entries.into_values().collect())
}

/// Adds `ostree.ref-binding` (sorted refs) and, if the repo has a collection
/// id and the metadata does not set one, `ostree.collection-binding` —
/// appended last, as `ostree commit` does.
pub fn add_bindings(repo: &Repo, metadata: &mut Metadata, refs: &[String]) {
    let mut refs: Vec<String> = refs.to_vec();
    refs.sort();
    metadata.push("ostree.ref-binding", crate::objects::metadata::owned(refs));
    if let Some(id) = repo.collection_id() {
        if !metadata.contains("ostree.collection-binding") {
            metadata.push(
                "ostree.collection-binding",
                crate::objects::metadata::owned(id.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One read of a file that kept its size gives its bytes; a file longer
    /// or shorter than its stat size is "changed", whatever the buffer held.
    #[test]
    fn whole_reads_see_changed_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"0123456789").unwrap();
        let mut buf = vec![b'x'; 64];
        for (size, ok) in [(10, true), (9, false), (11, false), (0, false)] {
            let mut f = File::open(&path).unwrap();
            match read_whole(&mut f, size, &mut buf, &path) {
                Ok(data) => {
                    assert!(ok, "size {size} read");
                    assert_eq!(data, b"0123456789");
                }
                Err(CommitError::Changed(p)) => assert!(!ok && p == path, "size {size}"),
                Err(e) => panic!("size {size}: {e}"),
            }
        }
        fs::write(&path, b"").unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(read_whole(&mut f, 0, &mut buf, &path).unwrap(), b"");
    }

    #[test]
    fn canonical_permissions() {
        let f = CommitFilter {
            canonical_permissions: true,
            owner_uid: Some(5),
            ..Default::default()
        };
        let (mut u, mut g, mut m) = (5, 6, S_IFREG | 0o4775);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!((u, g, m), (0, 0, S_IFREG | 0o755));
        let (mut u, mut g, mut m) = (1, 1, S_IFDIR | 0o2770);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!(m, S_IFDIR | 0o750);
        let (mut u, mut g, mut m) = (1, 1, S_IFLNK | 0o777);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!(m, S_IFLNK | 0o777);
    }
}
