//! `grove remote add`: a `[remote "NAME"]` group written as `ostree remote
//! add` writes it (`grove::repo::remote::add`), with grove's `--gpg-import`
//! of a key file into the remote's keyring.

use grove::repo::remote::{self, AddOptions};
use grove::trust::keys;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub(super) struct AddArgs {
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

pub(super) fn add(ctx: &Ctx, a: AddArgs) -> anyhow::Result<()> {
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
            super::gpg_import::print_imported(n, &a.name);
        }
    }
    Ok(())
}
