//! Repository consistency check: refs, commits and every reachable object.
//!
//! Follows `ostree fsck` (`src/ostree/ot-builtin-fsck.c` with
//! `ostree_repo_fsck_object` in `ostree-repo.c`):
//!
//! [`fsck`] runs the steps in ostree's order, announcing each ([`Step`]):
//!
//! 1. [`Step::Refs`], then [`Step::CollectionRefs`]: each ref's commit
//!    (local and remote refs, then mirrored collection refs) is checksummed
//!    and must load.
//! 2. [`Step::Commits`]: every commit object in the store is loaded;
//!    partial ones (`state/C.commitpartial`) are counted and skipped.
//! 3. [`Step::Objects`]: everything the remaining commits reach (no parents
//!    followed: each commit object is enumerated anyway) is re-hashed —
//!    metadata as the SHA-256 of its bytes, content with
//!    [`Repo::checksum_stored_content`] — in parallel, reported as
//!    [`Phase::Verifying`] and stopped between objects by the caller's
//!    [`Control`].
//! 4. With [`FsckOptions::add_tombstones`], the commits whose parent is
//!    missing are replaced by tombstones.
//!
//! A missing object, or a corrupt one deleted with `delete`, marks the
//! commits that reach it partial (marker content `f`). Without `all` or
//! `delete` the check stops at the first corrupt object
//! ([`FsckError::Corrupt`]). Nothing is printed: problems are collected as
//! [`Problem`]s whose `Display` is OSTree's wording, and
//! [`FsckReport::verdict`] is ostree's final judgement.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::lifecycle::prune::{tombstone_commits, PruneError};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::{Commit, DirMeta, DirTree};
use crate::progress::{Control, Interrupted, Phase};
use crate::repo::refs::RefError;
use crate::repo::{Repo, RepoError};
use crate::tree::traverse::{Traversal, TraverseError};

/// How far fsck goes when it finds corruption.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsckOptions {
    /// Delete corrupt objects and mark the commits that reach them partial.
    pub delete: bool,
    /// Keep going after a corrupt object instead of stopping.
    pub all: bool,
    /// Collect the commits whose parent commit is missing
    /// ([`FsckReport::parent_missing`]), to replace them by tombstones.
    pub find_missing_parents: bool,
    /// Replace the commits whose parent is missing by tombstones (implies
    /// `find_missing_parents`).
    pub add_tombstones: bool,
    /// Each ref's commit must name the ref (and the ref's collection) in its
    /// `ostree.ref-binding` / `ostree.collection-binding` metadata.
    pub verify_bindings: bool,
    /// Every ref a commit's bindings name must exist and point at it
    /// (applies to every commit object; implies `verify_bindings` for the
    /// commits, not for the refs checked before them, as ostree).
    pub verify_back_refs: bool,
}

/// A step of the check, announced before it starts (ostree prints a line
/// for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Checking each ref's commit.
    Refs,
    /// Checking each collection ref's commit.
    CollectionRefs,
    /// Loading every commit object.
    Commits,
    /// Verifying what `commits` non-partial commits reach.
    Objects { commits: usize },
}

/// What is wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The object is not in the store.
    Missing,
    /// The object's bytes hash to something else.
    Corrupted { actual: Checksum },
    /// The object cannot be read or decoded (truncated, bad compression, bad GVariant).
    Invalid { detail: String },
}

/// One broken object and what fsck did about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub object: ObjectName,
    /// The commits that reach the object (empty when found through a ref).
    pub commits: Vec<Checksum>,
    pub kind: ProblemKind,
    /// The corrupt object was deleted (`delete`).
    pub deleted: bool,
    /// Commits newly marked partial because of this problem.
    pub marked_partial: Vec<Checksum>,
}

impl Problem {
    pub fn is_missing(&self) -> bool {
        self.kind == ProblemKind::Missing
    }
}

