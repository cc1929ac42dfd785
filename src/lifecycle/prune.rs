//! Pruning: deleting commits and the objects nothing live needs any more.
//!
//! Owns `ostree prune` (OSTree: `ostree-repo-prune.c` and the builtin
//! `ot-builtin-prune.c`) and grove's retention policy on top of it.
//!
//! A prune has two halves:
//! 1. *Reachability*: which objects must stay. Roots are every commit object
//!    (default), or the refs (`refs_only`), each walked `depth` parents; per-ref
//!    depths (`retain_branch_depth`, `only_branch`) and a date cut-off
//!    (`keep_younger_than`) refine that. The walk is [`crate::tree::traverse`].
//! 2. *Sweep*: every loose `file`/`dirtree`/`dirmeta`/`commit` object not in
//!    the reachable set is deleted. The object directories are read and swept
//!    in parallel, one `objects/XX` directory at a time, so the listing is
//!    never held in memory. A deleted commit takes its detached metadata
//!    (`.commitmeta`) and its `.commitpartial` marker with it and leaves a
//!    `.tombstone-commit` when `core.tombstone-commits=true`. Static deltas
//!    whose source or target commit is gone are removed afterwards.
//!
//! Both halves run under the repository's exclusive lock (writers hold the
//! shared one), so an object that a concurrent commit is about to reference
//! can never be judged unreachable: the commit either finished, and its ref
//! is a root, or has not started.
//!
//! Like OSTree, `.commitmeta` and `.tombstone-commit` objects are never swept
//! on their own. Unlike OSTree 2022.7, which removes a static delta only when
//! its *target* commit is gone, grove also removes deltas whose *source*
//! commit is gone (prune keeps no derived data for history the repository no
//! longer has; see docs/prune.md). Also unlike OSTree 2022.7: collection refs (`refs/mirrors`) are roots in every
//! mode, validation happens before anything is deleted, and a dry run deletes
//! nothing at all (OSTree still removes stale static deltas).
//!
//! The retention policy ([`RetentionPolicy`], [`plan_retention`],
//! [`apply_retention`]) keeps, per ref pattern, the last N commits, the
//! commits younger than a date, commits carrying a metadata key, or all of
//! them; everything else on the ref's history is deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::delta::DeltaName;
use crate::lifecycle::date::{parse_date, DateError};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::Tombstone;
use crate::repo::collections::{CollectionRef, CollectionSources};
use crate::repo::keyfile::KeyFile;
use crate::repo::refs::{RefError, Refspec};
use crate::repo::{LockKind, Repo, RepoError, RepoLock};
use crate::tree::traverse::{Traversal, TraverseError};

