//! Reachability: the set of objects a commit (and its ancestors) needs.
//!
//! A commit reaches itself, its root dirtree and dirmeta, and recursively
//! every dirtree, dirmeta and content object below them; with a depth it
//! also reaches that many parent commits. Detached metadata (`.commitmeta`)
//! is not part of the set, as in OSTree's `ostree-repo-traverse.c`
//! (`ostree_repo_traverse_commit_union_with_parents`), which this mirrors.
//!
//! Built for large repositories (prune, pull-local, fsck): each dirtree is
//! read and parsed once however many commits share it, and dirtrees are
//! loaded level by level in parallel. No per-object parent edges are kept
//! (fsck finds the commits that reach a broken object by walking again, only
//! when something is broken).
//!
//! Rules taken from OSTree:
//! - a parent commit that is not in the repository ends the walk quietly
//!   (most repositories hold only part of the history);
//! - under a partial commit (`state/C.commitpartial`) a missing dirtree is
//!   skipped with its whole subtree;
//! - content objects and dirmeta are not opened, only named.
//!
//! Unlike OSTree, a *starting* commit that is missing is an error.
//!
//! A finished walk can be kept without the repository borrow as a
//! [`Walked`] ([`Traversal::into_walked`]) and continued later with
//! [`Traversal::resume`]: commits and dirtrees already expanded are not
//! walked again, but what the first walk had to skip because it was absent
//! is looked at again — dirtrees missing under a partial commit (a pull may
//! have completed it since) and parents that ended a history (a pull may have
//! fetched them since). Prune walks under the shared lock and resumes under
//! the exclusive one (see `lifecycle::prune`).
//!
//! A walk that only needs to know which content objects it met, not to look
//! them up ([`Traversal::list_content`]: pull-local's plan), lists them in
//! the order met, repeats included, 32 bytes each, and keeps only commits,
//! dirtrees and dirmetas in the set: a set of a million object names costs
//! about twice that, and more while it grows.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::DirTree;
use crate::repo::{Repo, RepoError};

/// Errors while walking commits and dirtrees.
#[derive(Debug, thiserror::Error)]
pub enum TraverseError {
    #[error("Loading commit {commit}: {source}")]
    Commit { commit: Checksum, source: RepoError },
    #[error("Traversing commit {commit}: {source}")]
    DirTree { commit: Checksum, source: RepoError },
    #[error("Listing refs: {0}")]
    Refs(#[from] crate::repo::refs::RefError),
}

pub type Result<T, E = TraverseError> = std::result::Result<T, E>;

/// A dirtree that could not be read during a lenient traversal.
#[derive(Debug)]
pub struct UnreadableTree {
    pub checksum: Checksum,
    pub error: RepoError,
}

/// An accumulating walk over one or more commits.
///
/// ```no_run
/// # fn f(repo: &grove::Repo, a: grove::Checksum, b: grove::Checksum) -> Result<(), grove::tree::traverse::TraverseError> {
/// let mut t = grove::tree::traverse::Traversal::new(repo);
/// t.add_commits(&[a, b], -1)?;
/// let live = t.into_reachable();
/// # Ok(()) }
/// ```
pub struct Traversal<'r> {
    repo: &'r Repo,
    reachable: HashSet<ObjectName>,
    /// Dirtrees already expanded (or queued): never parsed twice.
    visited_trees: HashSet<Checksum>,
    /// For each commit walked: how many more parents we followed from it
    /// (`i64::MAX` = all), so a deeper request re-walks only what is new.
    commit_depth: HashMap<Checksum, i64>,
    lenient: bool,
    unreadable: Vec<UnreadableTree>,
    /// Only commit objects are walked (`--commit-only`).
    commits_only: bool,
    /// What was skipped because it was not there (looked at again on resume).
    absent: Absent,
    /// `Some`: content objects go here, not into `reachable`
    /// ([`Traversal::list_content`]).
    content: Option<Vec<Checksum>>,
}

/// What a walk skipped because it was not in the repository.
#[derive(Default)]
struct Absent {
    /// Dirtrees missing under a partial commit (queued, never expanded).
    trees: Vec<Pending>,
    /// Parent commits that ended a history, with the depth still wanted from them.
    parents: Vec<(Checksum, i64)>,
}

