//! `grove commit`: commit a new revision from directories, tarballs and refs.
//!
//! The flags and their mapping onto `grove::lifecycle::commit::CommitRequest`
//! are `flags`; here: plan (objects written, the ref untouched), the
//! `pre-commit` hook, execute (the ref moves), `post-commit`, and the
//! checksum (or `--table-output`'s statistics).

use grove::lifecycle::commit::{self, NewCommitError, Planned};
use grove::tree::commit::CommitError;

use crate::ctx::Ctx;
use crate::hooks::{self, RefUpdate};

mod flags;
pub use flags::Args;

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    let req = flags::request(&args)?;
    req.validate()?;
    if let Some(f) = &args.fsync {
        repo.set_disable_fsync(!crate::args::parse_bool(f)?);
    }
    // Keys first, before any object is written: a bad key changes nothing.
    let mut sign_keys = args.sign.load()?;
    let plan = match commit::plan(&repo, req, &mut sign_keys) {
        Ok(Planned::Commit(plan)) => plan,
        Ok(Planned::Unchanged(parent)) => {
            println!("{parent}");
            return Ok(());
        }
        Err(NewCommitError::Commit(e)) => {
            let (what, paths) = match &e {
                CommitError::UnmatchedStatoverride(p) => ("statoverride", &p[..]),
                CommitError::UnmatchedSkipList(p) => ("skip-list", &p[..]),
                _ => ("", &[][..]),
            };
            paths
                .iter()
                .for_each(|p| eprintln!("Unmatched {what} path: {p}"));
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    for (repo, s) in &plan.submodules {
        eprintln!(
            "warning: {}: submodule '{s}' committed as an empty directory",
            repo.display()
        );
    }
    let name = (plan.branch.as_ref()).map_or_else(|| "-".into(), |b| b.to_string());
    let updates = [RefUpdate {
        old: plan.old,
        new: Some(plan.commit),
        name,
    }];
    if !args.no_verify {
        // The commit object exists (the hook can inspect it); the ref has not moved.
        hooks::run(&repo, "pre-commit", &updates)?;
    }
    // Hooks may run grove on this repository, including commands that need
    // the exclusive lock: execute releases the shared lock the plan holds.
    let outcome = commit::execute(&repo, plan)?;
    hooks::run(&repo, "post-commit", &updates)?;
    outcome.consume_sources()?;
    let (checksum, stats) = (outcome.commit, &outcome.stats);
    if args.table_output {
        println!("Commit: {checksum}");
        println!("Content Total: {}", stats.content_total);
        println!("Content Written: {}", stats.files_written);
        println!("Content Cache Hits: {}", stats.devino_hits);
        println!("Content Bytes Written: {}", stats.bytes_written);
    } else {
        println!("{checksum}");
    }
    Ok(())
}
