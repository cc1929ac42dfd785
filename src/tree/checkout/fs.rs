//! Filesystem helpers of a checkout: errors that name the path, modes,
//! owners and xattrs of what was placed, fsync, symlinks, `rm -rf` and the
//! streaming copy. All relative to directory file descriptors.
//!
//! Upstream: `write_regular_file_content` and `create_file_copy_from_input_at`
//! in `ostree-repo-checkout.c`, the final fchown, fchmod and futimens of
//! `checkout_tree_at_recurse`, and libglnx's `glnx_shutil_rm_rf_at`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;
use rustix::process::{Gid, Uid};

use super::CheckoutError;
use crate::objects::file_header::{S_IFDIR, S_IFMT};
use crate::objects::{DirMeta, FileHeader, Xattrs};

pub(super) const S_ISUID: u32 = 0o4000;
pub(super) const S_ISGID: u32 = 0o2000;
pub(super) const S_IRUSR: u32 = 0o400;

pub(super) const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

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

/// An `Errno` as a [`CheckoutError::Io`] naming `op` and `path`.
pub(super) fn io_err(op: &'static str, path: PathBuf) -> impl FnOnce(Errno) -> CheckoutError {
    move |e| CheckoutError::Io {
        op,
        path,
        err: e.into(),
    }
}

/// An `io::Error` as a [`CheckoutError::Io`] naming `op` and `path`.
pub(super) fn at<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> CheckoutError + 'p {
    move |err| CheckoutError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// `/proc/self/fd/N/NAME`: there is no `l*xattrat()`, so symlinks' xattrs
/// are reached through their directory's `/proc` entry.
pub(super) fn via_proc(dfd: BorrowedFd<'_>, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dfd.as_raw_fd())).join(name)
}

/// Sets every xattr on an open file or directory.
pub(super) fn set_xattrs(fd: impl AsFd, xattrs: &Xattrs, path: &Path) -> Result<(), CheckoutError> {
    for (n, v) in xattrs.iter() {
        crate::tree::xattr::set_fd(&fd, n, v).map_err(at("fsetxattr", path))?;
    }
    Ok(())
}

/// A created directory's final state, set once it is filled so nobody can use
/// it half-built: owner (`!user`), stored mode (masked with 0775 under
/// `mask`), mtime 0 (`zero_mtime`).
pub(super) fn finish_dir(
    dfd: impl AsFd,
    meta: &DirMeta,
    user: bool,
    mask: bool,
    zero_mtime: bool,
    path: &Path,
) -> Result<(), CheckoutError> {
    if !user {
        rustix::fs::fchown(
            &dfd,
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
        )
        .map_err(io_err("fchown", path.to_path_buf()))?;
    }
    let mode = if mask {
        meta.mode & 0o775
    } else {
        meta.mode & 0o7777
    };
    rustix::fs::fchmod(&dfd, Mode::from_raw_mode(mode))
        .map_err(io_err("fchmod", path.to_path_buf()))?;
    if zero_mtime {
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
        rustix::fs::futimens(&dfd, &times).map_err(io_err("futimens", path.to_path_buf()))?;
    }
    Ok(())
}

/// A copied file's metadata: in normal mode the stored owner, xattrs and
/// mode; in user mode the mode without setuid/setgid and with `u+r`.
pub(super) fn finish_copy(
    out: &File,
    header: &FileHeader,
    user: bool,
    fsync: bool,
    path: &Path,
) -> Result<(), CheckoutError> {
    let mut mode = header.mode & 0o7777;
    if !user {
        rustix::fs::fchown(
            out,
            Some(Uid::from_raw(header.uid)),
            Some(Gid::from_raw(header.gid)),
        )
        .map_err(io_err("fchown", path.to_path_buf()))?;
        set_xattrs(out, &header.xattrs, path)?;
    } else {
        mode &= !(S_ISUID | S_ISGID);
        mode |= S_IRUSR;
    }
    rustix::fs::fchmod(out, Mode::from_raw_mode(mode))
        .map_err(io_err("fchmod", path.to_path_buf()))?;
    if fsync {
        out.sync_all().map_err(at("fsync", path))?;
    }
    Ok(())
}

/// Gives `name` under `dfd` (not followed) the owner in `header`.
pub(super) fn chown_nofollow(
    dfd: BorrowedFd<'_>,
    name: &str,
    header: &FileHeader,
    path: &Path,
) -> Result<(), CheckoutError> {
    rustix::fs::chownat(
        dfd,
        name,
        Some(Uid::from_raw(header.uid)),
        Some(Gid::from_raw(header.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io_err("fchownat", path.to_path_buf()))
}

/// Owner and xattrs of a new symlink `name` under `dfd` (normal mode only).
pub(super) fn symlink_owner(
    dfd: BorrowedFd<'_>,
    name: &str,
    header: &FileHeader,
    user: bool,
    path: &Path,
) -> Result<(), CheckoutError> {
    if user {
        return Ok(());
    }
    chown_nofollow(dfd, name, header, path)?;
    if !header.xattrs.is_empty() {
        let via = via_proc(dfd, name);
        for (n, v) in header.xattrs.iter() {
            crate::tree::xattr::set_path(&via, n, v).map_err(at("lsetxattr", path))?;
        }
    }
    Ok(())
}

/// The target of the symlink `name` under `dfd`, as UTF-8.
pub(super) fn read_symlink(
    dfd: BorrowedFd<'_>,
    name: &str,
    path: &Path,
) -> Result<String, CheckoutError> {
    let t = rustix::fs::readlinkat(dfd, name, Vec::new())
        .map_err(io_err("readlinkat", path.to_path_buf()))?;
    OsString::from(OsStr::from_bytes(t.as_bytes()))
        .into_string()
        .map_err(|_| at("readlinkat", path)(io::Error::other("symlink target is not UTF-8")))
}

/// Copies a (decompressing) stream with a large buffer; returns the byte count.
pub(super) fn copy_stream(mut r: impl Read, w: &mut File, size: u64) -> io::Result<u64> {
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
pub(super) fn rm_rf_at(dfd: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
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
