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
//!    the reachable set is deleted. The object directories are listed in
//!    parallel, one `objects/XX` directory at a time; only the unreached
//!    objects are kept from the listing. A deleted commit takes its detached
//!    metadata (`.commitmeta`) and its `.commitpartial` marker with it and
//!    leaves a `.tombstone-commit` when `core.tombstone-commits=true`. Static
//!    deltas whose source or target commit is gone are removed afterwards.
//!
//! Locking: [`plan_prune`] walks the roots and lists the objects they do not
//! reach under the *shared* lock, so commits, pulls and publishing go on
//! meanwhile. [`PrunePlan::execute`] then takes the *exclusive* lock (no
//! writer is between writing objects and moving its ref while it is held),
//! reads the roots again and resumes the walk from them
//! ([`Traversal::resume`]): only what is new — a moved or new ref, a commit
//! written since, a partial commit completed since — is walked, and an
//! object that such a commit reuses is reached again before anything is
//! deleted. Only objects the plan listed and the resumed walk still does not
//! reach are deleted; objects written after the listing wait for the next
//! prune. OSTree instead holds the exclusive lock for its whole prune
//! (`ostree_repo_prune` and `ostree_repo_prune_from_reachable` in
//! `ostree-repo-prune.c`, the reachability walk of `ot-builtin-prune.c`;
//! ostree issue 2337 is how computing reachability outside the lock lost
//! live objects). With `--delete-commit` the commit must be deleted before
//! the walk, so everything happens in `execute`.
//!
//! Like OSTree, `.commitmeta` and `.tombstone-commit` objects are never swept
//! on their own. Unlike OSTree 2022.7, which removes a static delta only when
//! its *target* commit is gone, grove also removes deltas whose *source*
//! commit is gone (prune keeps no derived data for history the repository no
//! longer has; see docs/prune.md). Also unlike OSTree 2022.7: collection refs (`refs/mirrors`) are roots in every
//! mode, validation happens before anything is deleted, and a dry run deletes
//! nothing at all (OSTree still removes stale static deltas).
//!
//! The retention policy (module `retention`: [`RetentionPolicy`],
//! [`plan_retention`], [`apply_retention`]) keeps, per ref pattern, the last N commits, the
//! commits younger than a date, commits carrying a metadata key, or all of
//! them; everything else on the ref's history is deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::delta::DeltaName;
use crate::lifecycle::date::{parse_date, DateError};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::Tombstone;
use crate::repo::collections::{CollectionRef, CollectionSources};
use crate::repo::keyfile::KeyFile;
use crate::repo::refs::{RefError, Refspec};
use crate::repo::{LockKind, Repo, RepoError, RepoLock};
use crate::tree::traverse::{Traversal, TraverseError, Walked};

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
    #[error("Timed out waiting for the lock on repository {}", path.display())]
    LockTimeout { path: PathBuf },
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
    #[error("--policy cannot be combined with ostree prune options")]
    PolicyWithOptions,
    #[error("no [prune \"REF-PATTERN\"] rule in {}/config", .0.display())]
    NoPolicy(PathBuf),
    #[error(transparent)]
    SummaryCache(#[from] crate::transfer::TransferError),
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

/// What a sweep found and did (`grove prune --json` is this, serialised).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Objects considered (all loose objects, or only commits with `commit_only`).
    pub objects_total: u64,
    /// Unreachable objects deleted (or, in a dry run, that would be).
    #[serde(rename = "objects_deleted")]
    pub objects_pruned: u64,
    /// Their storage size in bytes.
    pub bytes_freed: u64,
    /// The commits among them, sorted.
    #[serde(rename = "commits_deleted")]
    pub commits_pruned: Vec<Checksum>,
    /// Static deltas removed, by name (`FROM-TO` or `TO`).
    #[serde(rename = "static_deltas_deleted")]
    pub deltas_pruned: Vec<String>,
    /// Nothing was deleted.
    pub dry_run: bool,
    pub commit_only: bool,
    /// How long the deleting step held the repository lock: exclusive, or
    /// shared for a dry run (the walk before it holds only the shared lock).
    #[serde(rename = "lock_held_ms", serialize_with = "millis")]
    pub lock_held: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

fn take_lock(repo: &Repo, kind: LockKind) -> Result<Option<RepoLock>> {
    repo.lock(kind).map_err(|e| match e {
        RepoError::Lock { path, source } if source.kind() == ErrorKind::WouldBlock => {
            PruneError::LockTimeout { path }
        }
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

    /// Walks every root into `t` (what `t` walked before is not walked again).
    fn walk_into(self, t: &mut Traversal) -> Result<()> {
        for (depth, mut commits) in self.by_depth {
            commits.sort();
            commits.dedup();
            t.add_commits(&commits, depth)?;
        }
        t.add_commits(&self.exact, 0)?;
        Ok(())
    }
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
    let c = Checksum::from_hex_parts(prefix.as_bytes(), rest.as_bytes())?;
    Some(ObjectName::new(c, objtype))
}

/// The loose objects a walk did not reach.
struct Unreachable {
    /// Objects listed (all loose objects, or only commits with `commit_only`).
    total: u64,
    /// Each object the walk did not reach, with its storage size.
    objects: Vec<(ObjectName, u64)>,
}

/// Lists every `objects/XX` directory in parallel and keeps the objects not
/// in `reachable`.
fn list_unreachable(
    repo: &Repo,
    reachable: &HashSet<ObjectName>,
    commit_only: bool,
) -> Result<Unreachable> {
    let objdir = repo.path().join("objects");
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| PruneError::Io { path, source }
    };
    let mut prefixes = Vec::new();
    for entry in fs::read_dir(&objdir).map_err(io(&objdir))? {
        let entry = entry.map_err(io(&objdir))?;
        if let Some(name) = entry.file_name().to_str() {
            if name.len() == 2 && Checksum::is_hex_prefix(name) {
                prefixes.push(name.to_string());
            }
        }
    }
    let archive = repo.mode().is_archive();
    /// One directory's count of objects listed and its unreachable objects.
    type Listed = (u64, Vec<(ObjectName, u64)>);
    let per_dir: Vec<Result<Listed>> = prefixes
        .par_iter()
        .map(|prefix| {
            let dir = objdir.join(prefix);
            let (mut total, mut out) = (0, Vec::new());
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok((total, out)),
                Err(source) => return Err(PruneError::Io { path: dir, source }),
            };
            for entry in rd {
                let entry = entry.map_err(io(&dir))?;
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
                total += 1;
                if reachable.contains(&name) {
                    continue;
                }
                match entry.metadata() {
                    Ok(m) => out.push((name, m.len())),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(PruneError::Io {
                            path: entry.path(),
                            source,
                        })
                    }
                }
            }
            Ok((total, out))
        })
        .collect();
    let mut found = Unreachable {
        total: 0,
        objects: Vec::new(),
    };
    for r in per_dir {
        let (total, objects) = r?;
        found.total += total;
        found.objects.extend(objects);
    }
    Ok(found)
}

