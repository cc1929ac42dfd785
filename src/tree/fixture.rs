//! Unit-test fixtures: small trees and commits written into a repository
//! through its object API, for the library's own tests (what `tests/common`
//! is to the integration tests). Compiled for tests only.

use tempfile::TempDir;

use crate::objects::{Checksum, Commit, DirMeta, DirTree, DirTreeDir, DirTreeFile, FileHeader};
use crate::repo::{Repo, RepoMode};

/// An empty archive repository in a temporary directory.
pub(crate) fn archive_repo() -> (TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(dir.path(), RepoMode::Archive, None).unwrap();
    (dir, repo)
}

/// The dirmeta of a root-owned 0755 directory.
pub(crate) fn dirmeta(repo: &Repo) -> Checksum {
    let meta = DirMeta {
        uid: 0,
        gid: 0,
        mode: 0o40755,
        xattrs: Default::default(),
    };
    repo.write_dirmeta(&meta).unwrap()
}

/// A root-owned 0644 regular file holding `data`.
pub(crate) fn file(repo: &Repo, data: &[u8]) -> Checksum {
    let h = FileHeader {
        uid: 0,
        gid: 0,
        mode: 0o100644,
        symlink_target: String::new(),
        xattrs: Default::default(),
    };
    repo.write_content(&h, data.len() as u64, &mut &data[..])
        .unwrap()
}

/// A commit on `parent` (timestamp 1, or 2 with a parent) of a root holding
/// `files` and, given `(tree, meta)`, a directory `sub`.
pub(crate) fn commit(
    repo: &Repo,
    parent: Option<Checksum>,
    files: &[(&str, Checksum)],
    sub: Option<(Checksum, Checksum)>,
) -> Checksum {
    let files = (files.iter())
        .map(|(n, c)| DirTreeFile {
            name: n.to_string(),
            checksum: *c,
        })
        .collect();
    let dirs = (sub.into_iter())
        .map(|(tree, meta)| DirTreeDir {
            name: "sub".into(),
            tree,
            meta,
        })
        .collect();
    let root = repo.write_dirtree(&DirTree { files, dirs }).unwrap();
    let c = Commit {
        metadata: Default::default(),
        parent,
        related: vec![],
        subject: String::new(),
        body: String::new(),
        timestamp: parent.map_or(1, |_| 2),
        root_contents: root,
        root_meta: dirmeta(repo),
    };
    repo.write_commit(&c).unwrap()
}

/// A commit with `subject` at `timestamp` whose tree is not in `repo`: for
/// tests that read only commit objects (which delta a pull chooses).
pub(crate) fn commit_at(repo: &Repo, subject: &str, timestamp: u64) -> Checksum {
    let c = Commit {
        metadata: Default::default(),
        parent: None,
        related: vec![],
        subject: subject.into(),
        body: String::new(),
        timestamp,
        root_contents: Checksum::digest(b"dirtree"),
        root_meta: Checksum::digest(b"dirmeta"),
    };
    repo.write_commit(&c).unwrap()
}
