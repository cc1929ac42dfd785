//! `grove publish`: publish targets in the config (`add`, `list`, `delete`)
//! and `grove publish NAME [REF…]`, which uploads the repository to the
//! target in the order of `grove::lifecycle::publish` (docs/publishing.md).
//! Between plan and execute the `pre-publish` hook may veto (nothing is
//! uploaded); `post-publish` runs after the summary is out. Both get an
//! `OLD NEW REF` line per target ref that moves, and the target's name and
//! URL in `GROVE_PUBLISH_TARGET` and `GROVE_PUBLISH_URL`. [`publish`] is
//! also the last step of a publishing `grove promote`.
//!
//! Credentials come from the standard AWS chain, whose variables are read
//! from the environment here (the library reads none) and mean what
//! `grove::repo::target::CredentialChain::from_vars` says. The target
//! subcommands are `target`; the human output is `render`.

use anyhow::{bail, Context as _};
use grove::lifecycle::publish::{
    Planned, PublishOutcome, PublishReport, PublishRequest, Publisher, TargetRefEdit,
};
use grove::repo::target::CredentialChain;
use grove::trust::gpg::SigningKey;
use grove::Repo;

use super::gpg_sign::SignArgs;
use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

mod render;
mod target;

#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_precedence_over_arg = true
)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<target::Cmd>,

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

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if let Some(cmd) = args.cmd {
        return target::run(ctx, cmd);
    }
    let Some(name) = args.name.clone() else {
        bail!("which target? grove publish NAME [REF…] (targets: grove publish list)");
    };
    publish_to(ctx, &name, &args)
}

/// Publish target `name`, opened with the credentials of the environment.
pub fn open(repo: &Repo, name: &str) -> anyhow::Result<Publisher> {
    // The environment is read here: the library reads none.
    let chain = CredentialChain::from_vars(|k| std::env::var(k).ok());
    Ok(Publisher::open(repo, name, &chain)?)
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
    render::render(&report);
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
    let updates = RefUpdate::target_edits(edits);
    let url = publisher.url();
    let env = [
        ("GROVE_PUBLISH_TARGET", publisher.name()),
        ("GROVE_PUBLISH_URL", url.as_str()),
    ];
    hooks::run_with_env(repo, hook, &updates, &env)
}
