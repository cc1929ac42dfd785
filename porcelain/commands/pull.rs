//! `grove pull`: fetch commits from a remote archive repository over
//! `http://`, `https://` or `file://` (upstream `ot-builtin-pull.c`).
//!
//! `REMOTE:REF` or `REMOTE REF…`; without refs, the remote's `branches`, or
//! with `--mirror` every ref of its summary (and then the remote's `summary`
//! and `summary.sig` are copied byte for byte, as ostree does). `--mirror`
//! writes `refs/heads/REF`, otherwise `refs/remotes/REMOTE/REF`.
//!
//! GPG: with the remote's `gpg-verify=true` (ostree's default when the key
//! is absent) every commit fetched needs a good signature by a key trusted
//! for the remote — `REPO/REMOTE.trustedkeys.gpg` (`remote add
//! --gpg-import`), else the system keyrings, plus the remote's `gpgkeypath` —
//! or the pull fails before any ref moves; with `gpg-verify-summary=true`
//! the summary must carry a good signature by one of those keys too. A
//! remote without trusted keys is refused. `--no-gpg-verify` skips both
//! checks.
//!
//! Static deltas (`grove::delta::fetch`): a pull of a commit the repository
//! lacks goes through the FROM→TO delta the remote offers (from the ref's
//! current commit, or another commit held complete; a scratch delta for an
//! initial pull) before fetching what is still missing as objects;
//! `--mirror` copies the remote's deltas for the mirrored commits and their
//! delta indexes. `--disable-static-deltas` (`--no-static-deltas`) and
//! `--require-static-deltas` as ostree's.

use std::time::Instant;

