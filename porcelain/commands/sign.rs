//! `grove sign`: sign ref tips or given commits (and, with `--summary`, the
//! summary) with the repository's configured key.
//!
//! Also owns the `[grove]` group of the repository config that the
//! life-cycle porcelain (`promote`, `sign`, `summary`, `status`) shares:
//!
//! ```text
//! [grove]
//! sign-key=FILE                 # OpenPGP secret key file (relative to the repo)
//! gpg-key-id=ID                 # or: a key in a GnuPG home ...
//! gpg-homedir=DIR               # ... (relative to the repo; default gpg's)
//! sign-passphrase-file=FILE     # passphrase of a protected key
//! summary-publish-delay=SECS    # grace between summary.sig and summary (default 1 when signing)
//! delta-depth=N                 # promote: deltas from each of the last N commits (default 1)
//! ```
//!
//! Key loading itself is `gpg_sign::load_signing_keys`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use grove::objects::summary::{self, BuildOptions, Published, UpdateOptions};
use grove::trust::gpg::{Keyring, SigningKey};
use grove::{Checksum, Repo};

use super::gpg_sign::{KeySource, SignArgs};
use crate::ctx::Ctx;
use crate::hooks;

/// The config group of the life-cycle porcelain.
pub const GROUP: &str = "grove";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Refs or commits to sign (default: the tip of every ref)
    #[arg(value_name = "REF|COMMIT")]
    revs: Vec<String>,

    /// Also regenerate, sign and publish the summary
    #[arg(long)]
    summary: bool,

    /// Key to use instead of the configured one
    #[command(flatten)]
    sign: SignArgs,

    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

fn repo_relative(repo: &Repo, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        repo.path().join(p)
    }
}

