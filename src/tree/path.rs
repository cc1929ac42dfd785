//! Paths inside a commit's tree: looking up `/a/b` from the root dirtree.
//!
//! Mirrors how OSTree's `OstreeRepoFile` (`ostree-repo-file.c`) resolves a
//! path against a commit root: an absolute path starts at the root, one
//! leading `/` is dropped and the rest is split at `/`; every component —
//! including empty ones, `.` and `..` — is looked up literally as an entry
//! name, and symlinks in the middle of a path are not followed (looking up
//! a name inside a file or symlink is "Not a directory").
//! [`resolve_following`] additionally follows a final symlink relative to
//! its directory, as `ostree_repo_file_read` does for `ostree cat`.

use crate::objects::checksum::Checksum;
use crate::objects::Commit;
use crate::repo::{Repo, RepoError};

/// Symlinks followed before giving up, as the kernel's `ELOOP` limit.
const MAX_SYMLINKS: usize = 40;

/// What a path names inside the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory: its dirtree and dirmeta checksums.
    Dir { tree: Checksum, meta: Checksum },
    /// A regular file or symlink: its content object.
    File { checksum: Checksum },
}

/// A resolved entry and its absolute path in the tree (`/`, `/x/y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub node: Node,
}

/// A path that does not resolve.
#[derive(Debug, thiserror::Error)]
pub enum TreePathError {
    /// The path of the first component that is missing.
    #[error("No such file or directory: {0}")]
    NotFound(String),
    /// A component other than the last is not a directory (ostree's wording has no path).
    #[error("Not a directory")]
    NotADirectory(String),
    #[error("Too many levels of symbolic links: {0}")]
    SymlinkLoop(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = TreePathError> = std::result::Result<T, E>;

impl TreeEntry {
    /// The root directory of a commit.
    pub fn root(commit: &Commit) -> TreeEntry {
        TreeEntry {
            path: "/".into(),
            node: Node::Dir {
                tree: commit.root_contents,
                meta: commit.root_meta,
            },
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.node, Node::Dir { .. })
    }

    /// The absolute path of a child named `name` (`/` + name at the root).
    pub fn child_path(&self, name: &str) -> String {
        if self.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

/// Splits a path into the components OSTree looks up, and whether it starts at the root.
fn components(path: &str) -> (bool, Vec<&str>) {
    if path == "/" {
        return (true, Vec::new());
    }
    match path.strip_prefix('/') {
        Some(rest) => (true, rest.split('/').collect()),
        None => (false, path.split('/').collect()),
    }
}

/// Looks up `name` in the directory `dir`.
pub fn child(repo: &Repo, dir: &TreeEntry, name: &str) -> Result<TreeEntry> {
    let Node::Dir { tree, .. } = dir.node else {
        return Err(TreePathError::NotADirectory(dir.path.clone()));
    };
    let t = repo.load_dirtree(tree)?;
    let path = dir.child_path(name);
    if let Some(f) = t.files.iter().find(|f| f.name == name) {
        return Ok(TreeEntry {
            path,
            node: Node::File {
                checksum: f.checksum,
            },
        });
    }
    if let Some(d) = t.dirs.iter().find(|d| d.name == name) {
        return Ok(TreeEntry {
            path,
            node: Node::Dir {
                tree: d.tree,
                meta: d.meta,
            },
        });
    }
    Err(TreePathError::NotFound(path))
}

/// Resolves `path` (absolute, or relative to `base`) without following
/// symlinks; returns the entry and the directory that holds it.
fn resolve_with_parent(
    repo: &Repo,
    root: &TreeEntry,
    base: &TreeEntry,
    path: &str,
) -> Result<(TreeEntry, TreeEntry)> {
    let (absolute, parts) = components(path);
    let mut cur = if absolute { root.clone() } else { base.clone() };
    let mut parent = cur.clone();
    for name in parts {
        let next = child(repo, &cur, name)?;
        parent = std::mem::replace(&mut cur, next);
    }
    Ok((parent, cur))
}

/// Resolves `path` against the commit root without following symlinks.
pub fn lookup(repo: &Repo, root: &TreeEntry, path: &str) -> Result<TreeEntry> {
    resolve_with_parent(repo, root, root, path).map(|(_, e)| e)
}

/// Resolves `path` against the commit root and, while the result is a
/// symlink, follows its target relative to the symlink's directory (an
/// absolute target starts at the commit root, never the host's root).
pub fn resolve_following(repo: &Repo, root: &TreeEntry, path: &str) -> Result<TreeEntry> {
    let (mut parent, mut entry) = resolve_with_parent(repo, root, root, path)?;
    let mut followed = 0;
    loop {
        let Node::File { checksum } = entry.node else {
            return Ok(entry);
        };
        let header = repo.open_content(checksum)?.header;
        if !header.is_symlink() {
            return Ok(entry);
        }
        followed += 1;
        if followed > MAX_SYMLINKS {
            return Err(TreePathError::SymlinkLoop(entry.path));
        }
        (parent, entry) = resolve_with_parent(repo, root, &parent, &header.symlink_target)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_literal() {
        assert_eq!(components("/"), (true, vec![]));
        assert_eq!(components("/x/y"), (true, vec!["x", "y"]));
        assert_eq!(components("x/y/"), (false, vec!["x", "y", ""]));
        assert_eq!(components("//"), (true, vec!["", ""]));
        assert_eq!(components(""), (false, vec![""]));
        assert_eq!(components("/x/../t"), (true, vec!["x", "..", "t"]));
    }

    #[test]
    fn child_paths() {
        let c = Checksum::digest(b"x");
        let root = TreeEntry {
            path: "/".into(),
            node: Node::Dir { tree: c, meta: c },
        };
        assert_eq!(root.child_path("a"), "/a");
        assert_eq!(root.child_path(""), "/");
        let sub = TreeEntry {
            path: "/x/y".into(),
            node: Node::Dir { tree: c, meta: c },
        };
        assert_eq!(sub.child_path(""), "/x/y/");
    }
}
