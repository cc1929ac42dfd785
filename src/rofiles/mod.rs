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
//!
//! By concept:
//!
//! - `mount`: the fuser session on the mount point, serving and unmounting;
//! - `copyup`: which files may be modified in place, and breaking a hardlink;
//! - `inodes`: the inode ↔ path table;
//! - `fs`: the filesystem's state and the helpers its operations share;
//! - `ops`: the FUSE operations themselves;
//! - `attr`: `stat` to FUSE attributes, FUSE times to `timespec`.

use std::io;
use std::path::PathBuf;

mod attr;
mod copyup;
mod fs;
mod inodes;
mod mount;
mod ops;

pub use copyup::break_hardlink;
pub use fs::RofilesFs;
pub use mount::{mount, Mount, Unmounter};

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
