//! What a checkout does with what is already there: the union modes
//! (`--union`, `--union-add`, `--union-identical`) and whiteouts (Docker-style
//! `.wh.NAME` and `.wh..wh..opq`, and `.ostree-wh.NAME` passthrough files
//! turned into overlayfs whiteouts).
//!
//! Upstream: the `overwrite_mode` switches of `checkout_file_hardlink`,
//! `create_file_copy_from_input_at` and `checkout_tree_at_recurse`, the
//! whiteout handling of `checkout_one_file_at`, and
//! `_checkout_overlayfs_whiteout_at` in `ostree-repo-checkout.c`.
//!
//! An existing entry is only ever replaced through a temporary name and
//! `rename`, so readers never see half a file. `--union-identical` compares
//! an existing file with the object by its content checksum, computed as
//! `ostree_checksum_file_at` does.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::fs::{at, chown_nofollow, io_err, read_symlink, rm_rf_at, symlink_owner, via_proc};
use super::placement::loose_path;
use super::walk::{join_rel, valid_name};
use super::{bump, Checkout, CheckoutError, OverwriteMode, Result};
use crate::objects::checksum::Checksum;
use crate::objects::file_header::{S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::{DirTree, FileHeader, Xattrs};
use crate::repo::atomic;
use crate::repo::content::checksum_content;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// How a commit stores an overlayfs whiteout (a 0:0 character device) as a plain file.
pub const PASSTHROUGH_WHITEOUT_PREFIX: &str = ".ostree-wh.";

/// The prefix of checkout's temporary names (union modes replace entries through them).
const TEMP_PREFIX: &str = "grove-checkout";

impl Checkout<'_> {
    /// Whether `tree` has `.wh.` entries this checkout processes (they
    /// remove siblings, so the directory's files are placed in order).
    pub(super) fn has_whiteouts(&self, tree: &DirTree) -> bool {
        self.opts.process_whiteouts
            && tree
                .files
                .iter()
                .any(|f| f.name.starts_with(WHITEOUT_PREFIX))
    }

    /// An opaque directory (`.wh..wh..opq` in `tree`) replaces whatever is at
    /// `name` under `parent`: that is removed before the directory is made.
    pub(super) fn clear_opaque(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        tree: &DirTree,
        path: &Path,
    ) -> Result<()> {
        if self.opts.process_whiteouts && tree.files.iter().any(|f| f.name == OPAQUE_WHITEOUT) {
            rm_rf_at(parent, name).map_err(at("removing opaque directory", path))?;
        }
        Ok(())
    }

    /// Handles `name` when it is a whiteout this checkout processes:
    /// `.wh.NAME` (not a symlink) removes NAME, `.ostree-wh.NAME` becomes an
    /// overlayfs whiteout NAME. `Ok(false)` when `name` is an ordinary file.
    pub(super) fn whiteout(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
    ) -> Result<bool> {
        if self.opts.process_whiteouts && name.starts_with(WHITEOUT_PREFIX) {
            let obj = self.repo.open_content(checksum)?;
            if !obj.header.is_symlink() {
                let victim = &name[WHITEOUT_PREFIX.len()..];
                if victim.is_empty() || victim == "." || victim == ".." {
                    return Err(CheckoutError::InvalidWhiteout {
                        path: self.path(&join_rel(rel, name)),
                        name: victim.to_string(),
                    });
                }
                rm_rf_at(dfd, OsStr::new(victim)).map_err(at(
                    "removing whiteout target",
                    &self.path(&join_rel(rel, victim)),
                ))?;
                bump(&self.stats.whiteouts, 1);
                return Ok(true);
            }
        }
        if self.opts.process_passthrough_whiteouts {
            if let Some(target) = name.strip_prefix(PASSTHROUGH_WHITEOUT_PREFIX) {
                self.make_overlay_whiteout(dfd, rel, target, checksum)?;
                return Ok(true);
            }
        }
        Ok(false)
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
            chown_nofollow(dfd, target, &header, &path)?;
        }
        bump(&self.stats.whiteouts, 1);
        Ok(())
    }

    /// Linking the object `checksum` (under `base`) as `name` found an existing
    /// entry: keep it (`--union-add`, or identical), replace it by a link
    /// (`--union`), or fail. `Ok(false)` means "copy instead".
    pub(super) fn link_over_existing(
        &self,
        base: BorrowedFd<'_>,
        dfd: BorrowedFd<'_>,
        name: &str,
        checksum: &Checksum,
        path: &Path,
        hard_err: impl Fn(Errno) -> CheckoutError,
    ) -> Result<bool> {
        let obj = loose_path(checksum);
        let obj = obj.as_c_str();
        match self.opts.overwrite {
            OverwriteMode::None => Err(hard_err(Errno::EXIST)),
            OverwriteMode::AddFiles => {
                bump(&self.stats.existing_kept, 1);
                Ok(true)
            }
            OverwriteMode::UnionFiles | OverwriteMode::UnionIdentical => {
                let src =
                    rustix::fs::statat(base, obj, AtFlags::SYMLINK_NOFOLLOW).map_err(&hard_err)?;
                let dst = rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err("fstatat", path.to_path_buf()))?;
                let mut identical = src.st_dev == dst.st_dev && src.st_ino == dst.st_ino;
                let stbuf_equal = src.st_mode == dst.st_mode
                    && (src.st_mode & S_IFMT != S_IFREG || src.st_size == dst.st_size)
                    && src.st_uid == dst.st_uid
                    && src.st_gid == dst.st_gid;
                if !identical && stbuf_equal {
                    identical = self.checksum_existing(dfd, name, &dst, path)? == *checksum;
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
                    rustix::fs::linkat(base, obj, dfd, t, AtFlags::empty())
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
                self.replace_with(dfd, &tmp, name, path)?;
                bump(&self.stats.files_linked, 1);
                Ok(true)
            }
        }
    }

    /// `--union-identical` before a copy: `Ok(true)` when `name` exists and
    /// is identical to the object (kept), an error when it differs.
    pub(super) fn keep_identical(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        checksum: Checksum,
        path: &Path,
    ) -> Result<bool> {
        if self.opts.overwrite != OverwriteMode::UnionIdentical {
            return Ok(false);
        }
        match rustix::fs::statat(dfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if self.checksum_existing(dfd, name, &st, path)? == checksum => {
                bump(&self.stats.existing_kept, 1);
                Ok(true)
            }
            Ok(_) => Err(io_err("linkat", path.to_path_buf())(Errno::EXIST)),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err("fstatat", path.to_path_buf())(e)),
        }
    }

    /// Creates the file a copy writes: `name` itself, or under `--union` a
    /// temporary name that [`Self::commit_copy`] renames over `name`.
    /// `Ok(None)` when `name` exists and `--union-add` keeps it.
    pub(super) fn create_copy(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        path: &Path,
    ) -> Result<Option<(String, File)>> {
        let create = |n: &str| {
            rustix::fs::openat(
                dfd,
                n,
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let created = if self.opts.overwrite == OverwriteMode::UnionFiles {
            atomic::create_temp_at(TEMP_PREFIX, create)
        } else {
            create(name).map(|fd| (name.to_string(), fd))
        };
        match created {
            Ok((target, fd)) => Ok(Some((target, File::from(fd)))),
            Err(Errno::EXIST) if self.opts.overwrite == OverwriteMode::AddFiles => {
                bump(&self.stats.existing_kept, 1);
                Ok(None)
            }
            Err(e) => Err(io_err("openat", path.to_path_buf())(e)),
        }
    }

    /// Puts a written copy in place: under `--union`, renames its temporary
    /// name over `name`.
    pub(super) fn commit_copy(
        &self,
        dfd: BorrowedFd<'_>,
        target: &str,
        name: &str,
        path: &Path,
    ) -> Result<()> {
        if self.opts.overwrite == OverwriteMode::UnionFiles {
            self.replace_with(dfd, target, name, path)?;
        }
        Ok(())
    }

    /// Creating the symlink `name` found an existing entry: decide by the
    /// union mode.
    pub(super) fn symlink_over_existing(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        header: &FileHeader,
        path: &Path,
    ) -> Result<()> {
        let target = header.symlink_target.as_str();
        match self.opts.overwrite {
            OverwriteMode::None => Err(io_err("symlinkat", path.to_path_buf())(Errno::EXIST)),
            OverwriteMode::AddFiles => {
                bump(&self.stats.existing_kept, 1);
                Ok(())
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
                Err(io_err("symlinkat", path.to_path_buf())(Errno::EXIST))
            }
            OverwriteMode::UnionFiles => {
                let (tmp, ()) =
                    atomic::create_temp_at(TEMP_PREFIX, |t| rustix::fs::symlinkat(target, dfd, t))
                        .map_err(io_err("symlinkat", path.to_path_buf()))?;
                if let Err(e) = symlink_owner(dfd, &tmp, header, self.user, path) {
                    atomic::discard_at(dfd, &tmp);
                    return Err(e);
                }
                self.replace_with(dfd, &tmp, name, path)?;
                bump(&self.stats.symlinks_created, 1);
                Ok(())
            }
        }
    }

    /// Renames `tmp` over `name` (after removing whatever is there, for whiteout
    /// semantics); removes `tmp` on failure.
    fn replace_with(&self, dfd: BorrowedFd<'_>, tmp: &str, name: &str, path: &Path) -> Result<()> {
        let r = (|| {
            if self.opts.process_whiteouts {
                rm_rf_at(dfd, OsStr::new(name)).map_err(at("removing", path))?;
            }
            atomic::rename_over_at(dfd, tmp, name).map_err(io_err("renameat", path.to_path_buf()))
        })();
        if r.is_err() {
            atomic::discard_at(dfd, tmp);
        }
        r
    }

    /// The content checksum of an existing file, as `ostree_checksum_file_at` computes it.
    fn checksum_existing(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        st: &rustix::fs::Stat,
        path: &Path,
    ) -> Result<Checksum> {
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
            header.symlink_target = read_symlink(dfd, name, path)?;
            if self.compare_xattrs {
                header.xattrs = crate::tree::xattr::read_path(&via_proc(dfd, name))
                    .map_err(at("llistxattr", path))?;
            }
            return checksum_content(&header, &mut io::empty()).map_err(at("read", path));
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
            header.xattrs = crate::tree::xattr::read_fd(&f).map_err(at("flistxattr", path))?;
        }
        checksum_content(&header, &mut f).map_err(at("read", path))
    }
}
