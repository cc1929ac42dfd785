//! Placing one content object: hardlink or copy, and the uncompressed-object
//! cache that lets archive repositories hardlink in user mode.
//!
//! Upstream: the link-or-copy decision of `checkout_one_file_at`,
//! `checkout_file_hardlink`, `create_file_copy_from_input_at`,
//! `checkout_object_for_uncompressed_cache` and `ostree_repo_checkout_gc` in
//! `ostree-repo-checkout.c`.
//!
//! - A `bare` repo in normal mode, and a `bare-user`/`bare-user-only` repo in
//!   user mode, store objects as the checkout wants them: they are linked.
//!   Zero-size files, user-mode files without `u+r` and bare-user symlinks
//!   are copied. A link that fails with `EXDEV`/`EMLINK`/`EPERM` falls back
//!   to a copy unless `require_hardlinks`.
//! - An archive repo in user mode unpacks each regular file once into
//!   `uncompressed-objects-cache/` and links from there; the entries no
//!   checkout links any more are removed after the checkout.
//! - What to do when the name exists is `union`'s decision.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::fs::{
    at, copy_stream, finish_copy, io_err, symlink_owner, DIR_FLAGS, S_IRUSR, S_ISGID, S_ISUID,
};
use super::walk::join_rel;
use super::{bump, Checkout, CheckoutError, Result};
use crate::objects::checksum::Checksum;
use crate::objects::file_header::{S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::{DirMeta, FileHeader, LooseRel};
use crate::repo::atomic;
use crate::repo::content::OSTREEMETA_XATTR;
use crate::repo::RepoMode;

/// The cache of unpacked archive content, beside `objects/` (as ostree's).
const UNCOMPRESSED_CACHE: &str = "uncompressed-objects-cache";

/// How one file will be placed.
enum Placement {
    Link,
    Copy,
    /// A bare-user symlink object, already read: made as a symlink.
    Symlink(FileHeader),
}

/// `XX/REST.file`, relative to `objects/`, for bare-family repos.
pub(super) fn loose_path(checksum: &Checksum) -> LooseRel {
    LooseRel::new(checksum, "file")
}

impl Checkout<'_> {
    /// Places the content object `checksum` as `name` in `dfd` (at `rel`):
    /// a link where the repository allows it (`can_link`: same device),
    /// else a copy.
    pub(super) fn place(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
        can_link: bool,
    ) -> Result<()> {
        let obj = loose_path(&checksum);
        let copied = match self.placement(&obj, can_link)? {
            Placement::Link => {
                if self.link_object(self.objects.as_fd(), dfd, rel, name, &obj, &checksum)? {
                    return Ok(());
                }
                self.copy_object(dfd, rel, name, checksum)
            }
            Placement::Symlink(header) => {
                self.place_symlink(dfd, name, &header, &self.path(&join_rel(rel, name)))
            }
            Placement::Copy => {
                if can_link && self.use_cache && self.link_from_cache(dfd, rel, name, checksum)? {
                    return Ok(());
                }
                self.copy_object(dfd, rel, name, checksum)
            }
        };
        copied.map_err(|e| match e {
            CheckoutError::Io { op, err, .. } if err.kind() != io::ErrorKind::AlreadyExists => {
                CheckoutError::Copy {
                    checksum,
                    dest: self.path(&join_rel(rel, name)),
                    op,
                    err,
                }
            }
            e => e,
        })
    }

    /// Decides between hardlink and copy from the object as stored.
    fn placement(&self, rel: &LooseRel, can_link: bool) -> Result<Placement> {
        let Some(mode) = self.link.filter(|_| can_link) else {
            return Ok(Placement::Copy);
        };
        let st = match rustix::fs::statat(self.objects, rel.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Let the copy path report the missing object.
            Err(_) => return Ok(Placement::Copy),
        };
        let ftype = st.st_mode & S_IFMT;
        Ok(match mode {
            // Bare: symlink objects are real symlinks and are linked too.
            RepoMode::Bare => {
                if ftype == S_IFREG && st.st_size == 0 {
                    Placement::Copy
                } else {
                    Placement::Link
                }
            }
            RepoMode::BareUserOnly => {
                if ftype != S_IFREG || st.st_size == 0 || st.st_mode & S_IRUSR == 0 {
                    Placement::Copy
                } else {
                    Placement::Link
                }
            }
            RepoMode::BareUser => match self.object_meta(rel)? {
                Some(m)
                    if m.mode & S_IFMT == S_IFREG && m.mode & S_IRUSR != 0 && st.st_size != 0 =>
                {
                    Placement::Link
                }
                Some(m) if m.mode & S_IFMT == S_IFLNK => {
                    self.bare_user_symlink(rel, m, st.st_size as usize)
                }
                _ => Placement::Copy,
            },
            RepoMode::Archive => Placement::Copy,
        })
    }

    /// The `user.ostreemeta` of the bare-user object `rel` (owner, mode,
    /// xattrs), `None` when it is not set or not valid. Asked for every file
    /// of a checkout: the path is built in one buffer and the value read
    /// into the stack unless it is large.
    fn object_meta(&self, rel: &LooseRel) -> Result<Option<DirMeta>> {
        let full = || self.objects_path.join(rel.as_str());
        let mut buf = [0u8; 512];
        let name = c"user.ostreemeta";
        debug_assert_eq!(name.to_bytes(), OSTREEMETA_XATTR.as_bytes());
        let mut op = "getxattrat";
        let got = match crate::tree::xattr::get_at(self.objects, rel.as_c_str(), name, &mut buf) {
            Some(r) => r,
            None => {
                let mut path = Vec::with_capacity(
                    self.objects_path.as_os_str().len() + 2 + rel.as_str().len(),
                );
                path.extend_from_slice(self.objects_path.as_os_str().as_bytes());
                path.push(b'/');
                path.extend_from_slice(rel.as_c_str().to_bytes_with_nul());
                let Ok(cpath) = std::ffi::CStr::from_bytes_with_nul(&path) else {
                    return Err(at("lgetxattr", &full())(io::Error::other(
                        "path contains NUL",
                    )));
                };
                op = "lgetxattr";
                rustix::fs::lgetxattr(cpath, OSTREEMETA_XATTR, &mut buf[..])
            }
        };
        let value = match got {
            Ok(n) => return Ok(DirMeta::from_bytes(&buf[..n]).ok()),
            Err(Errno::RANGE) => crate::tree::xattr::get_path(&full(), OSTREEMETA_XATTR)
                .map_err(at("lgetxattr", &full()))?,
            Err(Errno::NODATA | Errno::NOTSUP) => None,
            Err(e) => return Err(at(op, &full())(e.into())),
        };
        Ok(value.and_then(|v| DirMeta::from_bytes(&v).ok()))
    }

    /// A bare-user symlink object (a file holding the target and a NUL,
    /// `size` bytes) as the symlink to make, from the metadata read already;
    /// [`Placement::Copy`] when it cannot be read as one, so the copy path
    /// reports what is wrong with it.
    fn bare_user_symlink(&self, rel: &LooseRel, meta: DirMeta, size: usize) -> Placement {
        let read = || -> rustix::io::Result<Vec<u8>> {
            let fd = rustix::fs::openat(
                self.objects,
                rel.as_c_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut buf = vec![0u8; size];
            let mut n = 0;
            while n < size {
                match rustix::io::read(&fd, &mut buf[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            buf.truncate(n);
            Ok(buf)
        };
        let Ok(mut target) = read() else {
            return Placement::Copy;
        };
        if target.last() == Some(&0) {
            target.pop();
        }
        match String::from_utf8(target) {
            Ok(symlink_target) if !symlink_target.is_empty() => Placement::Symlink(FileHeader {
                uid: meta.uid,
                gid: meta.gid,
                mode: meta.mode,
                symlink_target,
                xattrs: meta.xattrs,
            }),
            _ => Placement::Copy,
        }
    }

    /// The cache directory, created on first use.
    fn cache_dir(&self) -> Result<BorrowedFd<'_>> {
        if let Some(fd) = self.cache.get() {
            return Ok(fd.as_fd());
        }
        let path = self.repo.path().join(UNCOMPRESSED_CACHE);
        match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("mkdir", path)(e)),
        }
        let fd =
            rustix::fs::open(&path, DIR_FLAGS, Mode::empty()).map_err(io_err("opendir", path))?;
        Ok(self.cache.get_or_init(|| fd).as_fd())
    }

    /// Hardlinks a regular file from the uncompressed cache, unpacking it
    /// there first; `Ok(false)` (copy instead) for symlinks, empty and
    /// owner-unreadable files, which ostree never caches.
    fn link_from_cache(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
    ) -> Result<bool> {
        let cache = self.cache_dir()?;
        let obj_rel = loose_path(&checksum);
        if rustix::fs::statat(cache, obj_rel.as_c_str(), AtFlags::SYMLINK_NOFOLLOW).is_err() {
            let obj = self.repo.open_content(checksum)?;
            if !obj.header.is_regular() || obj.size == 0 || obj.header.mode & S_IRUSR == 0 {
                return Ok(false);
            }
            let dest = self
                .repo
                .path()
                .join(UNCOMPRESSED_CACHE)
                .join(obj_rel.as_str());
            let mut tmp = self.repo.temp_file()?;
            let tpath = tmp.path().to_path_buf();
            copy_stream(obj.reader, tmp.as_file_mut(), obj.size).map_err(at("write", &tpath))?;
            // No setuid or setgid files in the cache.
            rustix::fs::fchmod(
                tmp.as_file(),
                Mode::from_raw_mode(obj.header.mode & 0o7777 & !(S_ISUID | S_ISGID)),
            )
            .map_err(io_err("fchmod", dest.clone()))?;
            self.repo.place_at(tmp, cache, &obj_rel, || dest.clone())?;
            self.cache_dirs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(obj_rel.as_str()[..2].to_string());
        }
        self.link_object(cache, dfd, rel, name, &obj_rel, &checksum)
    }

    /// Removes the cache entries no checkout links any more (link count 1)
    /// in the directories this checkout added to, as `ostree_repo_checkout_gc`.
    pub(super) fn gc_cache(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.cache_dirs.lock().unwrap_or_else(|e| e.into_inner()));
        let Some(cache) = self.cache.get() else {
            return Ok(());
        };
        for d in dirs {
            let path = self.repo.path().join(UNCOMPRESSED_CACHE).join(&d);
            let entries = std::fs::read_dir(&path).map_err(at("opendir", &path))?;
            for e in entries.flatten() {
                let rel = format!("{d}/{}", e.file_name().to_string_lossy());
                if let Ok(st) = rustix::fs::statat(cache, rel.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    if st.st_nlink == 1 {
                        let _ = rustix::fs::unlinkat(cache, rel.as_str(), AtFlags::empty());
                    }
                }
            }
        }
        Ok(())
    }

    /// Hardlinks the object; `Ok(false)` means "copy instead".
    fn link_object(
        &self,
        base: BorrowedFd<'_>,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        obj: &LooseRel,
        checksum: &Checksum,
    ) -> Result<bool> {
        let hard_err = |e: Errno| CheckoutError::Hardlink {
            object: obj.as_str().to_string(),
            dest: self.path(&join_rel(rel, name)),
            err: e.into(),
        };
        match rustix::fs::linkat(base, obj.as_c_str(), dfd, name, AtFlags::empty()) {
            Ok(()) => {
                bump(&self.stats.files_linked, 1);
                Ok(true)
            }
            Err(Errno::XDEV | Errno::MLINK | Errno::PERM) if !self.opts.require_hardlinks => {
                Ok(false)
            }
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::EXIST) => {
                let path = self.path(&join_rel(rel, name));
                self.link_over_existing(base, dfd, name, checksum, &path, hard_err)
            }
            Err(e) => Err(hard_err(e)),
        }
    }

    /// Writes a copy of the object (or a symlink) as `name`.
    fn copy_object(
        &self,
        dfd: BorrowedFd<'_>,
        rel: &str,
        name: &str,
        checksum: Checksum,
    ) -> Result<()> {
        let path = self.path(&join_rel(rel, name));
        let obj = self.repo.open_content(checksum)?;
        let header = obj.header;
        if header.is_symlink() {
            return self.place_symlink(dfd, name, &header, &path);
        }
        if self.keep_identical(dfd, name, checksum, &path)? {
            return Ok(());
        }
        let Some((target, mut out)) = self.create_copy(dfd, name, &path)? else {
            return Ok(());
        };
        let written = (|| -> Result<()> {
            let n = if self.repo.mode().is_archive() {
                copy_stream(obj.reader, &mut out, obj.size).map_err(at("write", &path))?
            } else {
                let src_path = self.repo.content_path(checksum);
                match File::open(&src_path) {
                    Ok(mut src) => {
                        drop(obj.reader);
                        io::copy(&mut src, &mut out).map_err(at("write", &path))?
                    }
                    // Not here: a `core.parent` repository holds it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        copy_stream(obj.reader, &mut out, obj.size).map_err(at("write", &path))?
                    }
                    Err(e) => return Err(at("open", &src_path)(e)),
                }
            };
            if n != obj.size {
                return Err(at("write", &path)(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("object {checksum} gave {n} bytes, expected {}", obj.size),
                )));
            }
            bump(&self.stats.bytes_copied, n);
            finish_copy(&out, &header, self.user, self.opts.fsync, &path)
        })();
        drop(out);
        if let Err(e) = written {
            atomic::discard_at(dfd, &target);
            return Err(e);
        }
        self.commit_copy(dfd, &target, name, &path)?;
        bump(&self.stats.files_copied, 1);
        Ok(())
    }

    /// Creates the symlink `name` (a symlink object is always "copied").
    fn place_symlink(
        &self,
        dfd: BorrowedFd<'_>,
        name: &str,
        header: &FileHeader,
        path: &Path,
    ) -> Result<()> {
        match rustix::fs::symlinkat(header.symlink_target.as_str(), dfd, name) {
            Ok(()) => {}
            Err(Errno::EXIST) => return self.symlink_over_existing(dfd, name, header, path),
            Err(e) => return Err(io_err("symlinkat", path.to_path_buf())(e)),
        }
        symlink_owner(dfd, name, header, self.user, path)?;
        bump(&self.stats.symlinks_created, 1);
        Ok(())
    }
}
