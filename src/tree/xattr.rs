//! Reading and writing extended attributes of files on disk, in the form
//! OSTree hashes them (libglnx `glnx_dfd_name_get_all_xattrs`: names sorted
//! bytewise, empty values skipped).

use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::XattrFlags;

use crate::objects::Xattrs;

fn list_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == 0).filter(|n| !n.is_empty())
}

/// Calls `f` with a buffer, growing it on `ERANGE`.
pub(crate) fn sized<F: FnMut(&mut [u8]) -> rustix::io::Result<usize>>(
    mut f: F,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        match f(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(rustix::io::Errno::RANGE) => {
                let n = f(&mut [])?;
                buf.resize(n.max(buf.len() * 2), 0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP))
}

/// Every xattr as stored (list order, empty values included), given the
/// list and get calls of a path or a file descriptor.
fn raw_all(
    list: impl Fn(&mut [u8]) -> rustix::io::Result<usize>,
    get: impl Fn(&std::ffi::CStr, &mut [u8]) -> rustix::io::Result<usize>,
) -> std::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let names = match sized(list) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut pairs = Vec::new();
    for name in list_names(&names) {
        let cname = std::ffi::CString::new(name).expect("names split at NUL");
        match sized(|b| get(cname.as_c_str(), b)) {
            Ok(v) => pairs.push((name.to_vec(), v)),
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(pairs)
}

/// Set once `getxattrat` was missing or refused: see [`get_at`].
pub(crate) static GETXATTRAT_MISSING: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// `getxattrat(2)` (Linux 6.13): the xattr `name` of `path` under `dir`,
/// not following a symlink, read into `buf` (its length returned). `None`
/// where the kernel has no such call or a seccomp filter refuses it, from
/// the first refusal on: callers then read it by the whole path with
/// `lgetxattr`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn get_at(
    dir: std::os::fd::BorrowedFd<'_>,
    path: &std::ffi::CStr,
    name: &std::ffi::CStr,
    buf: &mut [u8],
) -> Option<rustix::io::Result<usize>> {
    use std::sync::atomic::Ordering::Relaxed;
    // Its number in the generic syscall table, which both use.
    const SYS_GETXATTRAT: libc::c_long = 464;
    if GETXATTRAT_MISSING.load(Relaxed) {
        return None;
    }
    /// The kernel's `struct xattr_args`.
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }
    let mut args = XattrArgs {
        value: buf.as_mut_ptr() as u64,
        size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        flags: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: NUL-terminated path and name; args points at a live struct of
    // the size passed, whose value field points at `size` writable bytes.
    let r = unsafe {
        libc::syscall(
            SYS_GETXATTRAT,
            dir.as_raw_fd(),
            path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            name.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    if r >= 0 {
        return Some(Ok(r as usize));
    }
    let e = rustix::io::Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error()?);
    // EPERM: what a seccomp filter that predates the call answers (a
    // genuine refusal comes back from `lgetxattr` too).
    if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM {
        GETXATTRAT_MISSING.store(true, Relaxed);
        return None;
    }
    Some(Err(e))
}

/// See the other `get_at`: elsewhere the path is read with `lgetxattr`.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn get_at(
    _dir: std::os::fd::BorrowedFd<'_>,
    _path: &std::ffi::CStr,
    _name: &std::ffi::CStr,
    _buf: &mut [u8],
) -> Option<rustix::io::Result<usize>> {
    None
}

/// The form OSTree hashes: empty values skipped, names sorted.
fn hashed(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Xattrs {
    Xattrs::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
}

/// All xattrs of `path` (not following symlinks).
pub fn read_path(path: &Path) -> std::io::Result<Xattrs> {
    raw_all(
        |b| rustix::fs::llistxattr(path, b),
        |n, b| rustix::fs::lgetxattr(path, n, b),
    )
    .map(hashed)
}

/// All xattrs of an open file.
pub fn read_fd<Fd: AsFd>(fd: Fd) -> std::io::Result<Xattrs> {
    let fd = fd.as_fd();
    raw_all(
        |b| rustix::fs::flistxattr(fd, b),
        |n, b| rustix::fs::fgetxattr(fd, n, b),
    )
    .map(hashed)
}

/// One xattr of an open file, or None if it is not set.
pub fn get_fd<Fd: AsFd>(fd: Fd, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let fd = fd.as_fd();
    match sized(|b| rustix::fs::fgetxattr(fd, name, b)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::ENOTSUP)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// One xattr of a path (not following symlinks), or None if it is not set.
pub fn get_path(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    match sized(|b| rustix::fs::lgetxattr(path, name, b)) {
        Ok(v) => Ok(Some(v)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::ENOTSUP)) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn set_fd<Fd: AsFd>(fd: Fd, name: &[u8], value: &[u8]) -> std::io::Result<()> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| std::io::Error::other("xattr name contains NUL"))?;
    rustix::fs::fsetxattr(fd, cname.as_c_str(), value, XattrFlags::empty()).map_err(Into::into)
}

pub fn set_path(path: &Path, name: &[u8], value: &[u8]) -> std::io::Result<()> {
    let cname = std::ffi::CString::new(name)
        .map_err(|_| std::io::Error::other("xattr name contains NUL"))?;
    rustix::fs::lsetxattr(path, cname.as_c_str(), value, XattrFlags::empty()).map_err(Into::into)
}

/// Copies every xattr (empty values too) from one open file to another.
pub fn copy_fd<A: AsFd, B: AsFd>(from: A, to: B) -> std::io::Result<()> {
    let from = from.as_fd();
    for (n, v) in raw_all(
        |b| rustix::fs::flistxattr(from, b),
        |n, b| rustix::fs::fgetxattr(from, n, b),
    )? {
        set_fd(&to, &n, &v)?;
    }
    Ok(())
}

/// Copies every xattr (empty values too) from one path to another, not following symlinks.
pub fn copy_path(from: &Path, to: &Path) -> std::io::Result<()> {
    for (n, v) in raw_all(
        |b| rustix::fs::llistxattr(from, b),
        |n, b| rustix::fs::lgetxattr(from, n, b),
    )? {
        set_path(to, &n, &v)?;
    }
    Ok(())
}