/// What can go wrong while pruning.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Delta(#[from] crate::delta::DeltaError),
    #[error(transparent)]
    Traverse(#[from] TraverseError),
    #[error(transparent)]
    Refs(#[from] RefError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Timed out waiting for the exclusive lock on repository {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Cannot specify both --delete-commit and --no-prune")]
    DeleteCommitDryRun,
    #[error("--static-deltas-only requires --delete-commit; see https://github.com/ostreedev/ostree/issues/1479")]
    StaticDeltasOnlyAlone,
    #[error("Commit '{commit}' is referenced by '{by}'")]
    Referenced { commit: Checksum, by: String },
    #[error("Commit '{commit}' is referenced by {by}")]
    ReferencedByCollectionRef { commit: Checksum, by: CollectionRef },
    #[error("Deleting object {0}.commit: No such file or directory")]
    NoSuchCommit(Checksum),
    #[error("Invalid value {0}, must specify BRANCH=DEPTH")]
    BranchDepth(String),
    #[error("Invalid depth {0}")]
    Depth(String),
    #[error("prune policy [{group}]: {why}")]
    Policy { group: String, why: String },
    #[error("ref '{0}' matches no [prune \"PATTERN\"] rule in the repository config; add a rule (keep-all=true to keep everything)")]
    Unmatched(String),
}

pub type Result<T, E = PruneError> = std::result::Result<T, E>;

/// `ostree prune`'s options (see `ostree prune --help`).
#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// Only count what would go (`--no-prune`).
    pub no_prune: bool,
    /// Roots are the refs, not every commit (`--refs-only`).
    pub refs_only: bool,
    /// Parents followed from each root; -1 for all (`--depth`).
    pub depth: i32,
    /// Delete this commit first; it must not be a ref's target (`--delete-commit`).
    pub delete_commit: Option<Checksum>,
    /// Seconds since the epoch: on each ref keep the commits at least this
    /// new (and the ref's own commit) (`--keep-younger-than`).
    pub keep_younger_than: Option<i64>,
    /// With `delete_commit`: remove only the static deltas to it (`--static-deltas-only`).
    pub static_deltas_only: bool,
    /// Per-ref depth, `REFSPEC → depth` (`--retain-branch-depth=BRANCH=DEPTH`).
    pub retain_branch_depth: Vec<(String, i32)>,
    /// Only these refs are pruned; every other ref keeps its whole history (`--only-branch`).
    pub only_branch: Vec<Refspec>,
    /// Consider commit objects only (`--commit-only`).
    pub commit_only: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            no_prune: false,
            refs_only: false,
            depth: -1,
            delete_commit: None,
            keep_younger_than: None,
            static_deltas_only: false,
            retain_branch_depth: Vec::new(),
            only_branch: Vec::new(),
            commit_only: false,
        }
    }
}

/// Parses `--retain-branch-depth`'s `BRANCH=DEPTH` as OSTree does (`g_ascii_strtoll`: leading digits count).
pub fn parse_branch_depth(s: &str) -> Result<(String, i32)> {
    let (branch, depth) = s
        .split_once('=')
        .ok_or_else(|| PruneError::BranchDepth(s.to_string()))?;
    let t = depth.trim_start();
    let sign_len = usize::from(t.starts_with(['-', '+']));
    let digits = t[sign_len..].bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(PruneError::Depth(depth.to_string()));
    }
    let n: i64 = t[..sign_len + digits]
        .parse()
        .map_err(|_| PruneError::Depth(depth.to_string()))?;
    let n = i32::try_from(n).map_err(|_| PruneError::Depth(depth.to_string()))?;
    Ok((branch.to_string(), n))
}

/// What a sweep found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Objects considered (all loose objects, or only commits with `commit_only`).
    pub objects_total: u64,
    /// Unreachable objects deleted (or, in a dry run, that would be).
    pub objects_pruned: u64,
    /// Their storage size in bytes.
    pub bytes_freed: u64,
    /// The commits among them, sorted.
    pub commits_pruned: Vec<Checksum>,
    /// Static deltas removed, by name (`FROM-TO` or `TO`).
    pub deltas_pruned: Vec<String>,
    /// Nothing was deleted.
    pub dry_run: bool,
    pub commit_only: bool,
}

fn take_lock(repo: &Repo, kind: LockKind) -> Result<Option<RepoLock>> {
    repo.lock(kind).map_err(|e| match e {
        RepoError::Lock { path, source } => PruneError::Lock { path, source },
        other => PruneError::Repo(other),
    })
}

/// Mirrored collection refs (`refs/mirrors/COLLECTION/…`) and their commits.
fn mirror_refs(repo: &Repo) -> Result<Vec<(CollectionRef, Checksum)>> {
    Ok(repo
        .list_collection_refs(None, CollectionSources::MIRRORS)?
        .into_iter()
        .collect())
}

/// Collects roots by depth so each depth is one parallel traversal.
#[derive(Default)]
struct Roots {
    by_depth: BTreeMap<i32, Vec<Checksum>>,
    /// Commits kept at depth 0 on top of the above (keep-younger-than chains).
    exact: Vec<Checksum>,
}

impl Roots {
    fn add(&mut self, c: Checksum, depth: i32) {
        self.by_depth.entry(depth).or_default().push(c);
    }

