//! Checkout: laying a tree from the repository out in the filesystem.
//!
//! Owns the placement rules of `ostree checkout`; upstream
//! `ostree-repo-checkout.c` (`ostree_repo_checkout_at`, `canonicalize_options`),
//! driven by `ot-builtin-checkout.c`. This module is the public API (options,
//! source, stats, errors, [`checkout_tree`]) and the checks made before
//! anything is created; the work is split by concept:
//!
//! - `walk`: the subpath, directories (created `0700`, filled, then chown'd
//!   in normal mode, chmod'd to their stored mode and given mtime 0 unless
//!   `force_copy`; existing ones in union modes left as they are), the skip
//!   list, parallel placement (rayon), never leaving the destination;
//! - `placement`: hardlink or copy of each content object, and the
//!   uncompressed-object cache of archive repositories in user mode;
//! - `union`: `--union`, `--union-add`, `--union-identical` (replacement is
//!   a temp file or link plus `rename`, so readers never see half a file) and
//!   whiteouts (`.wh.NAME`, `.wh..wh..opq`, `.ostree-wh.NAME`);
//! - `fs`: owners, modes, xattrs, fsync, symlinks, `rm -rf`, relative to
//!   directory file descriptors.
//!
//! [`checkout_tree`] holds the repository's shared lock while it reads, so
//! a prune (exclusive) waits. ostree's checkout takes no lock; grove keeps
//! prune from deleting objects under a checkout.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, CWD};
use rustix::io::Errno;

use crate::objects::checksum::Checksum;
use crate::repo::refs::RefError;
use crate::repo::{Repo, RepoError, RepoMode};

mod fs;
mod placement;
#[cfg(test)]
mod tests;
mod union;
mod walk;

pub(crate) use fs::strerror;
pub use union::PASSTHROUGH_WHITEOUT_PREFIX;

use fs::{io_err, DIR_FLAGS};
use walk::Target;

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

impl OverwriteMode {
    /// `--union`, `--union-add` and `--union-identical`: at most one.
    pub fn from_flags(union: bool, add: bool, identical: bool) -> Result<OverwriteMode> {
        let flags = [
            (union, "--union", OverwriteMode::UnionFiles),
            (add, "--union-add", OverwriteMode::AddFiles),
            (
                identical,
                "--union-identical",
                OverwriteMode::UnionIdentical,
            ),
        ];
        let set: Vec<_> = flags.into_iter().filter(|f| f.0).collect();
        match set[..] {
            [] => Ok(OverwriteMode::None),
            [(_, _, mode)] => Ok(mode),
            [(_, a, _), (_, b, _), ..] => Err(CheckoutError::Conflict(a, b)),
        }
    }
}

