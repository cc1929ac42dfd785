//! Keys for the signing and verifying commands: the flags that name them,
//! the environment (`$OSTREE_GPG_HOME`) and the `gpg` program, which the
//! library never runs. Which keys to trust is the library's
//! (`grove::trust::keys`); the `[grove]` signing key is
//! `grove::lifecycle::config`'s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use grove::lifecycle::config::ReleaseConfig;
use grove::trust::gpg::{Keyring, SigningKey};
use grove::trust::keys::{self, KeySelection, SecretKeyLocation, SecretKeySource};
use grove::Repo;

/// Where secret keys come from (shared by gpg-sign, commit, summary and sign).
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

impl KeySource {
    /// These flags with the key ids of `--gpg-sign` (or gpg-sign's KEY-ID).
    pub fn source(&self, key_ids: &[String]) -> SecretKeySource {
        SecretKeySource::from_flags(
            key_ids,
            &self.sign_key,
            self.gpg_homedir.as_deref(),
            self.passphrase_file.as_deref(),
        )
    }
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
    pub fn is_empty(&self) -> bool {
        self.gpg_sign.is_empty() && self.keys.sign_key.is_empty()
    }

    /// Loads the keys (before anything is written, so a bad key changes nothing).
    pub fn load(&self) -> anyhow::Result<Vec<SigningKey>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        load_signing_keys(&self.keys.source(&self.gpg_sign))
    }

    /// These keys if any are given, else the repository's configured key.
    pub fn load_or_configured(
        &self,
        repo: &Repo,
        config: &ReleaseConfig,
    ) -> anyhow::Result<Vec<SigningKey>> {
        if self.is_empty() {
            configured_keys(repo, config)
        } else {
            self.load()
        }
    }
}

/// The configured signing keys; empty if none is configured.
pub fn configured_keys(repo: &Repo, config: &ReleaseConfig) -> anyhow::Result<Vec<SigningKey>> {
    let Some(c) = &config.signing else {
        return Ok(Vec::new());
    };
    load_signing_keys(&c.key_source()).with_context(|| {
        format!(
            "loading the signing key configured in {}/config",
            repo.path().display()
        )
    })
}

/// Public keys of the configured signing key (for checking signatures), if any.
pub fn configured_public_keys(config: &ReleaseConfig) -> anyhow::Result<Option<Keyring>> {
    Ok(
        match config.signing.as_ref().map(|c| c.key_source().location) {
            None => None,
            Some(SecretKeyLocation::Files(files)) => Some(keys::read_keyrings(&files)?),
            Some(SecretKeyLocation::Gnupg(homedir)) => Some(gnupg_public_keys(homedir.as_deref())?),
        },
    )
}

/// The system keyring directories, `$OSTREE_GPG_HOME` first if set.
pub fn system_dirs() -> Vec<PathBuf> {
    keys::system_keyring_dirs(std::env::var_os("OSTREE_GPG_HOME").map(PathBuf::from))
}

/// The keys `selection` trusts, GnuPG keyboxes exported.
pub fn trusted(repo: &Repo, selection: &KeySelection) -> anyhow::Result<Keyring> {
    let t = selection.load(repo, &system_dirs())?;
    let mut kr = t.keyring;
    for home in &t.keyboxes {
        kr.extend(gnupg_public_keys(Some(home))?);
    }
    Ok(kr)
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

/// Loads the keys `src` names (see [`SecretKeySource`]): from key files
/// through the library, from a GnuPG home through `gpg`.
pub fn load_signing_keys(src: &SecretKeySource) -> anyhow::Result<Vec<SigningKey>> {
    let keys = load_keys(src)?;
    for k in keys.iter().filter(|k| k.sha1_binding) {
        eprintln!(
            "warning: key {} is bound to its certificate by SHA-1 self-signatures only; grove signs with it (using SHA-512), but consider refreshing them (gpg --cert-digest-algo SHA512 --quick-set-expire FPR 0)",
            k.key_id()
        );
    }
    Ok(keys)
}

fn load_keys(src: &SecretKeySource) -> anyhow::Result<Vec<SigningKey>> {
    let passphrase = src.passphrase()?;
    let home = match &src.location {
        SecretKeyLocation::Files(files) => {
            return Ok(keys::signing_keys_from_files(
                files,
                &src.key_ids,
                passphrase.as_deref(),
            )?)
        }
        SecretKeyLocation::Gnupg(home) => home.as_deref(),
    };
    let mut out = Vec::new();
    for id in &src.key_ids {
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
        out.push(SigningKey::from_keyring(
            &kr,
            Some(id),
            passphrase.as_deref(),
            &home_name(home),
        )?);
    }
    Ok(out)
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
