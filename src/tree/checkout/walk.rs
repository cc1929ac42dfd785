//! The tree walk of a checkout: the subpath, directories (created `0700`,
//! filled, then given their owner, mode and mtime), the skip list, the
//! device check of `require_hardlinks`, and the parallel placement of a
//! directory's files and subdirectories (rayon).
//!
//! Upstream: `checkout_tree_at_recurse` and `checkout_one_file_at` in
//! `ostree-repo-checkout.c`, and the subpath lookup of
//! `ostree_repo_checkout_at`.
//!
//! Everything is relative to directory file descriptors and names are
//! validated as single components. An existing directory that turns out to
//! be a symlink (union modes) is only followed with `RESOLVE_IN_ROOT`:
//! absolute targets and `..` resolve inside the destination as in a chroot,
//! so a checkout never writes outside its destination.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::fs::{finish_dir, io_err, set_xattrs, DIR_FLAGS};
use super::{bump, Checkout, CheckoutError, OverwriteMode, Result};
use crate::objects::checksum::Checksum;
use crate::objects::{DirMeta, DirTreeDir, DirTreeFile};
use crate::repo::Repo;

/// Directories with at least this many files have them placed in parallel.
const PARALLEL_FILES: usize = 8;

/// What a subpath names in the tree.
pub(super) enum Target {
    Dir { contents: Checksum, meta: Checksum },
    File { name: String, checksum: Checksum },
}

/// Follows `sub` (`/usr/bin`, a file, `.` and empty components ignored)
/// from the directory `contents`/`meta`. `Ok(None)` when a component is
/// missing and `allow_noent`.
pub(super) fn resolve_subpath(
    repo: &Repo,
    contents: Checksum,
    meta: Checksum,
    sub: &str,
    allow_noent: bool,
) -> Result<Option<Target>> {
    let mut target = Target::Dir { contents, meta };
    let mut walked = String::new();
    for comp in sub.split('/').filter(|c| !c.is_empty() && *c != ".") {
        walked.push('/');
        walked.push_str(comp);
        let Target::Dir { contents, .. } = target else {
            return Err(CheckoutError::NotADirectory(walked));
        };
        let tree = repo.load_dirtree(contents)?;
        let found = if comp == ".." {
            None
        } else if let Some(d) = tree.dirs.iter().find(|d| d.name == comp) {
            Some(Target::Dir {
                contents: d.tree,
                meta: d.meta,
            })
        } else {
            tree.files
                .iter()
                .find(|f| f.name == comp)
                .map(|f| Target::File {
                    name: f.name.clone(),
                    checksum: f.checksum,
                })
        };
        match found {
            Some(t) => target = t,
            None if allow_noent => return Ok(None),
            None => return Err(CheckoutError::NoSuchPath(walked)),
        }
    }
    Ok(Some(target))
}

/// `rel/name`, or `name` at the top.
pub(super) fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// A single path component that is neither `.` nor `..`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

