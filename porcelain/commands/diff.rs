//! `grove diff`: compare two commits, or a commit and a directory.
//!
//! `grove diff [--stats] [--fs-diff] REV_OR_DIR [REV_OR_DIR]`, as `ostree diff`:
//! `M`, then `D`, then `A` lines; one argument X compares `X^` with X; an
//! argument starting with `/` or `./` is a directory.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use grove::diff::{diff, diff_stats, is_dir_arg, DiffOptions, Side};
use grove::Repo;

use crate::ctx::Ctx;

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
    /// Revisions or directories to compare (one: compare REV^ with REV)
    #[arg(value_name = "REV_OR_DIR")]
    args: Vec<String>,
}

fn side(repo: &Repo, arg: &str) -> anyhow::Result<Side> {
    if is_dir_arg(arg) {
        return Ok(Side::Dir(PathBuf::from(arg)));
    }
    Ok(Side::Commit(repo.resolve_rev(arg)?))
}

fn owner(v: i64, what: &str) -> anyhow::Result<Option<u32>> {
    if v < 0 {
        return Ok(None);
    }
    u32::try_from(v).map(Some).with_context(|| format!("{what} out of range: {v}"))
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let (src, target) = match args.args.as_slice() {
        [] => anyhow::bail!("REV must be specified"),
        [x] => (format!("{x}^"), x.clone()),
        [a, b, ..] => (a.clone(), b.clone()),
    };
    let fs_diff = args.fs_diff || !args.stats;
    let mut out = std::io::stdout().lock();
    if fs_diff {
        let a = side(&repo, &src)?;
        let b = side(&repo, &target)?;
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
        writeln!(out, "Common Object Size: {}", crate::format::size(s.common_size))?;
    }
    out.flush()?;
    Ok(())
}