    fn reachable(self, repo: &Repo, commit_only: bool) -> Result<HashSet<ObjectName>> {
        if commit_only {
            let mut out = HashSet::new();
            for (depth, commits) in self.by_depth {
                for c in commits {
                    commit_chain(repo, c, depth, &mut out)?;
                }
            }
            for c in self.exact {
                out.insert(ObjectName::new(c, ObjectType::Commit));
            }
            return Ok(out);
        }
        let mut t = Traversal::new(repo);
        for (depth, mut commits) in self.by_depth {
            commits.sort();
            commits.dedup();
            t.add_commits(&commits, depth)?;
        }
        t.add_commits(&self.exact, 0)?;
        Ok(t.into_reachable())
    }
}

/// Commit objects only: `start` and up to `depth` parents (-1: all) that exist.
fn commit_chain(
    repo: &Repo,
    start: Checksum,
    depth: i32,
    out: &mut HashSet<ObjectName>,
) -> Result<()> {
    let mut remaining = if depth < 0 {
        i64::MAX
    } else {
        i64::from(depth)
    };
    let mut current = start;
    let mut first = true;
    loop {
        let commit = match repo.load_commit(current) {
            Ok(c) => c,
            Err(RepoError::ObjectMissing(_)) if !first => break,
            Err(source) => {
                return Err(TraverseError::Commit {
                    commit: current,
                    source,
                }
                .into())
            }
        };
        first = false;
        out.insert(ObjectName::new(current, ObjectType::Commit));
        match commit.parent {
            Some(p) if remaining > 0 => {
                remaining = remaining.saturating_sub(1);
                current = p;
            }
            _ => break,
        }
    }
    Ok(())
}

/// The commits on `start`'s history that `--keep-younger-than` keeps: `start`
/// itself, then each commit (from `start` on) whose timestamp is at least
/// `cutoff`, stopping at the first older or missing one.
fn younger_chain(repo: &Repo, start: Checksum, cutoff: i64) -> Result<Vec<Checksum>> {
    let mut out = vec![start];
    let mut current = Some(start);
    while let Some(c) = current {
        let commit = match repo.load_commit(c) {
            Ok(commit) => commit,
            Err(RepoError::ObjectMissing(_)) if c != start => break,
            Err(source) => return Err(TraverseError::Commit { commit: c, source }.into()),
        };
        if i64::try_from(commit.timestamp).unwrap_or(i64::MAX) < cutoff {
            break;
        }
        if c != start {
            out.push(c);
        }
        current = commit.parent;
    }
    Ok(out)
}

/// Deletes one commit as OSTree does: partial marker, detached metadata, the
/// object, then a tombstone if the repository asks for them.
fn delete_commit_object(repo: &Repo, commit: Checksum, tombstones: bool) -> Result<()> {
    repo.set_partial(commit, false, false)?;
    repo.delete_object(&ObjectName::new(commit, ObjectType::CommitMeta))?;
    repo.delete_object(&ObjectName::new(commit, ObjectType::Commit))?;
    if tombstones {
        let name = ObjectName::new(commit, ObjectType::TombstoneCommit);
        repo.write_metadata_as(name, &Tombstone { commit }.to_bytes())?;
    }
    Ok(())
}

fn tombstones_enabled(repo: &Repo) -> bool {
    matches!(
        repo.config().get_bool("core", "tombstone-commits"),
        Some(Ok(true))
    )
}

/// Turns `core.tombstone-commits` on in the repository config, for good.
fn enable_tombstones(repo: &mut Repo) -> Result<()> {
    if !tombstones_enabled(repo) {
        let mut config = repo.config().clone();
        config.set("core", "tombstone-commits", "true");
        repo.write_config(config)?;
    }
    Ok(())
}

