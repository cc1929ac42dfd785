//! `grove remote`: add, list, delete remotes and show their URLs
//! (upstream `ot-builtin-remote.c` and `ot-remote-builtin-*.c`). Remotes are
//! `[remote "NAME"]` groups in the repository's `config`, written as
//! `ostree remote add` writes them, so either tool reads the other's.

use anyhow::Context as _;
use grove::remote::{self, AddOptions};

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Add a remote repository
    Add(AddArgs),
    /// List remote repository names
    List(ListArgs),
    /// Delete a remote repository
    Delete(DeleteArgs),
    /// Show remote repository URL
    #[command(name = "show-url")]
    ShowUrl(ShowUrlArgs),
}

#[derive(clap::Args, Debug)]
struct AddArgs {
    /// Disable GPG verification
    #[arg(long)]
    no_gpg_verify: bool,
    /// Trust the OpenPGP keys in FILE (armored or binary) for this remote's signatures
    #[arg(long, value_name = "FILE")]
    gpg_import: Option<std::path::PathBuf>,
    /// Do nothing if the provided remote exists
    #[arg(long)]
    if_not_exists: bool,
    /// Set config option KEY=VALUE for remote
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Name of the remote
    name: String,
    /// URL of the remote repository (http://, https:// or file://)
    url: String,
    /// Branches the remote offers (written to `branches`)
    #[arg(value_name = "BRANCH")]
    branches: Vec<String>,
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
struct ShowUrlArgs {
    /// Name of the remote
    name: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    match args.cmd {
        Cmd::Add(a) => {
            let mut repo = ctx.open_repo()?;
            let mut set = Vec::new();
            for kv in &a.set {
                let (k, v) = kv.split_once('=').with_context(|| format!("--set: expected KEY=VALUE, got '{kv}'"))?;
                anyhow::ensure!(!k.is_empty(), "--set: empty key in '{kv}'");
                set.push((k.to_string(), v.to_string()));
            }
            let branches = a.branches.iter().map(|b| b.parse()).collect::<Result<Vec<_>, _>>()?;
            let gpg_import = match &a.gpg_import {
                Some(f) => {
                    let bytes = std::fs::read(f).with_context(|| format!("--gpg-import {}", f.display()))?;
                    Some(grove::sign::Keyring::from_bytes(&bytes, &f.display().to_string())?)
                }
                None => None,
            };
            let opts = AddOptions { no_gpg_verify: a.no_gpg_verify, if_not_exists: a.if_not_exists, set, branches, gpg_import };
            remote::add(&mut repo, &a.name, &a.url, &opts)?;
        }
        Cmd::List(a) => {
            let repo = ctx.open_repo()?;
            let names = remote::list(repo.config());
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for n in &names {
                if a.show_urls {
                    let url = remote::get(repo.config(), n).map(|r| r.url).unwrap_or_default();
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
        Cmd::ShowUrl(a) => {
            let repo = ctx.open_repo()?;
            println!("{}", remote::get(repo.config(), &a.name)?.url);
        }
    }
    Ok(())
}
