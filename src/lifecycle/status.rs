//! A repository's release status, as one typed, serialisable value: what a
//! release engineer checks before and after a release.
//!
//! [`status`] reports, per ref, its commit, version, age, signature state,
//! size on disk, the build's recorded sources, and whether the static deltas
//! to it from its last `[grove] delta-depth` commits exist; then whether the
//! summary is missing, fresh or stale (and why), and which hooks are
//! installed. `grove status` prints it, and its `--json` is this value
//! serialised.
//!
//! OSTree has no such command; the pieces are ostree's: signature checks as
//! `ostree show` makes them (`ostree-gpg-verify-result.c`), the summary's ref
//! list as `ostree summary --view` shows it (`ot-dump.c`), delta names as
//! `ostree static-delta list` (`ostree-repo-static-delta-core.c`).

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::Serialize;

use crate::delta::DeltaName;
use crate::lifecycle::config::ReleaseConfig;
use crate::lifecycle::provenance::{Provenance, Source};
use crate::objects::checksum::{Checksum, ObjectName};
use crate::objects::summary::Summary;
use crate::repo::refs::Refspec;
use crate::repo::refs::Result;
use crate::repo::Repo;
use crate::trust::gpg::{self, Keyring, SigStatus};

/// The whole report. (Fields in name order: the JSON keys come out sorted.)
#[derive(Clone, Debug, Serialize)]
pub struct RepoStatus {
    pub delta_depth: u32,
    /// Executable files in `REPO/hooks` (samples and dot files left out), sorted.
    pub hooks: Vec<String>,
    /// The repository's mode as the config names it (`archive-z2`, `bare-user`, ...).
    pub mode: &'static str,
    pub refs: Vec<RefStatus>,
    /// The repository's path.
    pub repo: String,
    pub signing_key_configured: bool,
    pub summary: SummaryStatus,
}

/// One ref.
#[derive(Clone, Debug, Serialize)]
pub struct RefStatus {
    pub age_seconds: Option<u64>,
    pub commit: Checksum,
    pub deltas: Vec<DeltaStatus>,
    #[serde(rename = "ref")]
    pub spec: Refspec,
    pub signature: SignatureState,
    /// Why the signatures could not be checked at all (state `bad`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_error: Option<String>,
    /// The key id of the signature that decided [`RefStatus::signature`].
    pub signed_by: Option<String>,
    /// Bytes on disk of the objects the commit reaches (only when asked for).
    pub size: Option<u64>,
    /// The build's recorded sources (`grove.source.*`).
    pub sources: Vec<Source>,
    /// The commit's timestamp; `None` when the commit is missing.
    pub timestamp: Option<u64>,
    /// The commit's `version`.
    pub version: Option<String>,
}

/// The static delta to a ref's commit from one of its ancestors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeltaStatus {
    pub from: Checksum,
    pub present: bool,
    pub to: Checksum,
}

/// What a commit's signatures say, judged with the trusted keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureState {
    /// No signature at all.
    Unsigned,
    /// A good signature by a trusted key.
    Signed,
    /// A signature that does not match, or a weak digest; or unreadable
    /// signature data.
    Bad,
    /// Signed, but no signature is good for this reason.
    Untrusted(Untrusted),
}

/// Why a signed commit has no good signature (none bad).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untrusted {
    UnknownKey,
    KeyExpired,
    KeyRevoked,
    SignatureExpired,
}

impl fmt::Display for SignatureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureState::Unsigned => "unsigned",
            SignatureState::Signed => "signed",
            SignatureState::Bad => "bad",
            SignatureState::Untrusted(Untrusted::UnknownKey) => "signed, unknown key",
            SignatureState::Untrusted(Untrusted::KeyExpired) => "signed, key expired",
            SignatureState::Untrusted(Untrusted::KeyRevoked) => "signed, key revoked",
            SignatureState::Untrusted(Untrusted::SignatureExpired) => "signed, signature expired",
        })
    }
}

impl Serialize for SignatureState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether the summary lists what the repository holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryState {
    Missing,
    Fresh,
    Stale,
}

impl fmt::Display for SummaryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SummaryState::Missing => "missing",
            SummaryState::Fresh => "fresh",
            SummaryState::Stale => "stale",
        })
    }
}

/// Why a summary is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaleReason {
    /// Its refs are not the repository's local refs.
    RefsDiffer,
    /// A static delta was written after it (and may be missing from its
    /// delta list).
    NewerDelta,
    /// It cannot be read.
    Unreadable(String),
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::RefsDiffer => f.write_str("its refs differ from the repository's"),
            StaleReason::NewerDelta => f.write_str("a static delta is newer than the summary"),
            StaleReason::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

