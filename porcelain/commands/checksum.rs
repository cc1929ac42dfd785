//! `grove checksum`: the OSTree checksum of a file or directory on disk
//! (upstream `ot-builtin-checksum.c`, `ostree_checksum_file_at`).
//!
//! A file's checksum covers its header (uid, gid, mode, symlink target,
//! xattrs) and content; a directory's is the checksum of its dirmeta.
//! Symlinks are not followed. No repository is needed.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use grove::objects::{DirMeta, FileHeader, Xattrs};
use grove::repo::content::checksum_content;
use grove::Checksum;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Don't include xattrs in checksum
    #[arg(long)]
    ignore_xattrs: bool,

    /// The file or directory (only the first is used, as ostree)
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
}

/// An `io::Error`'s message without Rust's ` (os error N)` suffix, as `strerror` prints it.
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// The checksum of the file or directory at `path`.
pub(crate) fn checksum_path(path: &Path, ignore_xattrs: bool) -> std::io::Result<Checksum> {
    let st = std::fs::symlink_metadata(path)?;
    let xattrs = if ignore_xattrs {
        Xattrs::new()
    } else {
        grove::tree::xattr::read_path(path)?
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
        let mut f = std::fs::File::open(path)?;
        checksum_content(&header, &mut f)
    } else {
        checksum_content(&header, &mut std::io::empty())
    }
}

pub fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(p) = args.paths.first() else {
        anyhow::bail!("A filename must be given");
    };
    let path = Path::new(p);
    match checksum_path(path, args.ignore_xattrs) {
        Ok(c) => println!("{c}"),
        Err(e) if args.ignore_xattrs => anyhow::bail!("fstatat({p}): {}", strerror(&e)),
        Err(e) => {
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            anyhow::bail!(
                "Error when getting information for file “{}”: {}",
                abs.display(),
                strerror(&e)
            )
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_drops_os_error_suffix() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
    }
}
