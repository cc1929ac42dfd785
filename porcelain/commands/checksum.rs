//! `grove checksum`: the OSTree checksum of a file or directory on disk
//! (upstream `ot-builtin-checksum.c`): `grove::tree::checksum::checksum_path`,
//! with ostree's error wording. No repository is needed.

use std::path::Path;

use grove::tree::checksum::checksum_path;

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
