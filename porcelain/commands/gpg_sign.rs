//! `grove gpg-sign`: sign a commit (or, with `--delete`, remove signatures).
//!
//! Also owns key loading for every signing command (`commit --gpg-sign`,
//! `summary -u --gpg-sign`): secret keys come from a GnuPG home (exported
//! with `gpg --export-secret-keys`; the library never runs programs) or from
//! an OpenPGP key file (`--sign-key=FILE`, armored or binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use grove::trust::gpg::{Keyring, SigningKey};

use crate::ctx::Ctx;

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

/// Where secret keys come from (shared by gpg-sign, commit and summary).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct KeySource {
    /// GPG Homedir to use when looking for keyrings
    #[arg(long, value_name = "HOMEDIR")]
    pub gpg_homedir: Option<PathBuf>,

    /// Read secret keys from this OpenPGP key file (armored or binary) instead of a GnuPG home
    #[arg(long, value_name = "FILE")]
    pub sign_key: Vec<PathBuf>,

    /// Read the passphrase of protected secret keys from FILE (first line)
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Signing options for commands that sign what they write.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SignArgs {
    /// GPG Key ID to sign with
    #[arg(long = "gpg-sign", value_name = "KEY-ID")]
    pub gpg_sign: Vec<String>,

    #[command(flatten)]
    pub keys: KeySource,
}

impl SignArgs {
    /// Loads the keys (before anything is written, so a bad key changes nothing).
    pub fn load(&self) -> anyhow::Result<Vec<SigningKey>> {
        if self.gpg_sign.is_empty() && self.keys.sign_key.is_empty() {
            return Ok(Vec::new());
        }
        load_signing_keys(&self.gpg_sign, &self.keys)
    }
}

fn read_passphrase(src: &KeySource) -> anyhow::Result<Option<String>> {
    let Some(p) = &src.passphrase_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("reading passphrase file {}", p.display()))?;
    Ok(Some(text.lines().next().unwrap_or("").to_string()))
}

/// Runs `gpg` (with `--homedir` if given) and returns its standard output.
pub fn run_gpg(homedir: Option<&Path>, args: &[&str], what: &str) -> anyhow::Result<Vec<u8>> {
    let mut cmd = Command::new("gpg");
    if let Some(h) = homedir {
        if !h.is_dir() {
            bail!("GnuPG home {}: No such directory", h.display());
        }
        cmd.arg("--homedir").arg(h);
    }
    cmd.args(["--batch", "--no-tty", "--quiet"]).args(args);
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "{what}: gpg is not installed (Debian package gnupg); use --sign-key=FILE"
            )
        } else {
            anyhow::anyhow!("{what}: running gpg: {e}")
        }
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .map(|l| l.trim_start_matches("gpg: ").trim())
            .find(|l| !l.is_empty() && !l.starts_with("WARNING"))
            .unwrap_or("failed");
        if err.contains("No passphrase given") || err.contains("Bad passphrase") {
            bail!("{what}: the secret key is protected by a passphrase; give it with --passphrase-file=FILE ({last})");
        }
        bail!("{what}: gpg: {last}");
    }
    Ok(out.stdout)
}

fn home_name(homedir: Option<&Path>) -> String {
    match homedir {
        Some(h) => format!("homedir: {}", h.display()),
        None => "homedir: <default>".to_string(),
    }
}

/// Loads one signing key per KEY-ID (from `--sign-key` files, else from the
/// GnuPG home); with key files and no KEY-ID, the one key each file holds.
pub fn load_signing_keys(key_ids: &[String], src: &KeySource) -> anyhow::Result<Vec<SigningKey>> {
    let keys = load_keys(key_ids, src)?;
    for k in keys.iter().filter(|k| k.sha1_binding) {
        eprintln!(
            "warning: key {} is bound to its certificate by SHA-1 self-signatures only; grove signs with it (using SHA-512), but consider refreshing them (gpg --cert-digest-algo SHA512 --quick-set-expire FPR 0)",
            k.key_id()
        );
    }
    Ok(keys)
}

fn load_keys(key_ids: &[String], src: &KeySource) -> anyhow::Result<Vec<SigningKey>> {
    let passphrase = read_passphrase(src)?;
    let mut keys = Vec::new();
    if !src.sign_key.is_empty() {
        let mut all = Keyring::new();
        for f in &src.sign_key {
            let bytes =
                std::fs::read(f).with_context(|| format!("reading key file {}", f.display()))?;
            let origin = f.display().to_string();
            let kr = Keyring::from_bytes(&bytes, &origin)?;
            if key_ids.is_empty() {
                keys.push(SigningKey::from_keyring(
                    &kr,
                    None,
                    passphrase.as_deref(),
                    &origin,
                )?);
            }
            all.extend(kr);
        }
        let origin = src
            .sign_key
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        for id in key_ids {
            keys.push(SigningKey::from_keyring(
                &all,
                Some(id),
                passphrase.as_deref(),
                &origin,
            )?);
        }
        return Ok(keys);
    }
    let home = src.gpg_homedir.as_deref();
    for id in key_ids {
        let what = format!("secret key {id} ({})", home_name(home));
        let mut args = vec!["--pinentry-mode", "loopback"];
        let pf;
        match &src.passphrase_file {
            Some(p) => {
                pf = p.to_string_lossy().into_owned();
                args.extend(["--passphrase-file", pf.as_str()]);
            }
            None => args.extend(["--passphrase", ""]),
        }
        args.extend(["--export-secret-keys", id.as_str()]);
        let bytes = run_gpg(home, &args, &what)?;
        if bytes.is_empty() {
            bail!("No gpg key found with ID {id} ({})", home_name(home));
        }
        let kr = Keyring::from_bytes(&bytes, &home_name(home))?;
        keys.push(SigningKey::from_keyring(
            &kr,
            Some(id),
            passphrase.as_deref(),
            &home_name(home),
        )?);
    }
    Ok(keys)
}

/// Public keys of a GnuPG home (`gpg --export`).
pub fn gnupg_public_keys(homedir: Option<&Path>) -> anyhow::Result<Keyring> {
    let what = format!("public keys ({})", home_name(homedir));
    let bytes = run_gpg(homedir, &["--export"], &what)?;
    if bytes.is_empty() {
        return Ok(Keyring::new());
    }
    Ok(Keyring::from_bytes(&bytes, &home_name(homedir))?)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(commit) = &args.commit else {
        return Err(super::log::usage_error("gpg-sign", "Need a COMMIT to sign"));
    };
    if args.key_ids.is_empty() && (args.delete || args.keys.sign_key.is_empty()) {
        return Err(super::log::usage_error(
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
    let mut keys = load_signing_keys(&args.key_ids, &args.keys)?;
    grove::trust::gpg::sign_commit(&repo, checksum, &mut keys)?;
    Ok(())
}