/// Deletes (unless `no_prune`) the listed objects that are still not in
/// `reachable`, in parallel, and reports them.
fn delete_unreachable(
    repo: &Repo,
    found: Unreachable,
    reachable: &HashSet<ObjectName>,
    commit_only: bool,
    no_prune: bool,
) -> Result<PruneReport> {
    let gone: Vec<(ObjectName, u64)> = found
        .objects
        .into_iter()
        .filter(|(name, _)| !reachable.contains(name))
        .collect();
    if !no_prune {
        let tombstones = tombstones_enabled(repo);
        gone.par_iter().try_for_each(|(name, _)| {
            if name.objtype == ObjectType::Commit {
                delete_commit_object(repo, name.checksum, tombstones)
            } else {
                Ok(repo.delete_object(name)?)
            }
        })?;
    }
    let mut commits_pruned: Vec<Checksum> = gone
        .iter()
        .filter(|(name, _)| name.objtype == ObjectType::Commit)
        .map(|(name, _)| name.checksum)
        .collect();
    commits_pruned.sort();
    Ok(PruneReport {
        objects_total: found.total,
        objects_pruned: gone.len() as u64,
        bytes_freed: gone.iter().map(|(_, size)| size).sum(),
        commits_pruned,
        dry_run: no_prune,
        commit_only,
        ..Default::default()
    })
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

/// A prune whose walk was done under the shared lock ([`plan_prune`]);
/// [`PrunePlan::execute`] re-checks and deletes under the exclusive one.
pub struct PrunePlan {
    opts: PruneOptions,
    /// The walk and what it did not reach; `None` when `execute` walks
    /// (`--delete-commit` deletes its commit before the walk).
    scan: Option<(Walked, Unreachable)>,
}

/// Validates `opts` and, under the shared repository lock, walks the roots
/// they select and lists the objects those do not reach. Nothing is deleted.
pub fn plan_prune(repo: &Repo, opts: &PruneOptions) -> Result<PrunePlan> {
    // Validate everything before deleting anything.
    if opts.delete_commit.is_some() && opts.no_prune {
        return Err(PruneError::DeleteCommitDryRun);
    }
    if opts.static_deltas_only && opts.delete_commit.is_none() {
        return Err(PruneError::StaticDeltasOnlyAlone);
    }
    let _lock = take_lock(repo, LockKind::Shared)?;
    for b in &opts.only_branch {
        if repo.read_ref(b)?.is_none() {
            return Err(RefError::NotFound(b.to_string()).into());
        }
    }
    let scan = if opts.delete_commit.is_some() && !opts.static_deltas_only {
        None
    } else {
        let walked = walk_roots(repo, opts, None, Vec::new())?;
        let unreachable = list_unreachable(repo, walked.reachable(), opts.commit_only)?;
        Some((walked, unreachable))
    };
    Ok(PrunePlan {
        opts: opts.clone(),
        scan,
    })
}

/// Reads the roots `opts` selects and walks them, resuming `before` if given.
fn walk_roots(
    repo: &Repo,
    opts: &PruneOptions,
    before: Option<Walked>,
    also: Vec<Checksum>,
) -> Result<Walked> {
    let mut roots = prune_roots(repo, opts)?;
    roots.exact.extend(also);
    let mut t = match before {
        Some(walked) => Traversal::resume(repo, walked)?,
        None if opts.commit_only => Traversal::new(repo).commits_only(),
        None => Traversal::new(repo),
    };
    roots.walk_into(&mut t)?;
    Ok(t.into_walked())
}

/// The commits on disk now that the plan neither listed nor walked: written
/// while it ran. Without `--refs-only` every commit is a root anyway; with it,
/// a commit written meanwhile that no ref names yet (an orphan, or a commit
/// whose ref has not moved) may reuse objects the plan found unreachable, so
/// its tree is kept, as ostree issue 2337 asks. Costs one listing of the
/// object directories under the exclusive lock.
fn commits_written_since(
    repo: &Repo,
    opts: &PruneOptions,
    walked: &Walked,
    listed: &Unreachable,
) -> Result<Vec<Checksum>> {
    if !walks_refs_only(opts) {
        return Ok(Vec::new());
    }
    let known: HashSet<Checksum> = listed
        .objects
        .iter()
        .filter(|(name, _)| name.objtype == ObjectType::Commit)
        .map(|(name, _)| name.checksum)
        .collect();
    Ok(repo
        .list_objects(Some(ObjectType::Commit))?
        .into_iter()
        .filter(|o| !known.contains(&o.checksum) && !walked.reachable().contains(o))
        .map(|o| o.checksum)
        .collect())
}

/// Whether the walk starts from refs only (`--refs-only`, and the per-ref
/// options that imply it) rather than from every commit.
fn walks_refs_only(opts: &PruneOptions) -> bool {
    opts.refs_only || per_ref_rules(opts)
}

/// `--retain-branch-depth`, `--keep-younger-than`, `--only-branch`.
fn per_ref_rules(opts: &PruneOptions) -> bool {
    !opts.retain_branch_depth.is_empty()
        || opts.keep_younger_than.is_some()
        || !opts.only_branch.is_empty()
}

/// The roots of `ostree prune`'s modes (see [`PruneOptions`]).
fn prune_roots(repo: &Repo, opts: &PruneOptions) -> Result<Roots> {
    let refs = repo.list_refs()?;
    let mut roots = Roots::default();
    for (_, c) in mirror_refs(repo)? {
        roots.add(c, if opts.refs_only { opts.depth } else { -1 });
    }
    if !per_ref_rules(opts) {
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
    Ok(roots)
}

impl PrunePlan {
    /// Takes the exclusive repository lock (shared for `no_prune`), reads
    /// the roots again and resumes the plan's walk from them, so whatever
    /// changed since the plan — refs moved, created or deleted, commits
    /// written, partial commits completed — is walked (only what is new),
    /// then deletes the `delete_commit` victim, the listed objects still
    /// unreached and the static deltas whose commits are gone.
    ///
    /// As in OSTree, `delete_commit` (without `static_deltas_only`) turns
    /// `core.tombstone-commits` on in the repository config for good.
    pub fn execute(self, repo: &mut Repo) -> Result<PruneReport> {
        let opts = &self.opts;
        let kind = if opts.no_prune {
            LockKind::Shared
        } else {
            LockKind::Exclusive
        };
        let _lock = take_lock(repo, kind)?;
        let locked = Instant::now();
        let mut deltas_pruned = Vec::new();
        if let Some(victim) = opts.delete_commit {
            if opts.static_deltas_only {
                // Only the deltas to the commit go: a ref may still point at it.
                deltas_pruned.extend(prune_static_deltas(repo, Some(victim), false)?);
            } else {
                if let Some((r, _)) = repo.list_refs()?.into_iter().find(|(_, c)| *c == victim) {
                    return Err(PruneError::Referenced {
                        commit: victim,
                        by: r.to_string(),
                    });
                }
                if let Some((r, _)) = mirror_refs(repo)?.into_iter().find(|(_, c)| *c == victim) {
                    return Err(PruneError::ReferencedByCollectionRef {
                        commit: victim,
                        by: r,
                    });
                }
                if !repo.has_object(&ObjectName::new(victim, ObjectType::Commit)) {
                    return Err(PruneError::NoSuchCommit(victim));
                }
                enable_tombstones(repo)?;
                delete_commit_object(repo, victim, true)?;
            }
        }
        let (walked, unreachable) = match self.scan {
            Some((walked, unreachable)) => {
                let written = commits_written_since(repo, opts, &walked, &unreachable)?;
                (walk_roots(repo, opts, Some(walked), written)?, unreachable)
            }
            None => {
                let walked = walk_roots(repo, opts, None, Vec::new())?;
                let unreachable = list_unreachable(repo, walked.reachable(), opts.commit_only)?;
                (walked, unreachable)
            }
        };
        let mut report = delete_unreachable(
            repo,
            unreachable,
            walked.reachable(),
            opts.commit_only,
            opts.no_prune,
        )?;
        if let Some(victim) = opts.delete_commit.filter(|_| !opts.static_deltas_only) {
            report.commits_pruned.push(victim);
            report.commits_pruned.sort();
        }
        deltas_pruned.extend(prune_static_deltas(repo, None, opts.no_prune)?);
        report.deltas_pruned = deltas_pruned;
        report.lock_held = locked.elapsed();
        Ok(report)
    }
}

mod retention;
pub use retention::*;

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
    fn tombstone_bytes_match_ostree() {
        // The layout ostree 2022.7 writes (format.md §4).
        let c = Checksum::digest(b"c");
        let b = Tombstone { commit: c }.to_bytes();
        assert!(b.starts_with(b"commit\0"));
        assert!(b.ends_with(b"\0ay\x07\x4d"));
    }
}
