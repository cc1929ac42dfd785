//! `grove show`: output a metadata object (upstream `ot-builtin-show.c`).
//!
//! A full 64-hex argument is looked up as a commit, dirmeta, dirtree, then
//! content object; anything else is resolved as a rev and shown as a commit
//! (`grove::lifecycle::log::show_target`).
//! A commit is `grove::lifecycle::log::CommitInfo` rendered as `log` renders
//! it, then its signatures checked with the keys `show` trusts
//! (`grove::trust::keys::KeySelection::for_show`).

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use grove::lifecycle::log::{
    content_info, show_target, CommitInfo, ContentInfo, ShowTarget, Sizes,
};
use grove::objects::text;
use grove::trust::keys::KeySelection;
use grove::{Checksum, Repo};

use crate::ctx::{load_error, usage_error, Ctx};
use crate::format::size;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show the "related" commits
    #[arg(long)]
    print_related: bool,

    /// Print the value of metadata key KEY
    ///
    /// As ostree, numbers are byte-swapped on little-endian hosts (ostree's
    /// own metadata is big-endian), so a native `uint32 5` prints as
    /// `uint32 83886080`; -B prints the value as stored.
    #[arg(long, value_name = "KEY")]
    print_metadata_key: Option<String>,

    /// Do not convert variant data from big endian (print metadata values as stored)
    #[arg(short = 'B', long)]
    no_byteswap: bool,

    /// Print the value of detached metadata key KEY (same printing as --print-metadata-key)
    #[arg(long, value_name = "KEY")]
    print_detached_metadata_key: Option<String>,

    /// Show the commit size metadata
    #[arg(long)]
    print_sizes: bool,

    /// Show raw variant data
    #[arg(long)]
    raw: bool,

    /// Print the commit as a JSON object (as one entry of `grove log --json`), provenance included
    #[arg(long, conflicts_with = "raw")]
    json: bool,

    /// GPG Homedir to use when looking for keyrings (its *.gpg keyrings and its keybox)
    #[arg(long, value_name = "HOMEDIR")]
    gpg_homedir: Option<PathBuf>,

    /// Use REMOTE name for GPG configuration (REPO/REMOTE.trustedkeys.gpg, gpgkeypath)
    #[arg(long, value_name = "REMOTE", conflicts_with_all = ["gpg_homedir", "keyring"])]
    gpg_verify_remote: Option<String>,

    /// Also trust the keys in this keyring file when describing signatures (repeatable)
    #[arg(long, value_name = "FILE")]
    keyring: Vec<PathBuf>,

    /// The object: a rev, or the full checksum of any object
    #[arg(value_name = "OBJECT")]
    object: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(object) = args.object else {
        return Err(usage_error("show", "An object argument is required"));
    };
    let repo = ctx.open_repo()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let commit = || -> anyhow::Result<_> {
        let c = repo.resolve_rev(&object)?;
        Ok((c, repo.load_commit(c).map_err(load_error)))
    };
    if let Some(key) = &args.print_detached_metadata_key {
        let (c, _) = commit()?;
        let meta = repo
            .read_detached_metadata(c)?
            .ok_or_else(|| anyhow::anyhow!("No detached metadata for commit {c}"))?;
        print_key(&mut out, &meta, key, args.no_byteswap)?;
    } else if let Some(key) = &args.print_metadata_key {
        print_key(&mut out, &commit()?.1?.metadata, key, args.no_byteswap)?;
    } else if args.print_related {
        for (name, c) in commit()?.1?.related {
            writeln!(out, "{name} {c}")?;
        }
    } else if args.json {
        let (c, k) = commit()?;
        serde_json::to_writer_pretty(&mut out, &CommitInfo::new(c, &k?))?;
        writeln!(out)?;
    } else if args.print_sizes {
        let k = commit()?.1.context("Failed to read commit")?;
        let s = Sizes::of(&repo, &k)?;
        let (na, a, nu, u) = (s.needed_archived, s.archived, s.needed_unpacked, s.unpacked);
        writeln!(
            out,
            "Compressed size (needed/total): {}/{}",
            size(na),
            size(a)
        )?;
        writeln!(
            out,
            "Unpacked size (needed/total): {}/{}",
            size(nu),
            size(u)
        )?;
        writeln!(
            out,
            "Number of objects (needed/total): {}/{}",
            s.needed_objects, s.objects
        )?;
    } else {
        let trust = KeySelection::for_show(args.gpg_verify_remote, args.keyring, args.gpg_homedir);
        match show_target(&repo, &object)? {
            ShowTarget::DirMeta(c) => {
                writeln!(out, "dirmeta {c}")?;
                if args.raw {
                    writeln!(out, "{}", text::dirmeta_text(&repo.load_dirmeta(c)?))?;
                }
            }
            ShowTarget::DirTree(c) => {
                writeln!(out, "dirtree {c}")?;
                if args.raw {
                    writeln!(out, "{}", text::dirtree_text(&repo.load_dirtree(c)?))?;
                }
            }
            ShowTarget::Commit(c) => show_commit(&repo, c, args.raw, &trust, &mut out)?,
            ShowTarget::Content(c) => show_content(&content_info(&repo, c)?, &mut out)?,
        }
    }
    out.flush()?;
    Ok(())
}

/// One metadata value as GVariant text (`text::metadata_value_text`).
fn print_key(
    out: &mut dyn Write,
    meta: &grove::Metadata,
    key: &str,
    as_stored: bool,
) -> anyhow::Result<()> {
    let text = text::metadata_value_text(meta, key, as_stored)
        .ok_or_else(|| anyhow::anyhow!("No such metadata key '{key}'"))?;
    writeln!(out, "{text}")?;
    Ok(())
}

fn show_commit(
    repo: &Repo,
    checksum: Checksum,
    raw: bool,
    trust: &KeySelection,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    writeln!(out, "commit {checksum}")?;
    if raw {
        writeln!(out, "{}", text::commit_text(&commit))?;
    } else {
        out.write_all(super::log::commit_text(&CommitInfo::new(checksum, &commit)).as_bytes())?;
    }
    // Then its signatures, as ostree does; a commit without any shows none.
    if grove::trust::gpg::has_signatures(repo, checksum) {
        let keyring = crate::keys::trusted(repo, trust)?;
        let now = SystemTime::now();
        let reports = grove::trust::gpg::verify_commit(repo, checksum, &keyring, now)?;
        if !reports.is_empty() {
            crate::signatures::print_signatures(out, &reports, now)?;
        }
    }
    Ok(())
}

fn show_content(obj: &ContentInfo, out: &mut dyn Write) -> anyhow::Result<()> {
    let h = &obj.header;
    writeln!(out, "Object: {}\nType: file", obj.checksum)?;
    if h.is_regular() {
        writeln!(out, "File Type: regular\nSize: {}", obj.size)?;
    } else {
        writeln!(out, "File Type: symlink\nTarget: {}", h.symlink_target)?;
    }
    writeln!(out, "Mode: 0{:04o}\nUid: {}\nGid: {}", h.mode, h.uid, h.gid)?;
    writeln!(
        out,
        "Extended Attributes: {{ {} }}",
        text::xattrs_text(&h.xattrs)
    )?;
    Ok(())
}
