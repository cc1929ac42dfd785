//! `grove checkout`: check out a commit into a filesystem tree.
//!
//! Same options and errors as `ostree checkout` (ot-builtin-checkout.c);
//! the work is [`grove::tree::checkout::checkout_tree`].

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use grove::tree::checkout::{
    checkout_list, checkout_tree, read_skip_list, CheckoutMode, CheckoutOptions, CheckoutSource,
    OverwriteMode,
};
use grove::Repo;

use crate::args::parse_bool;
use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not change file ownership or initialize extended attributes
    #[arg(short = 'U', long)]
    user_mode: bool,
    /// Do not update or use the internal repository uncompressed object cache
    #[arg(long)]
    disable_cache: bool,
    /// Checkout sub-directory PATH
    #[arg(long, value_name = "PATH")]
    subpath: Option<String>,
    /// Keep existing directories, overwrite existing files
    #[arg(long)]
    union: bool,
    /// Keep existing files/directories, only add new
    #[arg(long)]
    union_add: bool,
    /// When layering checkouts, error out if a file would be replaced with a different version, but add new files and directories
    #[arg(long)]
    union_identical: bool,
    /// Process 'whiteout' (Docker style) entries
    #[arg(long)]
    whiteouts: bool,
    /// Enable overlayfs whiteout extraction into char 0:0 devices
    #[arg(long)]
    process_passthrough_whiteouts: bool,
    /// Do nothing if specified path does not exist
    #[arg(long)]
    allow_noent: bool,
    /// Process many checkouts from standard input
    #[arg(long)]
    from_stdin: bool,
    /// Process many checkouts from input file
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// Specify how to invoke fsync()
    #[arg(long, value_name = "POLICY")]
    fsync: Option<String>,
    /// Do not fall back to full copies if hardlinking fails
    #[arg(short = 'H', long)]
    require_hardlinks: bool,
    /// Do not hardlink zero-sized files (they never are)
    #[arg(short = 'z', long, hide = true)]
    force_copy_zerosized: bool,
    /// Never hardlink (but may reflink if available)
    #[arg(short = 'C', long)]
    force_copy: bool,
    /// Suppress mode bits outside of 0775 for directories (suid, world writable, etc.)
    #[arg(short = 'M', long)]
    bareuseronly_dirs: bool,
    /// File containing list of files to skip
    #[arg(long, value_name = "FILE")]
    skip_list: Option<PathBuf>,
    /// The commit (ref, checksum or partial checksum) to check out
    #[arg(value_name = "COMMIT")]
    commit: Option<String>,
    /// Where to check out (default: the COMMIT argument)
    #[arg(value_name = "DESTINATION")]
    destination: Option<PathBuf>,
}

fn options(args: &Args) -> anyhow::Result<CheckoutOptions> {
    let mut opts = CheckoutOptions {
        mode: if args.user_mode {
            CheckoutMode::User
        } else {
            CheckoutMode::Normal
        },
        overwrite: OverwriteMode::from_flags(args.union, args.union_add, args.union_identical)?,
        subpath: args.subpath.clone(),
        allow_noent: args.allow_noent,
        require_hardlinks: args.require_hardlinks,
        force_copy: args.force_copy,
        process_whiteouts: args.whiteouts,
        bareuseronly_dirs: args.bareuseronly_dirs,
        uncompressed_cache: !args.disable_cache,
        process_passthrough_whiteouts: args.process_passthrough_whiteouts,
        ..CheckoutOptions::default()
    };
    opts.validate()?;
    opts.skip_list = args.skip_list.as_deref().map(read_skip_list).transpose()?;
    // ostree's CLI never fsyncs checkouts; only an explicit `--fsync=true` asks for it here.
    opts.fsync = args.fsync.as_deref().map(parse_bool).transpose()? == Some(true);
    Ok(opts)
}

fn checkout_one(
    ctx: &Ctx,
    repo: &Repo,
    rev: &str,
    opts: &CheckoutOptions,
    dest: &Path,
) -> anyhow::Result<()> {
    let commit = repo.resolve_rev(rev)?;
    let stats = checkout_tree(repo, CheckoutSource::Commit(commit), dest, opts)?;
    if ctx.verbose {
        eprintln!(
            "checkout {commit} -> {}: {} dirs created, {} files hardlinked, {} copied ({} bytes), {} symlinks, {} existing kept, {} whiteouts, {} skipped",
            dest.display(),
            stats.dirs_created,
            stats.files_linked,
            stats.files_copied,
            stats.bytes_copied,
            stats.symlinks_created,
            stats.existing_kept,
            stats.whiteouts,
            stats.skipped
        );
    }
    Ok(())
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(first) = args.commit.as_deref() else {
        bail!("COMMIT must be specified");
    };
    let opts = options(&args)?;
    let repo = ctx.open_repo()?;

    if args.from_stdin || args.from_file.is_some() {
        // DEST is the first positional; input is `REV\0SUBPATH\0` pairs.
        let dest = PathBuf::from(first);
        let mut input = Vec::new();
        match &args.from_file {
            Some(f) => {
                input = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            }
            None => {
                std::io::stdin()
                    .read_to_end(&mut input)
                    .context("reading standard input")?;
            }
        }
        checkout_list(&repo, &input, &dest, &opts)?;
        return Ok(());
    }

    let dest = args
        .destination
        .clone()
        .unwrap_or_else(|| PathBuf::from(first));
    checkout_one(ctx, &repo, first, &opts, &dest)
}
