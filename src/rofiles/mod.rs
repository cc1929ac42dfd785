//! rofiles: a FUSE passthrough over a hardlinked checkout that keeps the
//! repository's objects immutable.
//!
//! A checkout made with `checkout -U` shares its regular files and symlinks
//! with the repository's object store by hardlinks; writing to one of them in
//! place would corrupt the repository. This module serves a directory (SRC)
//! at a mount point through FUSE so that a process may create, rename and
//! delete files, directories and symlinks, change times, and write files it
//! created, but any in-place change to a regular file or symlink whose link
//! count is above one — open for writing, truncate, chmod, chown, setxattr,
//! removexattr — fails with `EROFS`. With [`Options::copyup`] such a file is
//! first replaced by a private copy (a new inode carrying the same content,
//! mode, owner, times and xattrs, made under a temporary name in the same
//! directory and renamed over the original) and the operation proceeds on
//! the copy.
//!
//! OSTree holds the same logic in `src/rofiles-fuse/main.c` (the rules) and
//! `ostree_break_hardlink()` in `src/libostree/ostree-core.c` (the copy).
//! Differences: device nodes may not be created (as there, `EROFS`), but
//! regular files, FIFOs and sockets may; `removexattr` is guarded like
//! `setxattr`.
//!
//! The filesystem is path based: every FUSE inode number maps to a path
//! relative to SRC (renames rewrite the table). Every operation opens the
//! parent directory with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! relative to a descriptor on SRC and then acts on one path component with
//! the `*at` calls, never following a final symlink, so that no path can
//! lead outside SRC.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::repo::atomic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, KernelConfig, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Stat, Timespec, Timestamps, XattrFlags};

/// How long the kernel may cache attributes and names (libfuse's default).
const TTL: Duration = Duration::from_secs(1);

/// Errors setting up or serving a rofiles mount.
#[derive(Debug, thiserror::Error)]
pub enum RofilesError {
    /// SRC could not be opened as a directory.
    #[error("opening rootfs {path}: {source}")]
    OpenSource { path: PathBuf, source: io::Error },
    /// The FUSE mount could not be established.
    #[error("mounting {path}: {source}")]
    Mount { path: PathBuf, source: io::Error },
    /// The FUSE session ended with an error.
    #[error("serving {path}: {source}")]
    Serve { path: PathBuf, source: io::Error },
}

/// Behaviour of the mount.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Break a hardlink by copying the file before modifying it, instead of
    /// failing with `EROFS`.
    pub copyup: bool,
}

/// An established mount, not yet serving requests. Dropping it unmounts.
#[derive(Debug)]
pub struct Mount {
    session: fuser::Session<RofilesFs>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Serves requests until the filesystem is unmounted (`fusermount3 -u`).
    pub fn serve(self) -> Result<(), RofilesError> {
        let mountpoint = self.mountpoint;
        self.session.run().map_err(|source| RofilesError::Serve {
            path: mountpoint,
            source,
        })
    }
}

/// Ends a mount from another thread (for example on a signal); the
/// [`Mount::serve`] loop then returns.
#[derive(Debug)]
pub struct Unmounter(fuser::SessionUnmounter);

impl Unmounter {
    /// Unmounts the filesystem (once; later calls do nothing).
    pub fn unmount(&mut self) -> io::Result<()> {
        self.0.unmount()
    }
}

impl Mount {
    /// A handle that can unmount this mount from another thread.
    pub fn unmounter(&mut self) -> Unmounter {
        Unmounter(self.session.unmount_callable())
    }
}

