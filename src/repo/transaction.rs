//! Ref edits as one transaction: every edit states the value it expects
//! the ref to hold, the whole set is *prepared* (the ref-update lock taken,
//! every expectation checked), and the prepared set is then either
//! *committed* (every ref written) or *dropped* (nothing changed, the lock
//! released).
//!
//! This is how a pull, a promotion or a publish moves refs: objects first,
//! then one prepared transaction, then — once whatever must precede the
//! refs (a signed summary, a hook's approval) is done — the commit. A
//! promotion whose summary cannot be published drops its transaction
//! instead of putting a ref back by hand.
//!
//! Upstream: `ostree_repo_transaction_set_ref` collects ref edits in a
//! transaction and `ostree_repo_commit_transaction` writes them after the
//! objects (`ostree-repo-commit.c`, `_ostree_repo_update_refs`); OSTree
//! checks no expected values. The expected-value check is git's
//! (`update-ref --stdin` with old values, gitoxide's `RefEdit`
//! with `PreviousValue::MustExistAndMatch`).

use serde::Serialize;

use crate::objects::checksum::Checksum;
use crate::repo::refs::{RefError, RefUpdateLock, Refspec, Result};
use crate::repo::Repo;

/// One ref edit: `spec` moves from `expected` (`None`: the ref must not
/// exist) to `new` (`None`: delete it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefEdit {
    #[serde(rename = "ref")]
    pub spec: Refspec,
    pub expected: Option<Checksum>,
    pub new: Option<Checksum>,
}

/// Ref edits collected before anything is written.
#[derive(Clone, Debug, Default)]
pub struct RefTransaction {
    edits: Vec<RefEdit>,
}

impl RefTransaction {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an edit. A no-op edit (`expected == new`) is kept out: it would
    /// change nothing, yet a concurrent move would make it fail.
    pub fn push(
        &mut self,
        spec: Refspec,
        expected: Option<Checksum>,
        new: Option<Checksum>,
    ) -> &mut Self {
        if expected != new {
            self.edits.retain(|e| e.spec != spec);
            self.edits.push(RefEdit {
                spec,
                expected,
                new,
            });
        }
        self
    }

    /// Adds an edit that moves `spec` to `new` from whatever it holds now in `repo`.
    pub fn push_from_current(
        &mut self,
        repo: &Repo,
        spec: Refspec,
        new: Option<Checksum>,
    ) -> Result<&mut Self> {
        let cur = repo.read_ref_exact(&spec)?;
        Ok(self.push(spec, cur, new))
    }

    pub fn edits(&self) -> &[RefEdit] {
        &self.edits
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Takes the ref-update lock and checks that every ref still holds its
    /// expected value; the lock is held until the prepared transaction is
    /// committed or dropped, so no other writer moves these refs meanwhile.
    pub fn prepare(self, repo: &Repo) -> Result<PreparedRefs<'_>> {
        let lock = RefUpdateLock::take(repo)?;
        for e in &self.edits {
            let cur = repo.read_ref_exact(&e.spec)?;
            if cur != e.expected {
                return Err(conflict(&e.spec, e.expected, cur));
            }
        }
        Ok(PreparedRefs {
            repo,
            edits: self.edits,
            _lock: lock,
        })
    }

    /// Prepares and commits at once.
    pub fn commit(self, repo: &Repo) -> Result<Vec<RefEdit>> {
        self.prepare(repo)?.commit()
    }
}

/// A transaction whose expectations held when it was prepared. Dropping it
/// changes nothing.
#[must_use = "a prepared transaction changes nothing until it is committed"]
pub struct PreparedRefs<'r> {
    repo: &'r Repo,
    edits: Vec<RefEdit>,
    _lock: RefUpdateLock,
}

impl PreparedRefs<'_> {
    pub fn edits(&self) -> &[RefEdit] {
        &self.edits
    }

    /// Writes every edit, each atomically, in order. A failure part-way
    /// (the disk full, say) leaves the edits before it written and names
    /// the ref at fault.
    pub fn commit(self) -> Result<Vec<RefEdit>> {
        for e in &self.edits {
            self.repo.set_ref_locked(&e.spec, e.new, Some(e.expected))?;
        }
        Ok(self.edits)
    }
}

fn conflict(spec: &Refspec, expected: Option<Checksum>, found: Option<Checksum>) -> RefError {
    let show = |c: Option<Checksum>| c.map(|c| c.to_string()).unwrap_or_else(|| "(none)".into());
    RefError::Conflict {
        name: spec.to_string(),
        expected: show(expected),
        found: show(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::RepoMode;

    fn spec(s: &str) -> Refspec {
        s.parse().unwrap()
    }

    fn sum(b: u8) -> Checksum {
        Checksum::from_array([b; 32])
    }

    #[test]
    fn commit_dropped_and_conflicting() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path(), RepoMode::Archive, None).unwrap();
        let mut t = RefTransaction::new();
        t.push(spec("a"), None, Some(sum(1)))
            .push(spec("b"), None, Some(sum(2)));
        let done = t.commit(&repo).unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(repo.read_ref_exact(&spec("a")).unwrap(), Some(sum(1)));

        // Dropped: nothing moves.
        let mut t = RefTransaction::new();
        t.push(spec("a"), Some(sum(1)), Some(sum(3)));
        drop(t.prepare(&repo).unwrap());
        assert_eq!(repo.read_ref_exact(&spec("a")).unwrap(), Some(sum(1)));

        // A stale expectation fails at prepare, naming the ref, and writes nothing.
        let mut t = RefTransaction::new();
        t.push(spec("b"), Some(sum(2)), None)
            .push(spec("a"), Some(sum(9)), Some(sum(4)));
        let err = t.prepare(&repo).err().unwrap().to_string();
        assert!(err.contains("ref a moved"), "{err}");
        assert_eq!(repo.read_ref_exact(&spec("b")).unwrap(), Some(sum(2)));

        // No-op edits are not kept.
        let mut t = RefTransaction::new();
        t.push(spec("a"), Some(sum(1)), Some(sum(1)));
        assert!(t.is_empty());
    }
}
