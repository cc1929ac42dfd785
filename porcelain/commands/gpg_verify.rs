//! `grove gpg-verify`: check the OpenPGP signatures of a commit (or, with
//! `--summary`, of `summary` against `summary.sig`).
//!
//! Prints every signature as `ostree show` does (upstream
//! `ostree_gpg_verify_result_describe_variant`) and succeeds only if at least
//! one is a good signature by a key in the keyrings that is neither expired
//! nor revoked — ostree's rule for `gpg-verify=true`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context as _};
use grove::sign::{Keyring, SigStatus, SignatureReport};

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trust the keys in this keyring file (armored or binary; repeatable)
    #[arg(long, value_name = "FILE")]
    keyring: Vec<PathBuf>,

    /// Trust the public keys of this GnuPG home
    #[arg(long, value_name = "HOMEDIR")]
    gpg_homedir: Option<PathBuf>,

    /// Verify the repository's summary file against summary.sig instead of a commit
    #[arg(long, conflicts_with = "commit")]
    summary: bool,

    /// The commit to verify
    #[arg(value_name = "COMMIT", required_unless_present = "summary")]
    commit: Option<String>,
}

/// The keys to trust: the given keyrings and GnuPG home, or else the
/// repository's remote keyrings (`REPO/*.trustedkeys.gpg`) and the system
/// ones (`/etc/ostree/trusted.gpg.d`, `/usr/share/ostree/trusted.gpg.d`).
pub fn load_keyring(repo: &grove::Repo, files: &[PathBuf], homedir: Option<&Path>) -> anyhow::Result<Keyring> {
    let mut kr = Keyring::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("keyring {}", f.display()))?;
        kr.extend(Keyring::from_bytes(&bytes, &f.display().to_string())?);
    }
    if let Some(h) = homedir {
        kr.extend(super::gpg_sign::gnupg_public_keys(Some(h))?);
    }
    if files.is_empty() && homedir.is_none() {
        let mut candidates = Vec::new();
        if let Ok(rd) = std::fs::read_dir(repo.path()) {
            candidates.extend(rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".trustedkeys.gpg")));
        }
        for d in ["/etc/ostree/trusted.gpg.d", "/usr/share/ostree/trusted.gpg.d"] {
            if let Ok(rd) = std::fs::read_dir(d) {
                candidates.extend(rd.flatten().map(|e| e.path()));
            }
        }
        candidates.sort();
        for p in candidates {
            if let Ok(bytes) = std::fs::read(&p) {
                if let Ok(k) = Keyring::from_bytes(&bytes, &p.display().to_string()) {
                    kr.extend(k);
                }
            }
        }
    }
    Ok(kr)
}

fn format_time(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Local> = t.into();
    dt.format("%a %b %e %H:%M:%S %Y").to_string()
}

fn who(r: &SignatureReport) -> String {
    r.signer.clone().unwrap_or_else(|| "(no user id)".into())
}

/// One line saying what is wrong with (or right about) a signature.
pub fn status_line(r: &SignatureReport) -> String {
    match r.status {
        SigStatus::Good => format!("Good signature from \"{}\"", who(r)),
        SigStatus::MissingKey => "Can't check signature: public key not found".to_string(),
        SigStatus::Bad => format!("BAD signature from \"{}\"", who(r)),
        SigStatus::KeyRevoked => format!("Key revoked: signature from \"{}\" is not trusted", who(r)),
        SigStatus::KeyExpired => format!("Key expired: signature from \"{}\" is not trusted", who(r)),
        SigStatus::SigExpired => format!("Expired signature from \"{}\"", who(r)),
    }
}

/// Prints `Found N signature(s):` and each signature, as `ostree show` does.
pub fn print_signatures(out: &mut dyn Write, reports: &[SignatureReport]) -> std::io::Result<()> {
    let n = reports.len();
    writeln!(out, "Found {n} signature{}:", if n == 1 { "" } else { "s" })?;
    for r in reports {
        writeln!(out)?;
        match r.created {
            Some(t) => writeln!(out, "  Signature made {} using {} key ID {}", format_time(t), r.algo, r.key_id())?,
            None => writeln!(out, "  Signature made (unknown time) using {} key ID {}", r.algo, r.key_id())?,
        }
        writeln!(out, "  {}", status_line(r))?;
        if let Some(p) = &r.primary_fingerprint {
            if *p != r.fingerprint {
                writeln!(out, "  Primary key ID {}", &p[p.len().saturating_sub(16)..])?;
            }
        }
        if let Some(t) = r.sig_expires {
            let verb = if t <= SystemTime::now() { "expired" } else { "expires" };
            writeln!(out, "  Signature {verb} {}", format_time(t))?;
        }
        if let Some(t) = r.key_expires {
            let verb = if t <= SystemTime::now() { "expired" } else { "expires" };
            writeln!(out, "  Key {verb} {}", format_time(t))?;
        }
    }
    Ok(())
}

/// Fails unless some signature is good; the error names the last one's problem.
pub fn require_valid(what: &str, reports: &[SignatureReport]) -> anyhow::Result<()> {
    if reports.iter().any(|r| r.status == SigStatus::Good) {
        return Ok(());
    }
    match reports.last() {
        None => bail!("{what}: no signatures found"),
        Some(r) => {
            let why = match r.status {
                SigStatus::MissingKey => format!("public key {} not found in the keyring", r.key_id()),
                SigStatus::Bad => format!("BAD signature by key {}", r.key_id()),
                SigStatus::KeyRevoked => format!("signing key {} is revoked", r.key_id()),
                SigStatus::KeyExpired => format!("signing key {} has expired", r.key_id()),
                SigStatus::SigExpired => format!("signature by key {} has expired", r.key_id()),
                SigStatus::Good => unreachable!("checked above"),
            };
            bail!("{what}: no valid signature: {why}")
        }
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let keyring = load_keyring(&repo, &args.keyring, args.gpg_homedir.as_deref())?;
    let now = SystemTime::now();
    let (what, reports) = if args.summary {
        let sp = repo.path().join("summary");
        let summary = std::fs::read(&sp).with_context(|| format!("reading {}", sp.display()))?;
        let gp = repo.path().join("summary.sig");
        let sig = std::fs::read(&gp).with_context(|| format!("reading {}", gp.display()))?;
        let meta = grove::Metadata::from_bytes(&sig).with_context(|| format!("corrupt {}", gp.display()))?;
        let sigs = grove::sign::gpgsigs(&meta).map_err(|e| anyhow::anyhow!("corrupt {}: {e}", gp.display()))?;
        ("summary".to_string(), grove::sign::verify(&summary, &sigs, &keyring, now, "summary.sig")?)
    } else {
        let rev = args.commit.as_deref().expect("clap requires COMMIT without --summary");
        let checksum = repo.resolve_rev(rev)?;
        (format!("commit {checksum}"), grove::sign::verify_commit(&repo, checksum, &keyring, now)?)
    };
    if !reports.is_empty() {
        let mut out = std::io::stdout().lock();
        print_signatures(&mut out, &reports)?;
    }
    require_valid(&what, &reports)
}
