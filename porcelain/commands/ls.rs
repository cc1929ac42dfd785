//! `grove ls`: list file paths in a commit (upstream `ot-builtin-ls.c`).
//!
//! What is listed, in which order and with which stat is `grove::tree::list`;
//! the line format here: `<type>0<perm> <uid> <gid> <size:6> [checksums ][{ xattrs } ]<path>[ -> target]`.

use std::io::Write;

use grove::tree::list::{list, Kind, ListOptions, Listed};
use grove::tree::path::Node;

use crate::ctx::{load_error, usage_error, Ctx};
use grove::objects::text::xattrs_text;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not recurse into directory arguments
    #[arg(short = 'd', long = "dironly")]
    dironly: bool,

    /// Print directories recursively
    #[arg(short = 'R', long)]
    recursive: bool,

    /// Print checksum
    #[arg(short = 'C', long)]
    checksum: bool,

    /// Print extended attributes
    #[arg(short = 'X', long)]
    xattrs: bool,

    /// Print only filenames, NUL separated
    #[arg(long)]
    nul_filenames_only: bool,

    /// The commit to list
    #[arg(value_name = "COMMIT")]
    commit: Option<String>,

    /// Paths inside the commit (default `/`)
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
}

/// One `ls` line (or NUL-terminated name).
fn render(out: &mut dyn Write, args: &Args, l: Listed) -> anyhow::Result<()> {
    let e = &l.entry;
    let Some(i) = l.stat else {
        out.write_all(e.path.as_bytes())?;
        out.write_all(b"\0")?;
        return Ok(());
    };
    let type_char = match i.kind {
        Kind::Dir => 'd',
        Kind::Regular => '-',
        Kind::Symlink => 'l',
    };
    let mut line = format!(
        "{type_char}0{:04o} {} {} {:6} ",
        i.permissions, i.uid, i.gid, i.size
    );
    if args.checksum {
        match e.node {
            Node::Dir { tree, meta } => line.push_str(&format!("{tree} {meta} ")),
            Node::File { checksum } => line.push_str(&format!("{checksum} ")),
        }
    }
    if args.xattrs {
        line.push_str(&format!("{{ {} }} ", xattrs_text(&i.xattrs)));
    }
    line.push_str(&e.path);
    if let Some(t) = i.target {
        line.push_str(" -> ");
        line.push_str(&t);
    }
    line.push('\n');
    out.write_all(line.as_bytes())?;
    Ok(())
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(rev) = args.commit.clone() else {
        return Err(usage_error("ls", "An COMMIT argument is required"));
    };
    let repo = ctx.open_repo()?;
    let checksum = repo.resolve_rev(&rev)?;
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    let opts = ListOptions {
        dironly: args.dironly,
        recursive: args.recursive,
        stat: !args.nul_filenames_only,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    list(&repo, &commit, &args.paths, opts, &mut |l| {
        render(&mut out, &args, l)
    })?;
    out.flush()?;
    Ok(())
}
