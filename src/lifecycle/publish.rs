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
//! Upstream has no publisher (ostree points to `rsync`); the order is the
//! one `ostree-repo-pull.c` relies on, the delayed deletion flat-manager's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::delta::DeltaName;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::summary::{self, Summary, SummaryRef};
use crate::objects::{Commit, DirTree};
use crate::progress::{Control, Phase};
use crate::repo::refs::{RefName, Refspec};
use crate::repo::target::Target;
use crate::repo::{Repo, RepoError};
use crate::transfer::engine::{PlannedCommit, PlannedObject};
use crate::transfer::remote::object_rel;
use crate::transfer::store::{Expect, Payload, RequestCounts, Store, StoreError, Version};
pub use crate::transfer::store_sink::KindCount;
use crate::transfer::store_sink::StoreSink;
use crate::transfer::verify::{Checks, ContentCheck};
use crate::transfer::{pool, Plan, TransferError};
use crate::trust::gpg::SigningKey;

/// Where the prune record lives on a target.
pub const PRUNE_RECORD: &str = "grove/prune-record.json";

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

/// What a prune did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Keys nothing reaches.
    pub unreachable: u64,
    /// Of those, kept because their grace period has not passed.
    pub waiting: u64,
    /// Deleted now.
    pub deleted: Vec<String>,
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

/// The target as a publish found it.
struct TargetState {
    has_config: bool,
    refs: BTreeMap<RefName, (Checksum, Version)>,
    summary: Option<(Vec<u8>, Version)>,
    summary_sig: Option<(Vec<u8>, Version)>,
    deltas: BTreeMap<DeltaName, Checksum>,
}

/// Everything a publish will do, worked out before anything is written.
pub struct PublishPlan {
    state: TargetState,
    pub refs: Vec<TargetRefEdit>,
    /// Objects to upload (content, dirmeta, dirtrees, commitmeta,
    /// tombstones, commits), run by the transfer engine; no ref of it moves.
    objects: Plan,
    /// Objects the target holds already (what its refs reach).
    known: HashSet<ObjectName>,
    deltas: Vec<DeltaName>,
    indexes: Vec<(Checksum, Vec<u8>)>,
    final_refs: BTreeMap<RefName, Checksum>,
    final_deltas: BTreeMap<DeltaName, Checksum>,
    /// Metadata objects read from the target (commits only there).
    remote_meta: HashMap<ObjectName, Vec<u8>>,
    /// Every object the final refs reach (for prune).
    reachable: HashSet<ObjectName>,
    missing: Option<u64>,
    pub summary_needed: bool,
    verify: bool,
}

impl PublishPlan {
    /// What the plan would do, as an outcome (for `--dry-run`).
    pub fn preview(&self, store: &Store) -> PublishOutcome {
        let mut uploaded = BTreeMap::new();
        let mut put = |k: &'static str, n: usize| {
            if n > 0 {
                uploaded.insert(
                    k,
                    KindCount {
                        objects: n as u64,
                        bytes: 0,
                    },
                );
            }
        };
        let o = &self.objects;
        let metadata = |t: ObjectType| o.metadata.iter().filter(|m| m.name.objtype == t).count();
        put("config", usize::from(!self.state.has_config));
        put("content", o.content.len());
        put("dirmeta", metadata(ObjectType::DirMeta));
        put("dirtree", metadata(ObjectType::DirTree));
        put(
            "commitmeta",
            o.commits.iter().filter(|c| c.detached.is_some()).count(),
        );
        put("tombstone", o.tombstones.len());
        put("commit", o.commits.len());
        put("delta", self.deltas.len());
        put("delta-index", self.indexes.len());
        put("ref", self.refs.len());
        PublishOutcome {
            target: store.url().to_string(),
            refs: self.refs.clone(),
            uploaded,
            summary: self.summary_needed,
            missing: self.missing,
            requests: store.requests(),
            ..Default::default()
        }
    }
}

fn ref_key(name: &RefName) -> String {
    format!("refs/heads/{name}")
}

/// Reads metadata objects from the repository, or else from the target.
struct Meta<'a> {
    repo: &'a Repo,
    store: &'a Store,
    remote: Mutex<HashMap<ObjectName, Vec<u8>>>,
}

