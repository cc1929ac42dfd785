//! `grove cat`: concatenate contents of files in a commit (upstream `ot-builtin-cat.c`).
//!
//! Symlinks are followed inside the commit's tree, never on the host.

use std::io::Write;

use grove::tree::path::{self, Node, TreeEntry};

use crate::ctx::{load_error, usage_error, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The commit to read from
    #[arg(value_name = "COMMIT")]
    commit: Option<String>,

    /// Files inside the commit (relative paths start at the root)
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let (Some(rev), false) = (args.commit, args.paths.is_empty()) else {
        return Err(usage_error(
            "cat",
            "A COMMIT and at least one PATH argument are required",
        ));
    };
    let repo = ctx.open_repo()?;
    let checksum = repo.resolve_rev(&rev)?;
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    let root = TreeEntry::root(&commit);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for p in &args.paths {
        let e = path::resolve_following(&repo, &root, p)?;
        let Node::File { checksum } = e.node else {
            anyhow::bail!("Can't open directory");
        };
        let mut obj = repo.open_content(checksum)?;
        std::io::copy(&mut obj.reader, &mut out)?;
    }
    out.flush()?;
    Ok(())
}