fn join_commits(commits: &[Checksum]) -> String {
    commits
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Problem {
    /// OSTree's message for the problem, e.g.
    /// `In commits C: fsck content object X: Corrupted file object; checksum expected='X' actual='Y'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.object;
        if self.kind == ProblemKind::Missing {
            if self.commits.is_empty() {
                return write!(f, "Object missing: {o}");
            }
            return write!(
                f,
                "Object missing in commits {}: {o}",
                join_commits(&self.commits)
            );
        }
        if !self.commits.is_empty() {
            write!(f, "In commits {}: ", join_commits(&self.commits))?;
        }
        if o.objtype == ObjectType::File {
            write!(f, "fsck content object {}: ", o.checksum)?;
        } else {
            write!(f, "fsck {o}: ")?;
        }
        match &self.kind {
            ProblemKind::Corrupted { actual } => {
                write!(
                    f,
                    "Corrupted {} object; checksum expected='{}' actual='{actual}'",
                    o.objtype, o.checksum
                )
            }
            ProblemKind::Invalid { detail } => f.write_str(detail),
            ProblemKind::Missing => unreachable!("handled above"),
        }
    }
}

/// Failures that end the check early.
#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    /// The first corrupt object, when neither `all` nor `delete` is set.
    #[error("{0}")]
    Corrupt(Box<Problem>),
    #[error("Loading commit for ref {refname}: {source}")]
    RefCommit { refname: String, source: RepoError },
    #[error("Loading commit {commit}: {source}")]
    Commit { commit: Checksum, source: RepoError },
    /// `verify_bindings`: the commit a ref points at does not bind it.
    #[error("Commit {commit}: {why}")]
    Binding { commit: Checksum, why: String },
    /// `verify_back_refs`: a bound ref is missing or points elsewhere.
    #[error("{0}")]
    BackRef(String),
    #[error("Listing refs: {0}")]
    Refs(#[from] RefError),
    #[error(transparent)]
    Traverse(#[from] TraverseError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Writing the tombstones of [`FsckOptions::add_tombstones`].
    #[error(transparent)]
    Tombstone(Box<PruneError>),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl From<PruneError> for FsckError {
    fn from(e: PruneError) -> Self {
        FsckError::Tombstone(Box::new(e))
    }
}

pub type Result<T, E = FsckError> = std::result::Result<T, E>;

/// A check that ended early: the error, and the problems handled before
/// it (the fatal [`FsckError::Corrupt`] problem is the error, not among them).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct FsckFailed {
    pub error: Box<FsckError>,
    pub problems: Vec<Problem>,
}

/// Why a completed check judges the repository unhealthy (ostree's words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    #[error("Repository corruption encountered")]
    Corruption,
    /// Commits left partial by an earlier fsck; the count is of all partial
    /// commits, as ostree counts them in this message.
    #[error("{0} partial commits from fsck-detected corruption")]
    FsckPartial(usize),
}

/// The outcome of a completed check.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    pub refs_checked: usize,
    /// Non-partial commits whose objects were verified.
    pub commits_verified: usize,
    /// Commits skipped because they were already partial.
    pub partial_commits: usize,
    /// Of those, the ones marked partial by an earlier fsck.
    pub fsck_partial_commits: usize,
    /// Reachable objects verified.
    pub objects_checked: usize,
    /// Every problem found, in the order it was handled.
    pub problems: Vec<Problem>,
    /// With [`FsckOptions::find_missing_parents`]: commits (partial ones
    /// too) that name a parent whose commit object is not in the store.
    pub parent_missing: Vec<Checksum>,
}

impl FsckReport {
    /// Whether anything was missing or corrupt (OSTree: "Repository corruption encountered").
    pub fn found_corruption(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Clean: no problems and no commit left partial by an earlier fsck.
    pub fn is_clean(&self) -> bool {
        self.verdict().is_ok()
    }

    /// OSTree's final judgement: corruption found now, then commits left
    /// partial by an earlier fsck.
    pub fn verdict(&self) -> std::result::Result<(), Unhealthy> {
        if self.found_corruption() {
            Err(Unhealthy::Corruption)
        } else if self.fsck_partial_commits > 0 {
            Err(Unhealthy::FsckPartial(self.partial_commits))
        } else {
            Ok(())
        }
    }
}

/// Checks the repository: every step in order, announced to `step`;
/// objects are verified under `control`.
pub fn fsck(
    repo: &mut Repo,
    opts: FsckOptions,
    control: &Control,
    step: &mut dyn FnMut(Step),
) -> std::result::Result<FsckReport, FsckFailed> {
    let opts = FsckOptions {
        find_missing_parents: opts.find_missing_parents || opts.add_tombstones,
        ..opts
    };
    let mut f = Fsck::new(&*repo, opts);
    let res = (|| {
        step(Step::Refs);
        f.validate_refs()?;
        step(Step::CollectionRefs);
        f.validate_collection_refs()?;
        step(Step::Commits);
        let commits = f.enumerate_commits()?;
        step(Step::Objects { commits });
        f.verify(control)
    })();
    if let Err(error) = res {
        let mut problems = f.into_report().problems;
        if matches!(error, FsckError::Corrupt(_)) {
            problems.pop();
        }
        return Err(FsckFailed {
            error: Box::new(error),
            problems,
        });
    }
    let report = f.into_report();
    if opts.add_tombstones {
        tombstone_commits(repo, &report.parent_missing).map_err(|e| FsckFailed {
            error: Box::new(e.into()),
            problems: report.problems.clone(),
        })?;
    }
    Ok(report)
}

/// A running check: the steps of [`fsck`].
struct Fsck<'r> {
    repo: &'r Repo,
    opts: FsckOptions,
    report: FsckReport,
    to_verify: Vec<Checksum>,
    /// Commits marked partial during this run (not marked twice).
    marked: HashSet<Checksum>,
}

