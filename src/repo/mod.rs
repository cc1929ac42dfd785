//! The repository: its modes, layout, configuration and metadata-object store.
//!
//! A repository is a directory holding `config` (a GLib key file),
//! `objects/XX/REST.TYPE`, `refs/{heads,remotes,mirrors}`, `state/`
//! (`.commitpartial` markers), `tmp/` and `extensions/`, exactly as
//! `ostree-repo.c` lays it out. Every object is written to an unnamed
//! `O_TMPFILE` file in `tmp/` (a named temporary file where the filesystem
//! has no `O_TMPFILE`) and linked into place once complete, so a reader never
//! sees a partial object. An open repository keeps `objects/` open and
//! stats, reads, links and deletes loose objects relative to it (as
//! ostree's `objects_dir_fd`), by names built on the stack
//! ([`crate::objects::LooseRel`]).
//! Content objects are in [`content`]; the lock is in [`lock`].

pub mod atomic;
pub mod collections;
pub mod content;
pub mod history;
pub mod keyfile;
pub mod lock;
pub mod ref_admin;
pub mod refs;
pub mod remote;
pub mod target;
pub mod transaction;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::objects::checksum::{Checksum, LooseRel, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::{Commit, DirMeta, DirTree, FormatError};
use crate::repo::keyfile::KeyFile;

pub use lock::{LockKind, RepoLock};

/// How a repository stores content objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RepoMode {
    /// Real files with real ownership, modes and xattrs (needs root).
    Bare,
    /// Compressed `.filez` objects, for serving over HTTP (`archive-z2`).
    Archive,
    /// Files owned by the writer; real metadata in the `user.ostreemeta` xattr.
    BareUser,
    /// Like bare-user without xattrs: canonical permissions, uid/gid 0.
    BareUserOnly,
}

impl RepoMode {
    pub fn parse(s: &str) -> Option<RepoMode> {
        Some(match s {
            "bare" => RepoMode::Bare,
            "archive" | "archive-z2" => RepoMode::Archive,
            "bare-user" => RepoMode::BareUser,
            "bare-user-only" => RepoMode::BareUserOnly,
            _ => return None,
        })
    }

    /// The name written to `core.mode`.
    pub fn config_name(self) -> &'static str {
        match self {
            RepoMode::Bare => "bare",
            RepoMode::Archive => "archive-z2",
            RepoMode::BareUser => "bare-user",
            RepoMode::BareUserOnly => "bare-user-only",
        }
    }

    pub fn is_archive(self) -> bool {
        self == RepoMode::Archive
    }
}

impl std::fmt::Display for RepoMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.config_name())
    }
}

/// What can go wrong in the repository layer.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an OSTree repository: {why}", path.display())]
    NotARepo { path: PathBuf, why: String },
    #[error("{}: invalid mode '{mode}' in the repository configuration", path.display())]
    InvalidMode { path: PathBuf, mode: String },
    #[error("{}: {why}", path.display())]
    Config { path: PathBuf, why: String },
    /// OSTree's wording: `No such metadata object C.commit`, `Couldn't find file object 'C'`.
    #[error("{}", missing_message(.0))]
    ObjectMissing(ObjectName),
    #[error("Corrupted {} object {}; checksum expected='{}' actual='{actual}'", name.objtype, name.checksum, name.checksum)]
    Corrupted { name: ObjectName, actual: Checksum },
    #[error("{name}: {source}")]
    Format {
        name: ObjectName,
        source: FormatError,
    },
    /// ostree's wording: the mode and the bits a bare-user-only repository cannot hold.
    #[error("Content object {checksum}: invalid mode 0{mode:04o} with bits 0{:04o}", .mode & 0o7777 & !0o775)]
    InvalidContentMode {
        checksum: Checksum,
        mode: u32,
        repo_mode: RepoMode,
    },
    /// Reading the content being stored failed (the caller knows which
    /// object or file it was, and names it).
    #[error("reading content: {source}")]
    ContentRead { source: std::io::Error },
    #[error("locking repository {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = RepoError> = std::result::Result<T, E>;

fn missing_message(name: &ObjectName) -> String {
    if name.objtype == ObjectType::File {
        format!("Couldn't find file object '{}'", name.checksum)
    } else {
        format!("No such metadata object {name}")
    }
}

