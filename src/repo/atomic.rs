//! Replacing a file atomically: the one place grove writes a whole file
//! under a temporary name and renames it over the old one, and says when the
//! data is flushed to disk first.
//!
//! Upstream has the same helper in libglnx (`glnx_file_replace_contents_at`,
//! `glnx-fdio.c`), and ostree chooses its flags per file
//! (`_ostree_repo_file_replace_contents` in `ostree-repo.c`):
//!
//! | file | ostree's flags | here |
//! |---|---|---|
//! | refs (`ostree-repo-refs.c`), `summary`, `summary.sig` | `DATASYNC_NEW`, or `NODATASYNC` when `core.fsync=false` | [`Repo::fsync_policy`](crate::repo::Repo::fsync_policy): [`Fsync::Always`] or [`Fsync::Never`] |
//! | `config`, detached metadata (`.commitmeta`), delta indexes, a mirrored summary | `0` | [`Fsync::WhenReplacing`] |
//! | static delta parts and superblock (`ostree-repo-static-delta-compilation.c`) | linked from a tmpfile, no sync | [`Fsync::Never`] |
//!
//! Neither libglnx nor grove syncs the directory after the rename: objects
//! and refs become durable together through the `syncfs` a transaction does
//! before its refs move ([`Repo::sync`](crate::repo::Repo::sync)).
//! The summary also gets libglnx's `INCREASING_MTIME` ([`Replace::increasing_mtime`]).
//!
//! Replacing a directory entry by something other than bytes (a hardlink, a
//! symlink, a copied-up file) uses the same two steps by file descriptor:
//! [`create_temp_at`] then [`rename_over_at`] (checkout's union modes,
//! rofiles' copy-up, ref aliases).

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::{IoContext, RepoError, Result};

/// When a new file's data is flushed to disk before it replaces the old name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Always `fdatasync` first (libglnx `DATASYNC_NEW`): refs, summary,
    /// summary.sig — the files clients and transactions trust.
    Always,
    /// `fdatasync` only when a file already exists under the name (libglnx's
    /// default): config, detached metadata, delta indexes. A crash then
    /// leaves either the old file or the new one, never an empty one.
    WhenReplacing,
    /// Never (libglnx `NODATASYNC`): `core.fsync=false`, and files a later
    /// step makes visible (delta parts before their superblock).
    Never,
}

/// One atomic replacement of `dest`'s contents: temporary file, mode,
/// optional sync, rename.
#[derive(Clone, Debug)]
pub struct Replace<'a> {
    dest: &'a Path,
    fsync: Fsync,
    mode: u32,
    tmp_dir: Option<&'a Path>,
    increasing_mtime: bool,
}