use anyhow::Context as _;
use grove::delta::fetch::{mirror_deltas, pull_through_deltas, DeltaPolicy, DeltaReport};
use grove::repo::remote;
use grove::repo::LockKind;
use grove::transfer::pull::{execute, plan, PullItem, PullOptions, RemoteRepo, SummaryCache};

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
/// `OSTREE_REPO_TEST_ERROR=invalid-cache` (ostree's test hook) makes a
/// cached summary that fails verification an error.
pub fn summary_cache(
    repo: &grove::Repo,
    cache_dir: Option<&std::path::Path>,
    name: &str,
) -> SummaryCache {
    let dir = cache_dir
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| repo.path().join("tmp/cache"));
    let mut c = SummaryCache::new(&dir, name);
    c.fail_on_invalid = std::env::var("OSTREE_REPO_TEST_ERROR")
        .is_ok_and(|v| v.split([',', ':', ';', ' ']).any(|f| f == "invalid-cache"));
    c
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut dst = ctx.open_repo()?;
    if args.disable_fsync {
        dst.set_disable_fsync(true);
    }
    let (name, first) = match args.remote.split_once(':') {
        Some((n, r)) => (n.to_string(), Some(r.to_string())),
        None => (args.remote.clone(), None),
    };
    let rem = remote::find(&dst, &name)?;
    let url = rem.pull_url()?.to_string();
    // The keys of a remote defined in a core.parent repository live there.
    let keys_repo = match &rem.defined_in {
        Some(p) if p != dst.path() => Some(grove::Repo::open(p)?),
        _ => None,
    };
    let keys = if (rem.gpg_verify || rem.gpg_verify_summary) && !args.no_gpg_verify {
        let keys =
            crate::commands::gpg_verify::remote_keyring(keys_repo.as_ref().unwrap_or(&dst), &name)?;
        anyhow::ensure!(
            !keys.is_empty(),
            "remote \"{name}\" has GPG verification on but no trusted keys ({} or the system keyrings): \
             add the remote with --gpg-import=KEYFILE, or pass --no-gpg-verify",
            grove::repo::remote::keyring_path(&dst, &name).display()
        );
        Some(keys)
    } else {
        None
    };
    let start = Instant::now();
    if let Some(d) = args.cache_dir.as_deref().filter(|d| !d.is_dir()) {
        anyhow::bail!("opendir({}): No such file or directory", d.display());
    }
    // Like ostree, a file:// remote is read as a local repository, so any
    // mode may be pulled from; only archives go through the network path.
    if let Some(path) = url.strip_prefix("file://") {
        if let Ok(src) = grove::Repo::open(std::path::Path::new(path)) {
            if !src.mode().is_archive() {
                let mut wanted: Vec<String> = first
                    .clone()
                    .into_iter()
                    .chain(args.refs.iter().cloned())
                    .collect();
                if wanted.is_empty() {
                    wanted = rem.branches.iter().map(|b| b.to_string()).collect();
                }
                anyhow::ensure!(!wanted.is_empty(), "No refs to pull: name REMOTE:REF, or configure 'branches' for remote \"{name}\"");
                let items = wanted
                    .iter()
                    .map(|r| grove::transfer::pull_local::PullItem::parse(r))
                    .collect::<Result<Vec<_>, _>>()?;
                let opts = grove::transfer::pull_local::PullOptions {
                    depth: args.depth,
                    untrusted: false,
                    remote: (!args.mirror).then(|| name.clone()),
                    bareuseronly_files: args.bareuseronly_files,
                    commit_only: args.commit_metadata_only,
                    verify: keys.filter(|_| rem.gpg_verify),
                    verify_summary: None,
                };
                let _src_lock = src.lock(LockKind::Shared)?;
                let _lock = dst.lock(LockKind::Shared)?;
                grove::transfer::pull_local::pull_local(
                    &src,
                    &dst,
                    &items,
                    &opts,
                    &Default::default(),
                )
                .with_context(|| format!("pulling from remote \"{name}\""))?;
                return Ok(());
            }
        }
    }
    let cache = summary_cache(&dst, args.cache_dir.as_deref(), &name);
    let remote_repo = RemoteRepo::open_cached(
        &url,
        keys.as_ref().filter(|_| rem.gpg_verify_summary),
        Some(&cache),
    )
    .with_context(|| format!("pulling from remote \"{name}\""))?;
    let mut wanted: Vec<String> = first.into_iter().chain(args.refs.iter().cloned()).collect();
    if wanted.is_empty() {
        wanted = rem.branches.iter().map(|b| b.to_string()).collect();
    }
    // A mirror of every ref (none named, no `branches`) copies the summary too, as ostree's.
    let mirror_all = wanted.is_empty() && args.mirror;
    if mirror_all {
        wanted = remote_repo
            .summary_refs()
            .iter()
            .map(|b| b.to_string())
            .collect();
    }
    anyhow::ensure!(
        !wanted.is_empty(),
        "No refs to pull: name REMOTE:REF, or configure 'branches' for remote \"{name}\""
    );
    let items = wanted
        .iter()
        .map(|r| PullItem::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &args.subpath {
        anyhow::ensure!(
            p.starts_with('/'),
            "--subpath: expected an absolute path, got '{p}'"
        );
    }
    let opts = PullOptions {
        remote: name.clone(),
        mirror: args.mirror,
        depth: args.depth,
        verify: keys.filter(|_| rem.gpg_verify),
        commit_only: args.commit_metadata_only,
        subpaths: args.subpath.clone(),
        timestamp_check: args.timestamp_check,
        timestamp_check_from: match &args.timestamp_check_from_rev {
            Some(rev) => Some(dst.resolve_rev(rev)?),
            None => None,
        },
        http_trusted: args.http_trusted,
        bareuseronly_files: args.bareuseronly_files,
    };
    anyhow::ensure!(
        !(args.require_static_deltas && dst.mode().is_archive() && !args.mirror),
        "Can't use static deltas in an archive repo"
    );
    let _lock = dst.lock(LockKind::Shared)?;
    let policy = match (
        args.disable_static_deltas || opts.is_partial(),
        args.require_static_deltas,
    ) {
        // A delta brings whole trees: no use for commits only or subpaths (as ostree).
        (true, _) => DeltaPolicy::Disabled,
        (_, true) => DeltaPolicy::Required,
        _ => DeltaPolicy::Auto,
    };
    let context = || format!("pulling from remote \"{name}\"");
    // Resolution errors name the ref themselves (ostree's `Fetching checksum for ref ...`).
    let targets = opts.targets(&remote_repo, &dst, &items)?;
    if args.dry_run {
        let d = grove::delta::fetch::dry_run(&remote_repo, &dst, &targets).with_context(context)?;
        let size = crate::format::size;
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
    let live = crate::progress::Live::start("pull", args.quiet);
    let mut deltas = if args.mirror {
        DeltaReport::default()
    } else {
        pull_through_deltas(&remote_repo, &dst, &targets, policy, opts.verify.as_ref())
            .with_context(context)?
    };
    for why in &deltas.fallbacks {
        eprintln!("warning: {why}; fetching objects instead");
    }
    let p = plan(&remote_repo, &dst, &items, &opts).with_context(context)?;
    let stats = execute(&remote_repo, &dst, &p, live.control()).with_context(context)?;
    if args.mirror && policy != DeltaPolicy::Disabled {
        let tips: Vec<_> = targets.iter().map(|&(_, to)| to).collect();
        deltas = mirror_deltas(&remote_repo, &mut dst, &tips).with_context(context)?;
    }
    if mirror_all {
        remote_repo
            .write_mirror_summary(&dst)
            .with_context(context)?;
    }
    drop(live);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "objects": stats, "static_deltas": deltas })
            )?
        );
    } else if !args.quiet {
        if !deltas.deltas.is_empty() {
            let verb = if args.mirror { "copied" } else { "applied" };
            println!(
                "{} static deltas {verb} ({} parts, {})",
                deltas.deltas.len(),
                deltas.parts_fetched,
                crate::format::size(deltas.bytes)
            );
        }
        println!(
            "{} metadata, {} content objects fetched; {} transferred in {} seconds; {} content written",
            stats.metadata_fetched,
            stats.content_fetched,
            crate::format::size(stats.bytes_received),
            start.elapsed().as_secs(),
            crate::format::size(stats.content_bytes_written)
        );
    }
    Ok(())
}