impl<'r> Fsck<'r> {
    fn new(repo: &'r Repo, opts: FsckOptions) -> Self {
        Fsck {
            repo,
            opts,
            report: FsckReport::default(),
            to_verify: Vec::new(),
            marked: HashSet::new(),
        }
    }

    fn into_report(self) -> FsckReport {
        self.report
    }

    /// Records a problem, deleting and marking commits partial as OSTree
    /// does; returns `Err` if the check must stop here.
    fn handle(&mut self, mut problem: Problem) -> Result<()> {
        let mut gone = problem.is_missing();
        if !gone {
            if self.opts.delete {
                self.repo.delete_object(&problem.object)?;
                problem.deleted = true;
                gone = true;
            } else if !self.opts.all {
                self.report.problems.push(problem.clone());
                return Err(FsckError::Corrupt(Box::new(problem)));
            }
        }
        if gone && problem.object.objtype != ObjectType::Commit {
            for &c in &problem.commits {
                if self.marked.contains(&c) || self.repo.is_partial(c) {
                    continue;
                }
                self.repo.set_partial(c, true, true)?;
                self.marked.insert(c);
                problem.marked_partial.push(c);
            }
        }
        self.report.problems.push(problem);
        Ok(())
    }

    /// Phase 1: every ref's commit object is verified and must load.
    fn validate_refs(&mut self) -> Result<()> {
        let refs: Vec<(Option<String>, String, Checksum)> = self
            .repo
            .list_refs()?
            .into_iter()
            .map(|(spec, c)| (None, spec.name.to_string(), c))
            .collect();
        self.validate_ref_commits(refs)
    }

    /// Phase 1b: the same for collection refs (`refs/heads` of a repository
    /// with a collection ID, and `refs/mirrors`), which ostree checks after
    /// it reports "Validating refs in collections".
    fn validate_collection_refs(&mut self) -> Result<()> {
        let sources = crate::repo::collections::CollectionSources {
            heads: true,
            mirrors: true,
            remotes: false,
        };
        let refs: Vec<(Option<String>, String, Checksum)> = self
            .repo
            .list_collection_refs(None, sources)?
            .into_iter()
            .map(|(r, c)| (Some(r.collection.to_string()), r.name.to_string(), c))
            .collect();
        self.validate_ref_commits(refs)
    }

    fn validate_ref_commits(
        &mut self,
        refs: Vec<(Option<String>, String, Checksum)>,
    ) -> Result<()> {
        for (collection, name, commit) in refs {
            let refname = match &collection {
                Some(c) => format!("({c}, {name})"),
                None => name.clone(),
            };
            self.report.refs_checked += 1;
            let object = ObjectName::new(commit, ObjectType::Commit);
            if let Some(kind) = check_object(self.repo, &object) {
                self.handle(Problem {
                    object,
                    commits: Vec::new(),
                    kind,
                    deleted: false,
                    marked_partial: Vec::new(),
                })?;
            }
            let loaded = self
                .repo
                .load_commit(commit)
                .map_err(|source| FsckError::RefCommit { refname, source })?;
            if self.opts.verify_bindings {
                verify_bindings(collection.as_deref(), &name, &loaded)
                    .map_err(|why| FsckError::Binding { commit, why })?;
            }
        }
        Ok(())
    }