fn get<'a>(repo: &'a Repo, key: &str) -> Option<&'a str> {
    repo.config()
        .get(GROUP, key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The configured key source and key ids; `None` when no key is configured.
fn configured_source(repo: &Repo) -> Option<(Vec<String>, KeySource)> {
    let passphrase_file = get(repo, "sign-passphrase-file").map(|p| repo_relative(repo, p));
    if let Some(f) = get(repo, "sign-key") {
        let ids = get(repo, "gpg-key-id")
            .map(|s| vec![s.to_string()])
            .unwrap_or_default();
        return Some((
            ids,
            KeySource {
                gpg_homedir: None,
                sign_key: vec![repo_relative(repo, f)],
                passphrase_file,
            },
        ));
    }
    let id = get(repo, "gpg-key-id")?;
    let home = get(repo, "gpg-homedir").map(|h| repo_relative(repo, h));
    Some((
        vec![id.to_string()],
        KeySource {
            gpg_homedir: home,
            sign_key: Vec::new(),
            passphrase_file,
        },
    ))
}

/// Whether the repository config names a signing key.
pub fn key_configured(repo: &Repo) -> bool {
    configured_source(repo).is_some()
}

/// The signing keys of `[grove] sign-key` / `gpg-key-id`; empty if none is configured.
pub fn configured_keys(repo: &Repo) -> anyhow::Result<Vec<SigningKey>> {
    let Some((ids, src)) = configured_source(repo) else {
        return Ok(Vec::new());
    };
    super::gpg_sign::load_signing_keys(&ids, &src).with_context(|| {
        format!(
            "loading the signing key configured in {}/config",
            repo.path().display()
        )
    })
}

/// Explicit signing flags win; else the configured key.
pub fn keys_or_configured(repo: &Repo, explicit: &SignArgs) -> anyhow::Result<Vec<SigningKey>> {
    if !explicit.gpg_sign.is_empty() || !explicit.keys.sign_key.is_empty() {
        return explicit.load();
    }
    configured_keys(repo)
}

/// Public keys of the configured signing key (for checking signatures), if any.
pub fn configured_keyring(repo: &Repo) -> anyhow::Result<Option<Keyring>> {
    let Some((_, src)) = configured_source(repo) else {
        return Ok(None);
    };
    if let Some(f) = src.sign_key.first() {
        let bytes =
            std::fs::read(f).with_context(|| format!("reading key file {}", f.display()))?;
        return Ok(Some(Keyring::from_bytes(&bytes, &f.display().to_string())?));
    }
    Ok(Some(super::gpg_sign::gnupg_public_keys(
        src.gpg_homedir.as_deref(),
    )?))
}

/// `[grove] delta-depth` (default 1).
pub fn delta_depth(repo: &Repo) -> anyhow::Result<u32> {
    match get(repo, "delta-depth") {
        None => Ok(1),
        Some(v) => v.parse().with_context(|| {
            format!(
                "invalid {GROUP}.delta-depth '{v}' in {}/config",
                repo.path().display()
            )
        }),
    }
}

/// Grace between publishing `summary.sig` and `summary` (see docs/signing.md).
pub fn publish_delay(repo: &Repo, explicit: Option<f64>, signed: bool) -> anyhow::Result<Duration> {
    let valid = |s: f64| s.is_finite() && s >= 0.0;
    if let Some(s) = explicit {
        ensure!(valid(s), "Invalid --publish-delay '{s}'");
        return Ok(Duration::from_secs_f64(s));
    }
    match get(repo, "summary-publish-delay") {
        Some(v) => match v.parse::<f64>() {
            Ok(s) if valid(s) => Ok(Duration::from_secs_f64(s)),
            _ => bail!(
                "invalid {GROUP}.summary-publish-delay '{v}' in {}/config: seconds, 0 or more",
                repo.path().display()
            ),
        },
        None if signed => Ok(Duration::from_secs(1)),
        None => Ok(Duration::ZERO),
    }
}

/// Regenerates, signs with `keys` and publishes the summary, then runs the
/// `post-summary` hook (no input lines).
pub fn publish_summary(
    repo: &mut Repo,
    keys: &mut [SigningKey],
    additional: Vec<(String, summary::RawValue)>,
    delay: Option<f64>,
) -> anyhow::Result<Published> {
    let published = update_summary(repo, keys, additional, delay)?;
    hooks::run(repo, "post-summary", &[])?;
    Ok(published)
}

/// [`publish_summary`] without the `post-summary` hook.
pub fn update_summary(
    repo: &mut Repo,
    keys: &mut [SigningKey],
    additional: Vec<(String, summary::RawValue)>,
    delay: Option<f64>,
) -> anyhow::Result<Published> {
    let grace = publish_delay(repo, delay, !keys.is_empty())?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let opts = UpdateOptions {
        build: BuildOptions { additional, now },
        grace,
    };
    summary::update(repo, &opts, keys).context("updating summary")
}

/// Signs `commit` with each key that has not signed it yet; returns the key ids used.
pub fn sign_if_unsigned(
    repo: &Repo,
    commit: Checksum,
    keys: &mut [SigningKey],
) -> anyhow::Result<Vec<String>> {
    let existing = match repo.read_detached_metadata(commit)? {
        Some(m) => grove::trust::gpg::gpgsigs(&m).map_err(|why| {
            anyhow::anyhow!("corrupt detached metadata of commit {commit}: {why}")
        })?,
        None => Vec::new(),
    };
    let mut used = Vec::new();
    for k in keys.iter_mut() {
        if existing.iter().any(|s| k.made(s)) {
            continue;
        }
        grove::trust::gpg::sign_commit(repo, commit, std::slice::from_mut(k))
            .with_context(|| format!("signing commit {commit}"))?;
        used.push(k.key_id());
    }
    Ok(used)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let mut repo = ctx.open_repo()?;
    let mut keys = keys_or_configured(&repo, &args.sign)?;
    if keys.is_empty() {
        bail!("no signing key: set {GROUP}.sign-key=FILE or {GROUP}.gpg-key-id=ID in {}/config, or pass --sign-key/--gpg-sign", repo.path().display());
    }
    // (commit, names) in the order given; ref tips when no rev is given.
    let mut targets: Vec<(Checksum, Vec<String>)> = Vec::new();
    let mut add = |c: Checksum, name: String| match targets.iter_mut().find(|(t, _)| *t == c) {
        Some((_, names)) => names.push(name),
        None => targets.push((c, vec![name])),
    };
    if args.revs.is_empty() {
        for (spec, c) in repo.list_refs()? {
            add(c, spec.to_string());
        }
    } else {
        for r in &args.revs {
            let c = repo.resolve_rev(r)?;
            add(c, r.clone());
        }
    }
    let mut results = Vec::new();
    {
        let _lock = repo.lock(grove::repo::LockKind::Shared)?;
        for (c, names) in &targets {
            let used = sign_if_unsigned(&repo, *c, &mut keys)?;
            if !args.json {
                if used.is_empty() {
                    println!("{c} ({}): already signed", names.join(", "));
                } else {
                    println!(
                        "{c} ({}): signed with {}",
                        names.join(", "),
                        used.join(", ")
                    );
                }
            }
            results.push(
                serde_json::json!({"commit": c.to_string(), "names": names, "signed_with": used}),
            );
        }
    }
    let mut summary = serde_json::Value::Null;
    if args.summary {
        let p = publish_summary(&mut repo, &mut keys, Vec::new(), None)?;
        if !args.json {
            println!("summary: published with {} signature(s)", p.signatures);
        }
        summary = serde_json::json!({"signatures": p.signatures});
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"commits": results, "summary": summary})
            )?
        );
    }
    Ok(())
}
