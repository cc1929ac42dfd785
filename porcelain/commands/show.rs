//! `grove show`: output a metadata object (upstream `ot-builtin-show.c`).
//!
//! A full 64-hex argument is looked up as a commit, dirmeta, dirtree, then
//! content object; anything else is resolved as a rev and shown as a commit.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use grove::objects::file_header::{S_IFMT, S_IFREG};
use grove::objects::sizes::{SizeEntry, SIZES_KEY};
use grove::{Checksum, ObjectName, ObjectType};

use super::log::{
    dump_commit, load_error, raw_commit_text, raw_dirmeta_text, raw_dirtree_text, usage_error,
    xattrs_text,
};
use crate::ctx::Ctx;

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
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());

    if args.print_metadata_key.is_some() || args.print_detached_metadata_key.is_some() {
        let commit = repo.resolve_rev(&object)?;
        let (key, meta) = match &args.print_detached_metadata_key {
            Some(key) => {
                let meta = repo
                    .read_detached_metadata(commit)?
                    .ok_or_else(|| anyhow::anyhow!("No detached metadata for commit {commit}"))?;
                (key, meta)
            }
            None => {
                let key = args
                    .print_metadata_key
                    .as_ref()
                    .expect("one of the two keys is set");
                (key, repo.load_commit(commit).map_err(load_error)?.metadata)
            }
        };
        let value = meta
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("No such metadata key '{key}'"))?;
        let text = if args.no_byteswap || cfg!(target_endian = "big") {
            grove::gvariant::text::print(value, true)
        } else {
            grove::gvariant::text::print_byteswapped(value, true)
        };
        writeln!(out, "{text}")?;
    } else if args.print_related {
        let commit = repo.resolve_rev(&object)?;
        for (name, c) in repo.load_commit(commit).map_err(load_error)?.related {
            writeln!(out, "{name} {c}")?;
        }
    } else if args.json {
        let commit = repo.resolve_rev(&object)?;
        let c = repo.load_commit(commit).map_err(load_error)?;
        serde_json::to_writer_pretty(&mut out, &super::log::commit_json(commit, &c))?;
        writeln!(out)?;
    } else if args.print_sizes {
        let commit = repo.resolve_rev(&object)?;
        print_sizes(&repo, commit, &mut out)?;
    } else {
        let trust = Trust {
            homedir: args.gpg_homedir,
            remote: args.gpg_verify_remote,
            keyrings: args.keyring,
        };
        match object.parse::<Checksum>() {
            Ok(checksum) => show_by_checksum(&repo, checksum, args.raw, &trust, &mut out)?,
            Err(_) => {
                let checksum = repo.resolve_rev(&object)?;
                show_commit(&repo, checksum, args.raw, &trust, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn print_sizes(repo: &grove::Repo, checksum: Checksum, out: &mut dyn Write) -> anyhow::Result<()> {
    let commit = repo
        .load_commit(checksum)
        .map_err(load_error)
        .context("Failed to read commit")?;
    let entries = commit
        .metadata
        .get_bytes_list(SIZES_KEY)
        .ok_or_else(|| anyhow::anyhow!("No metadata key {SIZES_KEY} in commit"))?;
    let (mut archived, mut unpacked, mut new_archived, mut new_unpacked, mut new_objects) =
        (0u64, 0u64, 0u64, 0u64, 0usize);
    for e in &entries {
        let e = SizeEntry::from_bytes(e)?;
        archived += e.archived;
        unpacked += e.unpacked;
        if !repo.has_object(&e.name) {
            new_archived += e.archived;
            new_unpacked += e.unpacked;
            new_objects += 1;
        }
    }
    writeln!(
        out,
        "Compressed size (needed/total): {}/{}",
        crate::format::size(new_archived),
        crate::format::size(archived)
    )?;
    writeln!(
        out,
        "Unpacked size (needed/total): {}/{}",
        crate::format::size(new_unpacked),
        crate::format::size(unpacked)
    )?;
    writeln!(
        out,
        "Number of objects (needed/total): {new_objects}/{}",
        entries.len()
    )?;
    Ok(())
}

/// Which keys `show` trusts when it describes a commit's signatures.
struct Trust {
    homedir: Option<PathBuf>,
    remote: Option<String>,
    keyrings: Vec<PathBuf>,
}

impl Trust {
    /// As `ostree show`: a remote's keys with `--gpg-verify-remote`; else
    /// the repository's remote keyrings and the system ones, plus
    /// `--gpg-homedir` and (grove) `--keyring` files.
    fn keyring(&self, repo: &grove::Repo) -> anyhow::Result<grove::trust::gpg::Keyring> {
        if let Some(r) = &self.remote {
            return super::gpg_verify::remote_keyring(repo, r);
        }
        let mut kr = super::gpg_verify::load_keyring(repo, &[], None)?;
        if self.homedir.is_some() || !self.keyrings.is_empty() {
            kr.extend(super::gpg_verify::load_keyring(
                repo,
                &self.keyrings,
                self.homedir.as_deref(),
            )?);
        }
        Ok(kr)
    }
}

fn show_commit(
    repo: &grove::Repo,
    checksum: Checksum,
    raw: bool,
    trust: &Trust,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    writeln!(out, "commit {checksum}")?;
    if raw {
        writeln!(out, "{}", raw_commit_text(&commit))?;
    } else {
        dump_commit(out, &commit)?;
    }
    // Then its signatures, as ostree does; a commit without any shows none.
    let signed = match repo.read_detached_metadata(checksum) {
        Ok(Some(m)) => m.get(grove::trust::gpg::GPGSIGS_KEY).is_some(),
        Ok(None) => false,
        // A corrupt .commitmeta: verify_commit below reports it.
        Err(_) => true,
    };
    if signed {
        let keyring = trust.keyring(repo)?;
        let now = SystemTime::now();
        let reports = grove::trust::gpg::verify_commit(repo, checksum, &keyring, now)?;
        if !reports.is_empty() {
            super::gpg_verify::print_signatures(out, &reports, now)?;
        }
    }
    Ok(())
}

fn show_by_checksum(
    repo: &grove::Repo,
    checksum: Checksum,
    raw: bool,
    trust: &Trust,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if repo.has_object(&ObjectName::new(checksum, ObjectType::Commit)) {
        return show_commit(repo, checksum, raw, trust, out);
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
            anyhow::bail!(
                "Opening content object {checksum}: Couldn't find file object '{checksum}'"
            )
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