    /// `verify_back_refs`: each ref the commit's bindings name resolves to it.
    fn verify_back_refs(&self, checksum: Checksum, commit: &Commit) -> Result<()> {
        let Some(refs) = binding_refs(commit) else {
            return Ok(());
        };
        let collection = commit.metadata.get_str(COLLECTION_BINDING);
        for name in refs {
            let (found, shown) = match &collection {
                Some(c) => {
                    let found = match (
                        c.parse::<crate::repo::collections::CollectionId>(),
                        name.parse::<crate::repo::refs::RefName>(),
                    ) {
                        (Ok(cid), Ok(rn)) => self
                            .repo
                            .list_collection_refs(
                                Some(&cid),
                                crate::repo::collections::CollectionSources::ALL,
                            )?
                            .into_iter()
                            .find(|(r, _)| r.name == rn)
                            .map(|(_, c)| c),
                        _ => None,
                    };
                    (found, format!("Collection–ref ({c}, {name})"))
                }
                None => {
                    let found = match name.parse::<crate::repo::refs::Refspec>() {
                        Ok(spec) => self.repo.read_ref(&spec)?,
                        Err(_) => None,
                    };
                    (found, format!("Ref ‘{name}’"))
                }
            };
            match found {
                None => {
                    return Err(FsckError::BackRef(format!(
                        "{shown} in bindings for commit {checksum} does not exist"
                    )))
                }
                Some(c) if c != checksum => {
                    return Err(FsckError::BackRef(format!(
                        "{shown} in bindings for commit {checksum} does not resolve to that commit"
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Phase 2: loads every commit object; returns how many will be verified.
    fn enumerate_commits(&mut self) -> Result<usize> {
        let commits = self.repo.list_objects(Some(ObjectType::Commit))?;
        for name in commits {
            let c = name.checksum;
            let commit = self
                .repo
                .load_commit(c)
                .map_err(|source| FsckError::Commit { commit: c, source })?;
            if self.opts.verify_back_refs {
                self.verify_back_refs(c, &commit)?;
            }
            if self.opts.find_missing_parents
                && commit.parent.is_some_and(|p| {
                    !self
                        .repo
                        .has_object(&ObjectName::new(p, ObjectType::Commit))
                })
            {
                self.report.parent_missing.push(c);
            }
            if self.repo.is_partial(c) {
                self.report.partial_commits += 1;
                if self.repo.is_fsck_partial(c) {
                    self.report.fsck_partial_commits += 1;
                }
            } else {
                self.to_verify.push(c);
            }
        }
        self.report.commits_verified = self.to_verify.len();
        Ok(self.to_verify.len())
    }

    /// Phase 3: verifies every object reachable from the non-partial
    /// commits, counted as [`Phase::Verifying`].
    fn verify(&mut self, control: &Control) -> Result<()> {
        let mut walk = Traversal::new(self.repo).lenient();
        walk.add_commits(&self.to_verify, 0)?;
        // The set becomes the list: one copy of the names in memory, not two.
        let mut objects: Vec<ObjectName> = walk.into_reachable().into_iter().collect();
        // Checksum order is directory order: kinder to the disk.
        objects.sort_by(|a, b| a.checksum.cmp(&b.checksum).then(a.objtype.cmp(&b.objtype)));
        let total = objects.len();
        self.report.objects_checked = total;

        let counter = control.phase(Phase::Verifying, total as u64);
        let stop = AtomicBool::new(false);
        let stop_early = !self.opts.all && !self.opts.delete;
        let found: Mutex<Vec<(usize, ObjectName, ProblemKind)>> = Mutex::new(Vec::new());
        let repo = self.repo;
        objects.par_iter().enumerate().for_each(|(i, name)| {
            if stop.load(Ordering::Relaxed) || control.interrupted() {
                return;
            }
            if let Some(kind) = check_object(repo, name) {
                if stop_early && kind != ProblemKind::Missing {
                    stop.store(true, Ordering::Relaxed);
                }
                found
                    .lock()
                    .expect("no panics while holding the lock")
                    .push((i, *name, kind));
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if counter.tick(0).is_err() {
                stop.store(true, Ordering::Relaxed);
            }
        });
        control.check()?;
        let mut found = found
            .into_inner()
            .expect("no panics while holding the lock");
        found.sort_by_key(|(i, _, _)| *i);
        drop(objects);
        let reaching = self.commits_reaching(found.iter().map(|(_, o, _)| *o))?;
        for (_, object, kind) in found {
            let commits = reaching.get(&object).cloned().unwrap_or_default();
            self.handle(Problem {
                object,
                commits,
                kind,
                deleted: false,
                marked_partial: Vec::new(),
            })?;
        }
        Ok(())
    }
}

impl Fsck<'_> {
    /// For each of `objects`, the verified commits that reach it, sorted (a
    /// commit reaches itself). Found by walking each commit again, once per
    /// check and only when something is wrong: the walk of phase 3 keeps no
    /// child-to-parent map, which would hold an entry per object of the
    /// repository for a question asked only of corrupt ones.
    fn commits_reaching(
        &self,
        objects: impl Iterator<Item = ObjectName>,
    ) -> Result<HashMap<ObjectName, Vec<Checksum>>> {
        let mut out: HashMap<ObjectName, Vec<Checksum>> =
            objects.map(|o| (o, Vec::new())).collect();
        if out.is_empty() {
            return Ok(out);
        }
        let mut commits = self.to_verify.clone();
        commits.sort();
        for c in commits {
            let mut walk = Traversal::new(self.repo).lenient();
            walk.add_commit(c, 0)?;
            let reached = walk.reachable();
            for (o, list) in out.iter_mut() {
                if reached.contains(o) {
                    list.push(c);
                }
            }
        }
        Ok(out)
    }
}

/// Verifies one object; `None` if it is intact.
pub fn check_object(repo: &Repo, name: &ObjectName) -> Option<ProblemKind> {
    if name.objtype == ObjectType::File {
        return match repo.checksum_stored_content(name.checksum) {
            Ok(actual) if actual == name.checksum => None,
            Ok(actual) => Some(ProblemKind::Corrupted { actual }),
            Err(RepoError::ObjectMissing(_)) => Some(ProblemKind::Missing),
            Err(e) => Some(ProblemKind::Invalid {
                detail: e.to_string(),
            }),
        };
    }
    let bytes = match repo.read_metadata(name) {
        Ok(b) => b,
        Err(RepoError::ObjectMissing(_)) => return Some(ProblemKind::Missing),
        Err(e) => {
            return Some(ProblemKind::Invalid {
                detail: e.to_string(),
            })
        }
    };
    let actual = Checksum::digest(&bytes);
    if actual != name.checksum {
        return Some(ProblemKind::Corrupted { actual });
    }
    let parsed = match name.objtype {
        ObjectType::Commit => Commit::from_bytes(&bytes).map(drop),
        ObjectType::DirTree => DirTree::from_bytes(&bytes).map(drop),
        ObjectType::DirMeta => DirMeta::from_bytes(&bytes).map(drop),
        _ => Ok(()),
    };
    parsed.err().map(|e| ProblemKind::Invalid {
        detail: e.to_string(),
    })
}

/// Refs under `refs/mirrors/COLLECTION/…`: (collection, ref, commit).
const REF_BINDING: &str = "ostree.ref-binding";
const COLLECTION_BINDING: &str = "ostree.collection-binding";

/// The refs a commit binds (`ostree.ref-binding`), if it has the key.
fn binding_refs(commit: &Commit) -> Option<Vec<String>> {
    match &**commit.metadata.get(REF_BINDING)? {
        zgvariant::Variant::Array(a) => Some(
            a.inner()
                .iter()
                .filter_map(|v| {
                    if let zgvariant::Variant::Str(s) = v {
                        Some(s.as_str().to_string())
                    } else {
                        None
                    }
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Whether `commit` may be what ref `name` (of `collection`) points at:
/// the ref is in its ref binding and the collection is its collection
/// binding; the error is ostree's wording (`_ostree_repo_verify_bindings`).
pub fn verify_bindings(
    collection: Option<&str>,
    name: &str,
    commit: &Commit,
) -> std::result::Result<(), String> {
    let Some(refs) = binding_refs(commit) else {
        return match collection {
            None => Ok(()),
            Some(_) => {
                Err("Expected commit metadata to have ref binding information, found none".into())
            }
        };
    };
    if !refs.iter().any(|r| r == name) {
        let listed = if refs.is_empty() {
            "no refs".to_string()
        } else {
            refs.iter()
                .map(|r| format!("‘{r}’"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "Commit has no requested ref ‘{name}’ in ref binding metadata ({listed})"
        ));
    }
    if let Some(c) = collection {
        match commit.metadata.get_str(COLLECTION_BINDING) {
            None => return Err("Expected commit metadata to have collection ID binding information, found none".into()),
            Some(bound) if bound != c => {
                return Err(format!("Commit has collection ID ‘{bound}’ in collection binding metadata, while the remote it came from has collection ID ‘{c}’"))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::fixture::{archive_repo, commit};

    /// A repository holding one commit of an empty tree.
    fn one_commit() -> (tempfile::TempDir, Repo) {
        let (dir, repo) = archive_repo();
        commit(&repo, None, &[], None);
        (dir, repo)
    }

    #[test]
    fn steps_in_order_and_objects_counted() {
        let (_dir, mut repo) = one_commit();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s = std::sync::Arc::clone(&seen);
        let control = Control::default().with_observer(move |p| s.lock().unwrap().push(p));
        let mut steps = Vec::new();
        let report = fsck(&mut repo, FsckOptions::default(), &control, &mut |s| {
            steps.push(s)
        })
        .unwrap();
        assert_eq!(
            steps,
            [
                Step::Refs,
                Step::CollectionRefs,
                Step::Commits,
                Step::Objects { commits: 1 }
            ]
        );
        assert_eq!(report.objects_checked, 3);
        assert!(report.verdict().is_ok());
        // Objects are verified in parallel, so ticks may reach the observer
        // out of order: the highest count is the whole.
        let seen = seen.lock().unwrap();
        let verifying: Vec<_> = seen
            .iter()
            .filter(|p| p.phase == Phase::Verifying)
            .collect();
        assert!(verifying.iter().all(|p| p.total == 3), "{seen:?}");
        assert_eq!(verifying.iter().map(|p| p.done).max(), Some(3), "{seen:?}");
    }

    #[test]
    fn interrupt_stops_between_objects() {
        let (_dir, mut repo) = one_commit();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s = std::sync::Arc::clone(&seen);
        let control = Control::default().with_observer(move |p| s.lock().unwrap().push(p));
        control
            .interrupt_flag()
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let err = fsck(&mut repo, FsckOptions::default(), &control, &mut |_| {}).unwrap_err();
        assert!(matches!(*err.error, FsckError::Interrupted(_)), "{err}");
        // Interrupted before the first object: none was checked.
        assert!(seen.lock().unwrap().iter().all(|p| p.done == 0));
    }

    #[test]
    fn messages_match_ostree() {
        let x: Checksum = "1111111111111111111111111111111111111111111111111111111111111111"
            .parse()
            .unwrap();
        let y: Checksum = "2222222222222222222222222222222222222222222222222222222222222222"
            .parse()
            .unwrap();
        let c: Checksum = "3333333333333333333333333333333333333333333333333333333333333333"
            .parse()
            .unwrap();
        let p = Problem {
            object: ObjectName::new(x, ObjectType::File),
            commits: vec![c],
            kind: ProblemKind::Corrupted { actual: y },
            deleted: false,
            marked_partial: vec![],
        };
        assert_eq!(p.to_string(), format!("In commits {c}: fsck content object {x}: Corrupted file object; checksum expected='{x}' actual='{y}'"));
        let p = Problem {
            object: ObjectName::new(x, ObjectType::DirTree),
            commits: vec![c, y],
            ..p
        };
        assert_eq!(p.to_string(), format!("In commits {c}, {y}: fsck {x}.dirtree: Corrupted dirtree object; checksum expected='{x}' actual='{y}'"));
        let p = Problem {
            kind: ProblemKind::Missing,
            object: ObjectName::new(x, ObjectType::File),
            ..p
        };
        assert_eq!(
            p.to_string(),
            format!("Object missing in commits {c}, {y}: {x}.file")
        );
        let p = Problem {
            commits: vec![],
            object: ObjectName::new(x, ObjectType::Commit),
            ..p
        };
        assert_eq!(p.to_string(), format!("Object missing: {x}.commit"));
    }
}
