//! `grove gpg-sign`: sign a commit (or, with `--delete`, remove signatures)
//! — upstream `ot-builtin-gpg-sign.c`. Keys come from a GnuPG home or an
//! OpenPGP key file (`--sign-key=FILE`); loading them is `crate::keys`'.

use grove::trust::gpg::Keyring;

use crate::ctx::Ctx;
use crate::keys::{gnupg_public_keys, load_signing_keys};

pub use crate::keys::{KeySource, SignArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Delete signatures having any of the GPG KEY-IDs
    #[arg(short = 'd', long)]
    delete: bool,

    #[command(flatten)]
    keys: KeySource,

    /// The commit to sign
    #[arg(value_name = "COMMIT")]
    commit: Option<String>,

    /// Keys to sign with (fingerprint, key id, or user id)
    #[arg(value_name = "KEY-ID")]
    key_ids: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(commit) = &args.commit else {
        return Err(crate::ctx::usage_error("gpg-sign", "Need a COMMIT to sign"));
    };
    if args.key_ids.is_empty() && (args.delete || args.keys.sign_key.is_empty()) {
        return Err(crate::ctx::usage_error(
            "gpg-sign",
            "Need at least one GPG KEY-ID to sign with",
        ));
    }
    let repo = ctx.open_repo()?;
    let checksum = repo.resolve_rev(commit)?;
    if args.delete {
        let mut keyring = Keyring::new();
        if args.keys.gpg_homedir.is_some() {
            keyring = gnupg_public_keys(args.keys.gpg_homedir.as_deref()).unwrap_or_default();
        }
        let n = grove::trust::gpg::delete_signatures(&repo, checksum, &args.key_ids, &keyring)?;
        println!("Signatures deleted: {n}");
        return Ok(());
    }
    let mut keys = load_signing_keys(&args.keys.source(&args.key_ids))?;
    grove::trust::gpg::sign_commit(&repo, checksum, &mut keys)?;
    Ok(())
}