/// Fails for a regular file mode a bare-user-only repository cannot hold:
/// any permission bit outside `0775` (setuid, setgid, sticky, world-writable).
pub fn check_bare_user_only_mode(checksum: Checksum, mode: u32) -> Result<()> {
    if mode & 0o170000 == 0o100000 && mode & 0o7777 & !0o775 != 0 {
        return Err(RepoError::InvalidContentMode {
            checksum,
            mode,
            repo_mode: RepoMode::BareUserOnly,
        });
    }
    Ok(())
}

/// Attaches a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| RepoError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// An open repository.
#[derive(Debug)]
pub struct Repo {
    path: PathBuf,
    /// `objects/`, open: loose objects are stat'ed and read relative to it
    /// (`XX/REST.EXT`, two path components instead of the whole path).
    objects: std::os::fd::OwnedFd,
    mode: RepoMode,
    config: KeyFile,
    disable_fsync: bool,
    /// `core.parent`: a repository whose objects this one reads when it lacks them.
    parent: Option<Box<Repo>>,
    /// The permission bits a new file in `tmp/` loses from the mode it is
    /// created with (the umask, or what a default ACL takes away), found
    /// once: see [`Repo::temp_file_with_mode`].
    tmp_mask: std::sync::OnceLock<u32>,
    /// `tmp/`, opened (`O_PATH`) on the first unnamed file made in it, so
    /// each next one is made relative to it; `None` when it cannot be.
    tmp: std::sync::OnceLock<Option<std::os::fd::OwnedFd>>,
}

/// Set once linking an unnamed file by its descriptor (`linkat` with
/// `AT_EMPTY_PATH`, which needs `CAP_DAC_READ_SEARCH`) was refused: from
/// then on it is linked through `/proc/self/fd`, as libglnx always does.
static LINK_BY_FD_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// How deep a chain of `core.parent` repositories may go (a loop would never end).
const MAX_PARENT_DEPTH: usize = 32;

const REPO_DIRS: &[&str] = &[
    "tmp",
    "extensions",
    "state",
    "refs",
    "refs/heads",
    "refs/mirrors",
    "refs/remotes",
    "objects",
    "tmp/cache",
];