impl Checkout<'_> {
    /// The destination path of `rel`, for messages.
    pub(super) fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.dest.clone()
        } else {
            self.dest.join(rel)
        }
    }

    fn skipped(&self, filter_path: impl FnOnce() -> String) -> bool {
        match &self.opts.skip_list {
            Some(list) if list.contains(&filter_path()) => {
                bump(&self.stats.skipped, 1);
                true
            }
            _ => false,
        }
    }

    /// The device of the directory `dfd`; with `require_hardlinks`, an
    /// error when it is not the repository's.
    pub(super) fn check_device(&self, dfd: &OwnedFd, rel: &str) -> Result<u64> {
        let dev = rustix::fs::fstat(dfd)
            .map_err(io_err("fstat", self.path(rel)))?
            .st_dev as u64;
        if self.opts.require_hardlinks && dev != self.repo_dev {
            return Err(CheckoutError::CrossDevice {
                src: self.repo_dev,
                dest: dev,
                path: self.path(rel),
            });
        }
        Ok(dev)
    }

    /// The dirmeta object `meta`, loaded once per checkout.
    fn dirmeta(&self, meta: Checksum) -> Result<Arc<DirMeta>> {
        let cached = |m: &Checksum| {
            self.dirmetas
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(m)
                .cloned()
        };
        if let Some(d) = cached(&meta) {
            return Ok(d);
        }
        let d = Arc::new(self.repo.load_dirmeta(meta)?);
        self.dirmetas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(meta, d.clone());
        Ok(d)
    }

    /// Checks out one directory as `name` under `parent` (`root` is the
    /// destination's fd, `None` when this directory is the destination).
    pub(super) fn checkout_dir(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        root: Option<BorrowedFd<'_>>,
        rel: &str,
        contents: Checksum,
        meta: Checksum,
    ) -> Result<()> {
        let tree = self.repo.load_dirtree(contents)?;
        let dirmeta = self.dirmeta(meta)?;
        if self.skipped(|| {
            if rel.is_empty() {
                "/".to_string()
            } else {
                format!("/{rel}/")
            }
        }) {
            return Ok(());
        }
        let path = self.path(rel);
        self.clear_opaque(parent, name, &tree, &path)?;
        let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => true,
            Err(Errno::EXIST) if self.opts.overwrite != OverwriteMode::None => false,
            Err(e) => return Err(io_err("mkdirat", path)(e)),
        };
        let dfd = self.open_dir(parent, name, root, rel, created)?;
        let dev = self.check_device(&dfd, rel)?;
        let can_link = (self.link.is_some() || self.use_cache) && dev == self.repo_dev;
        if created {
            bump(&self.stats.dirs_created, 1);
            if !self.user {
                set_xattrs(&dfd, &dirmeta.xattrs, &path)?;
            }
        }
        let root_fd = root.unwrap_or(dfd.as_fd());

        // Files first (a whiteout may remove an existing directory that a
        // subdirectory of this tree then recreates), then subdirectories.
        let sequential = tree.files.len() < PARALLEL_FILES || self.has_whiteouts(&tree);
        let place =
            |f: &DirTreeFile| self.checkout_file(dfd.as_fd(), rel, &f.name, f.checksum, can_link);
        if sequential {
            tree.files.iter().try_for_each(place)?;
        } else {
            tree.files.par_iter().try_for_each(place)?;
        }
        for d in &tree.dirs {
            if !valid_name(&d.name) {
                return Err(CheckoutError::InvalidName {
                    dir: path.clone(),
                    name: d.name.clone(),
                });
            }
        }
        let sub = |d: &DirTreeDir| {
            let child_rel = join_rel(rel, &d.name);
            self.checkout_dir(
                dfd.as_fd(),
                OsStr::new(&d.name),
                Some(root_fd),
                &child_rel,
                d.tree,
                d.meta,
            )
        };
        if tree.dirs.len() > 1 {
            tree.dirs.par_iter().try_for_each(sub)?;
        } else {
            tree.dirs.iter().try_for_each(sub)?;
        }

        // Ownership, mode and time last, so nobody else can use the directory half-built.
        if created {
            finish_dir(
                &dfd,
                &dirmeta,
                self.user,
                self.mask_dirs,
                !self.opts.force_copy,
                &path,
            )?;
        }
        if self.opts.fsync {
            rustix::fs::fsync(&dfd).map_err(io_err("fsync", path))?;
        }
        Ok(())
    }

    /// Opens a directory just created or found existing; an existing symlink
    /// is only followed inside the destination.
    fn open_dir(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        root: Option<BorrowedFd<'_>>,
        rel: &str,
        created: bool,
    ) -> Result<OwnedFd> {
        let path = self.path(rel);
        let Some(root) = root else {
            // The destination itself: the caller named it, so follow it.
            return rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())
                .map_err(io_err("opendir", path));
        };
        match rustix::fs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(Errno::LOOP | Errno::NOTDIR) if !created => rustix::fs::openat2(
                root,
                rel,
                DIR_FLAGS,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(|e| if e == Errno::NOSYS { Errno::NOTDIR } else { e })
            .map_err(io_err("opendir", path)),
            Err(e) => Err(io_err("opendir", path)(e)),
        }
    }

    /// Checks out one file entry `name` of the directory `dfd` (at `rel`):
    /// skipped, a whiteout, or a content object to place.
    pub(super) fn checkout_file(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
        can_link: bool,
    ) -> Result<()> {
        if !valid_name(name) {
            return Err(CheckoutError::InvalidName {
                dir: self.path(rel),
                name: name.to_string(),
            });
        }
        if self.skipped(|| format!("/{}", join_rel(rel, name))) {
            return Ok(());
        }
        if self.whiteout(dfd, rel, name, checksum)? {
            return Ok(());
        }
        self.place(dfd, rel, name, checksum, can_link)
    }
}
