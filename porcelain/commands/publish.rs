//! `grove publish`: publish targets in the config (`add`, `list`, `delete`)
//! and `grove publish NAME [REF…]`, which uploads the repository to the
//! target in the order of `grove::lifecycle::publish` (docs/publishing.md).
//! Between plan and execute the `pre-publish` hook may veto (nothing is
//! uploaded); `post-publish` runs after the summary is out. Both get an
//! `OLD NEW REF` line per target ref that moves, and the target's name and
//! URL in `GROVE_PUBLISH_TARGET` and `GROVE_PUBLISH_URL`. [`Opened::publish`]
//! is also the last step of a publishing `grove promote`.
//!
//! Credentials come from the standard AWS chain, read here (the library
//! reads no environment): `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (`AWS_SESSION_TOKEN`), else the `AWS_PROFILE` (or `default`) section of
//! `AWS_SHARED_CREDENTIALS_FILE` (or `~/.aws/credentials`).

use std::time::Duration;

use anyhow::{bail, Context as _};
use grove::lifecycle::publish::{self, PublishOptions};
use grove::repo::refs::RefName;
use grove::repo::target::{self, Credentials};
use grove::transfer::store::Store;
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
            let mut kv = Vec::new();
            for s in &set {
                let Some((k, v)) = s.split_once('=') else {
                    bail!("--set '{s}': expected KEY=VALUE");
                };
                kv.push((k.to_string(), v.to_string()));
            }
            target::add(&mut repo, &name, &url, &kv)?;
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

/// The standard AWS chain: environment, then the shared credentials file.
fn credentials() -> anyhow::Result<Option<Credentials>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        }));
    }
    let path = match env("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => match env("HOME") {
            Some(h) => std::path::Path::new(&h).join(".aws/credentials"),
            None => return Ok(None),
        },
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let (mut id, mut secret, mut token) = (None, None, None);
    let mut in_profile = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(g) = l.strip_prefix('[').and_then(|g| g.strip_suffix(']')) {
            in_profile = g.trim() == profile;
        } else if in_profile {
            if let Some((k, v)) = l.split_once('=') {
                let v = Some(v.trim().to_string());
                match k.trim() {
                    "aws_access_key_id" => id = v,
                    "aws_secret_access_key" => secret = v,
                    "aws_session_token" => token = v,
                    _ => {}
                }
            }
        }
    }
    match (id, secret) {
        (Some(a), Some(s)) => Ok(Some(Credentials {
            access_key_id: a,
            secret_access_key: s,
            session_token: token,
        })),
        _ => Ok(None),
    }
}

fn publish_to(ctx: &Ctx, name: &str, args: &Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let config = grove::lifecycle::config::ReleaseConfig::read(&repo)?;
    let mut keys = args.sign.load_or_configured(&repo, &config)?;
    let refs = args
        .refs
        .iter()
        .map(|r| r.parse())
        .collect::<Result<Vec<_>, _>>()?;
    let target = Opened::open(&repo, name)?;
    let how = How {
        verify: args.verify,
        prune: args.prune,
        dry_run: args.dry_run,
        no_verify: false,
    };
    let outcome = target.publish(&repo, refs, &how, &mut keys)?;
    if !args.dry_run {
        target.post_publish(&repo, &outcome)?;
    }
    render(&outcome, args.json, args.dry_run)
}

/// How a publish runs: `grove publish`'s flags, or a promotion's.
#[derive(Debug, Default)]
pub struct How {
    pub verify: bool,
    pub prune: bool,
    /// Plan only: the preview, no hooks, nothing written.
    pub dry_run: bool,
    /// Skip `pre-publish`.
    pub no_verify: bool,
}

/// A publish target from the config, with its store opened (credentials
/// read): a bad name, URL or setting fails here, before anything is done.
pub struct Opened {
    name: String,
    target: target::Target,
    store: Store,
}

impl Opened {
    pub fn open(repo: &Repo, name: &str) -> anyhow::Result<Opened> {
        let target = target::find(repo, name)?;
        let creds = match target.url {
            target::TargetUrl::S3 { .. } => credentials()?,
            _ => None,
        };
        let store = Store::open(&target, creds.as_ref())?;
        Ok(Opened {
            name: name.to_string(),
            target,
            store,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the target's `refs=` patterns select `name`.
    pub fn publishes(&self, name: &RefName) -> bool {
        self.target.publishes(name)
    }

    /// Publishes `refs` (empty: the target's selection) signed with `keys`:
    /// plan, `pre-publish`, execute (with a progress bar on a terminal;
    /// Ctrl-C stops it before any ref moves). The caller runs [`Opened::post_publish`]
    /// after it (a failure there is not a failed publish).
    /// The hooks get an `OLD NEW REF` line per target ref that moves, and
    /// `GROVE_PUBLISH_TARGET` and `GROVE_PUBLISH_URL`.
    pub fn publish(
        &self,
        repo: &Repo,
        refs: Vec<RefName>,
        how: &How,
        keys: &mut [SigningKey],
    ) -> anyhow::Result<publish::PublishOutcome> {
        let name = &self.name;
        let delay = self.target.summary_delay.unwrap_or(if keys.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        });
        let opts = PublishOptions {
            refs,
            verify: how.verify,
            prune: how.prune,
            summary_delay: delay,
            now: chrono::Utc::now().timestamp().max(0) as u64,
        };
        let plan = publish::plan(repo, &self.store, &self.target, &opts, keys.len())
            .with_context(|| format!("publishing to {name}"))?;
        if how.dry_run {
            return Ok(plan.preview(&self.store));
        }
        if !how.no_verify {
            self.hook(repo, "pre-publish", &plan.refs)?;
        }
        let live = crate::progress::Live::start("publish", false);
        let outcome = publish::execute(
            repo,
            &self.store,
            &self.target,
            plan,
            &opts,
            keys,
            live.control(),
        )
        .with_context(|| format!("publishing to {name}"))?;
        Ok(outcome)
    }

    /// Runs `post-publish` for what `outcome` published.
    pub fn post_publish(
        &self,
        repo: &Repo,
        outcome: &publish::PublishOutcome,
    ) -> anyhow::Result<()> {
        self.hook(repo, "post-publish", &outcome.refs)
    }

    fn hook(
        &self,
        repo: &Repo,
        hook: &str,
        edits: &[publish::TargetRefEdit],
    ) -> anyhow::Result<()> {
        let updates: Vec<RefUpdate> = edits
            .iter()
            .map(|e| RefUpdate {
                old: e.old,
                new: e.new,
                name: e.name.to_string(),
            })
            .collect();
        let url = self.target.url.to_string();
        let env = [
            ("GROVE_PUBLISH_TARGET", self.name.as_str()),
            ("GROVE_PUBLISH_URL", url.as_str()),
        ];
        hooks::run_with_env(repo, hook, &updates, &env)
    }
}

fn render(o: &publish::PublishOutcome, json: bool, dry_run: bool) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(o)?;
        v["dry_run"] = serde_json::Value::Bool(dry_run);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let zero = "0".repeat(64);
    for e in &o.refs {
        let show = |c: Option<grove::Checksum>| c.map(|c| c.to_string()).unwrap_or(zero.clone());
        println!("{} {} {}", show(e.old), show(e.new), e.name);
    }
    let verb = if dry_run { "Would upload" } else { "Uploaded" };
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
    Ok(())
}