/// Mounts SRC at `mountpoint`. When this returns, the kernel has completed
/// the FUSE handshake and the mount is visible; call [`Mount::serve`] to
/// answer requests.
pub fn mount(src: &Path, mountpoint: &Path, options: Options) -> Result<Mount, RofilesError> {
    let fs = RofilesFs::new(src, options)?;
    let mount_err = |source| RofilesError::Mount {
        path: mountpoint.to_path_buf(),
        source,
    };
    // fuser would fall back to fusermount3, which mounts over a file too.
    if !std::fs::metadata(mountpoint).map_err(mount_err)?.is_dir() {
        return Err(mount_err(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    let fsname = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(fsname.display().to_string()),
        MountOption::Subtype("rofiles".to_string()),
    ];
    let session = fuser::Session::new(fs, mountpoint, &config).map_err(mount_err)?;
    Ok(Mount {
        session,
        mountpoint: mountpoint.to_path_buf(),
    })
}

/// Whether a file may be modified in place: anything but a regular file or
/// symlink (ostree never hardlinks those), or one that is not hardlinked.
fn can_write(st: &Stat) -> bool {
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt != libc::S_IFREG && fmt != libc::S_IFLNK {
        return true;
    }
    st.st_nlink <= 1
}

/// Replaces the hardlinked file `name` in `dir` by a private copy (a new
/// inode with the same content, mode, owner, xattrs and times), like
/// `ostree_break_hardlink`. A file that is not hardlinked is left alone.
pub fn break_hardlink(dir: &impl AsFd, name: &OsStr) -> io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if st.st_nlink <= 1 {
        return Ok(());
    }
    let fmt = st.st_mode & libc::S_IFMT;
    if fmt == libc::S_IFREG {
        let src = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )?;
        let (tmp_name, tmp) = make_temp(|tmp| {
            rustix::fs::openat(
                dir,
                tmp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
        })?;
        let result = (|| -> io::Result<()> {
            let mut reader = File::from(src);
            let mut writer = File::from(tmp);
            io::copy(&mut reader, &mut writer)?;
            rustix::fs::fchown(
                &writer,
                Some(rustix::fs::Uid::from_raw(st.st_uid)),
                Some(rustix::fs::Gid::from_raw(st.st_gid)),
            )?;
            rustix::fs::fchmod(&writer, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
            crate::tree::xattr::copy_fd(&reader, &writer)?;
            rustix::fs::futimens(&writer, &stat_times(&st))?;
            Ok(())
        })();
        finish_temp(dir, &tmp_name, name, result)
    } else if fmt == libc::S_IFLNK {
        let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
        let (tmp_name, ()) = make_temp(|tmp| rustix::fs::symlinkat(target.as_c_str(), dir, tmp))?;
        let result = (|| -> io::Result<()> {
            rustix::fs::chownat(
                dir,
                &tmp_name,
                Some(rustix::fs::Uid::from_raw(st.st_uid)),
                Some(rustix::fs::Gid::from_raw(st.st_gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            let from = proc_path(dir, name);
            let to = proc_path(dir, OsStr::new(&tmp_name));
            crate::tree::xattr::copy_path(&from, &to)?;
            rustix::fs::utimensat(dir, &tmp_name, &stat_times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(())
        })();
        finish_temp(dir, &tmp_name, name, result)
    } else {
        Err(io::Error::from_raw_os_error(libc::EIO))
    }
}

fn make_temp<T>(create: impl FnMut(&str) -> rustix::io::Result<T>) -> io::Result<(String, T)> {
    Ok(atomic::create_temp_at("rofiles-copyup", create)?)
}

/// Renames the finished temporary over `name`, or removes it on error.
fn finish_temp(dir: &impl AsFd, tmp: &str, name: &OsStr, result: io::Result<()>) -> io::Result<()> {
    match result {
        Ok(()) => Ok(atomic::rename_over_at(dir, tmp, name)?),
        Err(e) => {
            atomic::discard_at(dir, tmp);
            Err(e)
        }
    }
}

fn stat_times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// `/proc/self/fd/DIR/NAME`: a path to `name` in `dir` that the `l*xattr`
/// calls resolve without following `name` if it is a symlink.
fn proc_path(dir: &impl AsFd, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    p.push(name);
    p
}

/// One FUSE inode: the path it was looked up at (relative to SRC; empty for
/// the root), or `None` once that path was unlinked or replaced.
#[derive(Debug)]
struct Node {
    path: Option<PathBuf>,
    nlookup: u64,
}

/// The inode ↔ path table. Inode numbers are never reused.
#[derive(Debug)]
struct Inodes {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<PathBuf, u64>,
    next: u64,
}

impl Inodes {
    fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            INodeNo::ROOT.0,
            Node {
                path: Some(PathBuf::new()),
                nlookup: 1,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(PathBuf::new(), INodeNo::ROOT.0);
        Inodes {
            nodes,
            by_path,
            next: INodeNo::ROOT.0 + 1,
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.nodes
            .get(&ino.0)
            .and_then(|n| n.path.clone())
            .ok_or(Errno::ENOENT)
    }

    /// Records one more kernel reference to `path` and returns its inode.
    fn remember(&mut self, path: &Path) -> INodeNo {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.nlookup += 1;
                return INodeNo(ino);
            }
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                path: Some(path.to_path_buf()),
                nlookup: 1,
            },
        );
        self.by_path.insert(path.to_path_buf(), ino);
        INodeNo(ino)
    }

    fn forget(&mut self, ino: INodeNo, n: u64) {
        if ino == INodeNo::ROOT {
            return;
        }
        let gone = match self.nodes.get_mut(&ino.0) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            if let Some(Node { path: Some(p), .. }) = self.nodes.remove(&ino.0) {
                if self.by_path.get(&p) == Some(&ino.0) {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// `path` no longer names the file its inode stood for.
    fn unlinked(&mut self, path: &Path) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = None;
            }
        }
    }

    /// Rewrites the table after `from` was renamed to `to` (or exchanged).
    fn renamed(&mut self, from: &Path, to: &Path, exchange: bool) {
        if from == to {
            return;
        }
        if !exchange {
            self.unlinked(to);
        }
        let mut moved = Vec::new();
        for (&ino, node) in &self.nodes {
            let Some(p) = &node.path else { continue };
            if let Ok(rest) = p.strip_prefix(from) {
                moved.push((ino, p.clone(), join_rest(to, rest)));
            } else if exchange {
                if let Ok(rest) = p.strip_prefix(to) {
                    moved.push((ino, p.clone(), join_rest(from, rest)));
                }
            }
        }
        for (_, old, _) in &moved {
            self.by_path.remove(old);
        }
        for (ino, _, new) in moved {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = Some(new.clone());
            }
            self.by_path.insert(new, ino);
        }
    }
}

fn join_rest(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

/// A directory and one entry in it: where an inode lives.
struct Loc {
    dir: OwnedFd,
    name: OsString,
}

impl Loc {
    fn stat(&self) -> Result<Stat, Errno> {
        rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
    }

    fn proc_path(&self) -> PathBuf {
        proc_path(&self.dir, &self.name)
    }
}

#[derive(Debug)]
struct DirEntry {
    ino: u64,
    kind: FileType,
    name: OsString,
}

/// The FUSE filesystem: SRC served with hardlinked files read-only.
#[derive(Debug)]
pub struct RofilesFs {
    base: OwnedFd,
    copyup: bool,
    inodes: Mutex<Inodes>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    next_fh: AtomicU64,
}

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

fn io_errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A single path component that stays inside its directory.
fn check_name(name: &OsStr) -> Result<(), Errno> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

// The casts are identities on 64-bit targets only.
#[allow(clippy::unnecessary_cast)]
fn to_attr(ino: INodeNo, st: &Stat) -> FileAttr {
    FileAttr {
        ino,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: system_time(st.st_atime as i64, st.st_atime_nsec as i64),
        mtime: system_time(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime: system_time(st.st_ctime as i64, st.st_ctime_nsec as i64),
        crtime: UNIX_EPOCH,
        kind: kind_of(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

fn timespec(t: Option<TimeOrNow>) -> Timespec {
    match t {
        None => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            },
            Err(e) => {
                let d = e.duration();
                let (mut sec, mut nsec) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i64));
                if nsec < 0 {
                    sec -= 1;
                    nsec += 1_000_000_000;
                }
                Timespec {
                    tv_sec: sec as _,
                    tv_nsec: nsec as _,
                }
            }
        },
    }
}

impl RofilesFs {
    /// Opens SRC; nothing is mounted yet.
    pub fn new(src: &Path, options: Options) -> Result<Self, RofilesError> {
        let base = rustix::fs::open(
            src,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| RofilesError::OpenSource {
            path: src.to_path_buf(),
            source: e.into(),
        })?;
        Ok(RofilesFs {
            base,
            copyup: options.copyup,
            inodes: Mutex::new(Inodes::new()),
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
        })
    }

    /// Opens the directory at `rel` (relative to SRC) without following any
    /// symlink or leaving SRC.
    fn open_dir(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let rel: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat2(
            &self.base,
            rel,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(errno)
    }

    fn path_of(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        lock(&self.inodes).path(ino)
    }

    /// Where inode `ino` lives; the root is `.` in itself.
    fn locate(&self, ino: INodeNo) -> Result<Loc, Errno> {
        let path = self.path_of(ino)?;
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => Ok(Loc {
                dir: self.open_dir(parent)?,
                name: name.to_os_string(),
            }),
            _ => Ok(Loc {
                dir: self.open_dir(Path::new(""))?,
                name: OsString::from("."),
            }),
        }
    }

    /// Where entry `name` of directory `parent` lives, and its path.
    fn locate_child(&self, parent: INodeNo, name: &OsStr) -> Result<(Loc, PathBuf), Errno> {
        check_name(name)?;
        let parent_path = self.path_of(parent)?;
        let dir = self.open_dir(&parent_path)?;
        Ok((
            Loc {
                dir,
                name: name.to_os_string(),
            },
            parent_path.join(name),
        ))
    }

    /// Stats a freshly made entry and hands the kernel a reference to it.
    fn entry(&self, loc: &Loc, path: &Path) -> Result<FileAttr, Errno> {
        let st = loc.stat()?;
        let ino = lock(&self.inodes).remember(path);
        Ok(to_attr(ino, &st))
    }

    /// The core rule: refuse (`EROFS`) or copy up a hardlinked file before
    /// it is modified. A missing entry is left to the operation to report.
    fn verify_write_or_copyup(&self, loc: &Loc) -> Result<(), Errno> {
        let st = match rustix::fs::statat(&loc.dir, &loc.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(errno(e)),
        };
        if can_write(&st) {
            return Ok(());
        }
        if !self.copyup {
            return Err(Errno::EROFS);
        }
        break_hardlink(&loc.dir, &loc.name).map_err(io_errno)
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<File>, Errno> {
        lock(&self.files).get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    fn add_file(&self, f: File) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(f));
        FileHandle(fh)
    }

    /// Opens (or, with `O_CREAT`, creates) `loc` as `open(2)` would, after
    /// checking that a write does not reach a hardlinked file.
    fn do_open(&self, loc: &Loc, flags: i32, mode: u32) -> Result<File, Errno> {
        let mut oflags = OFlags::from_bits_retain(flags as u32);
        oflags.remove(OFlags::NOCTTY | OFlags::DIRECT);
        oflags.insert(OFlags::NOFOLLOW | OFlags::CLOEXEC);
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            let fd = rustix::fs::openat(&loc.dir, &loc.name, oflags, mode).map_err(errno)?;
            return Ok(File::from(fd));
        }
        // Truncation waits until the hardlink check has passed.
        let fd =
            rustix::fs::openat(&loc.dir, &loc.name, oflags - OFlags::TRUNC, mode).map_err(errno)?;
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        if can_write(&st) {
            if oflags.contains(OFlags::TRUNC) {
                rustix::fs::ftruncate(&fd, 0).map_err(errno)?;
            }
            return Ok(File::from(fd));
        }
        if !self.copyup {
            return Err(Errno::EROFS);
        }
        drop(fd);
        break_hardlink(&loc.dir, &loc.name).map_err(io_errno)?;
        let fd = rustix::fs::openat(
            &loc.dir,
            &loc.name,
            oflags - (OFlags::CREATE | OFlags::EXCL),
            mode,
        )
        .map_err(errno)?;
        Ok(File::from(fd))
    }

    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
    ) -> Result<FileAttr, Errno> {
        let loc = self.locate(ino)?;
        let open_file = fh.and_then(|fh| lock(&self.files).get(&fh.0).cloned());
        let size_by_path = size.is_some() && open_file.is_none();
        if mode.is_some() || uid.is_some() || gid.is_some() || size_by_path {
            self.verify_write_or_copyup(&loc)?;
        }
        if let Some(mode) = mode {
            // chmod never follows a symlink out of SRC: it acts on the
            // inode opened with O_PATH|O_NOFOLLOW.
            let fd = rustix::fs::openat(
                &loc.dir,
                &loc.name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            let st = rustix::fs::fstat(&fd).map_err(errno)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Errno::from_i32(libc::EOPNOTSUPP));
            }
            let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
            rustix::fs::chmod(p.as_str(), Mode::from_bits_truncate(mode & 0o7777))
                .map_err(errno)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                &loc.dir,
                &loc.name,
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
        }
        if let Some(size) = size {
            match &open_file {
                Some(f) => {
                    let st = rustix::fs::fstat(f.as_ref()).map_err(errno)?;
                    if !can_write(&st) {
                        return Err(Errno::EROFS);
                    }
                    rustix::fs::ftruncate(f.as_ref(), size).map_err(errno)?;
                }
                None => {
                    let fd = rustix::fs::openat(
                        &loc.dir,
                        &loc.name,
                        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(errno)?;
                    rustix::fs::ftruncate(&fd, size).map_err(errno)?;
                }
            }
        }
        if atime.is_some() || mtime.is_some() {
            // Times may change even on hardlinked files, as in ostree.
            let ts = Timestamps {
                last_access: timespec(atime),
                last_modification: timespec(mtime),
            };
            rustix::fs::utimensat(&loc.dir, &loc.name, &ts, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(errno)?;
        }
        let st = match &open_file {
            Some(f) => rustix::fs::fstat(f.as_ref()).map_err(errno)?,
            None => loc.stat()?,
        };
        Ok(to_attr(ino, &st))
    }

    fn read_dir(&self, ino: INodeNo) -> Result<Vec<DirEntry>, Errno> {
        let loc = self.locate(ino)?;
        let fd = rustix::fs::openat(
            &loc.dir,
            &loc.name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let dir = rustix::fs::Dir::new(fd).map_err(errno)?;
        let mut out = Vec::new();
        for ent in dir {
            let ent = ent.map_err(errno)?;
            let kind = match ent.file_type() {
                rustix::fs::FileType::Directory => FileType::Directory,
                rustix::fs::FileType::Symlink => FileType::Symlink,
                rustix::fs::FileType::Fifo => FileType::NamedPipe,
                rustix::fs::FileType::CharacterDevice => FileType::CharDevice,
                rustix::fs::FileType::BlockDevice => FileType::BlockDevice,
                rustix::fs::FileType::Socket => FileType::Socket,
                _ => FileType::RegularFile,
            };
            out.push(DirEntry {
                ino: ent.ino(),
                kind,
                name: OsStr::from_bytes(ent.file_name().to_bytes()).to_os_string(),
            });
        }
        Ok(out)
    }

    fn xattr_reply(size: u32, value: Vec<u8>, reply: ReplyXattr) {
        if size == 0 {
            reply.size(value.len() as u32);
        } else if value.len() > size as usize {
            reply.error(Errno::from_i32(libc::ERANGE));
        } else {
            reply.data(&value);
        }
    }
}

macro_rules! reply_entry {
    ($reply:expr, $r:expr) => {
        match $r {
            Ok(attr) => $reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => $reply.error(e),
        }
    };
}

macro_rules! reply_empty {
    ($reply:expr, $r:expr) => {
        match $r {
            Ok(()) => $reply.ok(),
            Err(e) => $reply.error(e),
        }
    };
}

impl Filesystem for RofilesFs {
    fn init(&mut self, _req: &Request, _config: &mut KernelConfig) -> io::Result<()> {
        // The kernel has applied the caller's umask to every mode it sends.
        rustix::process::umask(Mode::empty());
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, name).map_err(|e| {
                if e == Errno::EINVAL {
                    Errno::ENOENT
                } else {
                    e
                }
            })?;
            self.entry(&loc, &path)
        })();
        reply_entry!(reply, r)
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = (|| {
            if let Some(f) = fh.and_then(|fh| lock(&self.files).get(&fh.0).cloned()) {
                return rustix::fs::fstat(f.as_ref()).map_err(errno);
            }
            self.locate(ino)?.stat()
        })();
        match r {
            Ok(st) => reply.attr(&TTL, &to_attr(ino, &st)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.do_setattr(ino, mode, uid, gid, size, atime, mtime, fh) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let r = (|| {
            let loc = self.locate(ino)?;
            rustix::fs::readlinkat(&loc.dir, &loc.name, Vec::new()).map_err(errno)
        })();
        match r {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let fmt = mode & libc::S_IFMT;
            if fmt == libc::S_IFCHR || fmt == libc::S_IFBLK {
                return Err(Errno::EROFS);
            }
            let (loc, path) = self.locate_child(parent, name)?;
            rustix::fs::mknodat(
                &loc.dir,
                &loc.name,
                rustix::fs::FileType::from_raw_mode(mode),
                Mode::from_bits_truncate(mode & 0o7777),
                u64::from(rdev),
            )
            .map_err(errno)?;
            self.entry(&loc, &path)
        })();
        reply_entry!(reply, r)
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, name)?;
            rustix::fs::mkdirat(&loc.dir, &loc.name, Mode::from_bits_truncate(mode & 0o7777))
                .map_err(errno)?;
            self.entry(&loc, &path)
        })();
        reply_entry!(reply, r)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, name)?;
            rustix::fs::unlinkat(&loc.dir, &loc.name, AtFlags::empty()).map_err(errno)?;
            lock(&self.inodes).unlinked(&path);
            Ok(())
        })();
        reply_empty!(reply, r)
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, name)?;
            rustix::fs::unlinkat(&loc.dir, &loc.name, AtFlags::REMOVEDIR).map_err(errno)?;
            lock(&self.inodes).unlinked(&path);
            Ok(())
        })();
        reply_empty!(reply, r)
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, link_name)?;
            rustix::fs::symlinkat(target, &loc.dir, &loc.name).map_err(errno)?;
            self.entry(&loc, &path)
        })();
        reply_entry!(reply, r)
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            let (from, from_path) = self.locate_child(parent, name)?;
            let (to, to_path) = self.locate_child(newparent, newname)?;
            rustix::fs::renameat_with(
                &from.dir,
                &from.name,
                &to.dir,
                &to.name,
                rustix::fs::RenameFlags::from_bits_retain(flags.bits()),
            )
            .map_err(errno)?;
            let exchange = flags.contains(RenameFlags::RENAME_EXCHANGE);
            lock(&self.inodes).renamed(&from_path, &to_path, exchange);
            Ok(())
        })();
        reply_empty!(reply, r)
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let from = self.locate(ino)?;
            let (to, to_path) = self.locate_child(newparent, newname)?;
            rustix::fs::linkat(&from.dir, &from.name, &to.dir, &to.name, AtFlags::empty())
                .map_err(errno)?;
            self.entry(&to, &to_path)
        })();
        reply_entry!(reply, r)
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = (|| {
            let loc = self.locate(ino)?;
            let f = self.do_open(&loc, flags.0 & !(libc::O_CREAT | libc::O_EXCL), 0)?;
            Ok(self.add_file(f))
        })();
        match r {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = (|| {
            let (loc, path) = self.locate_child(parent, name)?;
            let f = self.do_open(&loc, flags | libc::O_CREAT, mode)?;
            let st = rustix::fs::fstat(&f).map_err(errno)?;
            let ino = lock(&self.inodes).remember(&path);
            Ok((to_attr(ino, &st), self.add_file(f)))
        })();
        match r {
            Ok((attr, fh)) => reply.created(&TTL, &attr, Generation(0), fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = (|| {
            let f = self.file(fh)?;
            let mut buf = vec![0u8; size as usize];
            let mut n = 0;
            while n < buf.len() {
                match f.read_at(&mut buf[n..], offset + n as u64) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_errno(e)),
                }
            }
            buf.truncate(n);
            Ok(buf)
        })();
        match r {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = (|| {
            let f = self.file(fh)?;
            f.write_all_at(data, offset).map_err(io_errno)?;
            Ok(data.len() as u32)
        })();
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply_empty!(reply, self.file(fh).map(|_| ()))
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.files).remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            let f = self.file(fh)?;
            if datasync {
                rustix::fs::fdatasync(f.as_ref()).map_err(errno)
            } else {
                rustix::fs::fsync(f.as_ref()).map_err(errno)
            }
        })();
        reply_empty!(reply, r)
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.read_dir(ino) {
            Ok(entries) => {
                let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                lock(&self.dirs).insert(fh, Arc::new(entries));
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(entries) = lock(&self.dirs).get(&fh.0).cloned() else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(e.ino), (i + 1) as u64, e.kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.dirs).remove(&fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match rustix::fs::fstatvfs(&self.base) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let r = (|| {
            let loc = self.locate(ino)?;
            rustix::fs::accessat(
                &loc.dir,
                &loc.name,
                rustix::fs::Access::from_bits_retain(mask.bits() as _),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)
        })();
        reply_empty!(reply, r)
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let r = (|| {
            let loc = self.locate(ino)?;
            self.verify_write_or_copyup(&loc)?;
            rustix::fs::lsetxattr(
                loc.proc_path(),
                name,
                value,
                XattrFlags::from_bits_retain(flags as _),
            )
            .map_err(errno)
        })();
        reply_empty!(reply, r)
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let r = (|| {
            let loc = self.locate(ino)?;
            let p = loc.proc_path();
            crate::tree::xattr::sized(|b| rustix::fs::lgetxattr(&p, name, b)).map_err(io_errno)
        })();
        match r {
            Ok(v) => Self::xattr_reply(size, v, reply),
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = (|| {
            let loc = self.locate(ino)?;
            let p = loc.proc_path();
            crate::tree::xattr::sized(|b| rustix::fs::llistxattr(&p, b)).map_err(io_errno)
        })();
        match r {
            Ok(v) => Self::xattr_reply(size, v, reply),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let r = (|| {
            let loc = self.locate(ino)?;
            self.verify_write_or_copyup(&loc)?;
            rustix::fs::lremovexattr(loc.proc_path(), name).map_err(errno)
        })();
        reply_empty!(reply, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_rewrites_descendants() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        let ab = t.remember(Path::new("a/b"));
        let c = t.remember(Path::new("c"));
        t.renamed(Path::new("a"), Path::new("c"), false);
        assert_eq!(t.path(a).unwrap(), PathBuf::from("c"));
        assert_eq!(t.path(ab).unwrap(), PathBuf::from("c/b"));
        assert_eq!(t.path(c), Err(Errno::ENOENT));
        assert_eq!(t.remember(Path::new("c/b")), ab);
    }

    #[test]
    fn rename_exchange_swaps() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        let ax = t.remember(Path::new("a/x"));
        let b = t.remember(Path::new("b"));
        t.renamed(Path::new("a"), Path::new("b"), true);
        assert_eq!(t.path(a).unwrap(), PathBuf::from("b"));
        assert_eq!(t.path(ax).unwrap(), PathBuf::from("b/x"));
        assert_eq!(t.path(b).unwrap(), PathBuf::from("a"));
    }

    #[test]
    fn prefix_is_by_component() {
        let mut t = Inodes::new();
        let ab = t.remember(Path::new("ab"));
        t.renamed(Path::new("a"), Path::new("z"), false);
        assert_eq!(t.path(ab).unwrap(), PathBuf::from("ab"));
    }

    #[test]
    fn forget_and_unlink() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        assert_eq!(t.remember(Path::new("a")), a);
        t.forget(a, 1);
        assert!(t.path(a).is_ok());
        t.unlinked(Path::new("a"));
        assert_eq!(t.path(a), Err(Errno::ENOENT));
        let a2 = t.remember(Path::new("a"));
        assert_ne!(a, a2);
        t.forget(a, 1);
        assert!(!t.nodes.contains_key(&a.0));
        assert_eq!(t.path(a2).unwrap(), PathBuf::from("a"));
        t.forget(INodeNo::ROOT, 10);
        assert_eq!(t.path(INodeNo::ROOT).unwrap(), PathBuf::new());
    }

    #[test]
    fn names_stay_inside() {
        assert!(check_name(OsStr::new("x")).is_ok());
        for bad in ["", ".", "..", "a/b", "/"] {
            assert_eq!(check_name(OsStr::new(bad)), Err(Errno::EINVAL));
        }
    }
}
