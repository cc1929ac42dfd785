//! Publishing a repository to where clients fetch it: an archive repository
//! in object storage or a plain directory ([`crate::transfer::store`]),
//! kept in an order no client can trip over.
//!
//! # The ordering contract
//!
//! Nothing becomes visible before everything it names:
//! 1. `config` (mode `archive-z2`), once;
//! 2. content (`.filez`, compressed on the way from a bare or bare-user
//!    repository with the encoder a pull into archive uses) and dirmeta;
//! 3. dirtrees, children before parents (by height: leaves first);
//! 4. `.commitmeta` and tombstones, then commits, parents first;
//! 5. static deltas: parts, then the superblock; then `delta-indexes/`;
//! 6. refs (`refs/heads/…`), each compare-and-swap against the value read
//!    when the publish was planned;
//! 7. `summary` and `summary.sig` last, in the scheme of a local signed
//!    summary (`objects::summary::update`, docs/signing.md): old and new
//!    signatures side by side, each step `summary_delay` apart;
//! 8. with `--prune`, deletions of what nothing reaches any more, each
//!    only once it has been unreachable for the target's grace period.
//!
//! Because of that order a ref on the target guarantees that its commit,
//! the commit's tree and the history published with it are there, as in
//! `git push`: a publish reads the target's refs (one LIST of `refs/heads/`
//! and a GET per ref) and its summary, walks what they reach in the local
//! repository, and uploads only the rest — it never lists `objects/`.
//! `verify` lists `objects/` and `deltas/` and uploads whatever is
//! missing, for a target someone changed by hand. A publish killed at any
//! point leaves refs and a summary that name complete commits only; the
//! next publish uploads again what was not yet referenced (create-only
//! writes make that cheap) and finishes.
//!
//! # Two publishers
//!
//! Refs, the summary and the prune record move compare-and-swap (S3
//! `If-Match` / `If-None-Match: *`; a `file://` target compares under an
//! exclusive lock). A publisher that finds one of them changed since it
//! read it stops with [`PublishError`] naming the key; the objects it
//! uploaded are complete, unreferenced, and left for a later prune.
//!
//! # Deleting
//!
//! `--prune` lists the target and records, in `grove/prune-record.json` on
//! the target itself (so every machine publishing there sees the same
//! record), when each unreachable key was first seen unreachable. A key is
//! deleted once it has been unreachable for `prune-grace` (default one day):
//! clients still fetch yesterday's commit (ostree issue 2337). Deltas leave
//! the summary before their files are deleted. The record is written before
//! anything is deleted.
//!
//! # Interrupting
//!
//! The caller's [`Control`] sees progress by phase (content, metadata,
//! deltas, refs) and may stop the publish: the interrupt flag is checked
//! between uploads up to the refs, and a publish stopped there returns
//! [`PublishError::Interrupted`] having moved no ref and not the summary;
//! what it uploaded is complete and unreferenced, and the next publish
//! finds it there. Refs, the summary and the prune run to the end once
//! begun (a few requests).
//!
//! # Modules
//!
//! This module holds the types, the errors and [`execute`]: the contract's
//! order, the objects going up through the transfer engine
//! ([`crate::transfer::store_objects`]) with the target as its sink
//! ([`crate::transfer::store_sink::StoreSink`]), then deltas and refs.
//! `plan` works out what the target holds and what to upload ([`plan()`]);
//! `summary` publishes the summary and its signatures; `prune` keeps the
//! prune record and deletes; `publisher` opens a configured target and
//! derives a publish's options from it ([`Publisher`]).
//!
//! Upstream has no publisher (ostree points to `rsync`); the order is the
//! one `ostree-repo-pull.c` relies on, the delayed deletion flat-manager's.

