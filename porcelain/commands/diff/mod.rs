//! `grove diff`: compare two commits, or a commit and a directory.
//!
//! `grove diff [--stats] [--fs-diff] REV_OR_DIR [REV_OR_DIR]`, as `ostree diff`:
//! `M`, then `D`, then `A` lines; one argument X compares `X^` with X; an
//! argument starting with `/` or `./` is a directory.
//!
//! `grove diff --source A B` compares the commits' recorded git sources
//! instead (`docs/provenance.md`; module `source`).

use std::io::Write;

use anyhow::Context as _;
use grove::tree::diff::{compared, diff, diff_stats, DiffOptions, Side};

use crate::ctx::Ctx;

mod source;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print various statistics
    #[arg(long)]
    stats: bool,
    /// Print filesystem diff
    #[arg(long)]
    fs_diff: bool,
    /// Skip output of extended attributes
    #[arg(long)]
    no_xattrs: bool,
    /// Use file ownership user id for local files
    #[arg(long, value_name = "UID", allow_negative_numbers = true, default_value_t = -1)]
    owner_uid: i64,
    /// Use file ownership group id for local files
    #[arg(long, value_name = "GID", allow_negative_numbers = true, default_value_t = -1)]
    owner_gid: i64,
    /// List how the commits' git sources (provenance) differ instead of their files
    #[arg(long)]
    source: bool,
    /// Local clone of source NAME, to list the source commits between the two revisions (repeatable)
    #[arg(long = "source-repo", value_name = "NAME=PATH", requires = "source")]
    source_repos: Vec<String>,
    /// Revisions or directories to compare (one: compare REV^ with REV)
    #[arg(value_name = "REV_OR_DIR")]
    args: Vec<String>,
}

fn owner(v: i64, what: &str) -> anyhow::Result<Option<u32>> {
    if v < 0 {
        return Ok(None);
    }
    u32::try_from(v)
        .map(Some)
        .with_context(|| format!("{what} out of range: {v}"))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let Some((src, target)) = compared(&args.args) else {
        anyhow::bail!("REV must be specified");
    };
    let mut out = std::io::stdout().lock();
    if args.source {
        return source::source_diff(&repo, &src, &target, &args.source_repos, &mut out);
    }
    let fs_diff = args.fs_diff || !args.stats;
    if fs_diff {
        let a = Side::from_arg(&repo, &src)?;
        let b = Side::from_arg(&repo, &target)?;
        let opts = DiffOptions {
            ignore_xattrs: args.no_xattrs,
            owner_uid: owner(args.owner_uid, "--owner-uid")?,
            owner_gid: owner(args.owner_gid, "--owner-gid")?,
        };
        let d = diff(&repo, &a, &b, &opts)?;
        for p in &d.modified {
            writeln!(out, "M    {p}")?;
        }
        for p in &d.removed {
            writeln!(out, "D    {p}")?;
        }
        for p in &d.added {
            writeln!(out, "A    {p}")?;
        }
    }
    if args.stats {
        let a = repo.resolve_rev(&src)?;
        let b = repo.resolve_rev(&target)?;
        let s = diff_stats(&repo, a, b)?;
        writeln!(out, "[A] Object Count: {}", s.a_objects)?;
        writeln!(out, "[B] Object Count: {}", s.b_objects)?;
        writeln!(out, "Common Object Count: {}", s.common_objects)?;
        writeln!(
            out,
            "Common Object Size: {}",
            crate::format::size(s.common_size)
        )?;
    }
    out.flush()?;
    Ok(())
}
