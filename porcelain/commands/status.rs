//! `grove status`: what a release engineer checks before and after a
//! release — per ref its version, age, signature state and size, the static
//! deltas to it from its last `[grove] delta-depth` commits, whether the
//! summary is fresh, and which hooks are installed.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grove::delta::DeltaName;
use grove::objects::summary::Summary;
use grove::trust::gpg::{Keyring, SigStatus};
use grove::{Checksum, Repo};
use serde_json::json;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the status as JSON
    #[arg(long)]
    json: bool,
}

/// Signature state of a commit, as `status` reports it.
fn signature_state(
    repo: &Repo,
    commit: Checksum,
    keyring: &Keyring,
) -> anyhow::Result<(String, Option<String>)> {
    let reports = grove::trust::gpg::verify_commit(repo, commit, keyring, SystemTime::now());
    let reports = match reports {
        Ok(r) => r,
        Err(e) => return Ok(("bad".into(), Some(e.to_string()))),
    };
    if reports.is_empty() {
        return Ok(("unsigned".into(), None));
    }
    if let Some(r) = reports.iter().find(|r| r.status == SigStatus::Good) {
        return Ok(("signed".into(), Some(r.key_id().to_string())));
    }
    if let Some(r) = reports
        .iter()
        .find(|r| matches!(r.status, SigStatus::Bad | SigStatus::WeakHash))
    {
        return Ok(("bad".into(), Some(r.key_id().to_string())));
    }
    let r = &reports[0];
    let why = match r.status {
        SigStatus::MissingKey => "unknown key",
        SigStatus::KeyExpired => "key expired",
        SigStatus::KeyRevoked => "key revoked",
        SigStatus::SigExpired => "signature expired",
        SigStatus::WeakHash => "weak digest",
        _ => "not trusted",
    };
    Ok((format!("signed, {why}"), Some(r.key_id().to_string())))
}

fn disk_size(repo: &Repo, commit: Checksum) -> Option<u64> {
    let objects = grove::tree::traverse::traverse_commit(repo, commit, 0).ok()?;
    Some(
        objects
            .iter()
            .filter_map(|o| std::fs::symlink_metadata(repo.object_path(o)).ok())
            .map(|m| m.len())
            .sum(),
    )
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok()
}

fn age_text(secs: u64) -> String {
    let d = secs / 86400;
    let h = secs / 3600;
    let m = secs / 60;
    if d >= 1 {
        format!("{d} day{} ago", if d == 1 { "" } else { "s" })
    } else if h >= 1 {
        format!("{h} hour{} ago", if h == 1 { "" } else { "s" })
    } else if m >= 1 {
        format!("{m} minute{} ago", if m == 1 { "" } else { "s" })
    } else {
        "just now".into()
    }
}

