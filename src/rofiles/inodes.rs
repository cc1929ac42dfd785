//! The inode table: FUSE inode numbers and the paths (relative to SRC) they
//! were looked up at. Renames and unlinks rewrite it; numbers are never
//! reused.
//!
//! Upstream has no table: `src/rofiles-fuse/main.c` uses libfuse's
//! high-level, path-based API, which keeps this mapping itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fuser::{Errno, INodeNo};

/// One FUSE inode: the path it was looked up at (relative to SRC; empty for
/// the root), or `None` once that path was unlinked or replaced.
#[derive(Debug)]
struct Node {
    path: Option<PathBuf>,
    nlookup: u64,
}

/// The inode ↔ path table. Inode numbers are never reused.
#[derive(Debug)]
pub(super) struct Inodes {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<PathBuf, u64>,
    next: u64,
}

impl Inodes {
    pub(super) fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            INodeNo::ROOT.0,
            Node {
                path: Some(PathBuf::new()),
                nlookup: 1,
            },
        );
        let mut by_path = HashMap::new();
        by_path.insert(PathBuf::new(), INodeNo::ROOT.0);
        Inodes {
            nodes,
            by_path,
            next: INodeNo::ROOT.0 + 1,
        }
    }

    pub(super) fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.nodes
            .get(&ino.0)
            .and_then(|n| n.path.clone())
            .ok_or(Errno::ENOENT)
    }

    /// Records one more kernel reference to `path` and returns its inode.
    pub(super) fn remember(&mut self, path: &Path) -> INodeNo {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.nlookup += 1;
                return INodeNo(ino);
            }
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                path: Some(path.to_path_buf()),
                nlookup: 1,
            },
        );
        self.by_path.insert(path.to_path_buf(), ino);
        INodeNo(ino)
    }

    pub(super) fn forget(&mut self, ino: INodeNo, n: u64) {
        if ino == INodeNo::ROOT {
            return;
        }
        let gone = match self.nodes.get_mut(&ino.0) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            if let Some(Node { path: Some(p), .. }) = self.nodes.remove(&ino.0) {
                if self.by_path.get(&p) == Some(&ino.0) {
                    self.by_path.remove(&p);
                }
            }
        }
    }

    /// `path` no longer names the file its inode stood for.
    pub(super) fn unlinked(&mut self, path: &Path) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = None;
            }
        }
    }

    /// Rewrites the table after `from` was renamed to `to` (or exchanged).
    pub(super) fn renamed(&mut self, from: &Path, to: &Path, exchange: bool) {
        if from == to {
            return;
        }
        if !exchange {
            self.unlinked(to);
        }
        let mut moved = Vec::new();
        for (&ino, node) in &self.nodes {
            let Some(p) = &node.path else { continue };
            if let Ok(rest) = p.strip_prefix(from) {
                moved.push((ino, p.clone(), join_rest(to, rest)));
            } else if exchange {
                if let Ok(rest) = p.strip_prefix(to) {
                    moved.push((ino, p.clone(), join_rest(from, rest)));
                }
            }
        }
        for (_, old, _) in &moved {
            self.by_path.remove(old);
        }
        for (ino, _, new) in moved {
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.path = Some(new.clone());
            }
            self.by_path.insert(new, ino);
        }
    }
}

fn join_rest(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_rewrites_descendants() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        let ab = t.remember(Path::new("a/b"));
        let c = t.remember(Path::new("c"));
        t.renamed(Path::new("a"), Path::new("c"), false);
        assert_eq!(t.path(a).unwrap(), PathBuf::from("c"));
        assert_eq!(t.path(ab).unwrap(), PathBuf::from("c/b"));
        assert_eq!(t.path(c), Err(Errno::ENOENT));
        assert_eq!(t.remember(Path::new("c/b")), ab);
    }

    #[test]
    fn rename_exchange_swaps() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        let ax = t.remember(Path::new("a/x"));
        let b = t.remember(Path::new("b"));
        t.renamed(Path::new("a"), Path::new("b"), true);
        assert_eq!(t.path(a).unwrap(), PathBuf::from("b"));
        assert_eq!(t.path(ax).unwrap(), PathBuf::from("b/x"));
        assert_eq!(t.path(b).unwrap(), PathBuf::from("a"));
    }

    #[test]
    fn prefix_is_by_component() {
        let mut t = Inodes::new();
        let ab = t.remember(Path::new("ab"));
        t.renamed(Path::new("a"), Path::new("z"), false);
        assert_eq!(t.path(ab).unwrap(), PathBuf::from("ab"));
    }

    #[test]
    fn forget_and_unlink() {
        let mut t = Inodes::new();
        let a = t.remember(Path::new("a"));
        assert_eq!(t.remember(Path::new("a")), a);
        t.forget(a, 1);
        assert!(t.path(a).is_ok());
        t.unlinked(Path::new("a"));
        assert_eq!(t.path(a), Err(Errno::ENOENT));
        let a2 = t.remember(Path::new("a"));
        assert_ne!(a, a2);
        t.forget(a, 1);
        assert!(!t.nodes.contains_key(&a.0));
        assert_eq!(t.path(a2).unwrap(), PathBuf::from("a"));
        t.forget(INodeNo::ROOT, 10);
        assert_eq!(t.path(INodeNo::ROOT).unwrap(), PathBuf::new());
    }
}
