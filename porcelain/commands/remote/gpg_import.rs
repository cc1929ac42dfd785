//! `grove remote gpg-import`: keys from keyring files, standard input or
//! the user's own GnuPG keyring, added to the remote's
//! `NAME.trustedkeys.gpg` (`grove::repo::remote::gpg_import`).

use anyhow::Context as _;
use grove::repo::remote;
use grove::trust::keys;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub(super) struct GpgImportArgs {
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
pub(super) fn print_imported(n: usize, name: &str) {
    println!(
        "Imported {n} GPG key{} to remote \"{name}\"",
        if n == 1 { "" } else { "s" }
    );
}

pub(super) fn gpg_import(ctx: &Ctx, a: GpgImportArgs) -> anyhow::Result<()> {
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
    Ok(())
}