impl Serialize for StaleReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The summary's state; `reasons` and `age_seconds` only when it exists.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<StaleReason>>,
    /// Whether `summary.sig` exists.
    pub signed: bool,
    pub state: SummaryState,
}

/// Signature state of `commit`, and the key id that decided it; an error
/// reading the signatures is [`SignatureState::Bad`].
pub fn signature_state(
    repo: &Repo,
    commit: Checksum,
    keyring: &Keyring,
    now: SystemTime,
) -> gpg::Result<(SignatureState, Option<String>)> {
    let reports = gpg::verify_commit(repo, commit, keyring, now)?;
    let key = |r: &gpg::SignatureReport| Some(r.key_id().to_string());
    if let Some(r) = reports.iter().find(|r| r.status == SigStatus::Good) {
        return Ok((SignatureState::Signed, key(r)));
    }
    if let Some(r) = reports
        .iter()
        .find(|r| matches!(r.status, SigStatus::Bad | SigStatus::WeakHash))
    {
        return Ok((SignatureState::Bad, key(r)));
    }
    let Some(r) = reports.first() else {
        return Ok((SignatureState::Unsigned, None));
    };
    let why = match r.status {
        SigStatus::KeyExpired => Untrusted::KeyExpired,
        SigStatus::KeyRevoked => Untrusted::KeyRevoked,
        SigStatus::SigExpired => Untrusted::SignatureExpired,
        _ => Untrusted::UnknownKey,
    };
    Ok((SignatureState::Untrusted(why), key(r)))
}

/// The size on disk of what each commit reaches (its own history left
/// out). Refs share commits and commits share most objects, so every
/// distinct commit is walked once and every distinct object's file is
/// stat'ed once, in parallel.
#[derive(Default)]
struct DiskSizes {
    objects: HashMap<ObjectName, u64>,
    commits: HashMap<Checksum, Option<u64>>,
}

