//! Signature reports as ostree prints them (`ostree show`, `gpg-verify`,
//! `remote gpg-import`): upstream `ostree_gpg_verify_result_describe_variant`
//! in `ostree-gpg-verify-result.c`. The reports themselves are the library's
//! (`grove::trust::gpg::SignatureReport`).

use std::io::Write;
use std::time::SystemTime;

use anyhow::bail;
use grove::trust::gpg::{SigStatus, SignatureReport};

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
