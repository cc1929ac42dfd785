//! Publishing the summary: `summary` and `summary.sig` replaced in an
//! order that keeps every served pair verifiable, under a lock that
//! serialises publishers, after the `ostree-metadata` commit and the delta
//! indexes are brought up to date. The format itself (build, read) is
//! [`crate::objects::summary`]'s.
//!
//! Upstream: `ostree_repo_regenerate_summary` (`ostree-repo.c`) writes the
//! metadata commit, reindexes deltas and replaces the two files (signing
//! with `ostree_repo_add_gpg_signature_summary`); grove's signed scheme,
//! which ostree has not, is in `docs/signing.md`.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::lifecycle::config::ReleaseConfig;
use crate::objects::checksum::Checksum;
use crate::objects::metadata::Metadata;
use crate::objects::summary::{
    build, BuildOptions, RawValue, Result, SummaryError, VarDict, METADATA_REF,
};
use crate::repo::{IoContext as _, Repo};
use crate::trust::gpg::{self, SigningKey};

/// Regenerates, signs with `keys` and publishes the summary at time `now`,
/// with `additional` metadata (`summary -m`): the grace between
/// `summary.sig` and `summary` is `delay` if given, else the release
/// config's (`ReleaseConfig::publish_grace`). What `grove summary -u` and
/// `grove sign --summary` do before their `post-summary` hook.
pub fn publish(
    repo: &mut Repo,
    config: &ReleaseConfig,
    keys: &mut [SigningKey],
    additional: Vec<(String, RawValue)>,
    delay: Option<Duration>,
    now: u64,
) -> Result<Published> {
    // Any further build option keeps its default here.
    #[allow(clippy::needless_update)]
    let opts = UpdateOptions {
        build: BuildOptions {
            additional,
            now,
            ..Default::default()
        },
        grace: config.publish_grace(delay, !keys.is_empty()),
    };
    update(repo, &opts, keys)
}

/// Options for [`update`].
#[derive(Debug)]
pub struct UpdateOptions {
    pub build: BuildOptions,
    /// Minimum time between publishing a new `summary.sig` and the matching
    /// `summary`, and between two publications (see `docs/signing.md`).
    pub grace: Duration,
}

/// What [`update`] published.
#[derive(Debug)]
pub struct Published {
    pub summary: Vec<u8>,
    pub signatures: usize,
}

/// Replaces `summary` or `summary.sig`: synced as the repository's refs
/// are, with an mtime that moves past the old one's second.
fn write_replace(repo: &Repo, dest: &Path, bytes: &[u8]) -> Result<()> {
    crate::repo::atomic::Replace::new(dest, repo.fsync_policy())
        .increasing_mtime()
        .write(bytes)?;
    Ok(())
}

/// Serialises `summary -u` runs of all processes: an exclusive `flock` on
/// `REPO/.summary-lock`, released on drop.
pub struct SummaryLock {
    _file: fs::File,
}