fn installed_hooks(repo: &Repo) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(repo.path().join("hooks")) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.ends_with(".sample")
                && !name.starts_with('.')
                && std::fs::metadata(e.path())
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let depth = super::sign::delta_depth(&repo)?;
    let mut keyring = super::gpg_verify::load_keyring(&repo, &[], None)?;
    if let Some(k) = super::sign::configured_keyring(&repo)? {
        keyring.extend(k);
    }
    let now = SystemTime::now();
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let refs = repo.list_refs()?;
    let summary_path = repo.path().join("summary");
    let summary_time = mtime(&summary_path);
    let mut newest_input: Option<SystemTime> = None;
    let mut bump = |t: Option<SystemTime>| {
        if let Some(t) = t {
            newest_input = Some(newest_input.map_or(t, |n: SystemTime| n.max(t)));
        }
    };

    let mut out_refs = Vec::new();
    // Refs often share a commit (aliases, promoted stages): walk each tip once.
    let mut sizes: std::collections::HashMap<Checksum, Option<u64>> =
        std::collections::HashMap::new();
    for (spec, c) in &refs {
        let ref_file = match &spec.remote {
            Some(r) => repo
                .path()
                .join("refs/remotes")
                .join(r)
                .join(spec.name.as_str()),
            None => repo.path().join("refs/heads").join(spec.name.as_str()),
        };
        if spec.remote.is_none() {
            bump(mtime(&ref_file));
        }
        let commit = repo.load_commit(*c).ok();
        let version = commit.as_ref().and_then(|k| k.metadata.get_str("version"));
        let sources = commit
            .as_ref()
            .map(|k| grove::lifecycle::provenance::Provenance::from_metadata(&k.metadata).sources)
            .unwrap_or_default();
        let timestamp = commit.as_ref().map(|k| k.timestamp);
        let (sig, key) = signature_state(&repo, *c, &keyring)?;
        let size = *sizes.entry(*c).or_insert_with(|| disk_size(&repo, *c));
        let mut deltas = Vec::new();
        let mut cur = commit.as_ref().and_then(|k| k.parent);
        for _ in 0..depth {
            let Some(from) = cur else { break };
            let Ok(fc) = repo.load_commit(from) else {
                break;
            };
            let name = DeltaName::new(Some(from), *c);
            let sb = repo.path().join(name.superblock_path());
            let present = sb.exists();
            if present {
                bump(mtime(&sb));
            }
            deltas.push(json!({"from": from.to_string(), "to": c.to_string(), "present": present}));
            cur = fc.parent;
        }
        out_refs.push(json!({
            "ref": spec.to_string(),
            "commit": c.to_string(),
            "version": version,
            "timestamp": timestamp,
            "age_seconds": timestamp.map(|t| now_secs.saturating_sub(t)),
            "signature": sig,
            "signed_by": key,
            "size": size,
            "deltas": deltas,
            "sources": sources,
        }));
    }

    // Summary: missing, or stale when a ref or delta is newer or the ref sets differ.
    let summary = match summary_time {
        None => json!({"state": "missing", "signed": false}),
        Some(st) => {
            let mut why = Vec::new();
            match Summary::read(&repo) {
                Ok(s) => {
                    let listed: BTreeSet<(String, Checksum)> = s
                        .refs
                        .iter()
                        .map(|r| (r.name.clone(), r.checksum))
                        .collect();
                    let local: BTreeSet<(String, Checksum)> = refs
                        .iter()
                        .filter(|(r, _)| r.remote.is_none())
                        .map(|(r, c)| (r.name.to_string(), *c))
                        .collect();
                    if listed != local {
                        why.push("its refs differ from the repository's".to_string());
                    }
                }
                Err(e) => why.push(format!("unreadable: {e}")),
            }
            if let Ok(deltas) = grove::delta::index::list(&repo) {
                for d in deltas {
                    let n = DeltaName::new(d.from, d.to);
                    bump(mtime(&repo.path().join(n.superblock_path())));
                }
            }
            if newest_input.is_some_and(|t| t > st) {
                why.push("a ref or delta is newer than the summary".to_string());
            }
            json!({
                "state": if why.is_empty() { "fresh" } else { "stale" },
                "reasons": why,
                "signed": repo.path().join("summary.sig").exists(),
                "age_seconds": st.elapsed().map(|d| d.as_secs()).unwrap_or(0),
            })
        }
    };
    let hooks = installed_hooks(&repo);
    let out = json!({
        "repo": repo.path().display().to_string(),
        "mode": repo.mode().config_name(),
        "delta_depth": depth,
        "signing_key_configured": super::sign::key_configured(&repo),
        "refs": out_refs,
        "summary": summary,
        "hooks": hooks,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print_human(&out);
    Ok(())
}

fn print_human(out: &serde_json::Value) {
    println!(
        "repository {} ({})",
        out["repo"].as_str().unwrap_or(""),
        out["mode"].as_str().unwrap_or("")
    );
    let refs = out["refs"].as_array().cloned().unwrap_or_default();
    if refs.is_empty() {
        println!("no refs");
    }
    for r in &refs {
        let version = r["version"]
            .as_str()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default();
        let age = r["age_seconds"]
            .as_u64()
            .map(age_text)
            .unwrap_or_else(|| "commit missing".into());
        let sig = match r["signed_by"].as_str() {
            Some(k) if r["signature"] == "signed" => format!("signed by {k}"),
            Some(k) => format!("{} ({k})", r["signature"].as_str().unwrap_or("")),
            None => r["signature"].as_str().unwrap_or("").to_string(),
        };
        let size = r["size"]
            .as_u64()
            .map(crate::format::size)
            .unwrap_or_else(|| "?".into());
        println!(
            "{}  {}{version}  {age}  {sig}  {size}",
            r["ref"].as_str().unwrap_or(""),
            &r["commit"].as_str().unwrap_or("")[..10.min(r["commit"].as_str().unwrap_or("").len())]
        );
        for src in r["sources"].as_array().into_iter().flatten() {
            let rev = serde_json::from_value::<grove::lifecycle::provenance::Source>(src.clone())
                .map(|s| s.revision_text())
                .unwrap_or_default();
            let dirty = if src["dirty"] == true { ", dirty" } else { "" };
            println!(
                "    source {}: {rev}{dirty}",
                src["name"].as_str().unwrap_or("")
            );
        }
        for d in r["deltas"].as_array().into_iter().flatten() {
            let from = d["from"].as_str().unwrap_or("");
            println!(
                "    delta from {}: {}",
                &from[..10.min(from.len())],
                if d["present"] == true {
                    "present"
                } else {
                    "missing"
                }
            );
        }
    }
    let s = &out["summary"];
    let signed = if s["signed"] == true { ", signed" } else { "" };
    match s["state"].as_str() {
        Some("stale") => {
            let why: Vec<&str> = s["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            println!("summary: stale{signed} ({})", why.join("; "));
        }
        Some(state) => println!("summary: {state}{signed}"),
        None => {}
    }
    let hooks: Vec<&str> = out["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    println!(
        "hooks: {}",
        if hooks.is_empty() {
            "none".to_string()
        } else {
            hooks.join(", ")
        }
    );
}
