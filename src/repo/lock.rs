//! The repository lock: `REPO/.lock`, an open-file-description (`F_OFD_SETLK`)
//! read/write lock over the whole file, shared for writers and exclusive for
//! prune — the same lock `ostree-repo.c` (`ostree_repo_lock_push`) takes
//! through libglnx, so grove and ostree processes exclude each other.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Shared (many writers) or exclusive (prune, delete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct RepoLock {
    file: File,
    pub kind: LockKind,
}

fn ofd_lock(file: &File, typ: libc::c_short, wait: bool) -> std::io::Result<()> {
    // SAFETY: `flock` is plain data; zeroed is a valid initial value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = typ;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    // SAFETY: valid fd and a pointer to an initialised flock struct.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
    if r == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl RepoLock {
    /// Takes the lock, retrying each 100 ms until `timeout` (None: wait forever).
    pub fn acquire(
        repo: &Path,
        kind: LockKind,
        timeout: Option<Duration>,
    ) -> std::io::Result<RepoLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o660)
            .custom_flags(libc::O_CLOEXEC)
            .open(repo.join(".lock"))?;
        let typ = match kind {
            LockKind::Shared => libc::F_RDLCK as libc::c_short,
            LockKind::Exclusive => libc::F_WRLCK as libc::c_short,
        };
        let start = Instant::now();
        match timeout {
            None => ofd_lock(&file, typ, true)?,
            Some(t) => loop {
                match ofd_lock(&file, typ, false) {
                    Ok(()) => break,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) =>
                    {
                        if start.elapsed() >= t {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::WouldBlock,
                                format!("repository lock busy after {}s", t.as_secs()),
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => return Err(e),
                }
            },
        }
        Ok(RepoLock { file, kind })
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        let _ = ofd_lock(&self.file, libc::F_UNLCK as libc::c_short, false);
    }
}
