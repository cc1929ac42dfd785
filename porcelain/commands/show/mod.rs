//! `grove show`: output a metadata object (upstream `ot-builtin-show.c`).
//!
//! A full 64-hex argument is looked up as a commit, dirmeta, dirtree, then
//! content object; anything else is resolved as a rev and shown as a commit
//! (`grove::lifecycle::log::show_target`).
//! A commit is `grove::lifecycle::log::CommitInfo` rendered as `log` renders
//! it, then its signatures checked with the keys `show` trusts
//! (`grove::trust::keys::KeySelection::for_show`). Which of these the flags
//! ask for is decided here; the printing is `render`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use grove::lifecycle::log::{content_info, show_target, CommitInfo, ShowTarget, Sizes};
use grove::objects::text;
use grove::trust::keys::KeySelection;

use crate::ctx::{load_error, usage_error, Ctx};

mod render;

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
        render::metadata_key(&mut out, &meta, key, args.no_byteswap)?;
    } else if let Some(key) = &args.print_metadata_key {
        render::metadata_key(&mut out, &commit()?.1?.metadata, key, args.no_byteswap)?;
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
        render::sizes(&mut out, &Sizes::of(&repo, &k)?)?;
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
            ShowTarget::Commit(c) => render::commit(&repo, c, args.raw, &trust, &mut out)?,
            ShowTarget::Content(c) => render::content(&content_info(&repo, c)?, &mut out)?,
        }
    }
    out.flush()?;
    Ok(())
}