impl Meta<'_> {
    fn read(&self, name: ObjectName) -> Result<Option<Vec<u8>>> {
        match self.repo.read_metadata(&name) {
            Ok(b) => return Ok(Some(b)),
            Err(RepoError::ObjectMissing(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(b) = self.remote.lock().expect("no panics").get(&name) {
            return Ok(Some(b.clone()));
        }
        let got = self.store.get(&object_rel(&name))?.map(|(b, _)| b);
        if let Some(b) = &got {
            self.remote
                .lock()
                .expect("no panics")
                .insert(name, b.clone());
        }
        Ok(got)
    }

    fn commit(&self, c: Checksum) -> Result<Option<(Vec<u8>, Commit)>> {
        let name = ObjectName::new(c, ObjectType::Commit);
        let Some(bytes) = self.read(name)? else {
            return Ok(None);
        };
        let commit =
            Commit::from_bytes(&bytes).map_err(|source| RepoError::Format { name, source })?;
        Ok(Some((bytes, commit)))
    }

    fn dirtree(&self, c: Checksum) -> Result<DirTree> {
        let name = ObjectName::new(c, ObjectType::DirTree);
        let bytes = self.read(name)?.ok_or(RepoError::ObjectMissing(name))?;
        DirTree::from_bytes(&bytes).map_err(|source| RepoError::Format { name, source }.into())
    }
}

/// Walks trees, recording what it reaches and each dirtree's child dirtrees.
#[derive(Default)]
struct Walk {
    seen: HashSet<ObjectName>,
    children: HashMap<Checksum, Vec<Checksum>>,
    /// Descend into known dirtrees too (verifying: a listed dirtree does
    /// not vouch for what it names).
    descend_known: bool,
    visited: HashSet<Checksum>,
}

impl Walk {
    /// Adds the tree `root` (dirtree) + `meta`, skipping subtrees in `known`.
    fn tree(
        &mut self,
        meta: &Meta<'_>,
        root: Checksum,
        dirmeta: Checksum,
        known: &HashSet<ObjectName>,
    ) -> Result<()> {
        let mut stack = vec![(root, dirmeta)];
        while let Some((t, m)) = stack.pop() {
            let mn = ObjectName::new(m, ObjectType::DirMeta);
            if !known.contains(&mn) {
                self.seen.insert(mn);
            }
            let tn = ObjectName::new(t, ObjectType::DirTree);
            if !self.visited.insert(t) {
                continue;
            }
            if known.contains(&tn) {
                if !self.descend_known {
                    continue;
                }
            } else {
                self.seen.insert(tn);
            }
            let tree = meta.dirtree(t)?;
            for f in &tree.files {
                let n = ObjectName::new(f.checksum, ObjectType::File);
                if !known.contains(&n) {
                    self.seen.insert(n);
                }
            }
            let kids = tree.dirs.iter().map(|d| d.tree).collect();
            self.children.insert(t, kids);
            for d in &tree.dirs {
                stack.push((d.tree, d.meta));
            }
        }
        Ok(())
    }
}

/// A commit and the history published with it: `(commit, bytes, parsed)`
/// from the tip back, stopping at `depth`, at a commit in `stop`, or where
/// history is missing (returning the missing parent's checksum).
type Chain = (Vec<(Checksum, Commit)>, Option<Checksum>);

fn chain(
    meta: &Meta<'_>,
    repo: &Repo,
    tip: Checksum,
    depth: i32,
    stop: &HashSet<Checksum>,
) -> Result<Chain> {
    let mut out = Vec::new();
    let mut cur = Some(tip);
    let mut level = 0i64;
    while let Some(c) = cur {
        if stop.contains(&c) {
            return Ok((out, None));
        }
        if c != tip
            && repo.has_object(&ObjectName::new(c, ObjectType::Commit))
            && repo.is_partial(c)
        {
            return Ok((out, None));
        }
        let Some((_, commit)) = meta.commit(c)? else {
            return Ok((out, (c != tip).then_some(c)));
        };
        let parent = commit.parent;
        out.push((c, commit));
        cur = if depth < 0 || level < depth as i64 {
            parent
        } else {
            None
        };
        level += 1;
    }
    Ok((out, None))
}

fn read_state(store: &Store, verify: bool) -> Result<TargetState> {
    let url = store.url().to_string();
    let has_config = match store.get("config")? {
        None => false,
        Some((bytes, _)) => {
            let text = String::from_utf8_lossy(&bytes);
            let mode = crate::repo::keyfile::KeyFile::parse(&text)
                .ok()
                .and_then(|k| k.get("core", "mode").map(str::to_string))
                .unwrap_or_default();
            if !matches!(mode.as_str(), "archive" | "archive-z2") {
                return Err(PublishError::NotArchive { url, mode });
            }
            true
        }
    };
    let mut refs = BTreeMap::new();
    for l in store.list("refs/heads/")? {
        let Some(name) = l.key.strip_prefix("refs/heads/") else {
            continue;
        };
        let Ok(name) = name.parse::<RefName>() else {
            continue;
        };
        // Read the ref itself: its version is the one a compare-and-swap expects.
        let Some((bytes, version)) = store.get(&l.key)? else {
            continue;
        };
        let c = String::from_utf8_lossy(&bytes)
            .trim()
            .parse::<Checksum>()
            .map_err(|e| PublishError::Corrupt {
                url: url.clone(),
                key: l.key.clone(),
                why: e.to_string(),
            })?;
        refs.insert(name, (c, version));
    }
    let summary = store.get("summary")?;
    let summary_sig = store.get("summary.sig")?;
    let mut deltas = BTreeMap::new();
    if let Some((bytes, _)) = &summary {
        if let Ok(s) = Summary::from_bytes(bytes, std::path::Path::new("summary")) {
            deltas = summary_deltas(&s);
        }
    }
    if verify {
        // Trust only what is listed: a delta is there when its superblock is.
        let listed: HashSet<String> = store.list("deltas/")?.into_iter().map(|l| l.key).collect();
        deltas.retain(|d, _| listed.contains(&d.superblock_path()));
    }
    Ok(TargetState {
        has_config,
        refs,
        summary,
        summary_sig,
        deltas,
    })
}

fn summary_deltas(s: &Summary) -> BTreeMap<DeltaName, Checksum> {
    let mut out = BTreeMap::new();
    for (k, t, v) in &s.raw_metadata {
        if k != summary::KEY_STATIC_DELTAS || t != "a{sv}" {
            continue;
        }
        for (name, _, bytes) in summary::split_vardict(v).unwrap_or_default() {
            if let (Ok(d), Ok(c)) = (name.parse::<DeltaName>(), Checksum::from_slice(&bytes)) {
                out.insert(d, c);
            }
        }
    }
    out
}

/// Works out what publishing `repo` to `store` takes.
pub fn plan(
    repo: &Repo,
    store: &Store,
    target: &Target,
    opts: &PublishOptions,
    signers: usize,
) -> Result<PublishPlan> {
    let url = store.url().to_string();
    let state = read_state(store, opts.verify)?;
    let meta = Meta {
        repo,
        store,
        remote: Mutex::new(HashMap::new()),
    };

    // Refs: what moves where.
    let local: BTreeMap<RefName, Checksum> = repo
        .list_refs()?
        .into_iter()
        .filter(|(s, _)| s.remote.is_none())
        .map(|(s, c)| (s.name, c))
        .collect();
    let mut wanted: BTreeMap<RefName, Option<Checksum>> = BTreeMap::new();
    if opts.refs.is_empty() {
        for (n, c) in &local {
            if target.publishes(n) {
                wanted.insert(n.clone(), Some(*c));
            }
        }
        for n in state.refs.keys() {
            if target.publishes(n) && !local.contains_key(n) {
                wanted.insert(n.clone(), None);
            }
        }
    } else {
        for n in &opts.refs {
            let c = repo
                .read_ref(&Refspec {
                    remote: None,
                    name: n.clone(),
                })?
                .ok_or_else(|| PublishError::RefNotFound(n.to_string()))?;
            wanted.insert(n.clone(), Some(c));
        }
    }
    let mut edits = Vec::new();
    let mut final_refs: BTreeMap<RefName, Checksum> = state
        .refs
        .iter()
        .map(|(n, (c, _))| (n.clone(), *c))
        .collect();
    for (n, new) in &wanted {
        let old = state.refs.get(n).map(|(c, _)| *c);
        if old != *new {
            edits.push(TargetRefEdit {
                name: n.clone(),
                old,
                new: *new,
            });
            match new {
                Some(c) => final_refs.insert(n.clone(), *c),
                None => final_refs.remove(n),
            };
        }
    }
    for e in &edits {
        if let Some(c) = e.new {
            if repo.is_partial(c) {
                return Err(PublishError::Partial(c));
            }
        }
    }

    // What the target holds: everything its refs reach.
    let mut known_walk = Walk::default();
    let mut known_commits = HashSet::new();
    let none = HashSet::new();
    for (n, (c, _)) in &state.refs {
        let (commits, _) = chain(&meta, repo, *c, target.depth, &known_commits)?;
        if commits.is_empty() && !known_commits.contains(c) {
            return Err(PublishError::MissingOnTarget {
                url: url.clone(),
                name: n.to_string(),
                commit: *c,
            });
        }
        for (cc, commit) in commits {
            known_commits.insert(cc);
            known_walk.tree(&meta, commit.root_contents, commit.root_meta, &none)?;
        }
    }
    let mut known: HashSet<ObjectName> = known_walk.seen;
    for c in &known_commits {
        known.insert(ObjectName::new(*c, ObjectType::Commit));
    }
    let mut missing = None;
    if opts.verify {
        // Trust only what is listed.
        let listed: HashSet<String> = store.list("objects/")?.into_iter().map(|l| l.key).collect();
        let before = known.len();
        known.retain(|o| listed.contains(&object_rel(o)));
        missing = Some((before - known.len()) as u64);
        known_commits.retain(|c| known.contains(&ObjectName::new(*c, ObjectType::Commit)));
    }

    // What the final refs need beyond that, history included.
    let mut walk = Walk {
        descend_known: opts.verify,
        ..Walk::default()
    };
    let mut new_commits: Vec<Checksum> = Vec::new();
    let mut tombstones = Vec::new();
    let none_commits = HashSet::new();
    let mut queued: HashSet<Checksum> = HashSet::new();
    for c in final_refs.values() {
        // Verifying, every commit's tree is walked: what was listed is skipped object by object.
        let stop = if opts.verify {
            &none_commits
        } else {
            &known_commits
        };
        let (commits, missing_parent) = chain(&meta, repo, *c, target.depth, stop)?;
        if let Some(p) = missing_parent {
            if repo.has_object(&ObjectName::new(p, ObjectType::TombstoneCommit)) {
                tombstones.push(p);
            }
        }
        for (cc, commit) in commits.into_iter().rev() {
            if !queued.insert(cc) {
                continue;
            }
            if !known_commits.contains(&cc) {
                new_commits.push(cc);
            }
            walk.tree(&meta, commit.root_contents, commit.root_meta, &known)?;
        }
    }
    tombstones.retain(|t| !known.contains(&ObjectName::new(*t, ObjectType::TombstoneCommit)));
    // Deltas: the repository's deltas to a commit the final refs reach.
    let mut reached_commits: HashSet<Checksum> = HashSet::new();
    for c in final_refs.values() {
        let (commits, _) = chain(&meta, repo, *c, target.depth, &reached_commits)?;
        reached_commits.extend(commits.into_iter().map(|(c, _)| c));
    }
    let mut final_deltas: BTreeMap<DeltaName, Checksum> = state
        .deltas
        .iter()
        .filter(|(d, _)| reached_commits.contains(&d.to))
        .map(|(d, c)| (*d, *c))
        .collect();
    let mut deltas = Vec::new();
    for d in crate::delta::index::list(repo)? {
        if !reached_commits.contains(&d.to) {
            continue;
        }
        let p = repo.path().join(d.superblock_path());
        let digest = Checksum::digest(&std::fs::read(&p).map_err(|source| RepoError::Io {
            path: p.clone(),
            source,
        })?);
        if state.deltas.get(&d) != Some(&digest) {
            deltas.push(d);
        }
        final_deltas.insert(d, digest);
    }
    let mut indexes = Vec::new();
    let changed_to: BTreeSet<Checksum> = deltas.iter().map(|d| d.to).collect();
    for to in changed_to {
        let names: Vec<(DeltaName, Checksum)> = final_deltas
            .iter()
            .filter(|(d, _)| d.to == to)
            .map(|(d, c)| (*d, *c))
            .collect();
        indexes.push((to, crate::delta::index::index_bytes_from(&names)));
    }

    // The summary: rewritten unless it already names exactly these refs
    // and deltas, signed as asked.
    let summary_needed = match &state.summary {
        None => true,
        Some((bytes, _)) => match Summary::from_bytes(bytes, std::path::Path::new("summary")) {
            Err(_) => true,
            Ok(s) => {
                let refs: BTreeMap<String, Checksum> = s
                    .refs
                    .iter()
                    .map(|r| (r.name.clone(), r.checksum))
                    .collect();
                let want: BTreeMap<String, Checksum> = final_refs
                    .iter()
                    .map(|(n, c)| (n.to_string(), *c))
                    .collect();
                let signed = signers > 0;
                let sig_ok = match (&state.summary_sig, signed) {
                    (None, false) => true,
                    (Some(_), false) | (None, true) => false,
                    // Settled: one signature per key (a half-done publication holds old ones too).
                    (Some((b, _)), true) => crate::objects::metadata::Metadata::from_bytes(b)
                        .ok()
                        .and_then(|m| crate::trust::gpg::gpgsigs(&m).ok())
                        .is_some_and(|s| s.len() == signers),
                };
                refs != want || summary_deltas(&s) != final_deltas || !sig_ok
            }
        },
    };

    // What the final refs reach, for a prune: walked afresh (the target's
    // old refs, some of which may go, do not count).
    let mut reachable = HashSet::new();
    if opts.prune {
        let mut all = Walk::default();
        let mut commits = HashSet::new();
        for c in final_refs.values() {
            let (chain_commits, missing_parent) = chain(&meta, repo, *c, target.depth, &commits)?;
            if let Some(p) = missing_parent {
                reachable.insert(ObjectName::new(p, ObjectType::TombstoneCommit));
            }
            for (cc, commit) in chain_commits {
                commits.insert(cc);
                all.tree(&meta, commit.root_contents, commit.root_meta, &none)?;
            }
        }
        reachable.extend(all.seen);
        for c in commits {
            reachable.insert(ObjectName::new(c, ObjectType::Commit));
            reachable.insert(ObjectName::new(c, ObjectType::CommitMeta));
        }
    }
    // The engine's plan: from a trusted local repository (nothing re-hashed).
    let mut objects = Plan::new(Checks {
        metadata: false,
        content: ContentCheck::Never,
        bareuseronly_files: false,
    });
    let remote_meta = meta.remote.into_inner().expect("no panics");
    let planned = |name: ObjectName| PlannedObject {
        name,
        bytes: remote_meta.get(&name).cloned(),
    };
    for o in &walk.seen {
        match o.objtype {
            ObjectType::File => objects.content.push(o.checksum),
            ObjectType::DirMeta | ObjectType::DirTree => objects.metadata.push(planned(*o)),
            _ => {}
        }
    }
    // Largest content first keeps the workers busy to the end.
    let size = |c: &Checksum| {
        std::fs::symlink_metadata(repo.object_path(&ObjectName::new(*c, ObjectType::File)))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    objects
        .content
        .sort_by_cached_key(|c| (std::cmp::Reverse(size(c)), *c));
    objects
        .metadata
        .sort_by_key(|o| (o.name.objtype != ObjectType::DirMeta, o.name.checksum));
    for c in new_commits {
        objects.commits.push(PlannedCommit {
            checksum: c,
            bytes: remote_meta
                .get(&ObjectName::new(c, ObjectType::Commit))
                .cloned(),
            detached: repo.read_detached_metadata(c)?,
        });
    }
    objects.tombstones = tombstones;

    Ok(PublishPlan {
        state,
        refs: edits,
        objects,
        known,
        deltas,
        indexes,
        final_refs,
        final_deltas,
        remote_meta,
        reachable,
        missing,
        summary_needed,
        verify: opts.verify,
    })
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
        publish_summary(repo, &sink, &plan, opts, keys)?;
        summary_written = true;
    }

    // 8. prune.
    let prune = if opts.prune {
        Some(prune(store, target, &plan, opts)?)
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

fn publish_summary(
    repo: &Repo,
    sink: &StoreSink<'_>,
    plan: &PublishPlan,
    opts: &PublishOptions,
    keys: &mut [SigningKey],
) -> Result<()> {
    let store = sink.store();
    let mut refs = Vec::new();
    for (n, c) in &plan.final_refs {
        let name = ObjectName::new(*c, ObjectType::Commit);
        let bytes = match plan.remote_meta.get(&name) {
            Some(b) => b.clone(),
            None => match repo.read_metadata(&name) {
                Ok(b) => b,
                Err(RepoError::ObjectMissing(_)) => store
                    .get(&object_rel(&name))?
                    .map(|(b, _)| b)
                    .ok_or(RepoError::ObjectMissing(name))?,
                Err(e) => return Err(e.into()),
            },
        };
        refs.push(
            SummaryRef::for_commit(n.as_str(), *c, &bytes)
                .map_err(|source| RepoError::Format { name, source })?,
        );
    }
    let tombstones = matches!(
        repo.config().get_bool("core", "tombstone-commits"),
        Some(Ok(true))
    );
    let deltas: Vec<(DeltaName, Checksum)> =
        plan.final_deltas.iter().map(|(d, c)| (*d, *c)).collect();
    let new = summary::encode(&summary::SummaryContents {
        refs,
        deltas,
        now: opts.now,
        mode: "archive-z2".into(),
        tombstones,
        collection_id: repo.collection_id().map(str::to_string),
    });
    let summary_expect: Expect = plan.state.summary.as_ref().map(|(_, v)| v.clone()).into();
    let mut sig_expect: Expect = plan
        .state
        .summary_sig
        .as_ref()
        .map(|(_, v)| v.clone())
        .into();
    let moved = |err: StoreError| match err {
        StoreError::Moved { url, key } => PublishError::RefMoved { url, name: key },
        e => e.into(),
    };
    if keys.is_empty() {
        if let Expect::Version(v) = &sig_expect {
            store.delete_if("summary.sig", v).map_err(moved)?;
        }
        let n = new.len() as u64;
        store
            .put_if("summary", new, &summary_expect)
            .map_err(moved)?;
        sink.record("summary", n);
        return Ok(());
    }
    let sign = |keys: &mut [SigningKey], data: &[u8]| -> Result<Vec<Vec<u8>>> {
        keys.iter_mut()
            .map(|k| k.sign(data).map_err(|e| PublishError::Sign(e.to_string())))
            .collect()
    };
    let sigs = sign(keys, &new)?;
    let old = plan
        .state
        .summary
        .as_ref()
        .map(|(b, _)| b.clone())
        .filter(|o| *o != new);
    let old_sigs = match &old {
        Some(o) => sign(keys, o)?,
        None => Vec::new(),
    };
    let ordered = |first: &[Vec<u8>], then: &[Vec<u8>]| {
        let all: Vec<Vec<u8>> = first.iter().chain(then).cloned().collect();
        crate::trust::gpg::gpgsigs_dict_bytes(&all)
    };
    // As a local signed summary: the served summary's signatures lead while
    // it is served, then the new one's; then the new one's alone.
    if old.is_some() {
        let v = store
            .put_if("summary.sig", ordered(&old_sigs, &sigs), &sig_expect)
            .map_err(moved)?;
        sig_expect = Expect::Version(v);
        std::thread::sleep(opts.summary_delay);
    }
    let n = new.len() as u64;
    store
        .put_if("summary", new, &summary_expect)
        .map_err(moved)?;
    sink.record("summary", n);
    let v = store
        .put_if("summary.sig", ordered(&sigs, &old_sigs), &sig_expect)
        .map_err(moved)?;
    if old.is_some() {
        std::thread::sleep(opts.summary_delay);
        store
            .put_if("summary.sig", ordered(&sigs, &[]), &Expect::Version(v))
            .map_err(moved)?;
    }
    sink.record("summary", 0);
    Ok(())
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PruneRecord {
    /// Key → seconds since the epoch when it was first seen unreachable.
    first_unreachable: BTreeMap<String, u64>,
}

fn delta_of_key(key: &str) -> Option<DeltaName> {
    let rest = key.strip_prefix("deltas/")?;
    let mut it = rest.splitn(3, '/');
    let (a, b) = (it.next()?, it.next()?);
    let full = format!("{a}{b}");
    match full.split_once('-') {
        Some((f, t)) => Some(DeltaName::new(
            Some(crate::delta::b64_decode(f)?),
            crate::delta::b64_decode(t)?,
        )),
        None => Some(DeltaName::new(None, crate::delta::b64_decode(&full)?)),
    }
}

fn index_of_key(key: &str) -> Option<Checksum> {
    let rest = key.strip_prefix("delta-indexes/")?;
    let (a, b) = rest.split_once('/')?;
    crate::delta::b64_decode(&format!("{a}{}", b.strip_suffix(".index")?))
}

fn object_of_key(key: &str) -> Option<ObjectName> {
    let rest = key.strip_prefix("objects/")?;
    let (a, b) = rest.split_once('/')?;
    let (hex, ext) = b.split_once('.')?;
    let checksum: Checksum = format!("{a}{hex}").parse().ok()?;
    let objtype = match ext {
        "filez" | "file" => ObjectType::File,
        other => ObjectType::from_extension(other)?,
    };
    Some(ObjectName::new(checksum, objtype))
}

fn prune(
    store: &Store,
    target: &Target,
    plan: &PublishPlan,
    opts: &PublishOptions,
) -> Result<PruneReport> {
    let _ = plan.verify;
    let mut unreachable = Vec::new();
    for l in store.list("objects/")? {
        match object_of_key(&l.key) {
            Some(o) if plan.reachable.contains(&o) => {}
            _ => unreachable.push(l.key),
        }
    }
    for l in store.list("deltas/")? {
        match delta_of_key(&l.key) {
            Some(d) if plan.final_deltas.contains_key(&d) => {}
            _ => unreachable.push(l.key),
        }
    }
    let tos: HashSet<Checksum> = plan.final_deltas.keys().map(|d| d.to).collect();
    for l in store.list("delta-indexes/")? {
        match index_of_key(&l.key) {
            Some(c) if tos.contains(&c) => {}
            _ => unreachable.push(l.key),
        }
    }
    let (old, version) = match store.get(PRUNE_RECORD)? {
        Some((b, v)) => (
            serde_json::from_slice::<PruneRecord>(&b).map_err(|e| PublishError::Corrupt {
                url: store.url().to_string(),
                key: PRUNE_RECORD.into(),
                why: e.to_string(),
            })?,
            Some(v),
        ),
        None => (PruneRecord::default(), None),
    };
    let grace = target.prune_grace.as_secs();
    let mut record = PruneRecord::default();
    let mut expired = Vec::new();
    for k in &unreachable {
        let first = old.first_unreachable.get(k).copied().unwrap_or(opts.now);
        if opts.now.saturating_sub(first) >= grace {
            expired.push(k.clone());
        } else {
            record.first_unreachable.insert(k.clone(), first);
        }
    }
    let bytes = serde_json::to_vec_pretty(&record).expect("a map of strings serialises");
    store
        .put_if(PRUNE_RECORD, bytes, &version.into())
        .map_err(|e| match e {
            StoreError::Moved { url, key } => PublishError::RefMoved { url, name: key },
            e => e.into(),
        })?;
    for k in &expired {
        store.delete(k)?;
    }
    Ok(PruneReport {
        unreachable: unreachable.len() as u64,
        waiting: record.first_unreachable.len() as u64,
        deleted: expired,
    })
}