/// Replaces commits by tombstones, as `ostree fsck --add-tombstones` does for
/// commits whose parent is missing: `core.tombstone-commits` is turned on
/// (for good) and each commit object is deleted, leaving a `.tombstone-commit`
/// that tells clients the history stops there on purpose.
pub fn tombstone_commits(repo: &mut Repo, commits: &[Checksum]) -> Result<()> {
    if commits.is_empty() {
        return Ok(());
    }
    enable_tombstones(repo)?;
    for &c in commits {
        delete_commit_object(repo, c, true)?;
    }
    Ok(())
}

/// The object an `objects/XX/NAME` entry is, if prune deals with it.
fn parse_object_entry(prefix: &str, fname: &str, archive: bool) -> Option<ObjectName> {
    let (rest, ext) = fname.split_once('.')?;
    let objtype = match ext {
        "filez" if archive => ObjectType::File,
        "file" if !archive => ObjectType::File,
        "dirtree" => ObjectType::DirTree,
        "dirmeta" => ObjectType::DirMeta,
        "commit" => ObjectType::Commit,
        _ => return None,
    };
    if rest.len() != 62 {
        return None;
    }
    let c: Checksum = format!("{prefix}{rest}").parse().ok()?;
    Some(ObjectName::new(c, objtype))
}

#[derive(Default)]
struct DirSweep {
    total: u64,
    pruned: u64,
    bytes: u64,
    commits: Vec<Checksum>,
}