impl DiskSizes {
    fn of(&mut self, repo: &Repo, commit: Checksum) -> Option<u64> {
        if let Some(size) = self.commits.get(&commit) {
            return *size;
        }
        let size = crate::tree::traverse::traverse_commit(repo, commit, 0)
            .ok()
            .map(|reached| {
                let new: Vec<(ObjectName, u64)> = reached
                    .par_iter()
                    .filter(|o| !self.objects.contains_key(*o))
                    .filter_map(|o| {
                        let m = std::fs::symlink_metadata(repo.object_path(o)).ok()?;
                        Some((*o, m.len()))
                    })
                    .collect();
                self.objects.extend(new);
                reached.iter().filter_map(|o| self.objects.get(o)).sum()
            });
        self.commits.insert(commit, size);
        size
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(p).and_then(|m| m.modified()).ok()
}

/// The executable hooks installed in `REPO/hooks`.
pub fn installed_hooks(repo: &Repo) -> Vec<String> {
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

/// The newest of the times seen.
#[derive(Default)]
struct Newest(Option<SystemTime>);

impl Newest {
    fn see(&mut self, t: Option<SystemTime>) {
        if let Some(t) = t {
            self.0 = Some(self.0.map_or(t, |n| n.max(t)));
        }
    }
}

/// What a ref's status reads from its commit: the same for every ref
/// naming that commit.
struct CommitFacts {
    version: Option<String>,
    timestamp: Option<u64>,
    signature: SignatureState,
    signed_by: Option<String>,
    signature_error: Option<String>,
    deltas: Vec<DeltaStatus>,
    sources: Vec<Source>,
}

impl CommitFacts {
    /// Reads `c`'s facts; the deltas to it from its `delta_depth`
    /// ancestors are looked up, and `newest` sees the present ones' times.
    fn read(
        repo: &Repo,
        c: Checksum,
        config: &ReleaseConfig,
        keyring: &Keyring,
        now: SystemTime,
        newest: &mut Newest,
    ) -> CommitFacts {
        let commit = repo.load_commit(c).ok();
        let (signature, signed_by, signature_error) = match signature_state(repo, c, keyring, now) {
            Ok((state, key)) => (state, key, None),
            Err(e) => (SignatureState::Bad, None, Some(e.to_string())),
        };
        let mut deltas = Vec::new();
        for ancestor in repo.history(c).skip(1).take(config.delta_depth as usize) {
            let Ok((from, _)) = ancestor else { break };
            let sb = repo
                .path()
                .join(DeltaName::new(Some(from), c).superblock_path());
            let present = sb.exists();
            if present {
                newest.see(mtime(&sb));
            }
            deltas.push(DeltaStatus {
                from,
                to: c,
                present,
            });
        }
        CommitFacts {
            version: commit.as_ref().and_then(|k| k.version()),
            timestamp: commit.as_ref().map(|k| k.timestamp),
            signature,
            signed_by,
            signature_error,
            deltas,
            sources: commit
                .map(|k| Provenance::from_metadata(&k.metadata).sources)
                .unwrap_or_default(),
        }
    }
}

/// The status of `repo` at time `now`, signatures judged with `keyring`.
/// With `sizes`, each ref's size on disk too: that walks every distinct
/// commit's tree and stats every object it reaches, the one part of the
/// report whose cost grows with the repository's object count (2.8 s for
/// 5,000 refs over 30 commits of 100,000 files, against 0.1 s without).
pub fn status(
    repo: &Repo,
    config: &ReleaseConfig,
    keyring: &Keyring,
    now: SystemTime,
    sizes: bool,
) -> Result<RepoStatus> {
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let refs = repo.list_refs()?;
    let mut newest = Newest::default();
    let mut disk = sizes.then(DiskSizes::default);
    // Refs share commits (5,001 refs over 30 commits in bench/scale.sh):
    // what depends only on the commit is read once per distinct commit.
    let mut facts: HashMap<Checksum, CommitFacts> = HashMap::new();
    let mut out_refs = Vec::with_capacity(refs.len());
    for (spec, c) in &refs {
        let f = facts
            .entry(*c)
            .or_insert_with(|| CommitFacts::read(repo, *c, config, keyring, now, &mut newest));
        out_refs.push(RefStatus {
            spec: spec.clone(),
            commit: *c,
            version: f.version.clone(),
            timestamp: f.timestamp,
            age_seconds: f.timestamp.map(|t| now_secs.saturating_sub(t)),
            signature: f.signature,
            signed_by: f.signed_by.clone(),
            signature_error: f.signature_error.clone(),
            size: disk.as_mut().and_then(|d| d.of(repo, *c)),
            deltas: f.deltas.clone(),
            sources: f.sources.clone(),
        });
    }
    let local: Vec<(&str, Checksum)> = refs
        .iter()
        .filter(|(r, _)| r.remote.is_none())
        .map(|(r, c)| (r.name.as_str(), *c))
        .collect();
    Ok(RepoStatus {
        repo: repo.path().display().to_string(),
        mode: repo.mode().config_name(),
        delta_depth: config.delta_depth,
        signing_key_configured: config.signing.is_some(),
        refs: out_refs,
        summary: summary_status(repo, &local, newest, now),
        hooks: installed_hooks(repo),
    })
}

/// Missing; or stale when its refs are not the repository's local refs, or
/// a static delta was written after it. (Refs are compared by value, not by
/// time: a promotion publishes its summary just before its ref move
/// commits.)
fn summary_status(
    repo: &Repo,
    local: &[(&str, Checksum)],
    mut newest: Newest,
    now: SystemTime,
) -> SummaryStatus {
    let signed = repo.path().join("summary.sig").exists();
    let Some(written) = mtime(&repo.path().join("summary")) else {
        return SummaryStatus {
            state: SummaryState::Missing,
            reasons: None,
            signed: false,
            age_seconds: None,
        };
    };
    let mut why = Vec::new();
    match Summary::read_ref_list(repo) {
        Ok(mut listed) => {
            // `local` is in name order, one entry per name.
            listed.sort_unstable();
            listed.dedup();
            if !listed
                .iter()
                .map(|(n, c)| (n.as_str(), *c))
                .eq(local.iter().copied())
            {
                why.push(StaleReason::RefsDiffer);
            }
        }
        Err(e) => why.push(StaleReason::Unreadable(e.to_string())),
    }
    if let Ok(deltas) = crate::delta::index::list(repo) {
        for d in deltas {
            let n = DeltaName::new(d.from, d.to);
            newest.see(mtime(&repo.path().join(n.superblock_path())));
        }
    }
    if newest.0.is_some_and(|t| t > written) {
        why.push(StaleReason::NewerDelta);
    }
    SummaryStatus {
        state: if why.is_empty() {
            SummaryState::Fresh
        } else {
            SummaryState::Stale
        },
        reasons: Some(why),
        signed,
        age_seconds: Some(
            now.duration_since(written)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialise_as_status_prints_them() {
        assert_eq!(
            serde_json::to_value(SignatureState::Untrusted(Untrusted::UnknownKey)).unwrap(),
            "signed, unknown key"
        );
        assert_eq!(serde_json::to_value(SummaryState::Fresh).unwrap(), "fresh");
        let missing = SummaryStatus {
            state: SummaryState::Missing,
            reasons: None,
            signed: false,
            age_seconds: None,
        };
        assert_eq!(
            serde_json::to_value(missing).unwrap(),
            serde_json::json!({"state": "missing", "signed": false})
        );
    }
}
