//! The FUSE operations: each request resolved to a `Loc`, checked
//! against the copy-up rule where it would modify a file in place, then
//! done with one `*at` call.
//!
//! Upstream: the `callback_*` functions of `src/rofiles-fuse/main.c`.
//! Differences: device nodes may not be created (as there, `EROFS`), but
//! regular files, FIFOs and sockets may; `removexattr` is guarded like
//! `setxattr`.

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig,
    LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
    WriteFlags,
};
use rustix::fs::{AtFlags, Mode, XattrFlags};

use super::attr::to_attr;
use super::fs::{errno, io_errno, lock, RofilesFs};

/// How long the kernel may cache attributes and names (libfuse's default).
const TTL: Duration = Duration::from_secs(1);

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
            Ok(entries) => reply.opened(self.add_dir(entries), FopenFlags::empty()),
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