impl<'a> Replace<'a> {
    /// Replaces `dest` (mode `0644`, temporary file beside it).
    pub fn new(dest: &'a Path, fsync: Fsync) -> Replace<'a> {
        Replace {
            dest,
            fsync,
            mode: 0o644,
            tmp_dir: None,
            increasing_mtime: false,
        }
    }

    /// The new file's permission bits.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Where the temporary file is made (the repository's `tmp/`, so a
    /// crash leaves nothing in a directory readers list); it must be on the
    /// same filesystem as `dest`. Ignored when it is not a directory.
    pub fn tmp_dir(mut self, dir: &'a Path) -> Self {
        self.tmp_dir = Some(dir);
        self
    }

    /// Keeps each new version's mtime at least one second past the old
    /// one's (libglnx `INCREASING_MTIME`): HTTP servers send Last-Modified in
    /// whole seconds and answer If-Modified-Since with 304 while the second
    /// has not advanced, so a file replaced within the same second would
    /// reach a caching client (ostree caches the summary this way) as the
    /// old one.
    pub fn increasing_mtime(mut self) -> Self {
        self.increasing_mtime = true;
        self
    }

    /// Writes `bytes` and renames the file over `dest`.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        let dest = self.dest;
        let dir = match self.tmp_dir {
            Some(d) if d.is_dir() => d,
            _ => dest
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .at(dir)?;
        tmp.write_all(bytes).at(tmp.path())?;
        super::set_mode(tmp.as_file(), self.mode).at(tmp.path())?;
        let old = match self.fsync {
            Fsync::Always if !self.increasing_mtime => None,
            Fsync::Never if !self.increasing_mtime => None,
            _ => fs::symlink_metadata(dest).ok(),
        };
        if self.increasing_mtime {
            if let Some(old) = old.as_ref().and_then(|m| m.modified().ok()) {
                bump_mtime(tmp.as_file(), old).at(tmp.path())?;
            }
        }
        let sync = match self.fsync {
            Fsync::Always => true,
            Fsync::WhenReplacing => old.is_some(),
            Fsync::Never => false,
        };
        if sync {
            tmp.as_file().sync_data().at(tmp.path())?;
        }
        tmp.persist(dest).map_err(|e| RepoError::Io {
            path: dest.to_path_buf(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// Sets `f`'s mtime to one second past `old` unless its second is later already.
fn bump_mtime(f: &fs::File, old: SystemTime) -> std::io::Result<()> {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let now = f.metadata()?.modified()?;
    if secs(now) <= secs(old) {
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs(old) + 1))?;
    }
    Ok(())
}

/// Writes `bytes` to `dest` atomically with `fsync`, mode `0644`, the
/// temporary file beside `dest`.
pub fn write_atomic(dest: &Path, bytes: &[u8], fsync: Fsync) -> Result<()> {
    Replace::new(dest, fsync).write(bytes)
}

/// A fresh name for a temporary directory entry: `.PREFIX-PID-N-NANOS`.
pub fn temp_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Creates something (a link, symlink or file, by `create`) under a fresh
/// temporary name, trying another name while the one tried exists.
pub fn create_temp_at<T>(
    prefix: &str,
    mut create: impl FnMut(&str) -> rustix::io::Result<T>,
) -> rustix::io::Result<(String, T)> {
    for _ in 0..100 {
        let name = temp_name(prefix);
        match create(&name) {
            Ok(v) => return Ok((name, v)),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(rustix::io::Errno::EXIST)
}

/// Renames the finished temporary entry `tmp` over `name` in `dir`; removes
/// `tmp` when the rename fails.
pub fn rename_over_at(
    dir: impl AsFd,
    tmp: impl AsRef<OsStr>,
    name: impl AsRef<OsStr>,
) -> rustix::io::Result<()> {
    let (tmp, name) = (tmp.as_ref(), name.as_ref());
    let r = rustix::fs::renameat(&dir, tmp, &dir, name);
    if r.is_err() {
        discard_at(dir, tmp);
    }
    r
}

/// Removes a temporary entry that will not be renamed (best effort: the
/// error that made it useless is the one to report).
pub fn discard_at(dir: impl AsFd, tmp: impl AsRef<OsStr>) {
    let _ = rustix::fs::unlinkat(dir, tmp.as_ref(), rustix::fs::AtFlags::empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_with_mode_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"one", Fsync::WhenReplacing).unwrap();
        Replace::new(&p, Fsync::Always)
            .mode(0o600)
            .write(b"two")
            .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn increasing_mtime_moves_past_the_old_second() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("summary");
        write_atomic(&p, b"old", Fsync::Never).unwrap();
        let future = SystemTime::now() + Duration::from_secs(100);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(future)
            .unwrap();
        Replace::new(&p, Fsync::Never)
            .increasing_mtime()
            .write(b"new")
            .unwrap();
        let m = fs::metadata(&p).unwrap().modified().unwrap();
        assert!(m > future, "{m:?} should be past {future:?}");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/f");
        let e = write_atomic(&p, b"x", Fsync::Never).unwrap_err();
        assert!(e.to_string().contains("no/such"), "{e}");
    }
}