/// A `--skip-list` file: one path a line (`/a/file`, `/a/dir/`), empty lines ignored.
pub fn read_skip_list(path: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckoutError::SkipList {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// `--from-stdin`/`--from-file`: checks out each `REV\0SUBPATH\0` pair of
/// `input` into `dest`, in order (`opts.subpath` is each pair's).
pub fn checkout_list(repo: &Repo, input: &[u8], dest: &Path, opts: &CheckoutOptions) -> Result<()> {
    let mut fields = input.split(|&b| b == 0);
    while let Some(rev) = fields.next() {
        if rev.is_empty() {
            break;
        }
        let rev = std::str::from_utf8(rev).map_err(|_| CheckoutError::RevisionNotUtf8)?;
        let subpath = fields
            .next()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        let commit = repo.resolve_rev(rev)?;
        let mut o = opts.clone();
        o.subpath = Some(subpath);
        checkout_tree(repo, CheckoutSource::Commit(commit), dest, &o).map_err(|e| {
            CheckoutError::Tree {
                commit,
                source: Box::new(e),
            }
        })?;
    }
    Ok(())
}

impl CheckoutOptions {
    pub fn new() -> Self {
        Self::default()
    }
    /// The option combinations ostree refuses.
    pub fn validate(&self) -> Result<()> {
        if self.require_hardlinks && self.force_copy {
            return Err(CheckoutError::HardlinksAndCopy);
        }
        if self.overwrite == OverwriteMode::UnionIdentical && !self.require_hardlinks {
            return Err(CheckoutError::UnionIdenticalNeedsHardlinks);
        }
        Ok(())
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
    #[error("Cannot specify both {0} and {1}")]
    Conflict(&'static str, &'static str),
    #[error("reading skip list {}: {source}", path.display())]
    SkipList { path: PathBuf, source: io::Error },
    #[error("revision is not UTF-8")]
    RevisionNotUtf8,
    #[error("Processing tree {commit}: {source}")]
    Tree {
        commit: Checksum,
        source: Box<CheckoutError>,
    },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = CheckoutError> = std::result::Result<T, E>;

/// Checks out `source` into `dest` (created unless a union mode allows it
/// to exist), under the repository's shared lock, so a prune cannot delete
/// the objects it reads.
pub fn checkout_tree(
    repo: &Repo,
    source: CheckoutSource,
    dest: &Path,
    opts: &CheckoutOptions,
) -> Result<CheckoutStats> {
    opts.validate()?;
    let _lock = repo.lock(crate::repo::LockKind::Shared)?;
    let repo_mode = repo.mode();
    // Nothing else makes sense for bare-user-only (canonicalize_options).
    let user = opts.mode == CheckoutMode::User || repo_mode == RepoMode::BareUserOnly;
    let repo_usermode = matches!(repo_mode, RepoMode::BareUser | RepoMode::BareUserOnly);
    let hardlinkable = (repo_mode == RepoMode::Bare && !user) || (repo_usermode && user);
    let objects_path = repo.path().join("objects");
    let objects = repo.objects_dir();
    let repo_dev = rustix::fs::fstat(objects)
        .map_err(io_err("fstat", objects_path.clone()))?
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
            if st.st_dev != repo_dev {
                return Err(CheckoutError::CrossDevice {
                    src: repo_dev,
                    dest: st.st_dev,
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
        objects_path,
        use_cache: repo_mode == RepoMode::Archive
            && user
            && opts.uncompressed_cache
            && !opts.force_copy,
        cache: std::sync::OnceLock::new(),
        cache_dirs: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        dirmetas: std::sync::Mutex::new(std::collections::HashMap::new()),
        repo_dev,
        dest: dest.to_path_buf(),
        stats: Counters::default(),
    };

    let target = match &opts.subpath {
        Some(sub) => match walk::resolve_subpath(repo, contents, meta, sub, opts.allow_noent)? {
            Some(t) => t,
            None => return Ok(CheckoutStats::default()),
        },
        None => Target::Dir { contents, meta },
    };

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
            let dfd = rustix::fs::openat(CWD, dest, DIR_FLAGS, Mode::empty())
                .map_err(io_err("open", dest.to_path_buf()))?;
            cx.check_device(&dfd, "")?;
            cx.checkout_file(dfd.as_fd(), "", &name, checksum, false)?;
        }
    }
    cx.gc_cache()?;
    Ok(cx.stats.snapshot())
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
    /// The repository's `objects/` ([`Repo::objects_dir`]).
    objects: BorrowedFd<'a>,
    /// The path of `objects` (xattrs of objects are read by path).
    objects_path: PathBuf,
    /// Archive repository, user mode: content is unpacked once into
    /// `uncompressed-objects-cache/` and hardlinked from there.
    use_cache: bool,
    cache: std::sync::OnceLock<OwnedFd>,
    /// The `XX` directories of the cache this checkout added to.
    cache_dirs: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The dirmeta objects loaded so far: a tree's directories share a few.
    dirmetas: std::sync::Mutex<
        std::collections::HashMap<Checksum, std::sync::Arc<crate::objects::DirMeta>>,
    >,
    repo_dev: u64,
    dest: PathBuf,
    stats: Counters,
}
