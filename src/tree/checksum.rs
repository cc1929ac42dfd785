//! The OSTree checksum of a file or directory on disk, as it would be stored:
//! a file's covers its header (uid, gid, mode, symlink target, xattrs) and
//! its content ([`crate::repo::content::checksum_content`]); a directory's
//! is the checksum of its dirmeta. Symlinks are not followed.
//!
//! Upstream: `ostree_checksum_file_at` in `ostree-core.c`, used by
//! `ot-builtin-checksum.c`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::objects::{Checksum, DirMeta, FileHeader, Xattrs};
use crate::repo::content::checksum_content;

/// The checksum of the file or directory at `path`; with `ignore_xattrs`
/// its extended attributes count as none.
pub fn checksum_path(path: &Path, ignore_xattrs: bool) -> std::io::Result<Checksum> {
    let st = std::fs::symlink_metadata(path)?;
    let xattrs = if ignore_xattrs {
        Xattrs::new()
    } else {
        crate::tree::xattr::read_path(path)?
    };
    if st.is_dir() {
        return Ok(DirMeta {
            uid: st.uid(),
            gid: st.gid(),
            mode: st.mode(),
            xattrs,
        }
        .checksum());
    }
    let symlink_target = if st.file_type().is_symlink() {
        std::fs::read_link(path)?
            .into_os_string()
            .into_string()
            .map_err(|_| std::io::Error::other("symlink target is not UTF-8"))?
    } else {
        String::new()
    };
    let header = FileHeader {
        uid: st.uid(),
        gid: st.gid(),
        mode: st.mode(),
        symlink_target,
        xattrs,
    };
    if header.is_regular() {
        checksum_content(&header, &mut std::fs::File::open(path)?)
    } else {
        checksum_content(&header, &mut std::io::empty())
    }
}