/// A finished walk, detached from the repository so it can be resumed later
/// ([`Traversal::resume`]) without walking again what it already walked.
pub struct Walked {
    reachable: HashSet<ObjectName>,
    visited_trees: HashSet<Checksum>,
    commit_depth: HashMap<Checksum, i64>,
    commits_only: bool,
    absent: Absent,
    content: Option<Vec<Checksum>>,
}

impl Walked {
    pub fn reachable(&self) -> &HashSet<ObjectName> {
        &self.reachable
    }

    pub fn into_reachable(self) -> HashSet<ObjectName> {
        self.reachable
    }
}

/// One dirtree to expand: its checksum, who named it, and whether a missing
/// object is tolerated (the commit is partial).
#[derive(Clone, Copy)]
struct Pending {
    tree: Checksum,
    commit: Checksum,
    partial: bool,
}

impl<'r> Traversal<'r> {
    pub fn new(repo: &'r Repo) -> Self {
        Traversal {
            repo,
            reachable: HashSet::new(),
            visited_trees: HashSet::new(),
            commit_depth: HashMap::new(),
            lenient: false,
            unreadable: Vec::new(),
            commits_only: false,
            absent: Absent::default(),
            content: None,
        }
    }

    /// Continues a finished walk: what `walked` reached stays reached and is
    /// not walked again. What it skipped as absent is looked at again now —
    /// dirtrees missing under a commit that was partial (expanded if they are
    /// there now; an error if still missing under a commit that is complete
    /// now) and parents missing at the end of a history (walked if they are
    /// there now) — so the result is what a fresh walk of every root given to
    /// either would reach.
    pub fn resume(repo: &'r Repo, walked: Walked) -> Result<Self> {
        let mut t = Traversal {
            repo,
            reachable: walked.reachable,
            visited_trees: walked.visited_trees,
            commit_depth: walked.commit_depth,
            lenient: false,
            unreadable: Vec::new(),
            commits_only: walked.commits_only,
            absent: Absent::default(),
            content: walked.content,
        };
        let Absent { trees, parents } = walked.absent;
        let mut roots = Vec::new();
        for (parent, remaining) in parents {
            t.walk_from(parent, remaining, false, &mut roots)?;
        }
        for p in trees {
            roots.push(Pending {
                partial: repo.is_partial(p.commit),
                ..p
            });
        }
        t.expand(roots)?;
        Ok(t)
    }

    /// Keeps the walk's state for [`Traversal::resume`] (unreadable trees
    /// are dropped).
    pub fn into_walked(self) -> Walked {
        Walked {
            reachable: self.reachable,
            visited_trees: self.visited_trees,
            commit_depth: self.commit_depth,
            commits_only: self.commits_only,
            absent: self.absent,
            content: self.content,
        }
    }

    /// Only commit objects are walked: each commit and its parents, no
    /// dirtree, dirmeta or content (OSTree's `COMMIT_TRAVERSE_FLAG_COMMIT_ONLY`).
    pub fn commits_only(mut self) -> Self {
        self.commits_only = true;
        self
    }

    /// A dirtree that is missing or does not parse is recorded (see
    /// [`Traversal::unreadable`]) and kept in the reachable set instead of
    /// failing the walk; its children are then unknown. Used by fsck.
    pub fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Content objects are listed, in the order met and with repeats, instead
    /// of kept in the reachable set; [`Traversal::into_parts`] returns both.
    pub fn list_content(mut self) -> Self {
        self.content = Some(Vec::new());
        self
    }

    pub fn reachable(&self) -> &HashSet<ObjectName> {
        &self.reachable
    }

    pub fn into_reachable(self) -> HashSet<ObjectName> {
        self.reachable
    }

    /// The reachable set and, after [`Traversal::list_content`], the list of
    /// content objects met (empty otherwise: they are in the set).
    pub fn into_parts(self) -> (HashSet<ObjectName>, Vec<Checksum>) {
        (self.reachable, self.content.unwrap_or_default())
    }

    /// Dirtrees that could not be read in a lenient walk.
    pub fn unreadable(&self) -> &[UnreadableTree] {
        &self.unreadable
    }

