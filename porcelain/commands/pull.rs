//! `grove pull`: fetch commits from a remote archive repository over
//! `http://`, `https://` or `file://` (upstream `ot-builtin-pull.c`).
//!
//! `REMOTE:REF` or `REMOTE REF…`; without refs, the remote's `branches`, or
//! with `--mirror` every ref of its summary. What a pull does, in which
//! order, and how it verifies is `grove::transfer::pull::request`'s; this
//! command maps the flags onto a `PullRequest` and renders the report.

use std::time::Instant;

use grove::delta::fetch::DeltaPolicy;
use grove::transfer::pull::{PullReport, PullRequest, SummaryCache};

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// REMOTE or REMOTE:REF
    #[arg(value_name = "REMOTE[:REF]")]
    remote: String,
    /// More refs (or commit checksums) to pull from REMOTE
    #[arg(value_name = "REF")]
    refs: Vec<String>,
    /// Write refs/heads/REF (a mirror) instead of refs/remotes/REMOTE/REF
    #[arg(long)]
    mirror: bool,
    /// Traverse DEPTH parents (-1 = infinite); default 0
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    depth: i32,
    /// Do not fsync
    #[arg(long)]
    disable_fsync: bool,
    /// Do not verify commit or summary signatures, whatever the remote's gpg-verify settings
    #[arg(long)]
    no_gpg_verify: bool,
    /// Do not print progress or the summary line
    #[arg(long)]
    quiet: bool,
    /// Use custom cache dir (for the remote's summary; default REPO/tmp/cache)
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// Fetch objects only: no static deltas (with --mirror: do not copy the remote's deltas)
    #[arg(
        long,
        alias = "no-static-deltas",
        conflicts_with = "require_static_deltas"
    )]
    disable_static_deltas: bool,
    /// Update only through static deltas: a missing or bad delta is an error
    #[arg(long)]
    require_static_deltas: bool,
    /// Print what the pull did as JSON
    #[arg(long)]
    json: bool,
    /// Fetch only the commits (and their detached metadata), not their trees
    #[arg(long)]
    commit_metadata_only: bool,
    /// Fetch only this absolute path of the tree (repeatable); the commit stays partial
    #[arg(long, value_name = "PATH")]
    subpath: Vec<String>,
    /// Accepted for ostree compatibility: grove syncs objects once, before refs move
    #[arg(long)]
    per_object_fsync: bool,
    /// Store content into an archive repository as served, without hashing it (mirrors of a trusted server)
    #[arg(long)]
    http_trusted: bool,
    /// Refuse regular files with mode bits outside 0775 (setuid, world-writable...)
    #[arg(long)]
    bareuseronly_files: bool,
    /// Refuse a commit older than the one its ref holds now
    #[arg(short = 'T', long)]
    timestamp_check: bool,
    /// Refuse any commit fetched that is older than REV
    #[arg(long, value_name = "REV")]
    timestamp_check_from_rev: Option<String>,
    /// With --require-static-deltas: print what the deltas would fetch, change nothing
    #[arg(long, requires = "require_static_deltas")]
    dry_run: bool,
}

/// The summary cache of remote `name`: `--cache-dir` or `REPO/tmp/cache`.
pub fn summary_cache(
    repo: &grove::Repo,
    cache_dir: Option<&std::path::Path>,
    name: &str,
) -> SummaryCache {
    SummaryCache::of_repo(repo, cache_dir, name, test_error_invalid_cache())
}

/// `OSTREE_REPO_TEST_ERROR=invalid-cache` (ostree's test hook): a cached
/// summary that fails verification is an error.
fn test_error_invalid_cache() -> bool {
    std::env::var("OSTREE_REPO_TEST_ERROR")
        .is_ok_and(|v| v.split([',', ':', ';', ' ']).any(|f| f == "invalid-cache"))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut dst = ctx.open_repo()?;
    if args.disable_fsync {
        dst.set_disable_fsync(true);
    }
    let (remote, first) = match args.remote.split_once(':') {
        Some((n, r)) => (n.to_string(), Some(r.to_string())),
        None => (args.remote, None),
    };
    let start = Instant::now();
    let plan = PullRequest {
        remote,
        refs: first.into_iter().chain(args.refs).collect(),
        mirror: args.mirror,
        depth: args.depth,
        no_gpg_verify: args.no_gpg_verify,
        system_keyrings: crate::keys::system_dirs(),
        cache_dir: args.cache_dir,
        fail_on_invalid_cache: test_error_invalid_cache(),
        deltas: DeltaPolicy::from_flags(args.disable_static_deltas, args.require_static_deltas),
        commit_only: args.commit_metadata_only,
        subpaths: args.subpath,
        timestamp_check: args.timestamp_check,
        timestamp_check_from: args.timestamp_check_from_rev,
        http_trusted: args.http_trusted,
        bareuseronly_files: args.bareuseronly_files,
    }
    .plan(&dst)?;
    let size = crate::format::size;
    if args.dry_run {
        if let Some(d) = plan.dry_run(&dst)? {
            println!(
                "Delta update: {}/{} parts, {}/{}, {} total uncompressed",
                d.parts_had,
                d.parts_total,
                size(d.size_had),
                size(d.size_total),
                size(d.usize_total)
            );
            return Ok(());
        }
    }
    let live = crate::progress::Live::start("pull", args.quiet);
    let report = plan.execute(&mut dst, live.control(), &mut |why| {
        eprintln!("warning: {why}; fetching objects instead")
    })?;
    drop(live);
    if report.local {
        // A remote read as a local repository reports nothing (as it always has).
        return Ok(());
    }
    if args.json {
        crate::format::print_json(&report)?;
    } else if !args.quiet {
        render(&report, args.mirror, start.elapsed().as_secs());
    }
    Ok(())
}

/// The human summary of a pull: the static deltas (applied, or copied by
/// `--mirror`), then the objects fetched and written.
fn render(report: &PullReport, mirror: bool, seconds: u64) {
    let size = crate::format::size;
    let (stats, deltas) = (&report.objects, &report.static_deltas);
    if !deltas.deltas.is_empty() {
        let verb = if mirror { "copied" } else { "applied" };
        println!(
            "{} static deltas {verb} ({} parts, {})",
            deltas.deltas.len(),
            deltas.parts_fetched,
            size(deltas.bytes)
        );
    }
    println!(
        "{} metadata, {} content objects fetched; {} transferred in {seconds} seconds; {} content written",
        stats.metadata_fetched,
        stats.content_fetched,
        size(stats.bytes_received),
        size(stats.content_bytes_written)
    );
}
