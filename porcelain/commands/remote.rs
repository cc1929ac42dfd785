//! `grove remote`: add, list, delete remotes and show their URLs
//! (upstream `ot-builtin-remote.c` and `ot-remote-builtin-*.c`). Remotes are
//! `[remote "NAME"]` groups in the repository's `config`, written as
//! `ostree remote add` writes them, so either tool reads the other's.

use anyhow::Context as _;
use grove::repo::remote::{self, AddOptions};
use grove::transfer::remote_info;
use grove::trust::keys;

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
    /// Import GPG keys
    #[command(name = "gpg-import")]
    GpgImport(GpgImportArgs),
    /// List the refs a remote offers (from its summary)
    Refs(RefsArgs),
    /// Show the remote's summary (and, with gpg-verify-summary, its signatures)
    Summary(SummaryArgs),
}

#[derive(clap::Args, Debug)]
struct SummaryArgs {
    /// Use custom cache dir
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// Show raw variant data
    #[arg(long)]
    raw: bool,
    /// Name of the remote
    name: String,
}

#[derive(clap::Args, Debug)]
struct GpgImportArgs {
    /// Import keys from a keyring file (repeatable)
    #[arg(short = 'k', long, value_name = "FILE", conflicts_with = "stdin")]
    keyring: Vec<std::path::PathBuf>,
    /// Import keys from standard input
    #[arg(long)]
    stdin: bool,
    /// Name of the remote
    name: String,
    /// Import only these keys (fingerprint, key id or user id); all keys without
    #[arg(value_name = "KEY-ID")]
    key_ids: Vec<String>,
}

/// `Imported N GPG key(s) to remote "NAME"`, as ostree words it.
fn print_imported(n: usize, name: &str) {
    println!(
        "Imported {n} GPG key{} to remote \"{name}\"",
        if n == 1 { "" } else { "s" }
    );
}

#[derive(clap::Args, Debug)]
struct AddArgs {
    /// Disable GPG verification
    #[arg(long)]
    no_gpg_verify: bool,
    /// Disable signature verification (GPG and any other kind)
    #[arg(long)]
    no_sign_verify: bool,
    /// Trust the OpenPGP keys in FILE (armored or binary) for this remote's signatures
    #[arg(long, value_name = "FILE")]
    gpg_import: Option<std::path::PathBuf>,
    /// Do nothing if the provided remote exists
    #[arg(long)]
    if_not_exists: bool,
    /// Replace the provided remote if it exists
    #[arg(long)]
    force: bool,
    /// This remote has content not fetched by OSTree's protocol (URL optional)
    #[arg(long, value_name = "NAME")]
    custom_backend: Option<String>,
    /// Set config option KEY=VALUE for remote
    #[arg(long, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Globally unique ID for this repository as a collection of refs for redistribution to other repositories
    #[arg(long, value_name = "COLLECTION-ID")]
    collection_id: Option<String>,
    /// Name of the remote
    name: String,
    /// URL of the remote repository (http://, https:// or file://)
    url: Option<String>,
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
        Cmd::Add(a) => {
            let mut repo = ctx.open_repo()?;
            let gpg_import = a
                .gpg_import
                .as_deref()
                .map(keys::read_keyring)
                .transpose()?;
            let imported = gpg_import.as_ref().map(|k| k.len());
            let opts = AddOptions {
                no_gpg_verify: a.no_gpg_verify,
                no_sign_verify: a.no_sign_verify,
                if_not_exists: a.if_not_exists,
                force: a.force,
                custom_backend: a.custom_backend,
                set: remote::parse_settings(&a.set)?,
                branches: a
                    .branches
                    .iter()
                    .map(|b| b.parse())
                    .collect::<Result<_, _>>()?,
                gpg_import,
                collection_id: a.collection_id,
            };
            if remote::add(&mut repo, &a.name, a.url.as_deref(), &opts)? {
                if let Some(n) = imported {
                    print_imported(n, &a.name);
                }
            }
        }
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
        Cmd::GpgImport(a) => {
            let repo = ctx.open_repo()?;
            let source = if a.stdin {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                    .context("reading keys from standard input")?;
                grove::trust::gpg::Keyring::from_bytes(&bytes, "standard input")?
            } else if a.keyring.is_empty() {
                // As ostree's library without a source: the user's own keyring.
                crate::keys::gnupg_public_keys(None)?
            } else {
                keys::read_keyrings(&a.keyring)?
            };
            let n = remote::gpg_import(&repo, &a.name, &source, &a.key_ids)?;
            print_imported(n, &a.name);
        }
        Cmd::Summary(a) => remote_summary(ctx, &a)?,
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

/// `remote summary NAME`: the remote's summary (through the summary cache,
/// verified when the remote has `gpg-verify-summary=true`) printed as
/// `summary --view` (or `--raw`) does, then its signatures as ostree
/// prints them.
fn remote_summary(ctx: &Ctx, a: &SummaryArgs) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let cache = super::pull::summary_cache(&repo, a.cache_dir.as_deref(), &a.name);
    let fetched = remote_info::summary(&repo, &a.name, &cache, &crate::keys::system_dirs())?;
    let summary = &fetched.summary;
    print!(
        "{}",
        if a.raw {
            grove::objects::text::summary_raw_text(summary)
        } else {
            grove::objects::text::summary_view_text(summary)
        }
    );
    if a.raw {
        return Ok(());
    }
    let now = std::time::SystemTime::now();
    if let Some(reports) = fetched.signatures(now)? {
        let n = reports.len();
        println!();
        println!(
            "GPG: Verification enabled, found {n} signature{}:",
            if n == 1 { "" } else { "s" }
        );
        crate::signatures::print_signature_list(&mut std::io::stdout().lock(), &reports, now)?;
    }
    Ok(())
}
