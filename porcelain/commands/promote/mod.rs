//! `grove promote`: move a tested tree to the next stage, as a new commit.
//!
//! `grove promote SRC DEST-REF` inside one repository, or, run in the prod
//! repository, `grove promote --from=DEV-REPO:REF --to=PROD-REF` (pulls the
//! dev commit by checksum, then publishes: deltas and the signed summary).
//! The rules and their order are the library's
//! (`grove::lifecycle::promote`: plan, then execute); this command parses,
//! plans, runs the `pre-promote` hook on the planned ref move, executes,
//! runs `post-summary` and `post-promote`, and prints the new commit (or,
//! with `--json`, the `PromoteOutcome`). Like `commit`, it takes the
//! timestamp from `--timestamp`, else `SOURCE_DATE_EPOCH`, else the clock.
//!
//! A publishing promotion with a publish target (`--publish=TARGET`, else
//! `[grove] publish=`) ends by publishing DEST to it (`grove publish TARGET
//! DEST`, with its hooks; `--json` adds its outcome as `published`); a
//! target that cannot take DEST is refused before anything is done
//! (module `publish`).

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use grove::lifecycle::config::ReleaseConfig;
use grove::lifecycle::promote::{
    self, Expect, Planned, PromoteOptions, PromoteReport, PromoteSource,
};
use grove::repo::refs::Refspec;

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

mod publish;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Source ref or commit (promotion inside one repository)
    #[arg(value_name = "SRC-REF", conflicts_with = "from")]
    src: Option<String>,
    /// Destination ref (promotion inside one repository)
    #[arg(value_name = "DEST-REF", conflicts_with = "to")]
    dest: Option<String>,
    /// Source repository and ref or commit, DEV-REPO:REF (promotion between repositories)
    #[arg(long, value_name = "DEV-REPO:REF", requires = "to")]
    from: Option<String>,
    /// Destination ref in this repository (with --from)
    #[arg(long, value_name = "PROD-REF", requires = "from")]
    to: Option<String>,
    /// Version metadata of the new commit (default: the source commit's `version`)
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,
    /// One line subject (default: the source commit's)
    #[arg(short = 's', long)]
    subject: Option<String>,
    /// Full description (default: the source commit's)
    #[arg(short = 'm', long)]
    body: Option<String>,
    /// Commit message read from a file
    #[arg(
        short = 'F',
        long = "body-file",
        value_name = "FILE",
        conflicts_with = "body"
    )]
    body_file: Option<PathBuf>,
    /// Refuse unless DEST-REF is at REV now ("none": DEST-REF must not exist)
    #[arg(long, value_name = "REV")]
    expect: Option<String>,
    /// Promote even a source older than what DEST-REF holds
    #[arg(long)]
    force: bool,
    /// Skip the pre-promote hook
    #[arg(long)]
    no_verify: bool,
    /// Also generate deltas and publish the summary (always done with --from); with =TARGET, then publish DEST-REF to that publish target (default: [grove] publish)
    #[arg(long, value_name = "TARGET", num_args = 0..=1, require_equals = true)]
    publish: Option<Option<String>>,
    /// Override the timestamp of the new commit (GNU date syntax)
    #[arg(long)]
    timestamp: Option<String>,
    /// Append release notes to the body: per git source, the source commits since DEST-REF's recorded revision
    #[arg(long)]
    notes: bool,
    /// Local clone of source NAME to read release notes from (repeatable)
    #[arg(long = "source-repo", value_name = "NAME=PATH", requires = "notes")]
    source_repos: Vec<String>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let (dest, source) = match (&args.src, &args.dest, &args.from, &args.to) {
        (Some(s), Some(d), None, None) => (d, PromoteSource::Local(s.clone())),
        (None, None, Some(f), Some(t)) => (t, PromoteSource::parse_from(f)?),
        _ => bail!("usage: grove promote SRC-REF DEST-REF, or grove promote --from=DEV-REPO:REF --to=PROD-REF"),
    };
    let repo = ctx.open_repo()?;
    let config = ReleaseConfig::read(&repo)?;
    // Keys first: a bad key changes nothing.
    let mut keys = crate::keys::configured_keys(&repo, &config)?;
    let dest: Refspec = dest.parse()?;
    let timestamp = crate::args::timestamp(args.timestamp.as_deref())?;
    let timestamp = u64::try_from(timestamp).context("timestamp before 1970")?;
    let mut opts = PromoteOptions::new(source, dest.clone(), timestamp, &config);
    opts.publish |= args.publish.is_some();
    let target = match opts.publish_target(args.publish.flatten(), &config) {
        Some(name) => Some(publish::target(&repo, &name, &dest)?),
        None => None,
    };
    opts.version = args.version;
    opts.subject = args.subject;
    opts.body = crate::args::body(args.body, args.body_file.as_deref())?;
    opts.expect = args.expect.map(|e| Expect::parse(&repo, &e)).transpose()?;
    opts.force = args.force;
    if args.notes {
        opts.notes = Some(grove::lifecycle::provenance::source_clones(
            &args.source_repos,
        )?);
    }
    let outcome = match promote::plan(&repo, &opts, &mut keys)? {
        Planned::UpToDate(o) => {
            eprintln!(
                "nothing to promote: {} ({}) already has the tree of {} and nothing new to record",
                o.dest,
                o.commit.short(),
                o.source.short()
            );
            o
        }
        Planned::Promote(plan) => {
            let edit = plan.ref_edit();
            let updates = [RefUpdate {
                old: edit.expected,
                new: edit.new,
                name: edit.spec.to_string(),
            }];
            if !args.no_verify {
                hooks::run(&repo, "pre-promote", &updates)?;
            }
            let o = promote::execute(&repo, plan, &mut keys)?;
            if o.summary_signatures.is_some() {
                hooks::run(&repo, "post-summary", &[])?;
            }
            let version = o.version.as_ref();
            let version = version
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default();
            eprintln!(
                "promoted {} to {}: {}{version}",
                o.source.short(),
                o.dest,
                o.commit
            );
            hooks::run(&repo, "post-promote", &updates)?;
            o
        }
    };
    let published = match &target {
        Some(t) => Some(publish::publish_dest(
            &repo,
            t,
            &outcome,
            &mut keys,
            args.no_verify,
        )?),
        None => None,
    };
    if args.json {
        crate::format::print_json(&PromoteReport { outcome, published })
    } else {
        println!("{}", outcome.commit);
        Ok(())
    }
}