    /// Adds everything reachable from `commit`, following `depth` parents
    /// (-1: all of them).
    pub fn add_commit(&mut self, commit: Checksum, depth: i32) -> Result<()> {
        self.add_commits(&[commit], depth)
    }

    /// Adds everything reachable from each of `commits` (each followed
    /// `depth` parents, -1 for all). Shared dirtrees are expanded once and the
    /// dirtrees of all commits are loaded together, in parallel.
    pub fn add_commits(&mut self, commits: &[Checksum], depth: i32) -> Result<()> {
        let mut roots: Vec<Pending> = Vec::new();
        for &start in commits {
            self.walk_history(start, depth, &mut roots)?;
        }
        self.expand(roots)
    }

    /// Follows the parent chain of `start`, adding commits and their root
    /// dirmeta, and queueing root dirtrees that are new.
    fn walk_history(
        &mut self,
        start: Checksum,
        depth: i32,
        roots: &mut Vec<Pending>,
    ) -> Result<()> {
        let remaining = if depth < 0 {
            i64::MAX
        } else {
            i64::from(depth)
        };
        self.walk_from(start, remaining, true, roots)
    }

    /// [`walk_history`](Self::walk_history) with the depth left
    /// (`i64::MAX`: all); a missing `start` is an error only if `required`.
    fn walk_from(
        &mut self,
        start: Checksum,
        mut remaining: i64,
        required: bool,
        roots: &mut Vec<Pending>,
    ) -> Result<()> {
        let mut current = start;
        let mut first = required;
        loop {
            if self
                .commit_depth
                .get(&current)
                .is_some_and(|&d| d >= remaining)
            {
                break;
            }
            let commit = match self.repo.load_commit(current) {
                Ok(c) => c,
                Err(RepoError::ObjectMissing(_)) if !first => {
                    self.absent.parents.push((current, remaining));
                    break;
                }
                Err(source) => {
                    return Err(TraverseError::Commit {
                        commit: current,
                        source,
                    })
                }
            };
            first = false;
            let already = self.commit_depth.insert(current, remaining).is_some();
            let cname = ObjectName::new(current, ObjectType::Commit);
            if !already {
                self.reachable.insert(cname);
            }
            if !already && !self.commits_only {
                let partial = self.repo.is_partial(current);
                let meta = ObjectName::new(commit.root_meta, ObjectType::DirMeta);
                let tree = ObjectName::new(commit.root_contents, ObjectType::DirTree);
                self.reachable.insert(meta);
                self.reachable.insert(tree);
                if self.visited_trees.insert(commit.root_contents) {
                    roots.push(Pending {
                        tree: commit.root_contents,
                        commit: current,
                        partial,
                    });
                }
            }
            match commit.parent {
                Some(p) if remaining > 0 => {
                    if remaining != i64::MAX {
                        remaining -= 1;
                    }
                    current = p;
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Breadth-first expansion of queued dirtrees; each level is loaded and
    /// parsed in parallel a bounded chunk at a time (a level of many thousand
    /// trees is never held parsed at once), then merged in order.
    fn expand(&mut self, mut frontier: Vec<Pending>) -> Result<()> {
        const CHUNK: usize = 256;
        let repo = self.repo;
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for chunk in frontier.chunks(CHUNK) {
                let loaded: Vec<(Pending, Result<DirTree, RepoError>)> = chunk
                    .par_iter()
                    .map(|p| (*p, repo.load_dirtree(p.tree)))
                    .collect();
                for (pending, res) in loaded {
                    let tree = match res {
                        Ok(t) => t,
                        Err(RepoError::ObjectMissing(_)) if pending.partial => {
                            self.absent.trees.push(pending);
                            continue;
                        }
                        Err(error) if self.lenient => {
                            self.unreadable.push(UnreadableTree {
                                checksum: pending.tree,
                                error,
                            });
                            continue;
                        }
                        Err(source) => {
                            return Err(TraverseError::DirTree {
                                commit: pending.commit,
                                source,
                            })
                        }
                    };
                    match &mut self.content {
                        Some(list) => list.extend(tree.files.iter().map(|f| f.checksum)),
                        None => self.reachable.extend(
                            tree.files
                                .iter()
                                .map(|f| ObjectName::new(f.checksum, ObjectType::File)),
                        ),
                    }
                    for d in &tree.dirs {
                        let m = ObjectName::new(d.meta, ObjectType::DirMeta);
                        let t = ObjectName::new(d.tree, ObjectType::DirTree);
                        self.reachable.insert(m);
                        self.reachable.insert(t);
                        if self.visited_trees.insert(d.tree) {
                            next.push(Pending {
                                tree: d.tree,
                                ..pending
                            });
                        }
                    }
                }
            }
            frontier = next;
        }
        Ok(())
    }
}

/// Everything reachable from `commit`, following `depth` parents (-1: all).
pub fn traverse_commit(repo: &Repo, commit: Checksum, depth: i32) -> Result<HashSet<ObjectName>> {
    let mut t = Traversal::new(repo);
    t.add_commit(commit, depth)?;
    Ok(t.into_reachable())
}

/// The union of what each commit reaches, walking shared dirtrees once.
pub fn traverse_commits(
    repo: &Repo,
    commits: &[Checksum],
    depth: i32,
) -> Result<HashSet<ObjectName>> {
    let mut t = Traversal::new(repo);
    t.add_commits(commits, depth)?;
    Ok(t.into_reachable())
}

/// Everything reachable from every ref (local and remote), as prune keeps it.
pub fn reachable_from_refs(repo: &Repo, depth: i32) -> Result<HashSet<ObjectName>> {
    let mut commits: Vec<Checksum> = repo.list_refs()?.into_values().collect();
    commits.sort();
    commits.dedup();
    traverse_commits(repo, &commits, depth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::DirTreeFile;
    use crate::tree::fixture::{archive_repo, commit, dirmeta, file};

    /// A dirtree holding one file.
    fn one_file(name: &str, checksum: Checksum) -> DirTree {
        DirTree {
            files: vec![DirTreeFile {
                name: name.into(),
                checksum,
            }],
            dirs: vec![],
        }
    }

    #[test]
    fn depth_sharing_and_parents() {
        let (_dir, repo) = archive_repo();
        let a = file(&repo, b"a");
        let b = file(&repo, b"b");
        let meta = dirmeta(&repo);
        let subtree = repo.write_dirtree(&one_file("x", b)).unwrap();
        let c1 = commit(&repo, None, &[("a", a)], Some((subtree, meta)));
        let c2 = commit(&repo, Some(c1), &[("a", b)], Some((subtree, meta)));

        let only2 = traverse_commit(&repo, c2, 0).unwrap();
        assert!(only2.contains(&ObjectName::new(c2, ObjectType::Commit)));
        assert!(!only2.contains(&ObjectName::new(c1, ObjectType::Commit)));
        assert!(!only2.contains(&ObjectName::new(a, ObjectType::File)));
        // commit, root tree, dirmeta (shared root+sub), subtree, file b
        assert_eq!(only2.len(), 5);

        let all = traverse_commit(&repo, c2, -1).unwrap();
        assert!(all.contains(&ObjectName::new(a, ObjectType::File)));
        assert_eq!(all.len(), 8);
        assert_eq!(traverse_commit(&repo, c2, 1).unwrap(), all);

        // A deeper request after a shallow one still reaches the parents.
        let mut t = Traversal::new(&repo);
        t.add_commit(c2, 0).unwrap();
        t.add_commit(c2, -1).unwrap();
        assert_eq!(t.into_reachable(), all);

        // A missing parent ends the walk; a missing start is an error.
        repo.delete_object(&ObjectName::new(c1, ObjectType::Commit))
            .unwrap();
        assert_eq!(traverse_commit(&repo, c2, -1).unwrap(), only2);
        assert!(traverse_commit(&repo, c1, 0).is_err());
    }

    #[test]
    fn listed_content_repeats_and_stays_out_of_the_set() {
        let (_dir, repo) = archive_repo();
        let (a, b) = (file(&repo, b"a"), file(&repo, b"b"));
        let meta = dirmeta(&repo);
        let subtree = repo.write_dirtree(&one_file("x", a)).unwrap();
        let c = commit(&repo, None, &[("a", a), ("b", b)], Some((subtree, meta)));
        let all = traverse_commit(&repo, c, 0).unwrap();

        let mut t = Traversal::new(&repo).list_content();
        t.add_commit(c, 0).unwrap();
        let (set, mut listed) = t.into_parts();
        // `a` is met twice (root and subtree), and listed each time.
        listed.sort();
        let mut want = vec![a, a, b];
        want.sort();
        assert_eq!(listed, want);
        assert!(set.iter().all(|o| o.objtype != ObjectType::File));
        let mut union = set;
        union.extend(listed.iter().map(|&f| ObjectName::new(f, ObjectType::File)));
        assert_eq!(union, all);
        // Without it, content is in the set and the list is empty.
        let mut t = Traversal::new(&repo);
        t.add_commit(c, 0).unwrap();
        assert_eq!(t.into_parts(), (all, Vec::new()));
    }

    #[test]
    fn missing_tree_partial_and_lenient() {
        let (_dir, repo) = archive_repo();
        let meta = dirmeta(&repo);
        let ghost = Checksum::digest(b"no such tree");
        let c = commit(&repo, None, &[], Some((ghost, meta)));
        assert!(traverse_commit(&repo, c, 0).is_err());

        let mut t = Traversal::new(&repo).lenient();
        t.add_commit(c, 0).unwrap();
        assert_eq!(t.unreadable().len(), 1);
        assert!(t
            .reachable()
            .contains(&ObjectName::new(ghost, ObjectType::DirTree)));

        repo.set_partial(c, true, false).unwrap();
        assert!(traverse_commit(&repo, c, 0)
            .unwrap()
            .contains(&ObjectName::new(ghost, ObjectType::DirTree)));
    }

    #[test]
    fn resume_walks_what_was_absent() {
        let (_dir, repo) = archive_repo();
        let meta = dirmeta(&repo);
        let (fa, fb, fz) = (file(&repo, b"a"), file(&repo, b"b"), file(&repo, b"z"));
        let sub = one_file("z", fz);
        let subtree = repo.write_dirtree(&sub).unwrap();
        let c1 = commit(&repo, None, &[("a", fa)], None);
        let c2 = commit(&repo, Some(c1), &[("b", fb)], Some((subtree, meta)));
        let c1_bytes = repo.load_commit(c1).unwrap();
        let has = |t: &Traversal, c: Checksum, ty: ObjectType| {
            t.reachable().contains(&ObjectName::new(c, ty))
        };

        // A shallow history and a partial commit whose subtree is not there yet.
        repo.delete_object(&ObjectName::new(c1, ObjectType::Commit))
            .unwrap();
        repo.delete_object(&ObjectName::new(subtree, ObjectType::DirTree))
            .unwrap();
        repo.set_partial(c2, true, false).unwrap();
        let mut t = Traversal::new(&repo);
        t.add_commit(c2, -1).unwrap();
        assert!(!has(&t, c1, ObjectType::Commit) && !has(&t, fz, ObjectType::File));

        // Still absent: resuming skips them again (c2 is still partial).
        let t = Traversal::resume(&repo, t.into_walked()).unwrap();
        assert!(!has(&t, c1, ObjectType::Commit) && !has(&t, fz, ObjectType::File));

        // A pull completes the commit and fetches the parent: resuming reaches both.
        repo.write_dirtree(&sub).unwrap();
        repo.set_partial(c2, false, false).unwrap();
        assert_eq!(repo.write_commit(&c1_bytes).unwrap(), c1);
        let t = Traversal::resume(&repo, t.into_walked()).unwrap();
        assert!(has(&t, fz, ObjectType::File));
        assert!(has(&t, c1, ObjectType::Commit) && has(&t, fa, ObjectType::File));
        assert_eq!(t.into_reachable(), traverse_commit(&repo, c2, -1).unwrap());

        // A tree still missing under a commit that is complete now is an error.
        let mut t = Traversal::new(&repo);
        repo.set_partial(c2, true, false).unwrap();
        repo.delete_object(&ObjectName::new(subtree, ObjectType::DirTree))
            .unwrap();
        t.add_commit(c2, 0).unwrap();
        repo.set_partial(c2, false, false).unwrap();
        assert!(Traversal::resume(&repo, t.into_walked()).is_err());
    }
}
