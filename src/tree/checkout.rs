//! Checkout: laying a tree from the repository out in the filesystem.
//!
//! Owns the placement rules of `ostree checkout` (upstream
//! `ostree-repo-checkout.c`, driven by `ot-builtin-checkout.c`):
//!
//! - Directories are created `0700`, filled, then chown'd (normal mode),
//!   chmod'd to their stored mode and given mtime 0 (unless `force_copy`).
//!   Directories that existed already (union modes) are left as they are.
//! - Content objects are hardlinked when the repository stores them in the
//!   form the checkout wants: a `bare` repo in normal mode, a `bare-user` or
//!   `bare-user-only` repo in user mode. Zero-size files, user-mode files
//!   without `u+r` and bare-user symlinks are always copied. A link that
//!   fails with `EXDEV`/`EMLINK`/`EPERM` falls back to a copy unless
//!   `require_hardlinks`.
//! - Copies get the stored mode; in normal mode also owner and xattrs; in
//!   user mode setuid/setgid are dropped.
//! - Union modes decide what happens to an existing entry; replacement is a
//!   temp file (or link) plus `rename`, so readers never see half a file.
//! - Docker-style whiteouts (`.wh.NAME`, `.wh..wh..opq`) when asked for.
//!
//! Everything is done relative to directory file descriptors, names are
//! validated as single components, and an existing directory that turns out
//! to be a symlink (union modes) is only followed with `RESOLVE_IN_ROOT`:
//! absolute targets and `..` resolve inside the destination as in a chroot,
//! so a checkout never writes outside its destination. The files of a directory, and its
//! subdirectories, are placed in parallel (rayon).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Timespec, Timestamps, CWD};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use crate::objects::checksum::Checksum;
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::{DirMeta, FileHeader, Xattrs};
use crate::repo::content::{checksum_content, OSTREEMETA_XATTR};
use crate::repo::{atomic, Repo, RepoError, RepoMode};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IRUSR: u32 = 0o400;
/// Directories with at least this many files have them placed in parallel.
const PARALLEL_FILES: usize = 8;

/// Whose ownership and xattrs the checkout carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckoutMode {
    /// Owner, mode and xattrs as stored (needs root for other owners).
    #[default]
    Normal,
    /// Files owned by the caller, no xattrs, setuid/setgid dropped (`-U`).
    User,
}

/// What to do with entries that already exist in the destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverwriteMode {
    /// Anything existing is an error (the destination itself included).
    #[default]
    None,
    /// Keep directories, replace files and symlinks (`--union`).
    UnionFiles,
    /// Keep everything existing, add only what is missing (`--union-add`).
    AddFiles,
    /// Existing files must be identical to the checked-out ones (`--union-identical`).
    UnionIdentical,
}

/// How to check out.
#[derive(Clone, Debug, Default)]
pub struct CheckoutOptions {
    pub mode: CheckoutMode,
    pub overwrite: OverwriteMode,
    /// Only this path of the tree (`/usr/bin`, or a single file).
    pub subpath: Option<String>,
    /// A missing `subpath` is no error: nothing is checked out.
    pub allow_noent: bool,
    /// Never copy content that could be hardlinked (`-H`).
    pub require_hardlinks: bool,
    /// Never hardlink; created directories keep the current mtime (`-C`).
    pub force_copy: bool,
    /// Process `.wh.NAME` and `.wh..wh..opq` entries (`--whiteouts`).
    pub process_whiteouts: bool,
    /// fsync files and directories as they are finished.
    pub fsync: bool,
    /// Mask directory modes with 0775 (`-M`; always on for bare-user-only repos).
    pub bareuseronly_dirs: bool,
    /// Paths to leave out: `/a/file` for files, `/a/dir/` for directories.
    pub skip_list: Option<HashSet<String>>,
    /// Archive repositories in user mode: keep unpacked content in the
    /// repository's `uncompressed-objects-cache/` and hardlink from it
    /// (ostree's default for `checkout -U`; off with `--disable-cache`).
    pub uncompressed_cache: bool,
    /// Turn `.ostree-wh.NAME` files into overlayfs whiteouts NAME
    /// (`--process-passthrough-whiteouts`).
    pub process_passthrough_whiteouts: bool,
}

/// How a commit stores an overlayfs whiteout (a 0:0 character device) as a plain file.
pub const PASSTHROUGH_WHITEOUT_PREFIX: &str = ".ostree-wh.";

impl CheckoutOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn user_mode(mut self, on: bool) -> Self {
        self.mode = if on {
            CheckoutMode::User
        } else {
            CheckoutMode::Normal
        };
        self
    }
    pub fn overwrite(mut self, mode: OverwriteMode) -> Self {
        self.overwrite = mode;
        self
    }
    pub fn subpath(mut self, p: impl Into<String>) -> Self {
        self.subpath = Some(p.into());
        self
    }
    pub fn require_hardlinks(mut self, on: bool) -> Self {
        self.require_hardlinks = on;
        self
    }
    pub fn force_copy(mut self, on: bool) -> Self {
        self.force_copy = on;
        self
    }
    pub fn process_whiteouts(mut self, on: bool) -> Self {
        self.process_whiteouts = on;
        self
    }
}

/// What to check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutSource {
    /// The root tree of a commit.
    Commit(Checksum),
    /// A directory given by its dirtree and dirmeta checksums.
    Tree { contents: Checksum, meta: Checksum },
}

/// What a checkout did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckoutStats {
    pub dirs_created: u64,
    pub files_linked: u64,
    pub files_copied: u64,
    pub symlinks_created: u64,
    pub bytes_copied: u64,
    /// Entries left alone because they existed (union modes).
    pub existing_kept: u64,
    pub whiteouts: u64,
    /// Entries left out by the skip list.
    pub skipped: u64,
}

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("--union-identical requires --require-hardlinks")]
    UnionIdenticalNeedsHardlinks,
    #[error("Cannot specify both --require-hardlinks and --force-copy")]
    HardlinksAndCopy,
    #[error("User repository mode requires user checkout mode to hardlink")]
    UserRepoNeedsUserMode,
    #[error("Bare repository mode cannot hardlink in user checkout mode")]
    CannotHardlink,
    #[error("Unable to do hardlink checkout across devices (src={src} destination={dest}): {}", path.display())]
    CrossDevice { src: u64, dest: u64, path: PathBuf },
    #[error("No such file or directory: {0}")]
    NoSuchPath(String),
    #[error("Not a directory: {0}")]
    NotADirectory(String),
    #[error("{}: invalid file name '{name}' in the tree", dir.display())]
    InvalidName { dir: PathBuf, name: String },
    #[error("{}: Invalid empty whiteout '{name}'", path.display())]
    InvalidWhiteout { path: PathBuf, name: String },
    #[error("Hardlinking {object} to {}: {}", dest.display(), strerror(err))]
    Hardlink {
        object: String,
        dest: PathBuf,
        err: io::Error,
    },
    #[error("Copy checkout of {checksum} to {}: {op}: {}", dest.display(), strerror(err))]
    Copy {
        checksum: Checksum,
        dest: PathBuf,
        op: &'static str,
        err: io::Error,
    },
    #[error("{}: {op}: {}", path.display(), strerror(err))]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = CheckoutError> = std::result::Result<T, E>;

