//! Copy-up: the rule that keeps hardlinked files read-only, and breaking a
//! hardlink by replacing the file with a private copy.
//!
//! Upstream: `can_write_stbuf`, `copyup` and `verify_write_or_copyup` in
//! `src/rofiles-fuse/main.c`, and `ostree_break_hardlink` in
//! `src/libostree/ostree-core.c` (the copy).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use fuser::Errno;
use rustix::fs::{AtFlags, Mode, OFlags, Stat, Timespec, Timestamps};

use super::fs::{errno, io_errno, Loc};
use super::RofilesFs;
use crate::repo::atomic;

/// Whether a file may be modified in place: anything but a regular file or
/// symlink (ostree never hardlinks those), or one that is not hardlinked.
pub(super) fn can_write(st: &Stat) -> bool {
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
pub(super) fn proc_path(dir: &impl AsFd, name: &OsStr) -> PathBuf {
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    p.push(name);
    p
}

impl RofilesFs {
    /// The core rule: refuse (`EROFS`) or copy up a hardlinked file before
    /// it is modified. A missing entry is left to the operation to report.
    pub(super) fn verify_write_or_copyup(&self, loc: &Loc) -> Result<(), Errno> {
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
}
