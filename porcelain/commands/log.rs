//! `grove log`: show log starting at commit or ref (upstream
//! `ot-builtin-log.c`). The walk is `Repo::history`; what is shown of each
//! commit is `grove::lifecycle::log::CommitInfo` (`--json` serialises it),
//! rendered as `ot-dump.c`'s `dump_commit` prints it
//! (`crate::format::commit_text`, shared with `show`); `--raw` is the
//! commit's GVariant text (`grove::objects::text`).

use std::io::Write;

use grove::lifecycle::log::CommitInfo;

use crate::ctx::{load_error, usage_error, Ctx};
use crate::format::commit_text;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show raw variant data
    #[arg(long)]
    raw: bool,

    /// Print the history as a JSON array of commit objects
    #[arg(long, conflicts_with = "raw")]
    json: bool,

    /// The commit or ref to start at
    #[arg(value_name = "REV")]
    rev: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(rev) = args.rev else {
        return Err(usage_error("log", "A rev argument is required"));
    };
    let repo = ctx.open_repo()?;
    let start = repo.resolve_rev(&rev)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut json = Vec::new();
    let mut history = repo.history(start);
    for item in &mut history {
        let (checksum, commit) = item.map_err(load_error)?;
        if args.json {
            json.push(CommitInfo::new(checksum, &commit));
        } else if args.raw {
            writeln!(out, "commit {checksum}")?;
            writeln!(out, "{}", grove::objects::text::commit_text(&commit))?;
        } else {
            writeln!(out, "commit {checksum}")?;
            out.write_all(commit_text(&CommitInfo::new(checksum, &commit)).as_bytes())?;
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &json)?;
        writeln!(out)?;
    } else if history.truncated_at().is_some() {
        writeln!(out, "<< History beyond this commit not fetched >>")?;
    }
    out.flush()?;
    Ok(())
}
