//! What a publish will do, worked out before anything is written
//! ([`plan`]): the target's refs (one LIST of `refs/heads/` and a GET per
//! ref), its summary and deltas; the refs that move; what the target's refs
//! reach (read from the repository, or from the target where only it has
//! them), which is never uploaded again; what the final refs need beyond
//! that, history included, as the transfer engine's [`Plan`]; the deltas and
//! delta indexes to upload; whether the summary changes; and, for a prune,
//! everything the final refs reach. With `verify`, `objects/` and
//! `deltas/` are listed and only what is listed counts as there.
//!
//! Upstream has no publisher; the history walk is the one
//! `ostree-repo-pull.c` makes (`scan_commit_object`, depth included).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::{KindCount, PublishError, PublishOptions, PublishOutcome, Result, TargetRefEdit};
use crate::delta::DeltaName;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::summary::{self, Summary};
use crate::objects::{Commit, DirTree};
use crate::repo::refs::{RefName, Refspec};
use crate::repo::target::Target;
use crate::repo::{Repo, RepoError};
use crate::transfer::engine::{PlannedCommit, PlannedObject};
use crate::transfer::remote::object_rel;
use crate::transfer::store::{Store, Version};
use crate::transfer::verify::{Checks, ContentCheck};
use crate::transfer::Plan;

/// The target as a publish found it.
pub(super) struct TargetState {
    pub(super) has_config: bool,
    pub(super) refs: BTreeMap<RefName, (Checksum, Version)>,
    pub(super) summary: Option<(Vec<u8>, Version)>,
    pub(super) summary_sig: Option<(Vec<u8>, Version)>,
    pub(super) deltas: BTreeMap<DeltaName, Checksum>,
}

/// Everything a publish will do, worked out before anything is written.
pub struct PublishPlan {
    pub(super) state: TargetState,
    pub refs: Vec<TargetRefEdit>,
    /// Objects to upload (content, dirmeta, dirtrees, commitmeta,
    /// tombstones, commits), run by the transfer engine; no ref of it moves.
    pub(super) objects: Plan,
    /// Objects the target holds already (what its refs reach).
    pub(super) known: HashSet<ObjectName>,
    pub(super) deltas: Vec<DeltaName>,
    pub(super) indexes: Vec<(Checksum, Vec<u8>)>,
    pub(super) final_refs: BTreeMap<RefName, Checksum>,
    pub(super) final_deltas: BTreeMap<DeltaName, Checksum>,
    /// Metadata objects read from the target (commits only there).
    pub(super) remote_meta: HashMap<ObjectName, Vec<u8>>,
    /// Every object the final refs reach (for prune).
    pub(super) reachable: HashSet<ObjectName>,
    pub(super) missing: Option<u64>,
    pub summary_needed: bool,
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
    })
}
