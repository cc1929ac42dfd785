//! `grove publish`: publish targets in the config (`add`, `list`, `delete`)
//! and `grove publish NAME [REF…]`, which uploads the repository to the
//! target in the order of `grove::lifecycle::publish` (docs/publishing.md).
//! Between plan and execute the `pre-publish` hook may veto (nothing is
//! uploaded); `post-publish` runs after the summary is out. Both get an
//! `OLD NEW REF` line per target ref that moves, and the target's name and
//! URL in `GROVE_PUBLISH_TARGET` and `GROVE_PUBLISH_URL`. [`publish`] is
//! also the last step of a publishing `grove promote`.
//!
//! Credentials come from the standard AWS chain, whose environment is read
//! here (the library reads none): `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (`AWS_SESSION_TOKEN`), else the `AWS_PROFILE` (or `default`) section of
//! `AWS_SHARED_CREDENTIALS_FILE` (or `~/.aws/credentials`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use grove::lifecycle::publish::{
    Planned, PublishOutcome, PublishReport, PublishRequest, Publisher, TargetRefEdit,
};
use grove::repo::target::{self, CredentialChain, Credentials};
use grove::trust::gpg::SigningKey;
use grove::Repo;

use super::gpg_sign::SignArgs;
use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_precedence_over_arg = true
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,

    /// The target to publish to
    #[arg(value_name = "NAME")]
    name: Option<String>,

    /// Refs to publish (default: the target's refs= patterns, or every ref)
    #[arg(value_name = "REF")]
    refs: Vec<String>,

    /// List the target's objects and deltas and upload whatever is missing
    #[arg(long)]
    verify: bool,

    /// Delete what nothing on the target reaches any more, once unreachable for the grace period
    #[arg(long)]
    prune: bool,

    /// Show what would be uploaded; write nothing
    #[arg(long)]
    dry_run: bool,

    /// Print the outcome as JSON
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    sign: SignArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Add a publish target: s3://BUCKET[/PREFIX] or file:///PATH
    Add {
        name: String,
        url: String,
        /// Set a target option (region, endpoint, path-style, allow-http, refs, prune-grace, jobs, depth, summary-delay)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// List publish targets
    List {
        /// Show URLs
        #[arg(short = 'u', long)]
        show_urls: bool,
    },
    /// Delete a publish target
    Delete { name: String },
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Some(Cmd::Add { name, url, set }) => {
            let mut repo = ctx.open_repo()?;
            target::add(&mut repo, &name, &url, &target::parse_settings(&set)?)?;
            Ok(())
        }
        Some(Cmd::List { show_urls }) => {
            let repo = ctx.open_repo()?;
            for n in target::list(repo.config()) {
                if show_urls {
                    let t = target::get(repo.config(), &n)?;
                    println!("{n}  {}", t.url);
                } else {
                    println!("{n}");
                }
            }
            Ok(())
        }
        Some(Cmd::Delete { name }) => {
            let mut repo = ctx.open_repo()?;
            target::delete(&mut repo, &name)?;
            Ok(())
        }
        None => {
            let Some(name) = args.name.clone() else {
                bail!("which target? grove publish NAME [REF…] (targets: grove publish list)");
            };
            publish_to(ctx, &name, &args)
        }
    }
}

/// The standard AWS credential chain's inputs, from the environment.
fn credential_chain() -> CredentialChain {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let keys = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        }),
        _ => None,
    };
    CredentialChain {
        keys,
        shared_file: env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".aws/credentials"))),
        profile: env("AWS_PROFILE").unwrap_or_else(|| "default".into()),
    }
}

/// Publish target `name`, opened with the credentials of the environment.
pub fn open(repo: &Repo, name: &str) -> anyhow::Result<Publisher> {
    Ok(Publisher::open(repo, name, &credential_chain())?)
}

