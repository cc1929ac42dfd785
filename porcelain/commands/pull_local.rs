//! `grove pull-local`: copy commits from a local repository — parse, plan
//! (`grove::transfer::pull_local::LocalPullRequest`), `pre-pull-local`,
//! execute, `post-pull-local`, render.

use std::path::PathBuf;

use grove::transfer::pull_local::{LocalPullReport, LocalPullRequest};

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
    let request = LocalPullRequest {
        src: args.src,
        refs: args.refs,
        depth: args.depth,
        untrusted: args.untrusted,
        remote: args.remote,
        bareuseronly_files: args.bareuseronly_files,
        commit_only: args.commit_metadata_only,
        gpg_verify: args.gpg_verify,
        gpg_verify_summary: args.gpg_verify_summary,
        system_keyrings: crate::keys::system_dirs(),
        require_static_deltas: args.require_static_deltas,
    };
    let plan = request.plan(&dst)?;
    let updates = RefUpdate::moves(plan.refs());
    if !args.no_verify {
        hooks::run(&dst, "pre-pull-local", &updates)?;
    }
    let live = crate::progress::Live::start("pull-local", args.quiet);
    let stats = plan.execute(&dst, live.control())?;
    drop(live);
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
