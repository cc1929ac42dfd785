//! The filesystem's state and how a FUSE request finds its file: SRC as a
//! directory descriptor, the inode table, open files and directory
//! listings, and the helpers the operations share (open, setattr, readdir),
//! every one acting on one path component under a directory opened beneath
//! SRC without following symlinks.
//!
//! Upstream: `do_open`, the `callback_chmod`/`chown`/`truncate`/`utimens`
//! group and `callback_readdir` in `src/rofiles-fuse/main.c`, where libfuse
//! resolves paths and `openat` relative to the `basefd` of SRC does the rest.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fuser::{Errno, FileAttr, FileHandle, FileType, INodeNo, ReplyXattr, TimeOrNow};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags, Stat, Timestamps};

use super::attr::{timespec, to_attr};
use super::copyup::{break_hardlink, can_write, proc_path};
use super::inodes::Inodes;
use super::{Options, RofilesError};

/// A directory and one entry in it: where an inode lives.
pub(super) struct Loc {
    pub(super) dir: OwnedFd,
    pub(super) name: OsString,
}

impl Loc {
    pub(super) fn stat(&self) -> Result<Stat, Errno> {
        rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
    }

    pub(super) fn proc_path(&self) -> PathBuf {
        proc_path(&self.dir, &self.name)
    }
}

#[derive(Debug)]
pub(super) struct DirEntry {
    pub(super) ino: u64,
    pub(super) kind: FileType,
    pub(super) name: OsString,
}

/// The FUSE filesystem: SRC served with hardlinked files read-only.
#[derive(Debug)]
pub struct RofilesFs {
    pub(super) base: OwnedFd,
    pub(super) copyup: bool,
    pub(super) inodes: Mutex<Inodes>,
    pub(super) files: Mutex<HashMap<u64, Arc<File>>>,
    pub(super) dirs: Mutex<HashMap<u64, Arc<Vec<DirEntry>>>>,
    next_fh: AtomicU64,
}

pub(super) fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

pub(super) fn io_errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
    pub(super) fn locate(&self, ino: INodeNo) -> Result<Loc, Errno> {
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
    pub(super) fn locate_child(
        &self,
        parent: INodeNo,
        name: &OsStr,
    ) -> Result<(Loc, PathBuf), Errno> {
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
    pub(super) fn entry(&self, loc: &Loc, path: &Path) -> Result<FileAttr, Errno> {
        let st = loc.stat()?;
        let ino = lock(&self.inodes).remember(path);
        Ok(to_attr(ino, &st))
    }

    pub(super) fn file(&self, fh: FileHandle) -> Result<Arc<File>, Errno> {
        lock(&self.files).get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    /// A new handle for the open file `f`.
    pub(super) fn add_file(&self, f: File) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(f));
        FileHandle(fh)
    }

    /// A new handle for a directory listing read at `opendir`.
    pub(super) fn add_dir(&self, entries: Vec<DirEntry>) -> FileHandle {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.dirs).insert(fh, Arc::new(entries));
        FileHandle(fh)
    }

    /// Opens (or, with `O_CREAT`, creates) `loc` as `open(2)` would, after
    /// checking that a write does not reach a hardlinked file.
    pub(super) fn do_open(&self, loc: &Loc, flags: i32, mode: u32) -> Result<File, Errno> {
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
    pub(super) fn do_setattr(
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

    pub(super) fn read_dir(&self, ino: INodeNo) -> Result<Vec<DirEntry>, Errno> {
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

    pub(super) fn xattr_reply(size: u32, value: Vec<u8>, reply: ReplyXattr) {
        if size == 0 {
            reply.size(value.len() as u32);
        } else if value.len() > size as usize {
            reply.error(Errno::from_i32(libc::ERANGE));
        } else {
            reply.data(&value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn names_stay_inside() {
        assert!(check_name(OsStr::new("x")).is_ok());
        for bad in ["", ".", "..", "a/b", "/"] {
            assert_eq!(check_name(OsStr::new(bad)), Err(Errno::EINVAL));
        }
    }
}
