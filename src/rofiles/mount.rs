//! The mount: a fuser session of [`RofilesFs`] on a mount point, serving
//! until it is unmounted, and the handle that unmounts it from another
//! thread.
//!
//! Upstream: `main` and `rofs_parse_opt` in `src/rofiles-fuse/main.c` (there
//! libfuse's `fuse_main`; the options parsing is the porcelain's here).

use std::io;
use std::path::{Path, PathBuf};

use fuser::MountOption;

use super::{Options, RofilesError, RofilesFs};

/// An established mount, not yet serving requests. Dropping it unmounts.
#[derive(Debug)]
pub struct Mount {
    session: fuser::Session<RofilesFs>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Serves requests until the filesystem is unmounted (`fusermount3 -u`).
    pub fn serve(self) -> Result<(), RofilesError> {
        let mountpoint = self.mountpoint;
        self.session.run().map_err(|source| RofilesError::Serve {
            path: mountpoint,
            source,
        })
    }
}

/// Ends a mount from another thread (for example on a signal); the
/// [`Mount::serve`] loop then returns.
#[derive(Debug)]
pub struct Unmounter(fuser::SessionUnmounter);

impl Unmounter {
    /// Unmounts the filesystem (once; later calls do nothing).
    pub fn unmount(&mut self) -> io::Result<()> {
        self.0.unmount()
    }
}

impl Mount {
    /// A handle that can unmount this mount from another thread.
    pub fn unmounter(&mut self) -> Unmounter {
        Unmounter(self.session.unmount_callable())
    }
}

/// Mounts SRC at `mountpoint`. When this returns, the kernel has completed
/// the FUSE handshake and the mount is visible; call [`Mount::serve`] to
/// answer requests.
pub fn mount(src: &Path, mountpoint: &Path, options: Options) -> Result<Mount, RofilesError> {
    let fs = RofilesFs::new(src, options)?;
    let mount_err = |source| RofilesError::Mount {
        path: mountpoint.to_path_buf(),
        source,
    };
    // fuser would fall back to fusermount3, which mounts over a file too.
    if !std::fs::metadata(mountpoint).map_err(mount_err)?.is_dir() {
        return Err(mount_err(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    let fsname = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(fsname.display().to_string()),
        MountOption::Subtype("rofiles".to_string()),
    ];
    let session = fuser::Session::new(fs, mountpoint, &config).map_err(mount_err)?;
    Ok(Mount {
        session,
        mountpoint: mountpoint.to_path_buf(),
    })
}
