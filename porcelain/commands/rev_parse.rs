//! `grove rev-parse`: output the target of a rev (upstream `ot-builtin-rev-parse.c`).

use std::io::Write;

use grove::ObjectType;

use crate::ctx::{usage_error, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// If the repository has exactly one commit, then print it; any other case will result in an error
    #[arg(short = 'S', long)]
    single: bool,

    /// Revisions to resolve: refs, full or partial checksums, `REV^`
    #[arg(value_name = "REV")]
    revs: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if args.single {
        if !args.revs.is_empty() {
            return Err(usage_error(
                "rev-parse",
                "Cannot specify arguments with --single",
            ));
        }
        let repo = ctx.open_repo()?;
        let commits = repo.list_objects(Some(ObjectType::Commit))?;
        match commits.as_slice() {
            [] => anyhow::bail!("No commit objects found"),
            [one] => println!("{}", one.checksum),
            _ => anyhow::bail!("Multiple commit objects found"),
        }
        return Ok(());
    }
    if args.revs.is_empty() {
        return Err(usage_error("rev-parse", "REV must be specified"));
    }
    let repo = ctx.open_repo()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for rev in &args.revs {
        let c = repo.resolve_rev(rev)?;
        writeln!(out, "{c}")?;
    }
    out.flush()?;
    Ok(())
}
