//! Refs: branch names pointing at commits, and rev-parse.
//!
//! `refs/heads/NAME` for local branches, `refs/remotes/REMOTE/NAME` for
//! remote refs, `refs/mirrors/COLLECTION/NAME` for mirrored collection refs;
//! each file holds a checksum and a newline. An alias is a symlink inside
//! `refs/heads`. Upstream: `ostree-repo-refs.c` and `ostree-core.c`
//! (`ostree_validate_rev`, `ostree_parse_refspec`).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fmt;
use std::fs;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::objects::checksum::{Checksum, ObjectType};
use crate::repo::{atomic, Repo, RepoError};

/// Errors from ref handling and rev-parse.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("Invalid refspec {0}")]
    Invalid(String),
    #[error("Refspec '{0}' not found")]
    NotFound(String),
    #[error("Refspec {0} not unique")]
    Ambiguous(String),
    #[error("Commit {0} has no parent")]
    NoParent(Checksum),
    #[error("ref {name} moved: expected {expected}, found {found}")]
    Conflict {
        name: String,
        expected: String,
        found: String,
    },
    #[error("Ref '{0}' has an active alias: '{1}'")]
    HasAlias(String, String),
    #[error("Cannot create alias to non-existent ref: {0}")]
    AliasTarget(String),
    #[error("Couldn't open ref '{0}': {1}")]
    Unreadable(String, String),
    #[error("Invalid collection ID {0}")]
    InvalidCollectionId(String),
    #[error("Conflict: {existing} exists under {name} when attempting write")]
    DirectoryInUse { name: String, existing: String },
    /// `refs/heads` or `refs/remotes` cannot be read (ostree's wording).
    #[error("Listing refs: opendir({dir}): {why}")]
    Listing { dir: &'static str, why: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = RefError> = std::result::Result<T, E>;

/// A validated ref name such as `exampleos/x86_64/standard`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefName(String);

fn valid_fragment(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    first_ok && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl RefName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RefName {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self> {
        if !s.is_empty() && s.split('/').all(valid_fragment) {
            Ok(RefName(s.to_string()))
        } else {
            Err(RefError::Invalid(s.to_string()))
        }
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ref with an optional remote: `[REMOTE:]REF`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Refspec {
    pub remote: Option<String>,
    pub name: RefName,
}

impl FromStr for Refspec {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some((remote, name)) => {
                if remote.is_empty() || remote.contains('/') || !valid_fragment(remote) {
                    return Err(RefError::Invalid(s.to_string()));
                }
                Ok(Refspec {
                    remote: Some(remote.to_string()),
                    name: name.parse().map_err(|_| RefError::Invalid(s.to_string()))?,
                })
            }
            None => Ok(Refspec {
                remote: None,
                name: s.parse()?,
            }),
        }
    }
}

/// Serialized as `REMOTE:NAME` or `NAME` (in `--json` reports).
impl serde::Serialize for Refspec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Refspec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(r) => write!(f, "{r}:{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// A ref file's bytes, up to 129 (a ref is 64 hex digits and a newline;
/// a longer file fails to parse as it did when read whole): one open and
/// one read, no stat, as `status` and `summary` read thousands. A short
/// read of a regular file is its end; one cut short otherwise cannot hold
/// the 64 digits and fails to parse, never giving a wrong commit. `name`
/// is opened relative to `dir` (a walk's open directory, so the kernel
/// looks up one name, not the whole path), or is a path under [`CWD`].
fn read_small(dir: BorrowedFd<'_>, name: impl rustix::path::Arg) -> std::io::Result<String> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = [0u8; 129];
    let n = loop {
        match rustix::io::read(&fd, &mut buf) {
            Err(Errno::INTR) => continue,
            r => break r?,
        }
    };
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The commit in the ref file `name` under `dir` (`path` is the same file,
/// named in errors), None when it does not exist.
fn read_ref_at(
    dir: BorrowedFd<'_>,
    name: impl rustix::path::Arg,
    path: impl Fn() -> PathBuf,
    display: &str,
) -> Result<Option<Checksum>> {
    match read_small(dir, name) {
        Ok(s) => s.trim().parse().map(Some).map_err(|_| {
            RefError::Unreadable(
                display.to_string(),
                format!("invalid checksum in {}", path().display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Err(RefError::Unreadable(
            display.to_string(),
            "Is a directory".into(),
        )),
        Err(e) => Err(RefError::Repo(RepoError::Io {
            path: path(),
            source: e,
        })),
    }
}

fn read_ref_file(path: &Path, display: &str) -> Result<Option<Checksum>> {
    read_ref_at(CWD, path, || path.to_path_buf(), display)
}

impl Repo {
    pub(crate) fn ref_path(&self, spec: &Refspec) -> PathBuf {
        match &spec.remote {
            Some(r) => self
                .path()
                .join("refs/remotes")
                .join(r)
                .join(spec.name.as_str()),
            None => self.path().join("refs/heads").join(spec.name.as_str()),
        }
    }

    /// The commit in exactly this ref's file (`refs/heads/NAME` or
    /// `refs/remotes/REMOTE/NAME`), without ostree's lookup fallbacks: the
    /// value a compare-and-swap [`Repo::set_ref`] compares against.
    pub fn read_ref_exact(&self, spec: &Refspec) -> Result<Option<Checksum>> {
        read_ref_file(&self.ref_path(spec), &spec.to_string())
    }

    /// The commit a ref points at, or None if the ref does not exist.
    /// An unqualified name is looked up in heads, then remotes, as ostree does.
    pub fn read_ref(&self, spec: &Refspec) -> Result<Option<Checksum>> {
        let shown = spec.to_string();
        if let Some(c) = read_ref_file(&self.ref_path(spec), &shown)? {
            return Ok(Some(c));
        }
        if spec.remote.is_none() {
            if let Some(c) = read_ref_file(
                &self.path().join("refs/remotes").join(spec.name.as_str()),
                &shown,
            )? {
                return Ok(Some(c));
            }
            for dir in ["refs/remotes", "refs/mirrors"] {
                for (_, sub) in ref_subdirs(&self.path().join(dir))? {
                    if let Some(c) = read_ref_file(&sub.join(spec.name.as_str()), &shown)? {
                        return Ok(Some(c));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Resolves a revision: a full or partial commit checksum, a refspec,
    /// or either followed by `^` (parent) any number of times.
    pub fn resolve_rev(&self, rev: &str) -> Result<Checksum> {
        self.resolve_rev_opt(rev)?
            .ok_or_else(|| RefError::NotFound(rev.trim_end_matches('^').to_string()))
    }

    /// Like [`Repo::resolve_rev`], but a missing ref is `Ok(None)`.
    pub fn resolve_rev_opt(&self, rev: &str) -> Result<Option<Checksum>> {
        self.resolve_rev_impl(rev, true)
    }

    /// Like [`Repo::resolve_rev_opt`], but a ref name is looked up only where
    /// it lives (`refs/heads/NAME`, or `refs/remotes/REMOTE/NAME`), without
    /// the fallback to remotes and mirrors (ostree's `resolve_rev_ext`): what
    /// `refs --create` checks before it writes a ref.
    pub fn resolve_rev_exact_opt(&self, rev: &str) -> Result<Option<Checksum>> {
        self.resolve_rev_impl(rev, false)
    }

    fn resolve_rev_impl(&self, rev: &str, fallback: bool) -> Result<Option<Checksum>> {
        if let Ok(c) = rev.parse::<Checksum>() {
            return Ok(Some(c));
        }
        if Checksum::is_hex_prefix(rev) {
            let matches = self.commits_with_prefix(rev)?;
            match matches.len() {
                0 => {}
                1 => return Ok(Some(matches[0])),
                _ => return Err(RefError::Ambiguous(rev.to_string())),
            }
        }
        if let Some(base) = rev.strip_suffix('^') {
            let Some(c) = self.resolve_rev_opt(base)? else {
                return Ok(None);
            };
            let commit = self.load_commit(c)?;
            return commit.parent.map(Some).ok_or(RefError::NoParent(c));
        }
        let spec: Refspec = rev.parse()?;
        if fallback {
            self.read_ref(&spec)
        } else {
            self.read_ref_exact(&spec)
        }
    }

    fn commits_with_prefix(&self, prefix: &str) -> Result<Vec<Checksum>> {
        let dir = self
            .path()
            .join("objects")
            .join(&prefix[..prefix.len().min(2)]);
        let mut out = Vec::new();
        if prefix.len() < 2 {
            for name in self.list_objects(Some(ObjectType::Commit))? {
                if name.checksum.to_hex().starts_with(prefix) {
                    out.push(name.checksum);
                }
            }
            return Ok(out);
        }
        let io = |source| {
            RefError::Repo(RepoError::Io {
                path: dir.clone(),
                source,
            })
        };
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(e)),
        };
        for e in rd {
            let fname = e.map_err(io)?.file_name();
            let Some(fname) = fname.to_str() else {
                continue;
            };
            if let Some(rest) = fname.strip_suffix(".commit") {
                let hex = format!("{}{rest}", &prefix[..2]);
                if hex.starts_with(prefix) {
                    if let Ok(c) = hex.parse() {
                        out.push(c);
                    }
                }
            }
        }
        Ok(out)
    }

    /// All refs, as `refspec → commit`; remote refs are named `REMOTE:REF`.
    pub fn list_refs(&self) -> Result<BTreeMap<Refspec, Checksum>> {
        let mut out = BTreeMap::new();
        let listing = |dir| {
            rustix::fs::open(self.path().join(dir), DIR_FLAGS, Mode::empty()).map_err(|e| {
                RefError::Listing {
                    dir,
                    why: crate::tree::checkout::strerror(&e.into()),
                }
            })
        };
        let heads = listing("refs/heads")?;
        // Only checked here: each remote's directory is walked below.
        listing("refs/remotes")?;
        let heads_path = self.path().join("refs/heads");
        walk_ref_fd(
            heads,
            &heads_path,
            "",
            &mut with_commit(&mut |name, c| {
                out.insert(Refspec { remote: None, name }, c);
            }),
        )?;
        for (remote, dir) in ref_subdirs(&self.path().join("refs/remotes"))? {
            read_refs_under(&dir, &mut |name, c| {
                out.insert(
                    Refspec {
                        remote: Some(remote.clone()),
                        name,
                    },
                    c,
                );
            })?;
        }
        Ok(out)
    }

    /// Local refs that are aliases (symlinks), as `alias → target ref`.
    pub fn list_aliases(&self) -> Result<BTreeMap<RefName, RefName>> {
        let heads = self.path().join("refs/heads");
        let mut out = BTreeMap::new();
        walk_ref_dir(&heads, &mut |f| {
            if !f.alias {
                return Ok(());
            }
            let target = fs::read_link(f.path()).map_err(|e| RepoError::Io {
                path: f.path(),
                source: e,
            })?;
            let abs = normalize(&f.dir_path.join(&target));
            if let Some(t) = abs
                .strip_prefix(&heads)
                .ok()
                .and_then(|t| t.to_str()?.parse().ok())
            {
                out.insert(f.name, t);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Points a ref at a commit (None deletes it), atomically.
    /// With `expected`, the move happens only if the ref still holds that
    /// value (`Some(None)`: the ref must not exist) — compare-and-swap.
    pub fn set_ref(
        &self,
        spec: &Refspec,
        target: Option<Checksum>,
        expected: Option<Option<Checksum>>,
    ) -> Result<()> {
        let _guard = RefUpdateLock::take(self)?;
        self.set_ref_locked(spec, target, expected)
    }

    /// [`Repo::set_ref`] for a caller that holds the [`RefUpdateLock`].
    pub(crate) fn set_ref_locked(
        &self,
        spec: &Refspec,
        target: Option<Checksum>,
        expected: Option<Option<Checksum>>,
    ) -> Result<()> {
        let path = self.ref_path(spec);
        if let Some(exp) = expected {
            let cur = read_ref_file(&path, &spec.to_string())?;
            if cur != exp {
                let show = |c: Option<Checksum>| {
                    c.map(|c| c.to_string()).unwrap_or_else(|| "(none)".into())
                };
                return Err(RefError::Conflict {
                    name: spec.to_string(),
                    expected: show(exp),
                    found: show(cur),
                });
            }
        }
        match target {
            None => {
                if spec.remote.is_none() {
                    if let Some((alias, _)) = self
                        .list_aliases()?
                        .into_iter()
                        .find(|(_, t)| *t == spec.name)
                    {
                        return Err(RefError::HasAlias(spec.name.to_string(), alias.to_string()));
                    }
                }
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(RepoError::Io { path, source: e }.into())
                    }
                    _ => Ok(()),
                }
            }
            Some(c) => self.write_ref_file(&path, spec.name.as_str(), c),
        }
    }

    /// Points `refs/mirrors/COLLECTION/REF` at a commit (None deletes it).
    pub(crate) fn set_mirror_ref(
        &self,
        cref: &crate::repo::collections::CollectionRef,
        target: Option<Checksum>,
    ) -> Result<()> {
        let path = self
            .path()
            .join("refs/mirrors")
            .join(cref.collection.as_str())
            .join(cref.name.as_str());
        let _guard = RefUpdateLock::take(self)?;
        match target {
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(RepoError::Io { path, source: e }.into())
                }
                _ => Ok(()),
            },
            Some(c) => self.write_ref_file(&path, cref.name.as_str(), c),
        }
    }

    /// Writes a ref file atomically. A directory in the ref's place (left by
    /// refs that were deleted) is replaced if no ref remains under it.
    fn write_ref_file(&self, path: &Path, shown: &str, c: Checksum) -> Result<()> {
        let dir = path.parent().expect("ref path has a parent");
        fs::create_dir_all(dir).map_err(|e| RepoError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            let mut existing = None;
            walk_ref_dir(path, &mut |f| {
                existing.get_or_insert(f.name);
                Ok(())
            })?;
            if let Some(name) = existing {
                return Err(RefError::DirectoryInUse {
                    name: shown.to_string(),
                    existing: name.to_string(),
                });
            }
            fs::remove_dir_all(path).map_err(|e| RepoError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        }
        crate::repo::atomic::Replace::new(path, self.fsync_policy())
            .tmp_dir(&self.tmp_dir())
            .write(format!("{c}\n").as_bytes())?;
        Ok(())
    }

    /// Creates `alias` as a symlink to the local ref `target`.
    pub fn set_alias(&self, alias: &RefName, target: &RefName) -> Result<()> {
        let heads = self.path().join("refs/heads");
        if !heads.join(target.as_str()).is_file() {
            return Err(RefError::AliasTarget(target.to_string()));
        }
        let apath = heads.join(alias.as_str());
        let dir = apath.parent().expect("inside heads");
        fs::create_dir_all(dir).map_err(|e| RepoError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let depth = alias.as_str().matches('/').count();
        let rel: PathBuf = std::iter::repeat_n("..", depth)
            .collect::<PathBuf>()
            .join(target.as_str());
        let dirfd = fs::File::open(dir).map_err(|e| RepoError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let io = |e: rustix::io::Errno| RepoError::Io {
            path: apath.clone(),
            source: e.into(),
        };
        let (tmp, ()) = atomic::create_temp_at("tmpalias", |t| {
            rustix::fs::symlinkat(rel.as_path(), &dirfd, t)
        })
        .map_err(io)?;
        let name = apath.file_name().expect("a ref name has a last component");
        atomic::rename_over_at(&dirfd, tmp, name).map_err(io)?;
        Ok(())
    }
}

/// Serialises ref updates within the repository (`refs/.grove-update-lock`)
/// so compare-and-swap holds across processes.
///
/// Re-entrant within a thread: while a thread holds the lock (a prepared
/// [`crate::repo::transaction::RefTransaction`], say, while the summary is
/// published), its own further ref writes in the same repository — the
/// summary's `ostree-metadata` commit — take it again without waiting for
/// themselves.
pub(crate) struct RefUpdateLock {
    /// The locked file; `None` for a nested take on the same thread.
    file: Option<fs::File>,
    path: PathBuf,
}

thread_local! {
    /// The lock files this thread holds.
    static HELD_REF_LOCKS: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl RefUpdateLock {
    pub(crate) fn take(repo: &Repo) -> Result<RefUpdateLock> {
        let p = repo.path().join("refs/.grove-update-lock");
        if HELD_REF_LOCKS.with(|h| h.borrow().contains(&p)) {
            return Ok(RefUpdateLock {
                file: None,
                path: p,
            });
        }
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| RepoError::Io {
                path: p.clone(),
                source: e,
            })?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            RepoError::Io {
                path: p.clone(),
                source: e.into(),
            }
        })?;
        HELD_REF_LOCKS.with(|h| h.borrow_mut().push(p.clone()));
        Ok(RefUpdateLock {
            file: Some(f),
            path: p,
        })
    }
}

impl Drop for RefUpdateLock {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            HELD_REF_LOCKS.with(|h| h.borrow_mut().retain(|p| *p != self.path));
        }
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A ref file found by [`walk_ref_dir`].
pub(crate) struct RefFile<'a> {
    /// Its path under the walked directory, which is the ref's name.
    pub name: RefName,
    /// A symlink: an alias of another ref (in `refs/heads`).
    pub alias: bool,
    /// The walk's open directory holding it, its path, and the file's name
    /// there: reading it through `dir` looks up one name, not the path.
    pub dir: BorrowedFd<'a>,
    pub dir_path: &'a Path,
    pub file: &'a CStr,
}

impl RefFile<'_> {
    /// Its path, for messages.
    pub fn path(&self) -> PathBuf {
        self.dir_path
            .join(std::ffi::OsStr::from_bytes(self.file.to_bytes()))
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// The one walk over a ref directory (`refs/heads`, `refs/remotes/REMOTE`,
/// `refs/mirrors/COLLECTION`), as ostree's `enumerate_refs_recurse`:
/// directories are descended, regular files and symlinks are refs, and an
/// entry whose name is no valid ref fragment (a tool's `.rsync_info`, a
/// temporary file) is passed over. Entries come in name order. A directory
/// that does not exist (or vanished while walked) holds no refs; every other
/// I/O error is returned, naming its path. Each directory is opened
/// relative to its parent, and its entries are handed over with it.
pub(crate) fn walk_ref_dir(
    base: &Path,
    f: &mut dyn FnMut(RefFile<'_>) -> Result<()>,
) -> Result<()> {
    match rustix::fs::open(base, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => walk_ref_fd(fd, base, "", f),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_at(base)(e.into())),
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RefError {
    let path = path.to_path_buf();
    move |source| RefError::Repo(RepoError::Io { path, source })
}

/// [`walk_ref_dir`] over the open directory `fd`, which is `dir`.
fn walk_ref_fd(
    fd: OwnedFd,
    dir: &Path,
    prefix: &str,
    f: &mut dyn FnMut(RefFile<'_>) -> Result<()>,
) -> Result<()> {
    let mut listing = rustix::fs::Dir::new(fd).map_err(|e| io_at(dir)(e.into()))?;
    let mut entries: Vec<(CString, FileType)> = Vec::new();
    while let Some(e) = listing.read() {
        let e = e.map_err(|e| io_at(dir)(e.into()))?;
        entries.push((e.file_name().to_owned(), e.file_type()));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let dfd = listing.fd().map_err(|e| io_at(dir)(e.into()))?;
    for (file, ft) in &entries {
        let Some(fname) = file.to_str().ok().filter(|n| valid_fragment(n)) else {
            continue;
        };
        let name = if prefix.is_empty() {
            fname.to_string()
        } else {
            format!("{prefix}/{fname}")
        };
        let ft = match ft {
            // A file system without types in its listing.
            FileType::Unknown => match rustix::fs::statat(dfd, file, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_at(&dir.join(fname))(e.into())),
            },
            ft => *ft,
        };
        match ft {
            FileType::Directory => {
                let path = dir.join(fname);
                match rustix::fs::openat(dfd, file, DIR_FLAGS, Mode::empty()) {
                    Ok(sub) => walk_ref_fd(sub, &path, &name, f)?,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(io_at(&path)(e.into())),
                }
            }
            FileType::RegularFile | FileType::Symlink => f(RefFile {
                name: RefName(name),
                alias: ft == FileType::Symlink,
                dir: dfd,
                dir_path: dir,
                file,
            })?,
            _ => {}
        }
    }
    Ok(())
}

/// Every ref under `dir` with the commit it holds ([`walk_ref_dir`]; an
/// alias holds its target's commit; a dangling alias is passed over).
pub(crate) fn read_refs_under(dir: &Path, f: &mut dyn FnMut(RefName, Checksum)) -> Result<()> {
    walk_ref_dir(dir, &mut with_commit(f))
}

/// A walk's step that reads each ref file found and hands `f` its commit.
fn with_commit<'f>(
    f: &'f mut dyn FnMut(RefName, Checksum),
) -> impl FnMut(RefFile<'_>) -> Result<()> + 'f {
    move |r| {
        if let Some(c) = read_ref_at(r.dir, r.file, || r.path(), r.name.as_str())? {
            f(r.name, c);
        }
        Ok(())
    }
}

/// The subdirectories of `refs/remotes` or `refs/mirrors` (one per remote
/// or collection), by name; none when `dir` does not exist. I/O errors are
/// returned, naming the path.
pub(crate) fn ref_subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RefError::Repo(RepoError::Io { path, source })
    };
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io(dir))?;
        if e.file_type().map_err(io(&e.path()))?.is_dir() {
            if let Some(name) = e.file_name().to_str() {
                out.push((name.to_string(), e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        for ok in ["main", "exampleos/x86_64/standard", "a.b-c_d", "_x"] {
            assert!(ok.parse::<RefName>().is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "-a", ".a", "a b", "a/../b", "a:b"] {
            assert!(bad.parse::<RefName>().is_err(), "{bad}");
        }
        let r: Refspec = "origin:a/b".parse().unwrap();
        assert_eq!(r.remote.as_deref(), Some("origin"));
        assert_eq!(r.to_string(), "origin:a/b");
        assert!(":a".parse::<Refspec>().is_err());
    }
}