impl Repo {
    /// Creates a repository (or opens it unchanged if `objects/` already exists, as ostree).
    pub fn init(path: &Path, mode: RepoMode, collection_id: Option<&str>) -> Result<Repo> {
        if path.join("objects").is_dir() && path.join("config").is_file() {
            return Repo::open(path);
        }
        fs::create_dir_all(path).at(path)?;
        let mut config = KeyFile::new();
        config.set("core", "repo_version", "1");
        config.set("core", "mode", mode.config_name());
        if let Some(id) = collection_id {
            config.set("core", "collection-id", id);
        }
        for d in REPO_DIRS {
            let p = path.join(d);
            match fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(RepoError::Io { path: p, source: e }),
            }
        }
        let config_path = path.join("config");
        atomic::Replace::new(&config_path, atomic::Fsync::WhenReplacing)
            .tmp_dir(&path.join("tmp"))
            .write(config.to_text().as_bytes())?;
        Repo::open(path)
    }

    /// Opens an existing repository (and the `core.parent` chain it names).
    pub fn open(path: &Path) -> Result<Repo> {
        Repo::open_at_depth(path, 0)
    }

    fn open_at_depth(path: &Path, depth: usize) -> Result<Repo> {
        let path = std::path::absolute(path).at(path)?;
        if !path.is_dir() {
            return Err(RepoError::NotARepo {
                path,
                why: "no such directory".into(),
            });
        }
        let objects = match rustix::fs::open(
            path.join("objects"),
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {
                return Err(RepoError::NotARepo {
                    path,
                    why: "no objects/ directory".into(),
                })
            }
            Err(e) => {
                return Err(RepoError::Io {
                    path: path.join("objects"),
                    source: e.into(),
                })
            }
        };
        let cfg_path = path.join("config");
        let text = match fs::read_to_string(&cfg_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RepoError::NotARepo {
                    path,
                    why: "no config file".into(),
                })
            }
            Err(e) => {
                return Err(RepoError::Io {
                    path: cfg_path,
                    source: e,
                })
            }
        };
        let config = KeyFile::parse(&text).map_err(|e| RepoError::Config {
            path: cfg_path.clone(),
            why: e.to_string(),
        })?;
        match config.get("core", "repo_version") {
            Some("1") => {}
            other => {
                return Err(RepoError::Config {
                    path: cfg_path,
                    why: format!("unsupported repo_version {}", other.unwrap_or("(missing)")),
                })
            }
        }
        let mode_s = config.get("core", "mode").unwrap_or("bare");
        let mode = RepoMode::parse(mode_s).ok_or_else(|| RepoError::InvalidMode {
            path: cfg_path.clone(),
            mode: mode_s.to_string(),
        })?;
        let disable_fsync = matches!(config.get_bool("core", "fsync"), Some(Ok(false)));
        let _ = fs::create_dir_all(path.join("tmp/cache"));
        let parent = match config.get("core", "parent") {
            Some(p) if depth >= MAX_PARENT_DEPTH => {
                return Err(RepoError::Config {
                    path: cfg_path,
                    why: format!("core.parent chain deeper than {MAX_PARENT_DEPTH} at {p}"),
                })
            }
            Some(p) => Some(Box::new(Repo::open_at_depth(Path::new(p), depth + 1)?)),
            None => None,
        };
        Ok(Repo {
            path,
            objects,
            mode,
            config,
            disable_fsync,
            parent,
            tmp_mask: std::sync::OnceLock::new(),
            tmp: std::sync::OnceLock::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mode(&self) -> RepoMode {
        self.mode
    }

    pub fn config(&self) -> &KeyFile {
        &self.config
    }

    /// Replaces the configuration and writes it atomically.
    pub fn write_config(&mut self, config: KeyFile) -> Result<()> {
        atomic::Replace::new(&self.path.join("config"), atomic::Fsync::WhenReplacing)
            .tmp_dir(&self.tmp_dir())
            .write(config.to_text().as_bytes())?;
        self.config = config;
        Ok(())
    }

    pub fn collection_id(&self) -> Option<&str> {
        self.config.get("core", "collection-id")
    }

    /// Skips `syncfs` before refs move (`--disable-fsync`, `core.fsync=false`).
    pub fn set_disable_fsync(&mut self, disable: bool) {
        self.disable_fsync = disable;
    }

    /// How refs, the summary and its signatures are flushed before they
    /// replace the old file: always, unless fsync is disabled (ostree's
    /// `_ostree_repo_file_replace_contents`).
    pub fn fsync_policy(&self) -> atomic::Fsync {
        if self.disable_fsync {
            atomic::Fsync::Never
        } else {
            atomic::Fsync::Always
        }
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.path.join("tmp")
    }

    /// Takes the repository lock, waiting up to `core.lock-timeout-secs` (default 30; -1 waits forever).
    pub fn lock(&self, kind: LockKind) -> Result<Option<RepoLock>> {
        if matches!(self.config.get_bool("core", "locking"), Some(Ok(false))) {
            return Ok(None);
        }
        let secs: i64 = self
            .config
            .get("core", "lock-timeout-secs")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(30);
        let timeout = if secs < 0 {
            None
        } else {
            Some(Duration::from_secs(secs as u64))
        };
        RepoLock::acquire(&self.path, kind, timeout)
            .map(Some)
            .map_err(|source| RepoError::Lock {
                path: self.path.clone(),
                source,
            })
    }

    /// Flushes written objects to disk before refs are moved (unless fsync is disabled).
    pub fn sync(&self) -> Result<()> {
        if self.disable_fsync {
            return Ok(());
        }
        rustix::fs::syncfs(&self.objects)
            .map_err(std::io::Error::from)
            .at(&self.path)
    }

    /// The path of a loose object.
    pub fn object_path(&self, name: &ObjectName) -> PathBuf {
        let rel = LooseRel::of(name, self.mode.is_archive());
        let mut p = PathBuf::with_capacity(self.path.as_os_str().len() + 9 + rel.as_str().len());
        p.push(&self.path);
        p.push("objects");
        p.push(rel.as_str());
        p
    }

    /// The `core.parent` repository, if configured.
    pub fn parent(&self) -> Option<&Repo> {
        self.parent.as_deref()
    }

    /// `objects/`, as opened with the repository: loose objects are named
    /// relative to it ([`LooseRel`]).
    pub fn objects_dir(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.objects.as_fd()
    }

    /// Opens this repository's own loose object `name` (not one of
    /// `core.parent`) for reading, relative to `objects/`.
    pub(crate) fn open_loose(&self, name: &ObjectName) -> std::io::Result<fs::File> {
        let rel = LooseRel::of(name, self.mode.is_archive());
        rustix::fs::openat(
            &self.objects,
            rel.as_c_str(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map(fs::File::from)
        .map_err(Into::into)
    }

    /// The size of this repository's own loose object `name` as stored,
    /// `None` when it has no such file.
    pub(crate) fn loose_size(&self, name: &ObjectName) -> Option<u64> {
        let rel = LooseRel::of(name, self.mode.is_archive());
        rustix::fs::statat(
            &self.objects,
            rel.as_c_str(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .ok()
        .map(|st| st.st_size as u64)
    }

    /// Whether this repository or its `core.parent` chain has the object.
    pub fn has_object(&self, name: &ObjectName) -> bool {
        let rel = LooseRel::of(name, self.mode.is_archive());
        rustix::fs::statat(
            &self.objects,
            rel.as_c_str(),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .is_ok()
            || self.parent.as_ref().is_some_and(|p| p.has_object(name))
    }

    /// Reads a metadata object's bytes (from the `core.parent` chain when missing here).
    pub fn read_metadata(&self, name: &ObjectName) -> Result<Vec<u8>> {
        let rel = LooseRel::of(name, self.mode.is_archive());
        let read = || -> std::io::Result<Vec<u8>> {
            let fd = rustix::fs::openat(
                &self.objects,
                rel.as_c_str(),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?;
            // Metadata objects are small: read to the end without the stat
            // and seek `File::read_to_end` makes for a size hint.
            let mut bytes = Vec::with_capacity(4096);
            std::io::Read::take(fs::File::from(fd), u64::MAX).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        match read() {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &self.parent {
                Some(parent) => parent.read_metadata(name),
                None => Err(RepoError::ObjectMissing(*name)),
            },
            Err(e) => Err(RepoError::Io {
                path: self.object_path(name),
                source: e,
            }),
        }
    }

    fn load<T>(
        &self,
        checksum: Checksum,
        objtype: ObjectType,
        parse: fn(&[u8]) -> Result<T, FormatError>,
    ) -> Result<T> {
        let name = ObjectName::new(checksum, objtype);
        let bytes = self.read_metadata(&name)?;
        parse(&bytes).map_err(|source| RepoError::Format { name, source })
    }

    pub fn load_commit(&self, checksum: Checksum) -> Result<Commit> {
        self.load(checksum, ObjectType::Commit, Commit::from_bytes)
    }

    pub fn load_dirtree(&self, checksum: Checksum) -> Result<DirTree> {
        self.load(checksum, ObjectType::DirTree, DirTree::from_bytes)
    }

    pub fn load_dirmeta(&self, checksum: Checksum) -> Result<DirMeta> {
        self.load(checksum, ObjectType::DirMeta, DirMeta::from_bytes)
    }

    /// Writes a metadata object, returning its checksum; an existing object is success.
    pub fn write_metadata(&self, objtype: ObjectType, bytes: &[u8]) -> Result<Checksum> {
        let checksum = Checksum::digest(bytes);
        self.write_metadata_as(ObjectName::new(checksum, objtype), bytes)?;
        Ok(checksum)
    }

    /// Writes bytes under a given name without re-hashing (tombstones, verified copies).
    /// A commit written (again) removes the tombstone left for it, as in
    /// ostree: a commit that was deleted and is pulled anew is no longer gone.
    pub fn write_metadata_as(&self, name: ObjectName, bytes: &[u8]) -> Result<()> {
        if !self.has_object(&name) {
            let mut tmp = self.temp_file_with_mode(0o644)?;
            tmp.write_all(bytes).at(tmp.path())?;
            self.place_object(tmp, &name)?;
        }
        if name.objtype == ObjectType::Commit {
            let tombstone =
                self.object_path(&ObjectName::new(name.checksum, ObjectType::TombstoneCommit));
            match fs::remove_file(&tombstone) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RepoError::Io {
                        path: tombstone,
                        source: e,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn write_commit(&self, commit: &Commit) -> Result<Checksum> {
        self.write_metadata(ObjectType::Commit, &commit.to_bytes())
    }

    pub fn write_dirtree(&self, tree: &DirTree) -> Result<Checksum> {
        self.write_metadata(ObjectType::DirTree, &tree.to_bytes())
    }

    pub fn write_dirmeta(&self, meta: &DirMeta) -> Result<Checksum> {
        self.write_metadata(ObjectType::DirMeta, &meta.to_bytes())
    }

    /// A commit's detached metadata (`.commitmeta`), if any.
    pub fn read_detached_metadata(&self, commit: Checksum) -> Result<Option<Metadata>> {
        let name = ObjectName::new(commit, ObjectType::CommitMeta);
        match self.read_metadata(&name) {
            Ok(b) => Metadata::from_bytes(&b)
                .map(Some)
                .map_err(|source| RepoError::Format { name, source }),
            Err(RepoError::ObjectMissing(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces (or with `None`, removes) a commit's detached metadata atomically.
    pub fn write_detached_metadata(&self, commit: Checksum, meta: Option<&Metadata>) -> Result<()> {
        let dest = self.object_path(&ObjectName::new(commit, ObjectType::CommitMeta));
        match meta {
            None => match fs::remove_file(&dest) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(RepoError::Io {
                    path: dest,
                    source: e,
                }),
            },
            Some(m) => {
                if let Some(dir) = dest.parent() {
                    fs::create_dir_all(dir).at(dir)?;
                }
                atomic::Replace::new(&dest, atomic::Fsync::WhenReplacing)
                    .tmp_dir(&self.tmp_dir())
                    .write(&m.to_bytes())
            }
        }
    }

    /// A temporary file in `tmp/`, removed when dropped (spooling).
    pub fn spool_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("tmpobject-")
            .tempfile_in(self.tmp_dir())
            .at(&self.tmp_dir())
    }

    /// A file for a new object: unnamed (`O_TMPFILE` in `tmp/`, as ostree's
    /// `glnx_open_tmpfile_linkable_at`) where the filesystem has them, so
    /// writers on many threads take no lock on `tmp/` and a crash leaves
    /// nothing behind; else a named temporary file in `tmp/`.
    pub fn temp_file(&self) -> Result<TempObject> {
        let dir = self.tmp_dir();
        match self.open_unnamed(0o600) {
            Ok(fd) => Ok(TempObject::Unnamed {
                file: fs::File::from(fd),
                dir,
            }),
            Err(
                rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::ISDIR | rustix::io::Errno::INVAL,
            ) => Ok(TempObject::Named(self.spool_file()?)),
            Err(e) => Err(RepoError::Io {
                path: dir,
                source: e.into(),
            }),
        }
    }

    /// [`temp_file`](Self::temp_file) whose permission bits are `perm`
    /// (no setuid, setgid or sticky bit): given at creation when `tmp/`
    /// takes none of them away, which saves an `fchmod` per object, else
    /// set afterwards. The library never changes the process umask: which
    /// bits `tmp/` takes away is found once per [`Repo`], by creating one
    /// unnamed file with every permission bit and reading its mode back.
    pub(crate) fn temp_file_with_mode(&self, perm: u32) -> Result<TempObject> {
        debug_assert_eq!(perm & !0o777, 0, "permission bits only");
        if perm & self.tmp_mask() == 0 {
            if let Ok(fd) = self.open_unnamed(perm) {
                return Ok(TempObject::Unnamed {
                    file: fs::File::from(fd),
                    dir: self.tmp_dir(),
                });
            }
        }
        let tmp = self.temp_file()?;
        set_mode(tmp.as_file(), perm).at(tmp.path())?;
        Ok(tmp)
    }

    fn open_unnamed(&self, perm: u32) -> rustix::io::Result<rustix::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let tmp = self.tmp.get_or_init(|| {
            let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::open(self.tmp_dir(), dir, Mode::empty()).ok()
        });
        match tmp {
            Some(fd) => rustix::fs::openat(fd, ".", flags, Mode::from_raw_mode(perm)),
            None => rustix::fs::open(self.tmp_dir(), flags, Mode::from_raw_mode(perm)),
        }
    }

    /// See [`temp_file_with_mode`](Self::temp_file_with_mode); every bit
    /// when `tmp/` has no unnamed files (each mode is then set afterwards).
    fn tmp_mask(&self) -> u32 {
        *self.tmp_mask.get_or_init(|| {
            self.open_unnamed(0o777)
                .and_then(|fd| rustix::fs::fstat(&fd))
                .map(|st| 0o777 & !(st.st_mode & 0o777))
                .unwrap_or(0o777)
        })
    }

    /// Links a finished temporary file as this repository's object `name`
    /// unless it has it already ([`Repo::place_at`] under `objects/`).
    pub(crate) fn place_object(&self, tmp: TempObject, name: &ObjectName) -> Result<()> {
        let rel = LooseRel::of(name, self.mode.is_archive());
        self.place_at(tmp, self.objects_dir(), &rel, || self.object_path(name))
    }

    /// Links a finished temporary file as `rel` (`XX/NAME`) under the
    /// directory `base`, at the path `dest` gives, unless something is
    /// there already; `XX` is made when missing. An unnamed file is linked
    /// by its descriptor where the process may (`linkat` with
    /// `AT_EMPTY_PATH`), else through `/proc/self/fd`, as libglnx always
    /// does; a named one is renamed into place.
    pub(crate) fn place_at(
        &self,
        tmp: TempObject,
        base: std::os::fd::BorrowedFd<'_>,
        rel: &LooseRel,
        dest: impl Fn() -> PathBuf,
    ) -> Result<()> {
        use rustix::fs::{linkat, AtFlags, CWD};
        use rustix::io::Errno;
        use std::sync::atomic::Ordering::Relaxed;
        let file = match tmp {
            TempObject::Unnamed { file, .. } => file,
            TempObject::Named(tmp) => return persist_named(tmp, &dest()),
        };
        let to = rel.as_c_str();
        let by_fd = || linkat(&file, c"", base, to, AtFlags::EMPTY_PATH);
        let by_proc = || {
            use std::os::fd::AsRawFd;
            let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
            linkat(CWD, proc.as_str(), base, to, AtFlags::SYMLINK_FOLLOW)
        };
        let xx = &rel.as_str()[..2];
        let xx_path = || dest().parent().expect("XX/NAME").to_path_buf();
        let r = if LINK_BY_FD_REFUSED.load(Relaxed) {
            link_making_dir(base, xx, xx_path, by_proc)?
        } else {
            // ENOENT once `XX` is there: the descriptor was refused.
            match link_making_dir(base, xx, xx_path, by_fd)? {
                Err(Errno::NOENT) => {
                    LINK_BY_FD_REFUSED.store(true, Relaxed);
                    by_proc()
                }
                r => r,
            }
        };
        match r {
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(RepoError::Io {
                path: dest(),
                source: e.into(),
            }),
        }
    }

    /// Every loose object, optionally only of one type.
    pub fn list_objects(&self, only: Option<ObjectType>) -> Result<Vec<ObjectName>> {
        let objdir = self.path.join("objects");
        let mut out = Vec::new();
        for entry in fs::read_dir(&objdir).at(&objdir)? {
            let entry = entry.at(&objdir)?;
            let prefix = entry.file_name();
            let Some(prefix) = prefix
                .to_str()
                .filter(|p| p.len() == 2 && Checksum::is_hex_prefix(p))
            else {
                continue;
            };
            let sub = entry.path();
            for obj in fs::read_dir(&sub).at(&sub)? {
                let obj = obj.at(&sub)?;
                let fname = obj.file_name();
                let Some(fname) = fname.to_str() else {
                    continue;
                };
                let Some((rest, ext)) = fname.split_once('.') else {
                    continue;
                };
                let Some(objtype) = ObjectType::from_extension(ext) else {
                    continue;
                };
                if only.is_some_and(|t| t != objtype) {
                    continue;
                }
                if let Some(c) = Checksum::from_hex_parts(prefix.as_bytes(), rest.as_bytes()) {
                    out.push(ObjectName::new(c, objtype));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Hardlinks the object `name` of `src` into this repository, relative
    /// to both `objects/` directories (its `XX` directory made when
    /// missing); one already here is success. `false` when the two are on
    /// different filesystems or the link is refused (`EXDEV`, `EPERM`,
    /// `EMLINK`): the caller copies instead.
    pub fn link_object_from(&self, src: &Repo, name: &ObjectName) -> Result<bool> {
        use rustix::io::Errno;
        let from = LooseRel::of(name, src.mode.is_archive());
        let to = LooseRel::of(name, self.mode.is_archive());
        let link = || {
            rustix::fs::linkat(
                &src.objects,
                from.as_c_str(),
                &self.objects,
                to.as_c_str(),
                rustix::fs::AtFlags::empty(),
            )
        };
        // ENOENT: the source object, or this repository's `objects/XX`, is missing.
        let xx = &to.as_str()[..2];
        let xx_path = || self.path.join("objects").join(xx);
        match link_making_dir(self.objects_dir(), xx, xx_path, link)? {
            Ok(()) | Err(Errno::EXIST) => Ok(true),
            Err(Errno::XDEV | Errno::PERM | Errno::MLINK) => Ok(false),
            Err(e) => Err(RepoError::Io {
                path: src.object_path(name),
                source: e.into(),
            }),
        }
    }

    pub fn delete_object(&self, name: &ObjectName) -> Result<()> {
        let rel = LooseRel::of(name, self.mode.is_archive());
        match rustix::fs::unlinkat(&self.objects, rel.as_c_str(), rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(RepoError::Io {
                path: self.object_path(name),
                source: e.into(),
            }),
        }
    }

    fn partial_path(&self, commit: Checksum) -> PathBuf {
        self.path
            .join("state")
            .join(format!("{commit}.commitpartial"))
    }

    /// Whether a commit is marked partial (`state/CHECKSUM.commitpartial`).
    pub fn is_partial(&self, commit: Checksum) -> bool {
        self.partial_path(commit).exists()
    }

    /// Whether a partial marker says fsck found the commit corrupt (content `f`).
    pub fn is_fsck_partial(&self, commit: Checksum) -> bool {
        fs::read(self.partial_path(commit))
            .map(|b| b == b"f")
            .unwrap_or(false)
    }

    /// Marks or unmarks a commit as partial; `fsck` markers hold `f`.
    pub fn set_partial(&self, commit: Checksum, partial: bool, from_fsck: bool) -> Result<()> {
        let p = self.partial_path(commit);
        if partial {
            fs::create_dir_all(self.path.join("state")).at(&p)?;
            fs::write(&p, if from_fsck { &b"f"[..] } else { &b""[..] }).at(&p)
        } else {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(RepoError::Io { path: p, source: e })
                }
                _ => Ok(()),
            }
        }
    }
}

/// Runs `link`, a link into `XX/` under `base`; when that says ENOENT,
/// makes `XX` (another thread may be making it at the same moment; `path`
/// names it in errors) and runs it once more. The error is the second run's.
fn link_making_dir(
    base: std::os::fd::BorrowedFd<'_>,
    xx: &str,
    path: impl FnOnce() -> PathBuf,
    link: impl Fn() -> rustix::io::Result<()>,
) -> Result<rustix::io::Result<()>> {
    use rustix::io::Errno;
    match link() {
        Err(Errno::NOENT) => {
            match rustix::fs::mkdirat(base, xx, rustix::fs::Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => Ok(link()),
                Err(e) => Err(RepoError::Io {
                    path: path(),
                    source: e.into(),
                }),
            }
        }
        r => Ok(r),
    }
}

/// Renames a named temporary file to `dest` unless something is there
/// already, making `dest`'s directory when missing.
fn persist_named(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    let dir = dest.parent().expect("object paths have a parent");
    let err = |e: tempfile::PersistError| RepoError::Io {
        path: dest.to_path_buf(),
        source: e.error,
    };
    match tmp.persist_noclobber(dest) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).at(dir)?;
            match e.file.persist_noclobber(dest) {
                Ok(_) => Ok(()),
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(err(e)),
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// A new object being written: see [`Repo::temp_file`].
pub enum TempObject {
    Unnamed { file: fs::File, dir: PathBuf },
    Named(tempfile::NamedTempFile),
}

impl TempObject {
    /// Where the file is, for error messages (`tmp/` for an unnamed one).
    pub fn path(&self) -> &Path {
        match self {
            TempObject::Unnamed { dir, .. } => dir,
            TempObject::Named(t) => t.path(),
        }
    }

    pub fn as_file(&self) -> &fs::File {
        match self {
            TempObject::Unnamed { file, .. } => file,
            TempObject::Named(t) => t.as_file(),
        }
    }

    pub fn as_file_mut(&mut self) -> &mut fs::File {
        match self {
            TempObject::Unnamed { file, .. } => file,
            TempObject::Named(t) => t.as_file_mut(),
        }
    }
}

impl std::io::Write for TempObject {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.as_file_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.as_file_mut().flush()
    }
}

/// Writes a file atomically (a temporary file in `tmpdir`, then rename),
/// synced when it replaces one: [`atomic::Fsync::WhenReplacing`].
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8], tmpdir: &Path) -> Result<()> {
    atomic::Replace::new(dest, atomic::Fsync::WhenReplacing)
        .tmp_dir(tmpdir)
        .write(bytes)
}

pub(crate) fn set_mode(f: &fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
}