mod plan;
mod prune;
mod publisher;
mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::objects::checksum::Checksum;
use crate::progress::{Control, Phase};
use crate::repo::refs::RefName;
use crate::repo::target::Target;
use crate::repo::{Repo, RepoError};
use crate::transfer::store::{Expect, Payload, RequestCounts, Store, StoreError};
pub use crate::transfer::store_sink::KindCount;
use crate::transfer::store_sink::StoreSink;
use crate::transfer::{pool, TransferError};
use crate::trust::gpg::SigningKey;
pub use plan::{plan, PublishPlan};
pub use prune::{PruneReport, PRUNE_RECORD};
pub use publisher::{Planned, PublishReport, PublishRequest, Publisher};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("ref {0} not found in the repository")]
    RefNotFound(String),
    #[error("commit {0} is partial in the repository: it cannot be published")]
    Partial(Checksum),
    #[error("{url}: ref {name} names commit {commit}, which is neither in the repository nor on the target")]
    MissingOnTarget {
        url: String,
        name: String,
        commit: Checksum,
    },
    #[error("{url}: not an archive repository (config says mode={mode})")]
    NotArchive { url: String, mode: String },
    #[error("{url}: {key} is corrupt: {why}")]
    Corrupt {
        url: String,
        key: String,
        why: String,
    },
    #[error("{url}: ref {name} moved since this publish read it (another publisher?); nothing of it was published")]
    RefMoved { url: String, name: String },
    #[error("signing the summary: {0}")]
    Sign(String),
    #[error("{dest} is a remote ref; only local refs are published (to {target})")]
    RemoteRef { dest: String, target: String },
    #[error("publish target {target} does not publish {dest} (its refs= patterns leave it out)")]
    NotSelected { dest: String, target: String },
    #[error(transparent)]
    Target(#[from] crate::repo::target::TargetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transfer(TransferError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Delta(#[from] crate::delta::DeltaError),
    #[error(transparent)]
    Ref(#[from] crate::repo::refs::RefError),
    #[error(
        "interrupted before any ref or the summary moved: the target serves what it served before"
    )]
    Interrupted(#[from] crate::progress::Interrupted),
}

impl From<TransferError> for PublishError {
    /// The engine's errors, as a publish says them.
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Store(e) => PublishError::Store(e),
            TransferError::Repo(e) => PublishError::Repo(e),
            TransferError::Interrupted(i) => PublishError::Interrupted(i),
            e => PublishError::Transfer(e),
        }
    }
}

pub type Result<T, E = PublishError> = std::result::Result<T, E>;

/// How to publish.
#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    /// Refs to publish. Empty: every local ref the target's `refs=`
    /// selects, and the target's refs it selects that are gone locally are
    /// deleted there.
    pub refs: Vec<RefName>,
    /// List `objects/` and `deltas/` and upload whatever is missing.
    pub verify: bool,
    /// Delete what nothing reaches, after the target's grace period.
    pub prune: bool,
    /// Time between the steps of the signed summary publication.
    pub summary_delay: Duration,
    /// Seconds since the epoch: the summary's `last-modified` and the prune clock.
    pub now: u64,
}

/// One ref the publish moves on the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetRefEdit {
    #[serde(rename = "ref", serialize_with = "as_string")]
    pub name: RefName,
    pub old: Option<Checksum>,
    pub new: Option<Checksum>,
}

fn as_string<S: serde::Serializer>(v: &RefName, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// What a publish did (or, for a plan, would do).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PublishOutcome {
    pub target: String,
    pub refs: Vec<TargetRefEdit>,
    /// Uploaded, by kind (content, dirmeta, dirtree, commit, commitmeta,
    /// tombstone, delta-part, superblock, delta-index, ref, summary, config).
    pub uploaded: BTreeMap<&'static str, KindCount>,
    /// Immutable objects that turned out to be on the target already.
    pub already_present: u64,
    /// Whether `summary` was rewritten.
    pub summary: bool,
    /// With `verify`: keys reachable on the target that were missing.
    pub missing: Option<u64>,
    pub prune: Option<PruneReport>,
    pub requests: RequestCounts,
}

impl PublishOutcome {
    /// Every upload of every kind: files and bytes.
    pub fn uploaded_total(&self) -> KindCount {
        self.uploaded
            .values()
            .fold(KindCount::default(), |t, k| KindCount {
                objects: t.objects + k.objects,
                bytes: t.bytes + k.bytes,
            })
    }
}

fn ref_key(name: &RefName) -> String {
    format!("refs/heads/{name}")
}

fn target_config(repo: &Repo) -> Vec<u8> {
    let mut s = String::from("[core]\nrepo_version=1\nmode=archive-z2\n");
    if let Some(c) = repo.collection_id() {
        s.push_str(&format!("collection-id={c}\n"));
    }
    s.into_bytes()
}

