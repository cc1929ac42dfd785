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
use grove::trust::gpg::{Keyring, SigStatus, SignatureReport};

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

/// The directories of system-wide trusted keyrings: `$OSTREE_GPG_HOME` if
/// set (as ostree reads it), else `/usr/share/ostree/trusted.gpg.d`; and
/// `/etc/ostree/trusted.gpg.d`.
fn global_keyring_dirs() -> Vec<PathBuf> {
    let first = std::env::var_os("OSTREE_GPG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/ostree/trusted.gpg.d"));
    vec![first, PathBuf::from("/etc/ostree/trusted.gpg.d")]
}

/// The keyring files of a keyring directory, as ostree picks them: regular
/// files named `*.gpg`, except `trustdb.gpg` and `secring.gpg`.
fn keyring_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "gpg")
                && !p
                    .file_name()
                    .is_some_and(|n| n == "trustdb.gpg" || n == "secring.gpg")
        })
        .collect();
    v.sort();
    v
}

/// The keys to trust: the given keyrings and GnuPG home, or else the
/// repository's remote keyrings (`REPO/*.trustedkeys.gpg`) and the system
/// ones (see [`global_keyring_dirs`]).
pub fn load_keyring(
    repo: &grove::Repo,
    files: &[PathBuf],
    homedir: Option<&Path>,
) -> anyhow::Result<Keyring> {
    let mut kr = Keyring::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("keyring {}", f.display()))?;
        kr.extend(Keyring::from_bytes(&bytes, &f.display().to_string())?);
    }
    if let Some(h) = homedir {
        kr.extend(homedir_keys(h)?);
    }
    if files.is_empty() && homedir.is_none() {
        let mut candidates = Vec::new();
        if let Ok(rd) = std::fs::read_dir(repo.path()) {
            candidates.extend(
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(".trustedkeys.gpg")),
            );
        }
        for d in global_keyring_dirs() {
            candidates.extend(keyring_files(&d));
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

/// The public keys of a GnuPG home: its `*.gpg` keyring files (as ostree
/// reads a `--gpg-homedir`: all but `trustdb.gpg` and `secring.gpg`) and, if
/// it has a keybox (`pubring.kbx`, what GnuPG ≥ 2.1 writes), the keys
/// `gpg --export` gives.
pub fn homedir_keys(home: &Path) -> anyhow::Result<Keyring> {
    std::fs::read_dir(home).with_context(|| format!("GnuPG home {}", home.display()))?;
    let files = keyring_files(home);
    let mut kr = Keyring::new();
    for f in files {
        let bytes = std::fs::read(&f).with_context(|| format!("keyring {}", f.display()))?;
        if !bytes.is_empty() {
            kr.extend(Keyring::from_bytes(&bytes, &f.display().to_string())?);
        }
    }
    if home.join("pubring.kbx").is_file() {
        kr.extend(super::gpg_sign::gnupg_public_keys(Some(home))?);
    }
    Ok(kr)
}

/// The keys ostree trusts for remote `name`: `REPO/NAME.trustedkeys.gpg` (or,
/// if there is none, the system keyrings) and the remote's `gpgkeypath` files.
pub fn remote_keyring(repo: &grove::Repo, name: &str) -> anyhow::Result<Keyring> {
    let group = format!("remote \"{name}\"");
    let file = repo.path().join(format!("{name}.trustedkeys.gpg"));
    if !repo.config().has_group(&group) && !file.exists() {
        bail!("Remote \"{name}\" not found");
    }
    let mut kr = Keyring::new();
    if file.is_file() {
        let bytes = std::fs::read(&file).with_context(|| format!("keyring {}", file.display()))?;
        kr.extend(Keyring::from_bytes(&bytes, &file.display().to_string())?);
    } else {
        for d in global_keyring_dirs() {
            for p in keyring_files(&d) {
                if let Ok(k) = std::fs::read(&p)
                    .map_err(|_| ())
                    .and_then(|b| Keyring::from_bytes(&b, &p.display().to_string()).map_err(|_| ()))
                {
                    kr.extend(k);
                }
            }
        }
    }
    if let Some(value) = repo.config().get(&group, "gpgkeypath") {
        for p in gpgkeypath_list(value)? {
            kr.extend(keyfile_path_keys(Path::new(&p))?);
        }
    }
    Ok(kr)
}

/// The entries of a `gpgkeypath` value, split as ostree splits it: on `;`
/// or on `,` (not both), a trailing separator ignored, an empty entry kept.
fn gpgkeypath_list(value: &str) -> anyhow::Result<Vec<String>> {
    let seps: Vec<char> = [';', ',']
        .into_iter()
        .filter(|c| value.contains(*c))
        .collect();
    match seps.as_slice() {
        [] => Ok(vec![value.to_string()]),
        [sep] => {
            let mut v: Vec<String> = value.split(*sep).map(str::to_string).collect();
            if v.last().is_some_and(|l| l.is_empty()) {
                v.pop();
            }
            Ok(v)
        }
        _ => bail!("gpgkeypath: key value list contains more than one separator"),
    }
}

/// The keys of one `gpgkeypath` entry: a key file, or a directory whose
/// regular files are key files (as ostree, which hands each to gpg's import:
/// those holding no keys are skipped). A missing path is an error naming it.
fn keyfile_path_keys(p: &Path) -> anyhow::Result<Keyring> {
    let mut kr = Keyring::new();
    if !p.exists() {
        bail!(
            "gpgkeypath: opendir({}): No such file or directory",
            p.display()
        );
    }
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("gpgkeypath: opendir({})", p.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| f.is_file())
            .collect();
        v.sort();
        for f in v {
            let bytes = std::fs::read(&f).with_context(|| format!("gpgkeypath {}", f.display()))?;
            if let Ok(k) = Keyring::from_bytes(&bytes, &f.display().to_string()) {
                kr.extend(k);
            }
        }
    } else {
        let bytes = std::fs::read(p).with_context(|| format!("gpgkeypath {}", p.display()))?;
        kr.extend(Keyring::from_bytes(&bytes, &p.display().to_string())?);
    }
    Ok(kr)
}