/// `strerror` text without Rust's "(os error N)" suffix, as ostree prints it.
pub(crate) fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match e.raw_os_error() {
        Some(code) => s
            .strip_suffix(&format!(" (os error {code})"))
            .map(str::to_string)
            .unwrap_or(s),
        None => s,
    }
}

fn io_err(op: &'static str, path: PathBuf) -> impl FnOnce(Errno) -> CheckoutError {
    move |e| CheckoutError::Io {
        op,
        path,
        err: e.into(),
    }
}

/// Checks out `source` into `dest` (created unless a union mode allows it to exist).
pub fn checkout_tree(
    repo: &Repo,
    source: CheckoutSource,
    dest: &Path,
    opts: &CheckoutOptions,
) -> Result<CheckoutStats> {
    if opts.overwrite == OverwriteMode::UnionIdentical && !opts.require_hardlinks {
        return Err(CheckoutError::UnionIdenticalNeedsHardlinks);
    }
    if opts.require_hardlinks && opts.force_copy {
        return Err(CheckoutError::HardlinksAndCopy);
    }
    let repo_mode = repo.mode();
    // Nothing else makes sense for bare-user-only (canonicalize_options).
    let user = opts.mode == CheckoutMode::User || repo_mode == RepoMode::BareUserOnly;
    let repo_usermode = matches!(repo_mode, RepoMode::BareUser | RepoMode::BareUserOnly);
    let hardlinkable = (repo_mode == RepoMode::Bare && !user) || (repo_usermode && user);
    let objects_path = repo.path().join("objects");
    let objects = rustix::fs::open(
        &objects_path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("open", objects_path.clone()))?;
    let repo_dev = rustix::fs::fstat(&objects)
        .map_err(io_err("fstat", objects_path))?
        .st_dev as u64;
    if opts.require_hardlinks && !hardlinkable {
        // As ostree: a destination on another device is reported first (ostree
        // finds it when it creates the directory), then the mode mismatch.
        // Both are found before anything is created.
        let probe = if dest.is_dir() {
            dest
        } else {
            dest.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        };
        if let Ok(st) = rustix::fs::stat(probe) {
            if st.st_dev as u64 != repo_dev {
                return Err(CheckoutError::CrossDevice {
                    src: repo_dev,
                    dest: st.st_dev as u64,
                    path: dest.to_path_buf(),
                });
            }
        }
        return Err(if repo_usermode {
            CheckoutError::UserRepoNeedsUserMode
        } else {
            CheckoutError::CannotHardlink
        });
    }
    let (contents, meta) = match source {
        CheckoutSource::Commit(c) => {
            let commit = repo.load_commit(c)?;
            (commit.root_contents, commit.root_meta)
        }
        CheckoutSource::Tree { contents, meta } => (contents, meta),
    };
    let cx = Checkout {
        repo,
        opts,
        user,
        link: if hardlinkable && !opts.force_copy {
            Some(repo_mode)
        } else {
            None
        },
        mask_dirs: repo_mode == RepoMode::BareUserOnly || opts.bareuseronly_dirs,
        compare_xattrs: repo_mode != RepoMode::BareUserOnly
            && !matches!(
                repo.config().get_bool("core", "disable-xattrs"),
                Some(Ok(true))
            ),
        canonical_compare: repo_mode == RepoMode::BareUserOnly,
        objects,
        use_cache: repo_mode == RepoMode::Archive
            && user
            && opts.uncompressed_cache
            && !opts.force_copy,
        cache: std::sync::OnceLock::new(),
        cache_dirs: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        repo_dev,
        dest: dest.to_path_buf(),
        stats: Counters::default(),
    };

    // Resolve the subpath inside the tree.
    let mut target = Target::Dir { contents, meta };
    let mut walked = String::new();
    if let Some(sub) = &opts.subpath {
        for comp in sub.split('/').filter(|c| !c.is_empty() && *c != ".") {
            walked.push('/');
            walked.push_str(comp);
            let Target::Dir { contents, .. } = target else {
                return Err(CheckoutError::NotADirectory(walked));
            };
            let tree = repo.load_dirtree(contents)?;
            let found = if comp == ".." {
                None
            } else if let Some(d) = tree.dirs.iter().find(|d| d.name == comp) {
                Some(Target::Dir {
                    contents: d.tree,
                    meta: d.meta,
                })
            } else {
                tree.files
                    .iter()
                    .find(|f| f.name == comp)
                    .map(|f| Target::File {
                        name: f.name.clone(),
                        checksum: f.checksum,
                    })
            };
            match found {
                Some(t) => target = t,
                None if opts.allow_noent => return Ok(CheckoutStats::default()),
                None => return Err(CheckoutError::NoSuchPath(walked)),
            }
        }
    }

    match target {
        Target::Dir { contents, meta } => {
            cx.checkout_dir(CWD, dest.as_os_str(), None, "", contents, meta)?;
        }
        Target::File { name, checksum } => {
            // A single file goes inside DEST, which is created if needed.
            match rustix::fs::mkdirat(CWD, dest, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err("mkdirat", dest.to_path_buf())(e)),
            }
            let dfd = rustix::fs::openat(
                CWD,
                dest,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err("open", dest.to_path_buf()))?;
            cx.check_device(&dfd, "")?;
            cx.checkout_file(dfd.as_fd(), "", &name, checksum, false)?;
        }
    }
    cx.gc_cache()?;
    Ok(cx.stats.snapshot())
}

enum Target {
    Dir { contents: Checksum, meta: Checksum },
    File { name: String, checksum: Checksum },
}

#[derive(Default)]
struct Counters {
    dirs_created: AtomicU64,
    files_linked: AtomicU64,
    files_copied: AtomicU64,
    symlinks_created: AtomicU64,
    bytes_copied: AtomicU64,
    existing_kept: AtomicU64,
    whiteouts: AtomicU64,
    skipped: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self) -> CheckoutStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CheckoutStats {
            dirs_created: g(&self.dirs_created),
            files_linked: g(&self.files_linked),
            files_copied: g(&self.files_copied),
            symlinks_created: g(&self.symlinks_created),
            bytes_copied: g(&self.bytes_copied),
            existing_kept: g(&self.existing_kept),
            whiteouts: g(&self.whiteouts),
            skipped: g(&self.skipped),
        }
    }
}

