//! `grove pull-local`: copy commits from a local repository.

use std::path::PathBuf;

use anyhow::Context as _;
use grove::repo::LockKind;
use grove::transfer::pull_local::{self, LocalPullReport, PullItem, PullOptions, TransferError};
use grove::Repo;

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source repository
    src: PathBuf,
    /// Refs or commit checksums to pull (default: every ref of the source)
    refs: Vec<String>,
    /// Traverse DEPTH parents (-1 = infinite); default 0
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    depth: i32,
    /// Verify each object's checksum while copying
    #[arg(long)]
    untrusted: bool,
    /// Refuse regular files a bare-user-only repository cannot hold (setuid, world-writable...)
    #[arg(long)]
    bareuseronly_files: bool,
    /// Add REMOTE to the refs written (refs/remotes/REMOTE/...)
    #[arg(long)]
    remote: Option<String>,
    /// Do not fsync
    #[arg(long)]
    disable_fsync: bool,
    /// Copy only the commits (and their detached metadata), not their trees
    #[arg(long)]
    commit_metadata_only: bool,
    /// Apply the static delta the source advertises for each commit (error if there is none)
    #[arg(long)]
    require_static_deltas: bool,
    /// Require every commit copied to be signed by a key trusted for --remote
    #[arg(long, requires = "remote")]
    gpg_verify: bool,
    /// Require the source's summary to be signed by a key trusted for --remote
    #[arg(long, requires = "remote")]
    gpg_verify_summary: bool,
    /// Do not show progress
    #[arg(long)]
    quiet: bool,
    /// Skip the pre-pull-local hook
    #[arg(long)]
    no_verify: bool,
    /// Print what was pulled as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut dst = ctx.open_repo()?;
    if args.disable_fsync {
        dst.set_disable_fsync(true);
    }
    let src = Repo::open(&args.src)
        .with_context(|| format!("opening source repo {}", args.src.display()))?;
    let items = args
        .refs
        .iter()
        .map(|r| PullItem::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = match (&args.remote, args.gpg_verify || args.gpg_verify_summary) {
        (Some(name), true) => {
            let rem = grove::repo::remote::find(&dst, name)?;
            let keys_repo = match &rem.defined_in {
                Some(p) if p != dst.path() => Some(Repo::open(p)?),
                _ => None,
            };
            Some(crate::commands::gpg_verify::remote_keyring(
                keys_repo.as_ref().unwrap_or(&dst),
                name,
            )?)
        }
        _ => None,
    };
    let opts = PullOptions {
        depth: args.depth,
        untrusted: args.untrusted,
        remote: args.remote.clone(),
        commit_only: args.commit_metadata_only,
        verify: keys.clone().filter(|_| args.gpg_verify),
        verify_summary: keys.filter(|_| args.gpg_verify_summary),
        bareuseronly_files: args.bareuseronly_files,
    };
    let src_lock = src.lock(LockKind::Shared)?;
    let dst_lock = dst.lock(LockKind::Shared)?;
    if args.require_static_deltas {
        pull_local::apply_required_deltas(&src, &dst, &args.refs)?;
    }
    let plan = pull_local::plan(&src, &dst, &items, &opts).map_err(|e| match e {
        // These name the ref at fault already, in ostree's words.
        TransferError::RefNotFound(_) | TransferError::RemoteRefInSource(_) => {
            anyhow::Error::new(e)
        }
        e => anyhow::Error::new(e).context(format!("pulling from {}", args.src.display())),
    })?;
    let updates: Vec<RefUpdate> = plan
        .refs()
        .iter()
        .map(|(spec, m)| RefUpdate {
            old: m.old,
            new: Some(m.new),
            name: spec.to_string(),
        })
        .collect();
    if !args.no_verify {
        hooks::run(&dst, "pre-pull-local", &updates)?;
    }
    let live = crate::progress::Live::start("pull-local", args.quiet);
    let stats = pull_local::execute(&src, &dst, &plan, live.control())
        .with_context(|| format!("pulling from {}", args.src.display()))?;
    drop(live);
    drop((src_lock, dst_lock));
    hooks::run(&dst, "post-pull-local", &updates)?;
    if args.json {
        let report = serde_json::to_value(LocalPullReport::from(&stats))?;
        println!("{report}");
    } else {
        // ostree's closing status line for a local import.
        println!(
            "{} metadata, {} content objects imported; {} content written",
            stats.metadata_fetched,
            stats.content_fetched,
            crate::format::size(stats.bytes_written)
        );
    }
    Ok(())
}