/// A time as ostree prints it: GLib's `%c` in the C locale, local time.
/// GLib pads a one-digit day with U+2007 FIGURE SPACE when the locale's
/// character set is UTF-8 (and with `?` otherwise, where grove uses a space).
fn format_time(t: SystemTime) -> String {
    use chrono::Datelike as _;
    let dt: chrono::DateTime<chrono::Local> = t.into();
    let pad = match (dt.day() < 10, utf8_locale()) {
        (false, _) => "",
        (true, true) => "\u{2007}",
        (true, false) => " ",
    };
    format!(
        "{} {pad}{} {}",
        dt.format("%a %b"),
        dt.day(),
        dt.format("%H:%M:%S %Y")
    )
}

/// Whether the locale's character set is UTF-8 (`LC_ALL`, else `LC_CTYPE`, else `LANG`).
fn utf8_locale() -> bool {
    let v = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    v.contains("utf-8") || v.contains("utf8")
}

/// `"Name <email>"` as ostree quotes a signer (GnuPG's name and email of the uid).
fn who(r: &SignatureReport) -> String {
    format!(
        "\"{} <{}>\"",
        r.user_name.as_deref().unwrap_or(""),
        r.user_email.as_deref().unwrap_or("")
    )
}

/// The line saying what a signature's check found, worded as ostree words it
/// (`ostree_gpg_verify_result_describe_variant`). As there, a signature by
/// an expired key is a "BAD signature" followed by a `Key expired` line; the
/// error line of `require_valid` names the reason.
pub fn status_line(r: &SignatureReport) -> String {
    match r.status {
        SigStatus::Good => format!("Good signature from {}", who(r)),
        SigStatus::MissingKey => "Can't check signature: public key not found".to_string(),
        SigStatus::KeyRevoked => "Key revoked".to_string(),
        SigStatus::SigExpired => format!("Expired signature from {}", who(r)),
        SigStatus::Bad | SigStatus::KeyExpired | SigStatus::WeakHash => {
            format!("BAD signature from {}", who(r))
        }
    }
}

