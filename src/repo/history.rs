//! A commit's history: the commit, then its parent, and so on, as far as the
//! repository holds it.
//!
//! Every walk back through `parent` (log, prune's depth and age rules,
//! pull's depth, promote's and status's ancestry checks) goes through
//! [`Repo::history`]. The start commit must exist; a missing parent further
//! back ends the walk quietly — a pull with a depth, or a prune, leaves
//! history cut there, which is normal — and [`History::truncated_at`] then
//! names it (`ostree log` prints "History beyond this commit not fetched").
//!
//! Upstream: the parent loops of `ot-builtin-log.c` (`dump_log`),
//! `ostree-repo-prune.c` (`maybe_prune_loose_object` callers walking with
//! `ostree_commit_get_parent`) and `ostree-repo-traverse.c`
//! (`ostree_repo_traverse_commit_union` with `maxdepth`).

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::Commit;
use crate::repo::{Repo, RepoError, Result};

/// Iterator over `(checksum, commit)` from a start commit back to the root.
pub struct History<'r> {
    repo: &'r Repo,
    next: Option<Checksum>,
    first: bool,
    truncated_at: Option<Checksum>,
}

impl Repo {
    /// `start` and its ancestors, newest first. The first item is an error
    /// if `start` cannot be loaded; a missing ancestor ends the walk (see
    /// [`History::truncated_at`]); any other error on an ancestor is an item.
    pub fn history(&self, start: Checksum) -> History<'_> {
        History {
            repo: self,
            next: Some(start),
            first: true,
            truncated_at: None,
        }
    }
}

impl History<'_> {
    /// The parent that the walk ended at because the repository lacks it.
    pub fn truncated_at(&self) -> Option<Checksum> {
        self.truncated_at
    }

    /// Whether the repository marks the missing parent as deleted on purpose
    /// (a tombstone commit, `core.tombstone-commits`).
    pub fn truncated_by_tombstone(&self) -> bool {
        self.truncated_at.is_some_and(|c| {
            self.repo
                .has_object(&ObjectName::new(c, ObjectType::TombstoneCommit))
        })
    }
}

impl Iterator for History<'_> {
    type Item = Result<(Checksum, Commit)>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = self.next.take()?;
        let first = std::mem::replace(&mut self.first, false);
        match self.repo.load_commit(c) {
            Ok(commit) => {
                self.next = commit.parent;
                Some(Ok((c, commit)))
            }
            Err(RepoError::ObjectMissing(_)) if !first => {
                self.truncated_at = Some(c);
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}