/// Carries out `plan`: uploads in the contract's order, moves the refs,
/// publishes the summary (signed with `keys`), and prunes when asked. The
/// objects go up through the transfer engine with the target as its sink
/// (its worker pool, progress and interruption); deltas, refs and the
/// summary follow here.
pub fn execute(
    repo: &Repo,
    store: &Store,
    target: &Target,
    plan: PublishPlan,
    opts: &PublishOptions,
    keys: &mut [SigningKey],
    control: &Control,
) -> Result<PublishOutcome> {
    let sink = StoreSink::new(store, &plan.known, &repo.tmp_dir(), target.jobs);

    // 1. config.
    control.check()?;
    if !plan.state.has_config {
        sink.put_new("config", "config", Payload::Bytes(target_config(repo)))?;
    }

    // 2.–4. content and dirmeta; dirtrees, leaves first; commitmeta and
    // tombstones, then commits, parents first.
    crate::transfer::store_objects(repo, &sink, &plan.objects, control)?;

    // 5. deltas: parts, then superblock; then the indexes.
    let counter = control.phase(Phase::Deltas, plan.deltas.len() as u64);
    for d in &plan.deltas {
        let dir = repo.path().join(d.relative_dir());
        let io_err = |source| RepoError::Io {
            path: dir.clone(),
            source,
        };
        let mut parts = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io_err)? {
            let e = e.map_err(io_err)?;
            let n = e.file_name().to_string_lossy().into_owned();
            if n != "superblock" && e.path().is_file() {
                parts.push(n);
            }
        }
        parts.sort();
        let read = |name: &str| -> Result<Vec<u8>> {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| RepoError::Io { path: p, source }.into())
        };
        pool::map(&parts, target.jobs, |p| {
            control.check()?;
            let key = format!("{}/{p}", d.relative_dir());
            Ok::<_, PublishError>(sink.put("delta-part", &key, read(p)?)?)
        })?;
        let sb = read("superblock")?;
        let n = sb.len() as u64;
        sink.put("superblock", &d.superblock_path(), sb)?;
        counter.tick(n)?;
    }
    for (to, bytes) in &plan.indexes {
        sink.put(
            "delta-index",
            &crate::delta::index::index_path(to),
            bytes.clone(),
        )?;
    }

    // 6. refs, compare-and-swap. The last point to stop: from here on the
    // refs and the summary go out together.
    control.check()?;
    let counter = control.phase(Phase::Refs, plan.refs.len() as u64);
    for e in &plan.refs {
        let key = ref_key(&e.name);
        let expect: Expect = plan.state.refs.get(&e.name).map(|(_, v)| v.clone()).into();
        let moved = |err: StoreError| match err {
            StoreError::Moved { url, .. } => PublishError::RefMoved {
                url,
                name: e.name.to_string(),
            },
            e => e.into(),
        };
        match e.new {
            Some(c) => {
                store
                    .put_if(&key, format!("{c}\n").into_bytes(), &expect)
                    .map_err(moved)?;
                sink.record("ref", 65);
            }
            None => {
                if let Expect::Version(v) = &expect {
                    store.delete_if(&key, v).map_err(moved)?;
                }
            }
        }
        counter.advance(0);
    }

    // 7. summary and signatures.
    let mut summary_written = false;
    if plan.summary_needed {
        summary::publish_summary(repo, &sink, &plan, opts, keys)?;
        summary_written = true;
    }

    // 8. prune.
    let prune = if opts.prune {
        Some(prune::prune(store, target, &plan, opts)?)
    } else {
        None
    };

    let (uploaded, already_present) = sink.into_tally();
    Ok(PublishOutcome {
        target: store.url().to_string(),
        refs: plan.refs.clone(),
        uploaded,
        already_present,
        summary: summary_written,
        missing: plan.missing,
        prune,
        requests: store.requests(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_total_adds_every_kind() {
        let mut o = PublishOutcome::default();
        assert_eq!(o.uploaded_total(), KindCount::default());
        let count = |objects, bytes| KindCount { objects, bytes };
        o.uploaded.insert("content", count(3, 300));
        o.uploaded.insert("commit", count(1, 20));
        assert_eq!(o.uploaded_total(), count(4, 320));
    }
}