/// Prints `Found N signature(s):` and each signature, as `ostree show` does:
/// when it was made and by which key, the status line, the primary key of a
/// subkey, and the signature's and keys' expiry (judged at `now`).
pub fn print_signatures(
    out: &mut dyn Write,
    reports: &[SignatureReport],
    now: SystemTime,
) -> std::io::Result<()> {
    let n = reports.len();
    writeln!(out, "Found {n} signature{}:", if n == 1 { "" } else { "s" })?;
    print_signature_list(out, reports, now)
}

/// Each signature as [`print_signatures`] prints it, without the count line.
pub fn print_signature_list(
    out: &mut dyn Write,
    reports: &[SignatureReport],
    now: SystemTime,
) -> std::io::Result<()> {
    for r in reports {
        writeln!(out)?;
        match r.created {
            Some(t) => writeln!(
                out,
                "  Signature made {} using {} key ID {}",
                format_time(t),
                r.algo,
                r.key_id()
            )?,
            None => writeln!(
                out,
                "  Signature made (unknown time) using {} key ID {}",
                r.algo,
                r.key_id()
            )?,
        }
        writeln!(out, "  {}", status_line(r))?;
        if r.status == SigStatus::WeakHash {
            writeln!(
                out,
                "  Signature digest {} rejected: its collisions are practical",
                r.hash
            )?;
        }
        if let (true, Some(p)) = (r.by_subkey(), r.primary_key_id()) {
            writeln!(out, "  Primary key ID {p}")?;
        }
        let expiry = |what: &str, t: SystemTime, expired: bool| {
            format!(
                "  {what} {} {}",
                if expired { "expired" } else { "expires" },
                format_time(t)
            )
        };
        if let Some(t) = r.sig_expires {
            writeln!(
                out,
                "{}",
                expiry(
                    "Signature",
                    t,
                    r.status == SigStatus::SigExpired || t <= now
                )
            )?;
        }
        // As in ostree, one "key expired" flag serves both key lines.
        let key_expired = r.key_expires.is_some_and(|t| t <= now)
            || r.primary_key_expires.is_some_and(|t| t <= now);
        if let Some(t) = r.key_expires {
            writeln!(out, "{}", expiry("Key", t, key_expired))?;
        }
        if let (true, Some(t)) = (r.by_subkey(), r.primary_key_expires) {
            writeln!(out, "{}", expiry("Primary key", t, key_expired))?;
        }
    }
    Ok(())
}

/// Fails unless some signature is good; the error names the last one's problem.
pub fn require_valid(what: &str, reports: &[SignatureReport]) -> anyhow::Result<()> {
    match grove::trust::gpg::invalid_reason(reports) {
        None => Ok(()),
        Some(why) => bail!("{what}: {why}"),
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
        let meta = grove::Metadata::from_bytes(&sig)
            .with_context(|| format!("corrupt {}", gp.display()))?;
        let sigs = grove::trust::gpg::gpgsigs(&meta)
            .map_err(|e| anyhow::anyhow!("corrupt {}: {e}", gp.display()))?;
        (
            "summary".to_string(),
            grove::trust::gpg::verify(&summary, &sigs, &keyring, now, "summary.sig")?,
        )
    } else {
        let rev = args
            .commit
            .as_deref()
            .expect("clap requires COMMIT without --summary");
        let checksum = repo.resolve_rev(rev)?;
        (
            format!("commit {checksum}"),
            grove::trust::gpg::verify_commit(&repo, checksum, &keyring, now)?,
        )
    };
    if !reports.is_empty() {
        let mut out = std::io::stdout().lock();
        print_signatures(&mut out, &reports, now)?;
    }
    require_valid(&what, &reports)
}