fn publish_to(ctx: &Ctx, name: &str, args: &Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let config = grove::lifecycle::config::ReleaseConfig::read(&repo)?;
    let mut keys = args.sign.load_or_configured(&repo, &config)?;
    let req = PublishRequest {
        refs: args
            .refs
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<_>, _>>()?,
        verify: args.verify,
        prune: args.prune,
    };
    let publisher = open(&repo, name)?;
    let outcome = if args.dry_run {
        plan(&repo, &publisher, &req, keys.len())?.preview()
    } else {
        let outcome = publish(&repo, &publisher, &req, false, &mut keys)?;
        post_publish(&repo, &publisher, &outcome)?;
        outcome
    };
    let report = PublishReport {
        outcome,
        dry_run: args.dry_run,
    };
    if args.json {
        return crate::format::print_json(&report);
    }
    render(&report);
    Ok(())
}

fn plan<'p>(
    repo: &Repo,
    publisher: &'p Publisher,
    req: &PublishRequest,
    signers: usize,
) -> anyhow::Result<Planned<'p>> {
    let name = publisher.name();
    publisher
        .plan(repo, req, signers)
        .with_context(|| format!("publishing to {name}"))
}

/// Publishes `req` to `publisher`, signed with `keys`: plan, `pre-publish`
/// (unless `no_verify`), execute (with a progress bar on a terminal;
/// Ctrl-C stops it before any ref moves). The caller runs [`post_publish`]
/// after it (a failure there is not a failed publish). Also the last step
/// of a publishing `grove promote`.
pub fn publish(
    repo: &Repo,
    publisher: &Publisher,
    req: &PublishRequest,
    no_verify: bool,
    keys: &mut [SigningKey],
) -> anyhow::Result<PublishOutcome> {
    let planned = plan(repo, publisher, req, keys.len())?;
    if !no_verify {
        hook(repo, publisher, "pre-publish", planned.refs())?;
    }
    let live = crate::progress::Live::start("publish", false);
    let name = publisher.name();
    let outcome = planned
        .execute(repo, keys, live.control())
        .with_context(|| format!("publishing to {name}"))?;
    Ok(outcome)
}

/// Runs `post-publish` for what `outcome` published.
pub fn post_publish(
    repo: &Repo,
    publisher: &Publisher,
    outcome: &PublishOutcome,
) -> anyhow::Result<()> {
    hook(repo, publisher, "post-publish", &outcome.refs)
}

/// Runs `hook` with an `OLD NEW REF` line per target ref that moves, and
/// the target's name and URL in `GROVE_PUBLISH_TARGET` and `GROVE_PUBLISH_URL`.
fn hook(
    repo: &Repo,
    publisher: &Publisher,
    hook: &str,
    edits: &[TargetRefEdit],
) -> anyhow::Result<()> {
    let updates: Vec<RefUpdate> = edits
        .iter()
        .map(|e| RefUpdate {
            old: e.old,
            new: e.new,
            name: e.name.to_string(),
        })
        .collect();
    let url = publisher.url();
    let env = [
        ("GROVE_PUBLISH_TARGET", publisher.name()),
        ("GROVE_PUBLISH_URL", url.as_str()),
    ];
    hooks::run_with_env(repo, hook, &updates, &env)
}

fn render(report: &PublishReport) {
    let o = &report.outcome;
    let zero = "0".repeat(64);
    for e in &o.refs {
        let show = |c: Option<grove::Checksum>| c.map(|c| c.to_string()).unwrap_or(zero.clone());
        println!("{} {} {}", show(e.old), show(e.new), e.name);
    }
    let verb = if report.dry_run {
        "Would upload"
    } else {
        "Uploaded"
    };
    let (n, b) = o
        .uploaded
        .values()
        .fold((0, 0), |(n, b), k| (n + k.objects, b + k.bytes));
    let mut kinds: Vec<String> = o
        .uploaded
        .iter()
        .map(|(k, c)| format!("{} {k}", c.objects))
        .collect();
    if kinds.is_empty() {
        kinds.push("nothing".into());
    }
    println!(
        "{verb} to {}: {} ({n} files, {}); {} already there{}",
        o.target,
        kinds.join(", "),
        crate::format::size(b),
        o.already_present,
        if o.summary { "; summary updated" } else { "" }
    );
    if let Some(m) = o.missing {
        println!("Verify: {m} reachable objects were missing");
    }
    if let Some(p) = &o.prune {
        println!(
            "Prune: {} unreachable, {} deleted, {} within the grace period",
            p.unreachable,
            p.deleted.len(),
            p.waiting
        );
    }
}
