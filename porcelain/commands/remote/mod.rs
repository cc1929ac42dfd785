//! `grove remote`: add, list, delete remotes and show their URLs
//! (upstream `ot-builtin-remote.c` and `ot-remote-builtin-*.c`). Remotes are
//! `[remote "NAME"]` groups in the repository's `config`, written as
//! `ostree remote add` writes them, so either tool reads the other's.
//! `add`, `gpg-import` and `summary` have a module each; the other
//! subcommands are one library call and a line of output.

use grove::repo::remote;
use grove::transfer::remote_info;

use crate::ctx::Ctx;

mod add;
mod gpg_import;
mod summary;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Add a remote repository
    Add(add::AddArgs),
    /// List remote repository names
    List(ListArgs),
    /// Delete a remote repository
    Delete(DeleteArgs),
    /// Show remote repository URL
    #[command(name = "show-url")]
    ShowUrl(ShowUrlArgs),
    /// Import GPG keys
    #[command(name = "gpg-import")]
    GpgImport(gpg_import::GpgImportArgs),
    /// List the refs a remote offers (from its summary)
    Refs(RefsArgs),
    /// Show the remote's summary (and, with gpg-verify-summary, its signatures)
    Summary(summary::SummaryArgs),
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// Show remote URLs in list
    #[arg(short = 'u', long)]
    show_urls: bool,
}

#[derive(clap::Args, Debug)]
struct DeleteArgs {
    /// Do nothing if the provided remote does not exist
    #[arg(long)]
    if_exists: bool,
    /// Name of the remote
    name: String,
}

#[derive(clap::Args, Debug)]
struct RefsArgs {
    /// Name of the remote
    name: String,
}

#[derive(clap::Args, Debug)]
struct ShowUrlArgs {
    /// Name of the remote
    name: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Add(a) => add::add(ctx, a)?,
        Cmd::List(a) => {
            let repo = ctx.open_repo()?;
            let names = remote::list_inherited(&repo)?;
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for n in &names {
                if a.show_urls {
                    let url = remote::find(&repo, n)
                        .ok()
                        .and_then(|r| r.url)
                        .unwrap_or_default();
                    println!("{n:<width$}  {url}");
                } else {
                    println!("{n}");
                }
            }
        }
        Cmd::Delete(a) => {
            let mut repo = ctx.open_repo()?;
            remote::delete(&mut repo, &a.name, a.if_exists)?;
        }
        Cmd::GpgImport(a) => gpg_import::gpg_import(ctx, a)?,
        Cmd::Summary(a) => summary::summary(ctx, &a)?,
        Cmd::ShowUrl(a) => {
            let repo = ctx.open_repo()?;
            println!("{}", remote::find(&repo, &a.name)?.url()?);
        }
        Cmd::Refs(a) => {
            let repo = ctx.open_repo()?;
            for r in remote_info::refs(&repo, &a.name)? {
                println!("{}:{r}", a.name);
            }
        }
    }
    Ok(())
}