/// The state shared by one checkout.
struct Checkout<'a> {
    repo: &'a Repo,
    opts: &'a CheckoutOptions,
    /// User checkout mode (after forcing it for bare-user-only).
    user: bool,
    /// `Some(repo mode)` when content objects may be hardlinked.
    link: Option<RepoMode>,
    mask_dirs: bool,
    /// How to checksum existing files for union-identical comparisons.
    compare_xattrs: bool,
    canonical_compare: bool,
    objects: OwnedFd,
    /// Archive repository, user mode: content is unpacked once into
    /// `uncompressed-objects-cache/` and hardlinked from there.
    use_cache: bool,
    cache: std::sync::OnceLock<OwnedFd>,
    /// The `XX` directories of the cache this checkout added to.
    cache_dirs: std::sync::Mutex<std::collections::BTreeSet<String>>,
    repo_dev: u64,
    dest: PathBuf,
    stats: Counters,
}

/// The cache of unpacked archive content, beside `objects/` (as ostree's).
const UNCOMPRESSED_CACHE: &str = "uncompressed-objects-cache";

/// How one file will be placed.
enum Placement {
    Link,
    Copy,
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// `XX/REST.file`, relative to `objects/`, for bare-family repos.
fn loose_path(checksum: &Checksum) -> String {
    let hex = checksum.to_hex();
    format!("{}/{}.file", &hex[..2], &hex[2..])
}

/// The prefix of checkout's temporary names (union modes replace entries through them).
const TEMP_PREFIX: &str = "grove-checkout";

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

impl Checkout<'_> {
    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.dest.clone()
        } else {
            self.dest.join(rel)
        }
    }

    fn skipped(&self, filter_path: impl FnOnce() -> String) -> bool {
        match &self.opts.skip_list {
            Some(list) if list.contains(&filter_path()) => {
                bump(&self.stats.skipped, 1);
                true
            }
            _ => false,
        }
    }

    fn check_device(&self, dfd: &OwnedFd, rel: &str) -> Result<u64> {
        let dev = rustix::fs::fstat(dfd)
            .map_err(io_err("fstat", self.path(rel)))?
            .st_dev as u64;
        if self.opts.require_hardlinks && dev != self.repo_dev {
            return Err(CheckoutError::CrossDevice {
                src: self.repo_dev,
                dest: dev,
                path: self.path(rel),
            });
        }
        Ok(dev)
    }

    /// Checks out one directory as `name` under `parent` (`root` is the
    /// destination's fd, `None` when this directory is the destination).
    fn checkout_dir(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        root: Option<BorrowedFd<'_>>,
        rel: &str,
        contents: Checksum,
        meta: Checksum,
    ) -> Result<()> {
        let tree = self.repo.load_dirtree(contents)?;
        let dirmeta: DirMeta = self.repo.load_dirmeta(meta)?;
        if self.skipped(|| {
            if rel.is_empty() {
                "/".to_string()
            } else {
                format!("/{rel}/")
            }
        }) {
            return Ok(());
        }
        let path = self.path(rel);
        if self.opts.process_whiteouts && tree.files.iter().any(|f| f.name == OPAQUE_WHITEOUT) {
            rm_rf_at(parent, name).map_err(|e| CheckoutError::Io {
                op: "removing opaque directory",
                path: path.clone(),
                err: e,
            })?;
        }
        let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(Errno::EXIST) if self.opts.overwrite != OverwriteMode::None => false,
            Err(e) => return Err(io_err("mkdirat", path)(e)),
        };
        let dfd = self.open_dir(parent, name, root, rel, created)?;
        let dev = self.check_device(&dfd, rel)?;
        let can_link = (self.link.is_some() || self.use_cache) && dev == self.repo_dev;
        if created {
            bump(&self.stats.dirs_created, 1);
            if !self.user {
                for (n, v) in dirmeta.xattrs.iter() {
                    crate::tree::xattr::set_fd(&dfd, n, v).map_err(|e| CheckoutError::Io {
                        op: "fsetxattr",
                        path: path.clone(),
                        err: e,
                    })?;
                }
            }
        }
        let root_fd = root.unwrap_or(dfd.as_fd());

        // Files first (a whiteout may remove an existing directory that a
        // subdirectory of this tree then recreates), then subdirectories.
        let sequential = tree.files.len() < PARALLEL_FILES
            || (self.opts.process_whiteouts
                && tree
                    .files
                    .iter()
                    .any(|f| f.name.starts_with(WHITEOUT_PREFIX)));
        let place = |f: &crate::objects::DirTreeFile| {
            self.checkout_file(dfd.as_fd(), rel, &f.name, f.checksum, can_link)
        };
        if sequential {
            tree.files.iter().try_for_each(place)?;
        } else {
            tree.files.par_iter().try_for_each(place)?;
        }
        for d in &tree.dirs {
            if !valid_name(&d.name) {
                return Err(CheckoutError::InvalidName {
                    dir: path.clone(),
                    name: d.name.clone(),
                });
            }
        }
        let sub = |d: &crate::objects::DirTreeDir| {
            let child_rel = join_rel(rel, &d.name);
            self.checkout_dir(
                dfd.as_fd(),
                OsStr::new(&d.name),
                Some(root_fd),
                &child_rel,
                d.tree,
                d.meta,
            )
        };
        if tree.dirs.len() > 1 {
            tree.dirs.par_iter().try_for_each(sub)?;
        } else {
            tree.dirs.iter().try_for_each(sub)?;
        }

        // Ownership, mode and time last, so nobody else can use the directory half-built.
        if created {
            if !self.user {
                rustix::fs::fchown(
                    &dfd,
                    Some(Uid::from_raw(dirmeta.uid)),
                    Some(Gid::from_raw(dirmeta.gid)),
                )
                .map_err(io_err("fchown", path.clone()))?;
            }
            let mode = if self.mask_dirs {
                dirmeta.mode & 0o775
            } else {
                dirmeta.mode & 0o7777
            };
            rustix::fs::fchmod(&dfd, Mode::from_raw_mode(mode))
                .map_err(io_err("fchmod", path.clone()))?;
            if !self.opts.force_copy {
                let times = Timestamps {
                    last_access: Timespec {
                        tv_sec: 0,
                        tv_nsec: rustix::fs::UTIME_OMIT as _,
                    },
                    last_modification: Timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                };
                rustix::fs::futimens(&dfd, &times).map_err(io_err("futimens", path.clone()))?;
            }
        }
        if self.opts.fsync {
            rustix::fs::fsync(&dfd).map_err(io_err("fsync", path))?;
        }
        Ok(())
    }

    /// Opens a directory just created or found existing; an existing symlink
    /// is only followed inside the destination.
    fn open_dir(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        root: Option<BorrowedFd<'_>>,
        rel: &str,
        created: bool,
    ) -> Result<OwnedFd> {
        let path = self.path(rel);
        let Some(root) = root else {
            // The destination itself: the caller named it, so follow it.
            return rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())
                .map_err(io_err("opendir", path));
        };
        match rustix::fs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(Errno::LOOP | Errno::NOTDIR) if !created => rustix::fs::openat2(
                root,
                rel,
                DIR_FLAGS,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(|e| if e == Errno::NOSYS { Errno::NOTDIR } else { e })
            .map_err(io_err("opendir", path)),
            Err(e) => Err(io_err("opendir", path)(e)),
        }
    }

    /// Decides between hardlink and copy from the object as stored.
    fn placement(&self, checksum: &Checksum, can_link: bool) -> Result<Placement> {
        let Some(mode) = self.link.filter(|_| can_link) else {
            return Ok(Placement::Copy);
        };
        let rel = loose_path(checksum);
        let st = match rustix::fs::statat(&self.objects, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Let the copy path report the missing object.
            Err(_) => return Ok(Placement::Copy),
        };
        let ftype = st.st_mode & S_IFMT;
        Ok(match mode {
            // Bare: symlink objects are real symlinks and are linked too.
            RepoMode::Bare => {
                if ftype == S_IFREG && st.st_size == 0 {
                    Placement::Copy
                } else {
                    Placement::Link
                }
            }
            RepoMode::BareUserOnly => {
                if ftype != S_IFREG || st.st_size == 0 || st.st_mode & S_IRUSR == 0 {
                    Placement::Copy
                } else {
                    Placement::Link
                }
            }
            RepoMode::BareUser => {
                let path = self.repo.path().join("objects").join(&rel);
                let meta = crate::tree::xattr::get_path(&path, OSTREEMETA_XATTR).map_err(|e| {
                    CheckoutError::Io {
                        op: "lgetxattr",
                        path: path.clone(),
                        err: e,
                    }
                })?;
                let logical_mode = meta
                    .as_deref()
                    .and_then(|m| DirMeta::from_bytes(m).ok())
                    .map(|m| m.mode);
                match logical_mode {
                    Some(m) if m & S_IFMT == S_IFREG && m & S_IRUSR != 0 && st.st_size != 0 => {
                        Placement::Link
                    }
                    _ => Placement::Copy,
                }
            }
            RepoMode::Archive => Placement::Copy,
        })
    }

    /// Places one content object as `name` in the directory `dfd` (at `rel`).
    fn checkout_file(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
        can_link: bool,
    ) -> Result<()> {
        let path = || self.path(&join_rel(rel, name));
        if !valid_name(name) {
            return Err(CheckoutError::InvalidName {
                dir: self.path(rel),
                name: name.to_string(),
            });
        }
        if self.skipped(|| format!("/{}", join_rel(rel, name))) {
            return Ok(());
        }
        if self.opts.process_whiteouts && name.starts_with(WHITEOUT_PREFIX) {
            let obj = self.repo.open_content(checksum)?;
            if !obj.header.is_symlink() {
                let victim = &name[WHITEOUT_PREFIX.len()..];
                if victim.is_empty() || victim == "." || victim == ".." {
                    return Err(CheckoutError::InvalidWhiteout {
                        path: path(),
                        name: victim.to_string(),
                    });
                }
                rm_rf_at(dfd, OsStr::new(victim)).map_err(|e| CheckoutError::Io {
                    op: "removing whiteout target",
                    path: self.path(&join_rel(rel, victim)),
                    err: e,
                })?;
                bump(&self.stats.whiteouts, 1);
                return Ok(());
            }
        }
        if self.opts.process_passthrough_whiteouts {
            if let Some(target) = name.strip_prefix(PASSTHROUGH_WHITEOUT_PREFIX) {
                return self.make_overlay_whiteout(dfd, rel, target, checksum);
            }
        }
        if let Placement::Link = self.placement(&checksum, can_link)? {
            if self.link_object(self.objects.as_fd(), dfd, rel, name, &checksum)? {
                return Ok(());
            }
        } else if can_link && self.use_cache && self.link_from_cache(dfd, rel, name, checksum)? {
            return Ok(());
        }
        self.copy_object(dfd, rel, name, checksum)
            .map_err(|e| match e {
                CheckoutError::Io { op, err, .. } if err.kind() != io::ErrorKind::AlreadyExists => {
                    CheckoutError::Copy {
                        checksum,
                        dest: path(),
                        op,
                        err,
                    }
                }
                e => e,
            })
    }

    /// The cache directory, created on first use.
    fn cache_dir(&self) -> Result<BorrowedFd<'_>> {
        if let Some(fd) = self.cache.get() {
            return Ok(fd.as_fd());
        }
        let path = self.repo.path().join(UNCOMPRESSED_CACHE);
        match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("mkdir", path)(e)),
        }
        let fd =
            rustix::fs::open(&path, DIR_FLAGS, Mode::empty()).map_err(io_err("opendir", path))?;
        Ok(self.cache.get_or_init(|| fd).as_fd())
    }

    /// Hardlinks a regular file from the uncompressed cache, unpacking it
    /// there first; `Ok(false)` (copy instead) for symlinks, empty and
    /// owner-unreadable files, which ostree never caches.
    fn link_from_cache(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
    ) -> Result<bool> {
        let cache = self.cache_dir()?;
        let obj_rel = loose_path(&checksum);
        if rustix::fs::statat(cache, obj_rel.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_err() {
            let obj = self.repo.open_content(checksum)?;
            if !obj.header.is_regular() || obj.size == 0 || obj.header.mode & S_IRUSR == 0 {
                return Ok(false);
            }
            let dest = self.repo.path().join(UNCOMPRESSED_CACHE).join(&obj_rel);
            let mut tmp = self.repo.temp_file()?;
            let tpath = tmp.path().to_path_buf();
            let at = |op: &'static str| {
                move |e: io::Error| CheckoutError::Io {
                    op,
                    path: tpath.clone(),
                    err: e,
                }
            };
            copy_stream(obj.reader, tmp.as_file_mut(), obj.size).map_err(at("write"))?;
            // No setuid or setgid files in the cache.
            rustix::fs::fchmod(
                tmp.as_file(),
                Mode::from_raw_mode(obj.header.mode & 0o7777 & !(S_ISUID | S_ISGID)),
            )
            .map_err(io_err("fchmod", dest.clone()))?;
            self.repo.link_into_place(tmp, &dest)?;
            self.cache_dirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(obj_rel[..2].to_string());
        }
        self.link_object(cache, dfd, rel, name, &checksum)
    }

    /// Removes the cache entries no checkout links any more (link count 1)
    /// in the directories this checkout added to, as `ostree_repo_checkout_gc`.
    fn gc_cache(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.cache_dirs.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(cache) = self.cache.get() else {
            return Ok(());
        };
        for d in dirs {
            let path = self.repo.path().join(UNCOMPRESSED_CACHE).join(&d);
            let entries = match std::fs::read_dir(&path) {
                Ok(e) => e,
                Err(e) => {
                    return Err(CheckoutError::Io {
                        op: "opendir",
                        path,
                        err: e,
                    })
                }
            };
            for e in entries.flatten() {
                let rel = format!("{d}/{}", e.file_name().to_string_lossy());
                if let Ok(st) = rustix::fs::statat(cache, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    if st.st_nlink == 1 {
                        let _ = rustix::fs::unlinkat(cache, rel.as_str(), AtFlags::empty());
                    }
                }
            }
        }
        Ok(())
    }

    /// `--process-passthrough-whiteouts`: `.ostree-wh.NAME` becomes NAME, an
    /// overlayfs whiteout (character device 0:0) with the file's permission
    /// bits and, outside user mode, its owner (as ostree).
    fn make_overlay_whiteout(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        target: &str,
        checksum: Checksum,
    ) -> Result<()> {
        let path = self.path(&join_rel(rel, target));
        if !valid_name(target) {
            return Err(CheckoutError::InvalidWhiteout {
                path: path.clone(),
                name: target.to_string(),
            });
        }
        let header = self.repo.open_content(checksum)?.header;
        rustix::fs::mknodat(
            dfd,
            target,
            rustix::fs::FileType::CharacterDevice,
            Mode::from_raw_mode(header.mode & 0o7777),
            0,
        )
        .map_err(io_err("Creating whiteout char device", path.clone()))?;
        if !self.user {
            rustix::fs::chownat(
                dfd,
                target,
                Some(Uid::from_raw(header.uid)),
                Some(Gid::from_raw(header.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_err("fchownat", path))?;
        }
        bump(&self.stats.whiteouts, 1);
        Ok(())
    }

    /// Hardlinks the object; `Ok(false)` means "copy instead".
    fn link_object(
        &self,
        base: BorrowedFd<'_>,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: &Checksum,
    ) -> Result<bool> {
        let obj = loose_path(checksum);
        let hard_err = |e: Errno| CheckoutError::Hardlink {
            object: obj.clone(),
            dest: self.path(&join_rel(rel, name)),
            err: e.into(),
        };
        match rustix::fs::linkat(base, obj.as_str(), dfd, name, AtFlags::empty()) {
            Ok(()) => {
                bump(&self.stats.files_linked, 1);
                Ok(true)
            }
            Err(Errno::XDEV | Errno::MLINK | Errno::PERM) if !self.opts.require_hardlinks => {
                Ok(false)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::EXIST) => match self.opts.overwrite {
                OverwriteMode::None => Err(hard_err(Errno::EXIST)),
                OverwriteMode::AddFiles => {
                    bump(&self.stats.existing_kept, 1);
                    Ok(true)
                }
                OverwriteMode::UnionFiles | OverwriteMode::UnionIdentical => {
                    let path = self.path(&join_rel(rel, name));
                    let src = rustix::fs::statat(base, obj.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(&hard_err)?;
                    let dst = rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(io_err("fstatat", path.clone()))?;
                    let mut identical = src.st_dev == dst.st_dev && src.st_ino == dst.st_ino;
                    let stbuf_equal = src.st_mode == dst.st_mode
                        && (src.st_mode & S_IFMT != S_IFREG || src.st_size == dst.st_size)
                        && src.st_uid == dst.st_uid
                        && src.st_gid == dst.st_gid;
                    if !identical && stbuf_equal {
                        identical = self.checksum_existing(dfd, name, &dst, &path)? == *checksum;
                    }
                    if identical {
                        bump(&self.stats.existing_kept, 1);
                        return Ok(true);
                    }
                    if self.opts.overwrite == OverwriteMode::UnionIdentical {
                        return Err(hard_err(Errno::EXIST));
                    }
                    // Link under a temporary name, then rename over the old entry.
                    let linked = atomic::create_temp_at(TEMP_PREFIX, |t| {
                        rustix::fs::linkat(base, obj.as_str(), dfd, t, AtFlags::empty())
                    });
                    let tmp = match linked {
                        Ok((t, ())) => t,
                        Err(Errno::XDEV | Errno::MLINK | Errno::PERM)
                            if !self.opts.require_hardlinks =>
                        {
                            return Ok(false)
                        }
                        Err(e) => return Err(hard_err(e)),
                    };
                    self.replace_with(dfd, &tmp, name, &path)?;
                    bump(&self.stats.files_linked, 1);
                    Ok(true)
                }
            },
            Err(e) => Err(hard_err(e)),
        }
    }

    /// Renames `tmp` over `name` (after removing whatever is there, for whiteout
    /// semantics); removes `tmp` on failure.
    fn replace_with(&self, dfd: BorrowedFd<'_>, tmp: &str, name: &str, path: &Path) -> Result<()> {
        let r = (|| {
            if self.opts.process_whiteouts {
                rm_rf_at(dfd, OsStr::new(name)).map_err(|e| CheckoutError::Io {
                    op: "removing",
                    path: path.to_path_buf(),
                    err: e,
                })?;
            }
            atomic::rename_over_at(dfd, tmp, name).map_err(io_err("renameat", path.to_path_buf()))
        })();
        if r.is_err() {
            atomic::discard_at(dfd, tmp);
        }
        r
    }

    /// Writes a copy of the object (or a symlink) as `name`.
    fn copy_object(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
    ) -> Result<()> {
        let path = self.path(&join_rel(rel, name));
        let obj = self.repo.open_content(checksum)?;
        let header = obj.header;
        if header.is_symlink() {
            return self.place_symlink(dfd, name, &header, &path);
        }
        let overwrite = self.opts.overwrite;
        if overwrite == OverwriteMode::UnionIdentical {
            match rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if self.checksum_existing(dfd, name, &st, &path)? == checksum => {
                    bump(&self.stats.existing_kept, 1);
                    return Ok(());
                }
                Ok(_) => return Err(io_err("linkat", path)(Errno::EXIST)),
                Err(Errno::NOENT) => {}
                Err(e) => return Err(io_err("fstatat", path)(e)),
            }
        }
        let replace = overwrite == OverwriteMode::UnionFiles;
        let create = |n: &str| {
            rustix::fs::openat(
                dfd,
                n,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let created = if replace {
            atomic::create_temp_at(TEMP_PREFIX, create)
        } else {
            create(name).map(|fd| (name.to_string(), fd))
        };
        let (target, fd) = match created {
            Ok(created) => created,
            Err(Errno::EXIST) if overwrite == OverwriteMode::AddFiles => {
                bump(&self.stats.existing_kept, 1);
                return Ok(());
            }
            Err(e) => return Err(io_err("openat", path.clone())(e)),
        };
        let mut out = File::from(fd);
        let written = (|| -> Result<()> {
            let path = &path;
            let at = |op: &'static str| {
                move |e: io::Error| CheckoutError::Io {
                    op,
                    path: path.clone(),
                    err: e,
                }
            };
            let n = if self.repo.mode().is_archive() {
                copy_stream(obj.reader, &mut out, obj.size).map_err(at("write"))?
            } else {
                let src_path = self.repo.content_path(checksum);
                match File::open(&src_path) {
                    Ok(mut src) => {
                        drop(obj.reader);
                        io::copy(&mut src, &mut out).map_err(at("write"))?
                    }
                    // Not here: a `core.parent` repository holds it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        copy_stream(obj.reader, &mut out, obj.size).map_err(at("write"))?
                    }
                    Err(e) => {
                        return Err(CheckoutError::Io {
                            op: "open",
                            path: src_path,
                            err: e,
                        })
                    }
                }
            };
            if n != obj.size {
                return Err(CheckoutError::Io {
                    op: "write",
                    path: path.clone(),
                    err: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("object {checksum} gave {n} bytes, expected {}", obj.size),
                    ),
                });
            }
            bump(&self.stats.bytes_copied, n);
            let mut mode = header.mode & 0o7777;
            if !self.user {
                rustix::fs::fchown(
                    &out,
                    Some(Uid::from_raw(header.uid)),
                    Some(Gid::from_raw(header.gid)),
                )
                .map_err(io_err("fchown", path.clone()))?;
                for (n, v) in header.xattrs.iter() {
                    crate::tree::xattr::set_fd(&out, n, v).map_err(at("fsetxattr"))?;
                }
            } else {
                mode &= !(S_ISUID | S_ISGID);
                mode |= S_IRUSR;
            }
            rustix::fs::fchmod(&out, Mode::from_raw_mode(mode))
                .map_err(io_err("fchmod", path.clone()))?;
            if self.opts.fsync {
                out.sync_all().map_err(at("fsync"))?;
            }
            Ok(())
        })();
        drop(out);
        if let Err(e) = written {
            atomic::discard_at(dfd, &target);
            return Err(e);
        }
        if replace {
            self.replace_with(dfd, &target, name, &path)?;
        }
        bump(&self.stats.files_copied, 1);
        Ok(())
    }

    fn place_symlink(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        header: &FileHeader,
        path: &Path,
    ) -> Result<()> {
        let target = header.symlink_target.as_str();
        match rustix::fs::symlinkat(target, dfd, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => match self.opts.overwrite {
                OverwriteMode::None => {
                    return Err(io_err("symlinkat", path.to_path_buf())(Errno::EXIST))
                }
                OverwriteMode::AddFiles => {
                    bump(&self.stats.existing_kept, 1);
                    return Ok(());
                }
                OverwriteMode::UnionIdentical => {
                    let st = rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(io_err("fstatat", path.to_path_buf()))?;
                    if st.st_mode & S_IFMT == S_IFLNK {
                        let existing = rustix::fs::readlinkat(dfd, name, Vec::new())
                            .map_err(io_err("readlinkat", path.to_path_buf()))?;
                        if existing.as_bytes() == target.as_bytes() {
                            bump(&self.stats.existing_kept, 1);
                            return Ok(());
                        }
                    }
                    return Err(io_err("symlinkat", path.to_path_buf())(Errno::EXIST));
                }
                OverwriteMode::UnionFiles => {
                    let (tmp, ()) = atomic::create_temp_at(TEMP_PREFIX, |t| {
                        rustix::fs::symlinkat(target, dfd, t)
                    })
                    .map_err(io_err("symlinkat", path.to_path_buf()))?;
                    if let Err(e) = self.symlink_owner(dfd, &tmp, header, path) {
                        atomic::discard_at(dfd, &tmp);
                        return Err(e);
                    }
                    self.replace_with(dfd, &tmp, name, path)?;
                    bump(&self.stats.symlinks_created, 1);
                    return Ok(());
                }
            },
            Err(e) => return Err(io_err("symlinkat", path.to_path_buf())(e)),
        }
        self.symlink_owner(dfd, name, header, path)?;
        bump(&self.stats.symlinks_created, 1);
        Ok(())
    }

    /// Owner and xattrs of a new symlink (normal mode).
    fn symlink_owner(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        header: &FileHeader,
        path: &Path,
    ) -> Result<()> {
        if self.user {
            return Ok(());
        }
        rustix::fs::chownat(
            dfd,
            name,
            Some(Uid::from_raw(header.uid)),
            Some(Gid::from_raw(header.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(io_err("fchownat", path.to_path_buf()))?;
        if !header.xattrs.is_empty() {
            // There is no lsetxattrat(); go through the directory's /proc entry.
            use std::os::fd::AsRawFd;
            let via = PathBuf::from(format!("/proc/self/fd/{}", dfd.as_raw_fd())).join(name);
            for (n, v) in header.xattrs.iter() {
                crate::tree::xattr::set_path(&via, n, v).map_err(|e| CheckoutError::Io {
                    op: "lsetxattr",
                    path: path.to_path_buf(),
                    err: e,
                })?;
            }
        }
        Ok(())
    }

    /// The content checksum of an existing file, as `ostree_checksum_file_at` computes it.
    fn checksum_existing(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        st: &rustix::fs::Stat,
        path: &Path,
    ) -> Result<Checksum> {
        let at = |op| {
            move |e: io::Error| CheckoutError::Io {
                op,
                path: path.to_path_buf(),
                err: e,
            }
        };
        let mut header = FileHeader {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode,
            symlink_target: String::new(),
            xattrs: Xattrs::new(),
        };
        let ftype = st.st_mode & S_IFMT;
        if self.canonical_compare {
            header.uid = 0;
            header.gid = 0;
            if ftype == S_IFREG {
                header.mode &= S_IFREG | 0o755;
            }
        }
        if ftype == S_IFLNK {
            let t = rustix::fs::readlinkat(dfd, name, Vec::new())
                .map_err(io_err("readlinkat", path.to_path_buf()))?;
            header.symlink_target = OsString::from(std::ffi::OsStr::from_bytes(t.as_bytes()))
                .into_string()
                .map_err(|_| at("readlinkat")(io::Error::other("symlink target is not UTF-8")))?;
            if self.compare_xattrs {
                use std::os::fd::AsRawFd;
                let via = PathBuf::from(format!("/proc/self/fd/{}", dfd.as_raw_fd())).join(name);
                header.xattrs = crate::tree::xattr::read_path(&via).map_err(at("llistxattr"))?;
            }
            return checksum_content(&header, &mut io::empty()).map_err(at("read"));
        }
        if ftype != S_IFREG {
            // A directory or special file is never identical to a content object.
            return Ok(Checksum::digest(b""));
        }
        let fd = rustix::fs::openat(
            dfd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err("openat", path.to_path_buf()))?;
        let mut f = File::from(fd);
        if self.compare_xattrs {
            header.xattrs = crate::tree::xattr::read_fd(&f).map_err(at("flistxattr"))?;
        }
        checksum_content(&header, &mut f).map_err(at("read"))
    }
}

/// Copies a (decompressing) stream with a large buffer; returns the byte count.
fn copy_stream(mut r: impl Read, w: &mut File, size: u64) -> io::Result<u64> {
    // Small files need a small buffer; one byte more lets the first read hit EOF.
    let mut buf = vec![0u8; (size as usize).saturating_add(1).min(128 * 1024)];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// `rm -rf` of `name` under `dfd`, never following symlinks; a missing entry is fine.
fn rm_rf_at(dfd: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let st = match rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if st.st_mode & S_IFMT == S_IFDIR {
        let sub = rustix::fs::openat(dfd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
        let names: Vec<OsString> = {
            let dir = rustix::fs::Dir::read_from(&sub)?;
            let mut v = Vec::new();
            for ent in dir {
                let ent = ent?;
                let n = ent.file_name().to_bytes();
                if n != b"." && n != b".." {
                    v.push(OsStr::from_bytes(n).to_os_string());
                }
            }
            v
        };
        for n in names {
            rm_rf_at(sub.as_fd(), &n)?;
        }
        match rustix::fs::unlinkat(dfd, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        match rustix::fs::unlinkat(dfd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{DirTree, DirTreeDir, DirTreeFile};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn reg(mode: u32) -> FileHeader {
        FileHeader {
            uid: 0,
            gid: 0,
            mode: S_IFREG | mode,
            symlink_target: String::new(),
            xattrs: Xattrs::new(),
        }
    }

    /// A repo with: a (0644 "hello\n"), x (04755 "#!"), e (empty), l -> a, d/ (0750) with b.
    fn fixture(mode: RepoMode) -> (tempfile::TempDir, Repo, Checksum, Checksum) {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("repo"), mode, None).unwrap();
        let a = repo
            .write_content(&reg(0o644), 6, &mut &b"hello\n"[..])
            .unwrap();
        let xmode = if mode == RepoMode::BareUserOnly {
            0o755
        } else {
            0o4755
        };
        let x = repo.write_content(&reg(xmode), 2, &mut &b"#!"[..]).unwrap();
        let e = repo.write_content(&reg(0o644), 0, &mut &b""[..]).unwrap();
        let lh = FileHeader {
            uid: 0,
            gid: 0,
            mode: S_IFLNK | 0o777,
            symlink_target: "a".into(),
            xattrs: Xattrs::new(),
        };
        let l = repo.write_content(&lh, 0, &mut io::empty()).unwrap();
        let b = repo
            .write_content(&reg(0o600), 3, &mut &b"bbb"[..])
            .unwrap();
        let sub = DirTree {
            files: vec![DirTreeFile {
                name: "b".into(),
                checksum: b,
            }],
            dirs: vec![],
        };
        let sub_c = repo.write_dirtree(&sub).unwrap();
        let sub_m = repo
            .write_dirmeta(&DirMeta {
                uid: 0,
                gid: 0,
                mode: S_IFDIR | 0o750,
                xattrs: Xattrs::new(),
            })
            .unwrap();
        let mut files = vec![
            DirTreeFile {
                name: "a".into(),
                checksum: a,
            },
            DirTreeFile {
                name: "e".into(),
                checksum: e,
            },
            DirTreeFile {
                name: "l".into(),
                checksum: l,
            },
            DirTreeFile {
                name: "x".into(),
                checksum: x,
            },
        ];
        files.sort_by(|p, q| p.name.cmp(&q.name));
        let root = DirTree {
            files,
            dirs: vec![DirTreeDir {
                name: "d".into(),
                tree: sub_c,
                meta: sub_m,
            }],
        };
        let rc = repo.write_dirtree(&root).unwrap();
        let rm = repo
            .write_dirmeta(&DirMeta {
                uid: 0,
                gid: 0,
                mode: S_IFDIR | 0o755,
                xattrs: Xattrs::new(),
            })
            .unwrap();
        (td, repo, rc, rm)
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    #[test]
    fn archive_user_checkout_copies() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let dest = td.path().join("co");
        let stats = checkout_tree(
            &repo,
            CheckoutSource::Tree { contents, meta },
            &dest,
            &CheckoutOptions::new().user_mode(true),
        )
        .unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"hello\n");
        assert_eq!(std::fs::read_link(dest.join("l")).unwrap(), Path::new("a"));
        let x = std::fs::metadata(dest.join("x")).unwrap();
        assert_eq!(
            x.permissions().mode() & 0o7777,
            0o755,
            "setuid dropped in user mode"
        );
        let d = std::fs::metadata(dest.join("d")).unwrap();
        assert_eq!(d.permissions().mode() & 0o7777, 0o750);
        assert_eq!(d.mtime(), 0);
        assert_eq!(
            std::fs::metadata(dest.join("d/b"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(stats.files_linked, 0);
        assert_eq!(stats.files_copied, 4);
        assert_eq!(stats.symlinks_created, 1);
        assert_eq!(stats.dirs_created, 2);
    }

    #[test]
    fn existing_destination_is_an_error_naming_it() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let dest = td.path().join("co");
        std::fs::create_dir(&dest).unwrap();
        let e = checkout_tree(
            &repo,
            CheckoutSource::Tree { contents, meta },
            &dest,
            &CheckoutOptions::new().user_mode(true),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("mkdirat: File exists"), "{msg}");
        assert!(msg.contains(&dest.display().to_string()), "{msg}");
    }

    #[test]
    fn bare_user_user_mode_hardlinks_but_copies_empty_and_symlinks() {
        let (td, repo, contents, meta) = fixture(RepoMode::BareUser);
        let dest = td.path().join("co");
        let stats = checkout_tree(
            &repo,
            CheckoutSource::Tree { contents, meta },
            &dest,
            &CheckoutOptions::new().user_mode(true),
        )
        .unwrap();
        assert_eq!(std::fs::metadata(dest.join("a")).unwrap().nlink(), 2);
        assert_eq!(std::fs::metadata(dest.join("e")).unwrap().nlink(), 1);
        assert!(std::fs::symlink_metadata(dest.join("l"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(stats.files_linked, 3);
    }

    #[test]
    fn union_modes() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let dest = td.path().join("co");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("a"), "local\n").unwrap();
        std::fs::write(dest.join("extra"), "x").unwrap();
        let src = CheckoutSource::Tree { contents, meta };
        let opts = CheckoutOptions::new()
            .user_mode(true)
            .overwrite(OverwriteMode::AddFiles);
        checkout_tree(&repo, src, &dest, &opts).unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"local\n");
        let opts = CheckoutOptions::new()
            .user_mode(true)
            .overwrite(OverwriteMode::UnionFiles);
        checkout_tree(&repo, src, &dest, &opts).unwrap();
        assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"hello\n");
        assert_eq!(std::fs::read(dest.join("extra")).unwrap(), b"x");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.to_string_lossy().starts_with(".grove")),
            "{names:?}"
        );
    }

    #[test]
    fn union_does_not_follow_symlinked_dirs_out_of_destination() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let dest = td.path().join("co");
        let outside = td.path().join("outside");
        std::fs::create_dir(&dest).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("d")).unwrap();
        let opts = CheckoutOptions::new()
            .user_mode(true)
            .overwrite(OverwriteMode::UnionFiles);
        let r = checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts);
        assert!(
            !outside.join("b").exists(),
            "wrote through a symlink out of the destination"
        );
        // With RESOLVE_IN_ROOT the absolute link resolves inside DEST, where it is missing.
        assert!(r.is_err());
    }

    #[test]
    fn union_resolves_symlinked_dirs_inside_destination() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let dest = td.path().join("co");
        std::fs::create_dir_all(dest.join("inside")).unwrap();
        // An absolute link is taken relative to the destination, like a chroot.
        std::os::unix::fs::symlink("/inside", dest.join("d")).unwrap();
        let opts = CheckoutOptions::new()
            .user_mode(true)
            .overwrite(OverwriteMode::UnionFiles);
        checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts).unwrap();
        assert_eq!(std::fs::read(dest.join("inside/b")).unwrap(), b"bbb");
    }

    #[test]
    fn subpath_file_and_missing() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let src = CheckoutSource::Tree { contents, meta };
        let dest = td.path().join("one");
        checkout_tree(
            &repo,
            src,
            &dest,
            &CheckoutOptions::new().user_mode(true).subpath("/d/b"),
        )
        .unwrap();
        assert_eq!(std::fs::read(dest.join("b")).unwrap(), b"bbb");
        let e = checkout_tree(
            &repo,
            src,
            &td.path().join("two"),
            &CheckoutOptions::new().subpath("/nope"),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "No such file or directory: /nope");
        let mut o = CheckoutOptions::new().subpath("/nope");
        o.allow_noent = true;
        checkout_tree(&repo, src, &td.path().join("two"), &o).unwrap();
        assert!(!td.path().join("two").exists());
        let e = checkout_tree(
            &repo,
            src,
            &td.path().join("three"),
            &CheckoutOptions::new().subpath("/a/x"),
        )
        .unwrap_err();
        assert!(matches!(e, CheckoutError::NotADirectory(_)));
    }

    #[test]
    fn option_conflicts() {
        let (td, repo, contents, meta) = fixture(RepoMode::Archive);
        let src = CheckoutSource::Tree { contents, meta };
        let d = td.path().join("x");
        let o = CheckoutOptions::new().overwrite(OverwriteMode::UnionIdentical);
        assert!(matches!(
            checkout_tree(&repo, src, &d, &o),
            Err(CheckoutError::UnionIdenticalNeedsHardlinks)
        ));
        let o = CheckoutOptions::new()
            .require_hardlinks(true)
            .force_copy(true);
        assert!(matches!(
            checkout_tree(&repo, src, &d, &o),
            Err(CheckoutError::HardlinksAndCopy)
        ));
        let o = CheckoutOptions::new()
            .require_hardlinks(true)
            .user_mode(true);
        assert_eq!(
            checkout_tree(&repo, src, &d, &o).unwrap_err().to_string(),
            "Bare repository mode cannot hardlink in user checkout mode"
        );
        assert!(!d.exists());
    }

    #[test]
    fn bare_normal_mode_hardlinks_with_owner_and_suid() {
        assert!(
            is_root(),
            "writing a bare repository needs root: run the test suite as root (CI does)"
        );
        let (td, repo, contents, meta) = fixture(RepoMode::Bare);
        let dest = td.path().join("co");
        checkout_tree(
            &repo,
            CheckoutSource::Tree { contents, meta },
            &dest,
            &CheckoutOptions::new(),
        )
        .unwrap();
        let x = std::fs::metadata(dest.join("x")).unwrap();
        assert_eq!(x.nlink(), 2);
        assert_eq!(x.permissions().mode() & 0o7777, 0o4755);
    }

    #[test]
    fn whiteouts_remove_entries() {
        let td = tempfile::tempdir().unwrap();
        let repo = Repo::init(&td.path().join("repo"), RepoMode::Archive, None).unwrap();
        let wh = repo.write_content(&reg(0o644), 0, &mut &b""[..]).unwrap();
        let root = DirTree {
            files: vec![DirTreeFile {
                name: ".wh.gone".into(),
                checksum: wh,
            }],
            dirs: vec![],
        };
        let rc = repo.write_dirtree(&root).unwrap();
        let rm = repo
            .write_dirmeta(&DirMeta {
                uid: 0,
                gid: 0,
                mode: S_IFDIR | 0o755,
                xattrs: Xattrs::new(),
            })
            .unwrap();
        let dest = td.path().join("co");
        std::fs::create_dir_all(dest.join("gone/deep")).unwrap();
        let opts = CheckoutOptions::new()
            .user_mode(true)
            .overwrite(OverwriteMode::UnionFiles)
            .process_whiteouts(true);
        checkout_tree(
            &repo,
            CheckoutSource::Tree {
                contents: rc,
                meta: rm,
            },
            &dest,
            &opts,
        )
        .unwrap();
        assert!(!dest.join("gone").exists());
        assert!(!dest.join(".wh.gone").exists());
    }

    #[test]
    fn strerror_drops_os_error_suffix() {
        assert_eq!(
            strerror(&io::Error::from_raw_os_error(libc::EEXIST)),
            "File exists"
        );
    }
}
