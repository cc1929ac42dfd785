//! `grove ls`: list file paths in a commit (upstream `ot-builtin-ls.c`).
//!
//! Line format: `<type>0<perm> <uid> <gid> <size:6> [checksums ][{ xattrs } ]<path>[ -> target]`;
//! a directory lists its files (sorted) then its subdirectories (sorted).

use std::io::Write;

use anyhow::Context as _;
use grove::objects::file_header::{S_IFMT, S_IFREG};
use grove::objects::Xattrs;
use grove::tree::path::{self, Node, TreeEntry};
use grove::Repo;

use super::log::{load_error, usage_error};
use crate::ctx::Ctx;
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

struct Lister<'a, W: Write> {
    repo: &'a Repo,
    args: &'a Args,
    out: W,
}

/// What `ls` shows about one entry.
struct Info {
    type_char: char,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    xattrs: Xattrs,
    target: Option<String>,
}

impl<W: Write> Lister<'_, W> {
    fn info(&self, e: &TreeEntry) -> anyhow::Result<Info> {
        Ok(match e.node {
            Node::Dir { meta, .. } => {
                let m = self.repo.load_dirmeta(meta).map_err(load_error)?;
                Info {
                    type_char: 'd',
                    mode: m.mode,
                    uid: m.uid,
                    gid: m.gid,
                    size: 0,
                    xattrs: m.xattrs,
                    target: None,
                }
            }
            Node::File { checksum } => {
                let obj = match self.repo.open_content(checksum) {
                    Ok(o) => o,
                    // A partial commit (pull --subpath) lacks content: ostree's words.
                    Err(grove::repo::RepoError::ObjectMissing(_)) => {
                        anyhow::bail!("Couldn't find file object '{checksum}'")
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("Opening content object {checksum}"))
                    }
                };
                let h = obj.header;
                let regular = h.mode & S_IFMT == S_IFREG;
                Info {
                    type_char: if regular { '-' } else { 'l' },
                    mode: h.mode,
                    uid: h.uid,
                    gid: h.gid,
                    size: if regular { obj.size } else { 0 },
                    xattrs: h.xattrs,
                    target: (!regular).then_some(h.symlink_target),
                }
            }
        })
    }

    fn print_one(&mut self, e: &TreeEntry) -> anyhow::Result<()> {
        if self.args.nul_filenames_only {
            self.out.write_all(e.path.as_bytes())?;
            self.out.write_all(b"\0")?;
            return Ok(());
        }
        let i = self.info(e)?;
        let mut line = format!(
            "{}0{:04o} {} {} {:6} ",
            i.type_char,
            i.mode & !S_IFMT,
            i.uid,
            i.gid,
            i.size
        );
        if self.args.checksum {
            match e.node {
                Node::Dir { tree, meta } => line.push_str(&format!("{tree} {meta} ")),
                Node::File { checksum } => line.push_str(&format!("{checksum} ")),
            }
        }
        if self.args.xattrs {
            line.push_str(&format!("{{ {} }} ", xattrs_text(&i.xattrs)));
        }
        line.push_str(&e.path);
        if let Some(t) = i.target {
            line.push_str(" -> ");
            line.push_str(&t);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        Ok(())
    }

    /// Prints a directory's entries: files then subdirectories, recursing while `depth` allows.
    fn print_dir(&mut self, dir: &TreeEntry, recursive: bool) -> anyhow::Result<()> {
        let Node::Dir { tree, .. } = dir.node else {
            return Ok(());
        };
        let t = self.repo.load_dirtree(tree).map_err(load_error)?;
        for f in &t.files {
            self.print_one(&TreeEntry {
                path: dir.child_path(&f.name),
                node: Node::File {
                    checksum: f.checksum,
                },
            })?;
        }
        for d in &t.dirs {
            let child = TreeEntry {
                path: dir.child_path(&d.name),
                node: Node::Dir {
                    tree: d.tree,
                    meta: d.meta,
                },
            };
            self.print_one(&child)?;
            if recursive {
                self.print_dir(&child, true)?;
            }
        }
        Ok(())
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(rev) = args.commit.clone() else {
        return Err(usage_error("ls", "An COMMIT argument is required"));
    };
    let repo = ctx.open_repo()?;
    let checksum = repo.resolve_rev(&rev)?;
    let commit = repo.load_commit(checksum).map_err(load_error)?;
    let root = TreeEntry::root(&commit);
    let paths = if args.paths.is_empty() {
        vec!["/".to_string()]
    } else {
        args.paths.clone()
    };
    let stdout = std::io::stdout();
    let mut l = Lister {
        repo: &repo,
        args: &args,
        out: std::io::BufWriter::new(stdout.lock()),
    };
    for p in &paths {
        let e = path::lookup(&repo, &root, p).with_context(|| format!("Inspecting path '{p}'"))?;
        l.print_one(&e)?;
        if e.is_dir() && !args.dironly {
            l.print_dir(&e, args.recursive)?;
        }
    }
    l.out.flush()?;
    Ok(())
}
