//! `grove show`: output a metadata object (upstream `ot-builtin-show.c`).
//!
//! A full 64-hex argument is looked up as a commit, dirmeta, dirtree, then
//! content object; anything else is resolved as a rev and shown as a commit.

use std::io::Write;

use anyhow::Context as _;
use grove::objects::file_header::{S_IFMT, S_IFREG};
use grove::{Checksum, ObjectName, ObjectType};

use super::log::{dump_commit, load_error, raw_commit_text, raw_dirmeta_text, raw_dirtree_text, usage_error, xattrs_text};
use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show the "related" commits
    #[arg(long)]
    print_related: bool,

    /// Print the value of metadata key KEY
    ///
    /// Unlike ostree, which byte-swaps the value on little-endian hosts (so
    /// `uint32 5` prints as `uint32 83886080`), grove prints the true value.
    #[arg(long, value_name = "KEY")]
    print_metadata_key: Option<String>,

    /// Print the value of detached metadata key KEY (same printing as --print-metadata-key)
    #[arg(long, value_name = "KEY")]
    print_detached_metadata_key: Option<String>,

    /// Show raw variant data
    #[arg(long)]
    raw: bool,

    /// The object: a rev, or the full checksum of any object
    #[arg(value_name = "OBJECT")]
    object: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(object) = args.object else {
        return Err(usage_error("show", "An object argument is required"));
    };
    let repo = ctx.open_repo()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());

    if args.print_metadata_key.is_some() || args.print_detached_metadata_key.is_some() {
        let commit = repo.resolve_rev(&object)?;
        let (key, meta) = match &args.print_detached_metadata_key {
            Some(key) => {
                let meta = repo.read_detached_metadata(commit)?.ok_or_else(|| anyhow::anyhow!("No detached metadata for commit {commit}"))?;
                (key, meta)
            }
            None => {
                let key = args.print_metadata_key.as_ref().expect("one of the two keys is set");
                (key, repo.load_commit(commit).map_err(load_error)?.metadata)
            }
        };
        let value = meta.get(key).ok_or_else(|| anyhow::anyhow!("No such metadata key '{key}'"))?;
        writeln!(out, "{}", grove::variant_text::print(value, true))?;
    } else if args.print_related {
        let commit = repo.resolve_rev(&object)?;
        for (name, c) in repo.load_commit(commit).map_err(load_error)?.related {
            writeln!(out, "{name} {c}")?;
        }
    } else if let Ok(checksum) = object.parse::<Checksum>() {
        show_by_checksum(&repo, checksum, args.raw, &mut out)?;
    } else {
        let checksum = repo.resolve_rev(&object)?;
        show_commit(&repo, checksum, args.raw, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn show_commit(repo: &grove::Repo, checksum: Checksum, raw: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    writeln!(out, "commit {checksum}")?;
    if raw {
        writeln!(out, "{}", raw_commit_text(&commit))?;
    } else {
        dump_commit(out, &commit)?;
    }
    Ok(())
}

fn show_by_checksum(repo: &grove::Repo, checksum: Checksum, raw: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if repo.has_object(&ObjectName::new(checksum, ObjectType::Commit)) {
        return show_commit(repo, checksum, raw, out);
    }
    if repo.has_object(&ObjectName::new(checksum, ObjectType::DirMeta)) {
        writeln!(out, "dirmeta {checksum}")?;
        if raw {
            writeln!(out, "{}", raw_dirmeta_text(&repo.load_dirmeta(checksum)?))?;
        }
        return Ok(());
    }
    if repo.has_object(&ObjectName::new(checksum, ObjectType::DirTree)) {
        writeln!(out, "dirtree {checksum}")?;
        if raw {
            writeln!(out, "{}", raw_dirtree_text(&repo.load_dirtree(checksum)?))?;
        }
        return Ok(());
    }
    let obj = match repo.open_content(checksum) {
        Ok(o) => o,
        // ostree's wording differs by mode: archive repos omit the prefix.
        Err(grove::repo::RepoError::ObjectMissing(_)) if repo.mode().is_archive() => {
            anyhow::bail!("Couldn't find file object '{checksum}'")
        }
        Err(grove::repo::RepoError::ObjectMissing(_)) => {
            anyhow::bail!("Opening content object {checksum}: Couldn't find file object '{checksum}'")
        }
        Err(e) => return Err(e).with_context(|| format!("Opening content object {checksum}")),
    };
    let h = &obj.header;
    writeln!(out, "Object: {checksum}\nType: file")?;
    if h.mode & S_IFMT == S_IFREG {
        writeln!(out, "File Type: regular\nSize: {}", obj.size)?;
    } else {
        writeln!(out, "File Type: symlink\nTarget: {}", h.symlink_target)?;
    }
    writeln!(out, "Mode: 0{:04o}\nUid: {}\nGid: {}", h.mode, h.uid, h.gid)?;
    writeln!(out, "Extended Attributes: {{ {} }}", xattrs_text(&h.xattrs))?;
    Ok(())
}