impl SummaryLock {
    pub fn acquire(repo: &Repo) -> Result<SummaryLock> {
        let p = repo.path().join(".summary-lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&p)
            .at(&p)?;
        rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .at(&p)?;
        Ok(SummaryLock { _file: file })
    }
}

/// Regenerates and publishes the summary (and, with `keys`, its signatures).
///
/// Under the summary lock: reindex deltas, build the new summary S1, sign
/// it, and sign the summary being replaced, S0. Then
/// 1. publish `summary.sig` = [signatures over S0, then over S1] (rename):
///    the served pair (S0, sig) still verifies for every reader, and a reader
///    that accepts any good signature also verifies S1 with it;
/// 2. wait `grace`, publish S1 (rename), and at once `summary.sig` =
///    [signatures over S1, then over S0];
/// 3. wait `grace` again, and publish `summary.sig` = [signatures over S1].
///
/// GnuPG readers fail only when their two reads straddle step 2 (the window
/// `ostree summary -u` has too); readers that accept any good signature fail
/// only when their reads are more than `grace` apart. Without keys,
/// `summary.sig` is removed first (as ostree does) and the summary published.
pub fn update(repo: &mut Repo, opts: &UpdateOptions, keys: &mut [SigningKey]) -> Result<Published> {
    let _lock = SummaryLock::acquire(repo)?;
    let _repo_lock = repo.lock(crate::repo::lock::LockKind::Shared)?;
    write_metadata_commit(repo, &opts.build, keys)?;
    let deltas = crate::delta::index::list(repo)?;
    crate::delta::index::reindex(repo, None)?;
    let new = build(repo, &opts.build, &deltas)?;
    let summary_path = repo.path().join("summary");
    let sig_path = repo.path().join("summary.sig");
    if keys.is_empty() {
        match fs::remove_file(&sig_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SummaryError::Io {
                    path: sig_path,
                    source: e,
                })
            }
        }
        write_replace(repo, &summary_path, &new)?;
        return Ok(Published {
            summary: new,
            signatures: 0,
        });
    }
    let mut sigs = Vec::new();
    for k in keys.iter_mut() {
        sigs.push(k.sign(&new)?);
    }
    let n_new = sigs.len();
    let old = match fs::read(&summary_path) {
        Ok(b) => Some(b).filter(|o| *o != new),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(SummaryError::Io {
                path: summary_path,
                source: e,
            })
        }
    };
    let mut old_sigs = Vec::new();
    if let Some(old) = &old {
        for k in keys.iter_mut() {
            old_sigs.push(k.sign(old)?);
        }
    }
    // Keep publications at least `grace` apart, so a reader never sees two.
    if let Ok(mtime) = fs::metadata(&summary_path).and_then(|m| m.modified()) {
        if let Ok(age) = SystemTime::now().duration_since(mtime) {
            if age < opts.grace {
                std::thread::sleep(opts.grace - age);
            }
        }
    }
    // GnuPG in batch mode (as GPGME, and so every ostree client, runs it)
    // stops at the first signature that does not match, so the signatures of
    // the summary being served come first. While the old summary is still served, its signatures lead and
    // the new one's follow (readers that accept any good signature — grove —
    // then verify either summary); once the new summary is in place, its
    // signatures lead. The second write also changes summary.sig's bytes, so
    // a client that cached the old summary with the interim summary.sig
    // fetches the new summary on its next pull.
    let ordered = |first: &[Vec<u8>], then: &[Vec<u8>]| {
        let all: Vec<Vec<u8>> = first.iter().chain(then).cloned().collect();
        gpg::gpgsigs_dict_bytes(&all)
    };
    if old.is_some() {
        write_replace(repo, &sig_path, &ordered(&old_sigs, &sigs))?;
        std::thread::sleep(opts.grace);
    }
    write_replace(repo, &summary_path, &new)?;
    write_replace(repo, &sig_path, &ordered(&sigs, &old_sigs))?;
    if old.is_some() {
        // Once no reader can still hold S0, the signatures of S1 alone: the
        // state `ostree summary -u` leaves (one signature per key).
        std::thread::sleep(opts.grace);
        write_replace(repo, &sig_path, &ordered(&sigs, &[]))?;
    }
    Ok(Published {
        summary: new,
        signatures: n_new,
    })
}

/// In a repository with a collection ID, writes a new commit on
/// [`METADATA_REF`] (`refs/heads/ostree-metadata`), as `ostree summary -u`
/// does before it regenerates the summary: an empty tree (a root directory
/// owned by 0:0, mode 0755), no subject or body, the previous metadata
/// commit as parent, and as metadata the additional `-m` entries plus the
/// ref and collection bindings, in `GVariantDict` order; signed by each of
/// `keys`. Returns the new commit, or `None` without a collection ID.
pub fn write_metadata_commit(
    repo: &Repo,
    opts: &BuildOptions,
    keys: &mut [SigningKey],
) -> Result<Option<Checksum>> {
    let Some(cid) = repo.collection_id().map(str::to_string) else {
        return Ok(None);
    };
    let name: crate::repo::refs::RefName = METADATA_REF.parse()?;
    let spec = crate::repo::refs::Refspec { remote: None, name };
    let parent = repo.read_ref_exact(&spec)?;
    let mut dict = VarDict::new();
    for (k, v) in &opts.additional {
        dict.insert(k, v.clone());
    }
    dict.insert("ostree.collection-binding", RawValue::string(&cid));
    dict.insert(
        "ostree.ref-binding",
        RawValue::from_variant(&crate::objects::metadata::owned(vec![
            METADATA_REF.to_string()
        ])),
    );
    let metadata = Metadata::from_bytes(&dict.to_bytes()).map_err(|e| SummaryError::Corrupt {
        path: PathBuf::from(METADATA_REF),
        why: e.to_string(),
    })?;
    let root_meta = repo.write_dirmeta(&crate::objects::DirMeta {
        uid: 0,
        gid: 0,
        mode: 0o040755,
        xattrs: Default::default(),
    })?;
    let root_contents = repo.write_dirtree(&crate::objects::DirTree::default())?;
    let commit = crate::objects::Commit {
        metadata,
        parent,
        related: Vec::new(),
        subject: String::new(),
        body: String::new(),
        timestamp: opts.now,
        root_contents,
        root_meta,
    };
    let c = repo.write_commit(&commit)?;
    if !keys.is_empty() {
        gpg::sign_commit(repo, c, keys)?;
    }
    repo.set_ref(&spec, Some(c), Some(parent))?;
    Ok(Some(c))
}