/// Sweeps every `objects/XX` directory in parallel: counts objects, deletes
/// (unless `no_prune`) those not in `reachable`.
fn sweep(
    repo: &Repo,
    reachable: &HashSet<ObjectName>,
    commit_only: bool,
    no_prune: bool,
) -> Result<PruneReport> {
    let objdir = repo.path().join("objects");
    let mut prefixes = Vec::new();
    for entry in fs::read_dir(&objdir).map_err(|source| PruneError::Io {
        path: objdir.clone(),
        source,
    })? {
        let entry = entry.map_err(|source| PruneError::Io {
            path: objdir.clone(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            if name.len() == 2 && Checksum::is_hex_prefix(name) {
                prefixes.push(name.to_string());
            }
        }
    }
    let archive = repo.mode().is_archive();
    let tombstones = tombstones_enabled(repo);
    let results: Vec<Result<DirSweep>> = prefixes
        .par_iter()
        .map(|prefix| {
            let dir = objdir.join(prefix);
            let mut s = DirSweep::default();
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(s),
                Err(source) => return Err(PruneError::Io { path: dir, source }),
            };
            for entry in rd {
                let entry = entry.map_err(|source| PruneError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let fname = entry.file_name();
                let Some(name) = fname
                    .to_str()
                    .and_then(|f| parse_object_entry(prefix, f, archive))
                else {
                    continue;
                };
                if commit_only && name.objtype != ObjectType::Commit {
                    continue;
                }
                s.total += 1;
                if reachable.contains(&name) {
                    continue;
                }
                let size = match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(source) => {
                        return Err(PruneError::Io {
                            path: entry.path(),
                            source,
                        })
                    }
                };
                if !no_prune {
                    if name.objtype == ObjectType::Commit {
                        delete_commit_object(repo, name.checksum, tombstones)?;
                    } else {
                        repo.delete_object(&name)?;
                    }
                }
                if name.objtype == ObjectType::Commit {
                    s.commits.push(name.checksum);
                }
                s.pruned += 1;
                s.bytes += size;
            }
            Ok(s)
        })
        .collect();
    let mut report = PruneReport {
        dry_run: no_prune,
        commit_only,
        ..Default::default()
    };
    for r in results {
        let s = r?;
        report.objects_total += s.total;
        report.objects_pruned += s.pruned;
        report.bytes_freed += s.bytes;
        report.commits_pruned.extend(s.commits);
    }
    report.commits_pruned.sort();
    Ok(report)
}

// ---------------------------------------------------------------------------
// Static deltas: deltas/XX/REST[-TO]/superblock, names in OSTree's modified
// base64 (`/` → `_`, no padding), see ostree-repo-static-delta-core.c.

/// Every static delta with a superblock, in directory order.
pub fn list_static_deltas(repo: &Repo) -> Result<Vec<DeltaName>> {
    let mut out = crate::delta::index::list(repo)?;
    out.sort_by_key(|d| d.relative_dir());
    Ok(out)
}

/// Removes the static deltas to `to`, or (with `None`) those whose source or
/// target commit is no longer in the repository. Returns their names.
pub fn prune_static_deltas(
    repo: &Repo,
    to: Option<Checksum>,
    no_prune: bool,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for d in list_static_deltas(repo)? {
        let doomed = match to {
            Some(t) => d.to == t,
            // Gone when either end is gone: a delta from a deleted commit serves
            // only clients that still hold it, and prune promises not to keep
            // derived data for history the repository no longer has.
            None => [Some(d.to), d.from]
                .into_iter()
                .flatten()
                .any(|c| !repo.has_object(&ObjectName::new(c, ObjectType::Commit))),
        };
        if !doomed {
            continue;
        }
        if !no_prune {
            let p = repo.path().join(d.relative_dir());
            match fs::remove_dir_all(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(source) => return Err(PruneError::Io { path: p, source }),
            }
        }
        removed.push(d.to_string());
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------
// ostree prune

/// Runs `ostree prune` with `opts` under the exclusive repository lock.
///
/// As in OSTree, `delete_commit` (without `static_deltas_only`) turns
/// `core.tombstone-commits` on in the repository config for good.
pub fn prune(repo: &mut Repo, opts: &PruneOptions) -> Result<PruneReport> {
    // Validate everything before deleting anything.
    if opts.delete_commit.is_some() && opts.no_prune {
        return Err(PruneError::DeleteCommitDryRun);
    }
    if opts.static_deltas_only && opts.delete_commit.is_none() {
        return Err(PruneError::StaticDeltasOnlyAlone);
    }
    let _lock = take_lock(repo, LockKind::Exclusive)?;
    let refs = repo.list_refs()?;
    let mirrors = mirror_refs(repo)?;
    for b in &opts.only_branch {
        if repo.read_ref(b)?.is_none() {
            return Err(RefError::NotFound(b.to_string()).into());
        }
    }

    let mut deltas_pruned = Vec::new();
    if let Some(victim) = opts.delete_commit {
        if opts.static_deltas_only {
            // Only the deltas to the commit go: a ref may still point at it.
            deltas_pruned.extend(prune_static_deltas(repo, Some(victim), false)?);
        } else {
            if let Some((r, _)) = refs.iter().find(|(_, c)| **c == victim) {
                return Err(PruneError::Referenced {
                    commit: victim,
                    by: r.to_string(),
                });
            }
            if let Some((r, _)) = mirrors.iter().find(|(_, c)| *c == victim) {
                return Err(PruneError::ReferencedByCollectionRef {
                    commit: victim,
                    by: r.clone(),
                });
            }
            if !repo.has_object(&ObjectName::new(victim, ObjectType::Commit)) {
                return Err(PruneError::NoSuchCommit(victim));
            }
            enable_tombstones(repo)?;
            delete_commit_object(repo, victim, true)?;
        }
    }

    let mut roots = Roots::default();
    for (_, c) in &mirrors {
        roots.add(*c, if opts.refs_only { opts.depth } else { -1 });
    }
    let advanced = !opts.retain_branch_depth.is_empty()
        || opts.keep_younger_than.is_some()
        || !opts.only_branch.is_empty();
    if !advanced {
        if opts.refs_only {
            for c in refs.values() {
                roots.add(*c, opts.depth);
            }
        } else {
            for c in repo.list_objects(Some(ObjectType::Commit))? {
                roots.add(c.checksum, opts.depth);
            }
        }
    } else {
        // Per-ref depths; refs-only is implied.
        let mut per_ref: HashMap<String, i32> = opts.retain_branch_depth.iter().cloned().collect();
        if !opts.only_branch.is_empty() {
            let only: HashSet<String> = opts.only_branch.iter().map(|b| b.to_string()).collect();
            for r in refs.keys() {
                let name = r.to_string();
                if !only.contains(&name) {
                    per_ref.entry(name).or_insert(-1);
                }
            }
        }
        for (r, c) in &refs {
            if let Some(d) = per_ref.get(&r.to_string()) {
                roots.add(*c, *d);
            } else if let Some(cutoff) = opts.keep_younger_than {
                roots.exact.extend(younger_chain(repo, *c, cutoff)?);
            } else {
                roots.add(*c, opts.depth);
            }
        }
    }

    let reachable = roots.reachable(repo, opts.commit_only)?;
    let mut report = sweep(repo, &reachable, opts.commit_only, opts.no_prune)?;
    if let Some(victim) = opts.delete_commit.filter(|_| !opts.static_deltas_only) {
        report.commits_pruned.push(victim);
        report.commits_pruned.sort();
    }
    deltas_pruned.extend(prune_static_deltas(repo, None, opts.no_prune)?);
    report.deltas_pruned = deltas_pruned;
    Ok(report)
}

// ---------------------------------------------------------------------------
// Retention policy

/// One `[prune "PATTERN"]` group of the repository config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    /// Ref pattern: `*` matches within one path component, `**` across them, `?` one character.
    pub pattern: String,
    /// Keep the newest N commits of the ref (the ref's own commit is always kept).
    pub keep_last: Option<u64>,
    /// Keep commits at least this new: the config text and the resolved time.
    pub keep_younger_than: Option<(String, i64)>,
    /// Keep commits whose metadata has any of these keys.
    pub keep_with_metadata: Vec<String>,
    /// Keep the whole history.
    pub keep_all: bool,
}

impl RetentionRule {
    fn keeps(&self, index: usize, timestamp: u64, meta: &crate::Metadata) -> bool {
        self.keep_all
            || index == 0
            || self.keep_last.is_some_and(|n| (index as u64) < n)
            || self
                .keep_younger_than
                .as_ref()
                .is_some_and(|(_, t)| i64::try_from(timestamp).unwrap_or(i64::MAX) >= *t)
            || self.keep_with_metadata.iter().any(|k| meta.contains(k))
    }
}

/// All retention rules, in config order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub rules: Vec<RetentionRule>,
}

/// Glob match of a ref name: `*` never crosses `/`, `**` does.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=n.len()).any(|i| go(&p[2..], &n[i..])),
            Some(b'*') => {
                let limit = n.iter().position(|&c| c == b'/').unwrap_or(n.len());
                (0..=limit).any(|i| go(&p[1..], &n[i..]))
            }
            Some(b'?') => n.first().is_some_and(|&c| c != b'/') && go(&p[1..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

impl RetentionPolicy {
    /// Reads every `[prune "PATTERN"]` group; `keep-younger-than` is resolved now.
    pub fn from_config(config: &KeyFile) -> Result<Self> {
        let mut rules = Vec::new();
        for group in config.groups() {
            let Some(rest) = group.strip_prefix("prune ") else {
                continue;
            };
            let err = |why: String| PruneError::Policy {
                group: group.to_string(),
                why,
            };
            let pattern = rest
                .trim()
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .filter(|p| !p.is_empty())
                .ok_or_else(|| err("the group must be named prune \"REF-PATTERN\"".into()))?;
            let mut rule = RetentionRule {
                pattern: pattern.to_string(),
                keep_last: None,
                keep_younger_than: None,
                keep_with_metadata: Vec::new(),
                keep_all: false,
            };
            for (key, value) in config.entries(group) {
                let value = value.trim();
                match key {
                    "keep-last" => rule.keep_last = Some(value.parse().map_err(|_| err(format!("keep-last: '{value}' is not a number")))?),
                    "keep-younger-than" => {
                        let t = parse_date(value).map_err(|e| err(format!("keep-younger-than: {e}")))?;
                        rule.keep_younger_than = Some((value.to_string(), t));
                    }
                    "keep-with-metadata" => rule.keep_with_metadata.extend(value.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)),
                    "keep-all" => {
                        rule.keep_all = match value {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => return Err(err(format!("keep-all: '{value}' is not a boolean"))),
                        }
                    }
                    other => return Err(err(format!("unknown key '{other}' (expected keep-last, keep-younger-than, keep-with-metadata or keep-all)"))),
                }
            }
            rules.push(rule);
        }
        Ok(RetentionPolicy { rules })
    }

    /// The rules whose pattern matches `refspec`.
    pub fn rules_for(&self, refspec: &str) -> Vec<&RetentionRule> {
        self.rules
            .iter()
            .filter(|r| pattern_matches(&r.pattern, refspec))
            .collect()
    }
}

/// What the policy does to one ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefPlan {
    pub refspec: Refspec,
    pub head: Checksum,
    /// Patterns of the matching rules.
    pub rules: Vec<String>,
    /// Commits on the ref's history that stay, newest first.
    pub keep: Vec<Checksum>,
    /// Commits on the ref's history that go, newest first (not kept by another ref).
    pub delete: Vec<Checksum>,
}

/// A retention plan: commits to delete per ref; then everything unreachable goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    pub refs: Vec<RefPlan>,
    /// Commit objects on no ref's history (deleted too).
    pub orphan_commits: Vec<Checksum>,
    /// Every commit that stays (the reachability roots, each at depth 0).
    pub keep: BTreeSet<Checksum>,
    /// Collection refs' commits (`refs/mirrors`): kept with their whole history.
    pub mirror_roots: Vec<Checksum>,
}

