//! `grove sign`: sign ref tips or given commits (and, with `--summary`, the
//! summary) with the repository's configured key — the `[grove]` release
//! config, `grove::lifecycle::config::ReleaseConfig` — or the keys given.
//! A commit a key has signed already is left as it is
//! (`grove::trust::gpg::sign_if_unsigned`).

use anyhow::{bail, Context as _};
use grove::lifecycle::config::{ReleaseConfig, GROUP};
use grove::Checksum;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::keys::SignArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Refs or commits to sign (default: the tip of every ref)
    #[arg(value_name = "REF|COMMIT")]
    revs: Vec<String>,

    /// Also regenerate, sign and publish the summary
    #[arg(long)]
    summary: bool,

    /// Key to use instead of the configured one
    #[command(flatten)]
    sign: SignArgs,

    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

/// One signed commit, as `--json` reports it.
#[derive(Serialize)]
struct Signed {
    commit: Checksum,
    names: Vec<String>,
    signed_with: Vec<String>,
}

#[derive(Serialize)]
struct SummaryReport {
    signatures: usize,
}

#[derive(Serialize)]
struct Report {
    commits: Vec<Signed>,
    summary: Option<SummaryReport>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    let config = ReleaseConfig::read(&repo)?;
    let mut keys = args.sign.load_or_configured(&repo, &config)?;
    if keys.is_empty() {
        bail!("no signing key: set {GROUP}.sign-key=FILE or {GROUP}.gpg-key-id=ID in {}/config, or pass --sign-key/--gpg-sign", repo.path().display());
    }
    // Commits in the order given, each with the names it was given by; ref
    // tips when no rev is given.
    let mut commits: Vec<Signed> = Vec::new();
    let named: Vec<(Checksum, String)> = if args.revs.is_empty() {
        repo.list_refs()?
            .into_iter()
            .map(|(spec, c)| (c, spec.to_string()))
            .collect()
    } else {
        let resolve = |r: &String| Ok((repo.resolve_rev(r)?, r.clone()));
        args.revs
            .iter()
            .map(resolve)
            .collect::<anyhow::Result<_>>()?
    };
    for (c, name) in named {
        match commits.iter_mut().find(|s| s.commit == c) {
            Some(s) => s.names.push(name),
            None => commits.push(Signed {
                commit: c,
                names: vec![name],
                signed_with: Vec::new(),
            }),
        }
    }
    for s in &mut commits {
        s.signed_with = grove::trust::gpg::sign_if_unsigned(&repo, s.commit, &mut keys)
            .with_context(|| format!("signing commit {}", s.commit))?;
        if !args.json {
            let names = s.names.join(", ");
            match s.signed_with.as_slice() {
                [] => println!("{} ({names}): already signed", s.commit),
                used => println!("{} ({names}): signed with {}", s.commit, used.join(", ")),
            }
        }
    }
    let mut summary = None;
    if args.summary {
        let p = super::summary::publish(&mut repo, &config, &mut keys, Vec::new(), None)?;
        if !args.json {
            println!("summary: published with {} signature(s)", p.signatures);
        }
        summary = Some(SummaryReport {
            signatures: p.signatures,
        });
    }
    if args.json {
        let report = Report { commits, summary };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
