//! `grove promote`: move a tested tree to the next stage, as a new commit.
//!
//! Inside one repository, `grove promote SRC DEST-REF` writes a commit on
//! DEST-REF whose tree is exactly SRC's (the `ostree commit --tree=ref=`
//! step of the seed's "buildmain → smoketested" workflow). Between
//! repositories, run in the prod repository,
//! `grove promote --from=DEV-REPO:REF --to=PROD-REF` pulls the dev commit by
//! checksum (no dev branch name reaches prod), commits it on the prod branch,
//! and publishes: static deltas from the last `[grove] delta-depth` prod
//! commits and a regenerated, signed summary. All or nothing: deltas are
//! made before the ref moves, and a summary that cannot be published puts
//! the ref back.
//!
//! Every new commit records `version` (from `--version` or the source commit)
//! and `grove.promotion-of` (the source commit checksum), the source commit's
//! provenance keys (`grove.source.*`, `grove.source-config`), plus ostree's ref
//! binding for DEST-REF. `--notes` appends release notes to the body: per git
//! source, the commits since the revision DEST-REF's commit recorded. It is signed with the configured key before the ref
//! moves; the ref moves compare-and-swap, after the `pre-promote` hook agreed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use grove::delta::{DeltaName, GenerateOptions};
use grove::lifecycle::provenance::Provenance;
use grove::repo::refs::Refspec;
use grove::repo::LockKind;
use grove::transfer::pull_local::{PullItem, PullOptions};
use grove::tree::commit::{add_bindings, write_commit, CommitSpec};
use grove::{Checksum, Metadata, Repo};

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

/// Commit metadata key naming the commit a promotion copied.
pub const PROMOTION_OF: &str = "grove.promotion-of";

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
    /// Inside one repository: also generate deltas and publish the summary (always done with --from)
    #[arg(long)]
    publish: bool,
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

/// Splits `DEV-REPO:REF` at the first `:` whose left side is a repository
/// (so refs with a `remote:` prefix work), else at the first `:`.
fn split_from(s: &str) -> anyhow::Result<(PathBuf, String)> {
    let cuts: Vec<usize> = s.match_indices(':').map(|(i, _)| i).collect();
    for &i in &cuts {
        let p = Path::new(&s[..i]);
        if p.join("objects").is_dir() && p.join("config").is_file() {
            return Ok((p.to_path_buf(), s[i + 1..].to_string()));
        }
    }
    match cuts.first() {
        Some(&i) if i > 0 && i + 1 < s.len() => {
            Ok((PathBuf::from(&s[..i]), s[i + 1..].to_string()))
        }
        _ => bail!("--from={s}: expected DEV-REPO:REF"),
    }
}

fn parse_expect(repo: &Repo, rev: &str) -> anyhow::Result<Option<Checksum>> {
    if rev == "none" || (rev.len() == 64 && rev.bytes().all(|b| b == b'0')) {
        return Ok(None);
    }
    Ok(Some(repo.resolve_rev(rev)?))
}