impl RetentionPlan {
    /// Every commit the plan deletes.
    pub fn commits_to_delete(&self) -> BTreeSet<Checksum> {
        self.refs
            .iter()
            .flat_map(|r| r.delete.iter().copied())
            .chain(self.orphan_commits.iter().copied())
            .collect()
    }
}

/// Plans what `policy` keeps. Hold a repository lock while planning and executing.
pub fn plan_retention(repo: &Repo, policy: &RetentionPolicy) -> Result<RetentionPlan> {
    let refs = repo.list_refs()?;
    let mut plan = RetentionPlan::default();
    let mut walked: HashSet<Checksum> = HashSet::new();
    for (spec, head) in &refs {
        let name = spec.to_string();
        let rules = policy.rules_for(&name);
        if rules.is_empty() {
            return Err(PruneError::Unmatched(name));
        }
        let mut keep = Vec::new();
        let mut delete = Vec::new();
        let mut current = Some(*head);
        let mut index = 0usize;
        let mut seen = HashSet::new();
        while let Some(c) = current {
            if !seen.insert(c) {
                break;
            }
            let commit = match repo.load_commit(c) {
                Ok(commit) => commit,
                Err(RepoError::ObjectMissing(_)) if index > 0 => break,
                Err(source) => return Err(TraverseError::Commit { commit: c, source }.into()),
            };
            if rules
                .iter()
                .any(|r| r.keeps(index, commit.timestamp, &commit.metadata))
            {
                keep.push(c);
            } else {
                delete.push(c);
            }
            walked.insert(c);
            current = commit.parent;
            index += 1;
        }
        plan.keep.extend(keep.iter().copied());
        plan.refs.push(RefPlan {
            refspec: spec.clone(),
            head: *head,
            rules: rules.iter().map(|r| r.pattern.clone()).collect(),
            keep,
            delete,
        });
    }
    // A commit kept by any ref is not deleted from another.
    for r in &mut plan.refs {
        let (stay, go): (Vec<Checksum>, Vec<Checksum>) =
            r.delete.iter().partition(|c| plan.keep.contains(c));
        r.keep.extend(stay);
        r.delete = go;
    }
    plan.mirror_roots = mirror_refs(repo)?.into_iter().map(|(_, c)| c).collect();
    let mut mirror_set = HashSet::new();
    for c in &plan.mirror_roots {
        commit_chain(repo, *c, -1, &mut mirror_set)?;
    }
    plan.orphan_commits = repo
        .list_objects(Some(ObjectType::Commit))?
        .into_iter()
        .map(|o| o.checksum)
        .filter(|c| {
            !walked.contains(c) && !mirror_set.contains(&ObjectName::new(*c, ObjectType::Commit))
        })
        .collect();
    Ok(plan)
}

/// Deletes what `plan` says under a lock the caller holds (or counts it, with `dry_run`).
fn execute_retention(repo: &Repo, plan: &RetentionPlan, dry_run: bool) -> Result<PruneReport> {
    let mut roots = Roots::default();
    roots.exact.extend(plan.keep.iter().copied());
    for c in &plan.mirror_roots {
        roots.add(*c, -1);
    }
    let reachable = roots.reachable(repo, false)?;
    let mut report = sweep(repo, &reachable, false, dry_run)?;
    report.deltas_pruned = prune_static_deltas(repo, None, dry_run)?;
    Ok(report)
}

/// Plans and applies `policy` under one lock (exclusive; shared for a dry
/// run), so the plan shown is the plan executed.
pub fn apply_retention(
    repo: &Repo,
    policy: &RetentionPolicy,
    dry_run: bool,
) -> Result<(RetentionPlan, PruneReport)> {
    let _lock = take_lock(
        repo,
        if dry_run {
            LockKind::Shared
        } else {
            LockKind::Exclusive
        },
    )?;
    let plan = plan_retention(repo, policy)?;
    let report = execute_retention(repo, &plan, dry_run)?;
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_depth() {
        assert_eq!(parse_branch_depth("a/b=3").unwrap(), ("a/b".into(), 3));
        assert_eq!(parse_branch_depth("a=-1").unwrap(), ("a".into(), -1));
        assert_eq!(parse_branch_depth("a=5x").unwrap(), ("a".into(), 5));
        assert!(matches!(
            parse_branch_depth("a"),
            Err(PruneError::BranchDepth(_))
        ));
        assert!(matches!(
            parse_branch_depth("a=x"),
            Err(PruneError::Depth(_))
        ));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches(
            "exampleos/x86_64/*",
            "exampleos/x86_64/standard"
        ));
        assert!(!pattern_matches(
            "exampleos/x86_64/*",
            "exampleos/x86_64/a/b"
        ));
        assert!(pattern_matches("exampleos/**", "exampleos/x86_64/a/b"));
        assert!(pattern_matches("*", "main"));
        assert!(!pattern_matches("*", "origin:main/x"));
        assert!(pattern_matches("ma?n", "main"));
        assert!(!pattern_matches("main", "main2"));
    }

    #[test]
    fn policy_from_config() {
        let kf = KeyFile::parse("[core]\nmode=archive-z2\n\n[prune \"os/*\"]\nkeep-last=3\nkeep-with-metadata=version;release\n\n[prune \"stable\"]\nkeep-all=true\n").unwrap();
        let p = RetentionPolicy::from_config(&kf).unwrap();
        assert_eq!(p.rules.len(), 2);
        assert_eq!(p.rules[0].keep_last, Some(3));
        assert_eq!(p.rules[0].keep_with_metadata, vec!["version", "release"]);
        assert!(p.rules[1].keep_all);
        assert_eq!(p.rules_for("os/a").len(), 1);
        let bad = KeyFile::parse("[prune \"x\"]\nkeep-lats=3\n").unwrap();
        assert!(RetentionPolicy::from_config(&bad).is_err());
    }

    #[test]
    fn tombstone_bytes_match_ostree() {
        // The layout ostree 2022.7 writes (format.md §4).
        let c = Checksum::digest(b"c");
        let b = Tombstone { commit: c }.to_bytes();
        assert!(b.starts_with(b"commit\0"));
        assert!(b.ends_with(b"\0ay\x07\x4d"));
    }
}