fn short(c: Checksum) -> String {
    c.to_string()[..10].to_string()
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let (dest_arg, from) = match (&args.src, &args.dest, &args.from, &args.to) {
        (Some(_), Some(d), None, None) => (d.clone(), None),
        (None, None, Some(f), Some(t)) => (t.clone(), Some(split_from(f)?)),
        _ => bail!("usage: grove promote SRC-REF DEST-REF, or grove promote --from=DEV-REPO:REF --to=PROD-REF"),
    };
    let mut repo = ctx.open_repo()?;
    let dest: Refspec = dest_arg.parse()?;
    // Keys first: a bad key changes nothing.
    let config = grove::lifecycle::config::ReleaseConfig::read(&repo)?;
    let mut keys = crate::keys::configured_keys(&repo, &config)?;
    let publish = args.publish || from.is_some();
    let delta_depth = if publish { config.delta_depth } else { 0 };
    let lock = repo.lock(LockKind::Shared)?;

    // The source commit, in this repository.
    let dev = match &from {
        Some((path, _)) => Some(
            Repo::open(path).with_context(|| format!("opening source repo {}", path.display()))?,
        ),
        None => None,
    };
    let source = match (&from, &dev) {
        (Some((path, rev)), Some(dev)) => {
            let c = dev.resolve_rev(rev)?;
            let _dev_lock = dev.lock(LockKind::Shared)?;
            let opts = PullOptions {
                depth: 0,
                untrusted: false,
                remote: None,
                ..Default::default()
            };
            let what = || format!("pulling {c} from {}", path.display());
            let plan = grove::transfer::pull_local::plan(dev, &repo, &[PullItem::Commit(c)], &opts)
                .with_context(what)?;
            grove::transfer::pull_local::execute(dev, &repo, &plan, &opts, &|_| {})
                .with_context(what)?;
            c
        }
        _ => repo.resolve_rev(args.src.as_deref().expect("one-repository mode has SRC"))?,
    };
    let src_commit = repo.load_commit(source)?;

    let tip = repo.read_ref(&dest)?;
    if let Some(exp) = &args.expect {
        let want = parse_expect(&repo, exp)?;
        if tip != want {
            let show =
                |c: Option<Checksum>| c.map(|c| c.to_string()).unwrap_or_else(|| "(none)".into());
            bail!(
                "{dest} is at {}, not at the expected {}",
                show(tip),
                show(want)
            );
        }
    }
    if let Some(t) = tip {
        let tc = repo
            .load_commit(t)
            .with_context(|| format!("loading {dest} ({t})"))?;
        if (tc.root_contents, tc.root_meta) == (src_commit.root_contents, src_commit.root_meta) {
            eprintln!(
                "nothing to promote: {dest} ({}) already has the tree of {}",
                short(t),
                short(source)
            );
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"ref": dest.to_string(), "commit": t.to_string(), "source": source.to_string(), "promoted": false})
                );
            } else {
                println!("{t}");
            }
            return Ok(());
        }
        if !args.force {
            // What DEST-REF holds: the commit it was promoted from, else its own commit.
            let (what, baseline) = match tc
                .metadata
                .get_str(PROMOTION_OF)
                .and_then(|s| s.parse::<Checksum>().ok())
            {
                Some(pf) => {
                    let found = repo
                        .load_commit(pf)
                        .ok()
                        .or_else(|| dev.as_ref().and_then(|d| d.load_commit(pf).ok()));
                    (
                        format!("{} (promoted to {dest} as {})", short(pf), short(t)),
                        found.map(|c| c.timestamp),
                    )
                }
                None => (format!("{} ({dest})", short(t)), Some(tc.timestamp)),
            };
            if let Some(b) = baseline.filter(|b| src_commit.timestamp < *b) {
                bail!(
                    "refusing a non-fast-forward promotion: {} is older than {what} ({} < {b}); use --force",
                    short(source),
                    src_commit.timestamp
                );
            }
        }
    }

    let version = args
        .version
        .clone()
        .or_else(|| src_commit.metadata.get_str("version"));
    let mut metadata = Metadata::new();
    if let Some(v) = &version {
        metadata.insert_str("version", v);
    }
    metadata.insert_str(PROMOTION_OF, &source.to_string());
    // The build's provenance travels with its tree.
    Provenance::copy_keys(&src_commit.metadata, &mut metadata);
    let notes = if args.notes {
        let mut repos = HashMap::new();
        for r in &args.source_repos {
            let (name, path) = r
                .split_once('=')
                .with_context(|| format!("--source-repo={r}: expected NAME=PATH"))?;
            repos.insert(name.to_string(), PathBuf::from(path));
        }
        let previous = match tip {
            Some(t) => Some(Provenance::from_metadata(&repo.load_commit(t)?.metadata)),
            None => None,
        };
        grove::tree::git::release_notes(
            previous.as_ref(),
            &Provenance::from_metadata(&src_commit.metadata),
            &repos,
        )?
    } else {
        Vec::new()
    };
    add_bindings(&repo, &mut metadata, &[dest.name.to_string()]);
    let timestamp = match &args.timestamp {
        Some(t) => u64::try_from(grove::lifecycle::date::parse_date(t)?)
            .context("timestamp before 1970")?,
        None => chrono::Utc::now().timestamp().max(0) as u64,
    };
    let mut body = match &args.body_file {
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        None => args.body.clone().unwrap_or_else(|| {
            if args.subject.is_some() {
                String::new()
            } else {
                src_commit.body.clone()
            }
        }),
    };
    let notes_text = grove::lifecycle::provenance::notes_text(&notes);
    if !notes_text.is_empty() {
        if !body.is_empty() {
            body = format!("{}\n\n", body.trim_end());
        }
        body.push_str(&notes_text);
    }
    let spec = CommitSpec {
        subject: args
            .subject
            .clone()
            .unwrap_or_else(|| src_commit.subject.clone()),
        body,
        parent: tip,
        timestamp,
        metadata,
        detached: None,
        generate_sizes: false,
    };
    let new = write_commit(
        &repo,
        (src_commit.root_contents, src_commit.root_meta),
        &spec,
    )?;
    let mut signed_with = Vec::new();
    if !keys.is_empty() {
        signed_with = grove::trust::gpg::sign_if_unsigned(&repo, new, &mut keys)
            .with_context(|| format!("signing commit {new}"))?;
    }
    let updates = [RefUpdate {
        old: tip,
        new: Some(new),
        name: dest.to_string(),
    }];
    if !args.no_verify {
        hooks::run(&repo, "pre-promote", &updates)?;
    }
    // Deltas to the new commit exist before anything points at it; a
    // failure here leaves only an unreferenced commit that prune removes.
    let mut deltas = Vec::new();
    if publish {
        let mut cur = tip;
        for _ in 0..delta_depth {
            let Some(from_c) = cur else { break };
            let Ok(fc) = repo.load_commit(from_c) else {
                break;
            };
            let name = DeltaName::new(Some(from_c), new);
            if !repo.path().join(name.superblock_path()).exists() {
                grove::delta::generate(&repo, &GenerateOptions::new(Some(from_c), new))
                    .with_context(|| {
                        format!("generating the static delta {name}; {dest} was not moved")
                    })?;
            }
            deltas.push(name.to_string());
            cur = fc.parent;
        }
    }
    repo.sync()?;
    repo.set_ref(&dest, Some(new), Some(tip))
        .with_context(|| format!("updating ref {dest}"))?;
    drop(lock);

    // The summary names the new commit only once the ref holds it; if it
    // cannot be published, the ref goes back: all or nothing.
    let mut summary_sigs = None;
    if publish {
        let opts = grove::objects::summary::UpdateOptions {
            build: grove::objects::summary::BuildOptions {
                additional: Vec::new(),
                now: chrono::Utc::now().timestamp().max(0) as u64,
            },
            grace: config.publish_grace(None, !keys.is_empty()),
        };
        match grove::objects::summary::update(&mut repo, &opts, &mut keys)
            .context("updating summary")
        {
            Ok(p) => summary_sigs = Some(p.signatures),
            Err(e) => {
                let undo = repo.set_ref(&dest, tip, Some(Some(new)));
                return Err(match undo {
                    Ok(()) => e.context(format!(
                        "publishing the summary failed; {dest} was put back to {}",
                        tip.map(|t| t.to_string())
                            .unwrap_or_else(|| "(none)".into())
                    )),
                    Err(u) => e.context(format!(
                        "publishing the summary failed, and {dest} could not be put back ({u})"
                    )),
                });
            }
        }
        hooks::run(&repo, "post-summary", &[])?;
    }
    eprintln!(
        "promoted {} to {dest}: {new}{}",
        short(source),
        version
            .as_ref()
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default()
    );
    hooks::run(&repo, "post-promote", &updates)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ref": dest.to_string(),
                "old": tip.map(|c| c.to_string()),
                "commit": new.to_string(),
                "source": source.to_string(),
                "version": version,
                "promoted": true,
                "signed_with": signed_with,
                "deltas": deltas,
                "summary_signatures": summary_sigs,
                "notes": notes,
            }))?
        );
    } else {
        println!("{new}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_splits_at_first_colon_without_a_repo() {
        let (p, r) = split_from("/srv/dev:exampleos/x86_64/stage-3-pass/standard").unwrap();
        assert_eq!(p, PathBuf::from("/srv/dev"));
        assert_eq!(r, "exampleos/x86_64/stage-3-pass/standard");
        assert!(split_from("nocolon").is_err());
        assert!(split_from(":ref").is_err());
    }

    #[test]
    fn from_prefers_an_existing_repo_path() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("a:b");
        std::fs::create_dir_all(repo.join("objects")).unwrap();
        std::fs::write(repo.join("config"), "").unwrap();
        let (p, r) = split_from(&format!("{}:origin:main", repo.display())).unwrap();
        assert_eq!(p, repo);
        assert_eq!(r, "origin:main");
    }
}
