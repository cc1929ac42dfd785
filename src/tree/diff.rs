//! Tree comparison: commit vs commit, commit vs directory, directory vs commit.
//!
//! Mirrors `ostree diff` (`src/libostree/ostree-diff.c`,
//! `ostree_diff_dirs_with_options`, and `src/ostree/ot-builtin-diff.c`):
//!
//! - The source's entries are visited first (a commit lists its files, then
//!   its subdirectories, each sorted by name; a directory on disk in
//!   GIO's order: `readdir` order in chunks of 1000, each sorted by inode).
//!   An entry missing from the target is *removed* (its
//!   children are not listed); a type change is *modified*; otherwise the
//!   checksums are compared — content checksum for files, dirmeta checksum
//!   for directories — and directories are then recursed into.
//! - Then the target's entries missing from the source are *added*, with
//!   every descendant of an added directory (preorder).
//! - Two commit directories with the same dirtree checksum are skipped.
//! - On disk, a file's checksum is computed as OSTree would commit it
//!   (uid, gid, mode, xattrs, content); `owner_uid`/`owner_gid` replace the
//!   target side's owner first. Xattrs on disk are ignored with
//!   `ignore_xattrs`, or when the repository is `bare-user-only` or has
//!   `core.disable-xattrs=true`.
//!
//! Paths are reported as OSTree prints them: `/a/b` inside a commit, `a/b`
//! relative to the directory argument on disk.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::objects::checksum::{Checksum, ObjectName};
use crate::objects::{DirMeta, DirTree, FileHeader, Xattrs};
use crate::repo::content::checksum_content;
use crate::repo::{Repo, RepoError, RepoMode};
use crate::tree::traverse::{traverse_commit, TraverseError};

/// Directory entries GIO reads (and sorts by inode) at a time.
const GIO_CHUNK: usize = 1000;

/// Errors while comparing trees.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("Error when getting information for file “{}”: {source}", path.display())]
    Stat {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: unsupported file type", path.display())]
    Unsupported { path: PathBuf },
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8 { path: PathBuf },
    #[error(transparent)]
    Traverse(#[from] TraverseError),
}

pub type Result<T, E = DiffError> = std::result::Result<T, E>;

/// One side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// The tree of a commit in the repository.
    Commit(Checksum),
    /// A directory on disk.
    Dir(PathBuf),
}

impl Side {
    /// What a command-line argument names: a directory ([`is_dir_arg`]) or
    /// a rev, resolved in `repo`.
    pub fn from_arg(repo: &Repo, arg: &str) -> Result<Side, crate::repo::refs::RefError> {
        if is_dir_arg(arg) {
            return Ok(Side::Dir(PathBuf::from(arg)));
        }
        Ok(Side::Commit(repo.resolve_rev(arg)?))
    }
}

/// The two revs or directories `ostree diff` compares: one argument `X`
/// means `X^` against `X`; `None` without arguments.
pub fn compared(args: &[String]) -> Option<(String, String)> {
    match args {
        [] => None,
        [x] => Some((format!("{x}^"), x.clone())),
        [a, b, ..] => Some((a.clone(), b.clone())),
    }
}

/// Comparison options (`--no-xattrs`, `--owner-uid`, `--owner-gid`).
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    pub ignore_xattrs: bool,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
}

/// A path in the result: inside a commit (printed `/a/b`) or relative to a
/// directory argument (printed `a/b`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffPath {
    /// Components joined by `/`, without a leading slash.
    pub rel: PathBuf,
    pub in_commit: bool,
}

impl fmt::Display for DiffPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_commit {
            write!(f, "/{}", self.rel.display())
        } else {
            write!(f, "{}", self.rel.display())
        }
    }
}

/// The differences, in OSTree's order within each list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Source-side paths of entries that changed.
    pub modified: Vec<DiffPath>,
    /// Source-side paths of entries gone from the target.
    pub removed: Vec<DiffPath>,
    /// Target-side paths of new entries.
    pub added: Vec<DiffPath>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Special,
}

/// A directory being compared.
#[derive(Clone, Debug)]
enum Node {
    Tree { tree: Checksum },
    Local { path: PathBuf },
}

/// An entry of a directory, with what is needed to compare it.
#[derive(Clone, Debug)]
enum Entry {
    /// A file in a commit: its content checksum (a symlink or regular file;
    /// commits hold nothing else).
    TreeFile(Checksum),
    TreeDir {
        tree: Checksum,
        meta: Checksum,
    },
    Local {
        path: PathBuf,
        meta: fs::Metadata,
    },
}

impl Entry {
    fn kind(&self) -> Kind {
        match self {
            Entry::TreeFile(_) => Kind::File,
            Entry::TreeDir { .. } => Kind::Dir,
            Entry::Local { meta, .. } => {
                let t = meta.file_type();
                if t.is_dir() {
                    Kind::Dir
                } else if t.is_file() || t.is_symlink() {
                    Kind::File
                } else {
                    Kind::Special
                }
            }
        }
    }

    fn as_node(&self) -> Option<Node> {
        match self {
            Entry::TreeDir { tree, .. } => Some(Node::Tree { tree: *tree }),
            Entry::Local { path, meta } if meta.is_dir() => {
                Some(Node::Local { path: path.clone() })
            }
            _ => None,
        }
    }
}

struct Differ<'a> {
    repo: &'a Repo,
    ignore_xattrs: bool,
    owner_uid: Option<u32>,
    owner_gid: Option<u32>,
    out: Diff,
}

/// Whether the repository drops xattrs (so local xattrs are ignored too).
fn repo_ignores_xattrs(repo: &Repo) -> bool {
    repo.mode() == RepoMode::BareUserOnly
        || matches!(
            repo.config().get_bool("core", "disable-xattrs"),
            Some(Ok(true))
        )
}

fn stat(path: &Path) -> Result<fs::Metadata> {
    fs::symlink_metadata(path).map_err(|source| DiffError::Stat {
        path: path.to_path_buf(),
        source,
    })
}

/// Compares `source` with `target`.
pub fn diff(repo: &Repo, source: &Side, target: &Side, opts: &DiffOptions) -> Result<Diff> {
    let uses_repo = matches!(source, Side::Commit(_)) || matches!(target, Side::Commit(_));
    let mut d = Differ {
        repo,
        ignore_xattrs: opts.ignore_xattrs || (uses_repo && repo_ignores_xattrs(repo)),
        owner_uid: opts.owner_uid,
        owner_gid: opts.owner_gid,
        out: Diff::default(),
    };
    let a = d.root(source)?;
    let b = d.root(target)?;
    d.diff_dirs(&a, &b, Path::new(""))?;
    Ok(d.out)
}

impl Differ<'_> {
    fn root(&self, side: &Side) -> Result<Node> {
        Ok(match side {
            Side::Commit(c) => Node::Tree {
                tree: self.repo.load_commit(*c)?.root_contents,
            },
            Side::Dir(p) => {
                let meta = stat(p)?;
                if !meta.is_dir() {
                    return Err(DiffError::Io {
                        path: p.clone(),
                        source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
                    });
                }
                Node::Local { path: p.clone() }
            }
        })
    }

    /// The entries of a directory in enumeration order.
    fn list(&self, node: &Node, tree: Option<DirTree>) -> Result<Vec<(OsString, Entry)>> {
        match node {
            Node::Tree { tree: c } => {
                let t = match tree {
                    Some(t) => t,
                    None => self.repo.load_dirtree(*c)?,
                };
                let mut out = Vec::with_capacity(t.files.len() + t.dirs.len());
                out.extend(
                    t.files
                        .into_iter()
                        .map(|f| (OsString::from(f.name), Entry::TreeFile(f.checksum))),
                );
                out.extend(t.dirs.into_iter().map(|d| {
                    (
                        OsString::from(d.name),
                        Entry::TreeDir {
                            tree: d.tree,
                            meta: d.meta,
                        },
                    )
                }));
                Ok(out)
            }
            Node::Local { path } => {
                let io = |source| DiffError::Io {
                    path: path.clone(),
                    source,
                };
                // GIO's local enumerator (which ostree uses) reads entries in
                // chunks of 1000 and sorts each chunk by inode number.
                let mut names: Vec<(u64, OsString)> = Vec::new();
                for e in fs::read_dir(path).map_err(io)? {
                    let e = e.map_err(io)?;
                    names.push((e.ino(), e.file_name()));
                }
                let mut out = Vec::with_capacity(names.len());
                for chunk in names.chunks_mut(GIO_CHUNK) {
                    chunk.sort_by_key(|(ino, _)| *ino);
                    for (_, name) in chunk.iter() {
                        let p = path.join(name);
                        let meta = stat(&p)?;
                        out.push((name.clone(), Entry::Local { path: p, meta }));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Looks up one name in a directory.
    fn lookup(&self, node: &Node, tree: Option<&DirTree>, name: &OsStr) -> Result<Option<Entry>> {
        match node {
            Node::Tree { .. } => {
                let t = tree.expect("tree listing loaded for a commit directory");
                let Some(name) = name.to_str() else {
                    return Ok(None);
                };
                if let Ok(i) = t
                    .files
                    .binary_search_by(|f| f.name.as_bytes().cmp(name.as_bytes()))
                {
                    return Ok(Some(Entry::TreeFile(t.files[i].checksum)));
                }
                if let Ok(i) = t
                    .dirs
                    .binary_search_by(|d| d.name.as_bytes().cmp(name.as_bytes()))
                {
                    return Ok(Some(Entry::TreeDir {
                        tree: t.dirs[i].tree,
                        meta: t.dirs[i].meta,
                    }));
                }
                Ok(None)
            }
            Node::Local { path } => {
                let p = path.join(name);
                match fs::symlink_metadata(&p) {
                    Ok(meta) => Ok(Some(Entry::Local { path: p, meta })),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(DiffError::Stat { path: p, source }),
                }
            }
        }
    }

    fn tree_of(&self, node: &Node) -> Result<Option<DirTree>> {
        match node {
            Node::Tree { tree } => Ok(Some(self.repo.load_dirtree(*tree)?)),
            Node::Local { .. } => Ok(None),
        }
    }

    /// The checksum OSTree compares: stored for commit entries, computed for
    /// entries on disk (the target side's owner possibly overridden).
    fn checksum(&self, entry: &Entry, is_target: bool) -> Result<Checksum> {
        let (path, meta) = match entry {
            Entry::TreeFile(c) => return Ok(*c),
            Entry::TreeDir { meta, .. } => return Ok(*meta),
            Entry::Local { path, meta } => (path, meta),
        };
        let uid = if is_target {
            self.owner_uid.unwrap_or(meta.uid())
        } else {
            meta.uid()
        };
        let gid = if is_target {
            self.owner_gid.unwrap_or(meta.gid())
        } else {
            meta.gid()
        };
        let xattrs = if self.ignore_xattrs {
            Xattrs::new()
        } else {
            crate::tree::xattr::read_path(path).map_err(|source| DiffError::Io {
                path: path.clone(),
                source,
            })?
        };
        let io = |source| DiffError::Io {
            path: path.clone(),
            source,
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            return Ok(DirMeta {
                uid,
                gid,
                mode: meta.mode(),
                xattrs,
            }
            .checksum());
        }
        if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io)?;
            let symlink_target = target
                .into_os_string()
                .into_string()
                .map_err(|_| DiffError::NonUtf8 { path: path.clone() })?;
            let header = FileHeader {
                uid,
                gid,
                mode: meta.mode(),
                symlink_target,
                xattrs,
            };
            return checksum_content(&header, &mut std::io::empty()).map_err(io);
        }
        if !ft.is_file() {
            return Err(DiffError::Unsupported { path: path.clone() });
        }
        let header = FileHeader {
            uid,
            gid,
            mode: meta.mode(),
            symlink_target: String::new(),
            xattrs,
        };
        let mut f = fs::File::open(path).map_err(io)?;
        checksum_content(&header, &mut f).map_err(io)
    }

    fn path_of(node: &Node, rel: PathBuf) -> DiffPath {
        DiffPath {
            rel,
            in_commit: matches!(node, Node::Tree { .. }),
        }
    }

    fn diff_dirs(&mut self, a: &Node, b: &Node, rel: &Path) -> Result<()> {
        if let (Node::Tree { tree: ta }, Node::Tree { tree: tb }) = (a, b) {
            if ta == tb {
                return Ok(());
            }
        }
        let a_tree = self.tree_of(a)?;
        let b_tree = self.tree_of(b)?;
        for (name, ea) in self.list(a, a_tree.clone())? {
            let child_rel = rel.join(&name);
            let Some(eb) = self.lookup(b, b_tree.as_ref(), &name)? else {
                self.out.removed.push(Self::path_of(a, child_rel));
                continue;
            };
            let (ka, kb) = (ea.kind(), eb.kind());
            if ka != kb {
                self.out.modified.push(Self::path_of(a, child_rel));
                continue;
            }
            if self.checksum(&ea, false)? != self.checksum(&eb, true)? {
                self.out.modified.push(Self::path_of(a, child_rel.clone()));
            }
            if ka == Kind::Dir {
                let (na, nb) = (
                    ea.as_node().expect("directory entry"),
                    eb.as_node().expect("directory entry"),
                );
                self.diff_dirs(&na, &nb, &child_rel)?;
            }
        }
        for (name, eb) in self.list(b, b_tree)? {
            if self.lookup(a, a_tree.as_ref(), &name)?.is_some() {
                continue;
            }
            let child_rel = rel.join(&name);
            self.out.added.push(Self::path_of(b, child_rel.clone()));
            if let Some(nb) = eb.as_node() {
                self.add_recursive(&nb, &child_rel)?;
            }
        }
        Ok(())
    }

    fn add_recursive(&mut self, node: &Node, rel: &Path) -> Result<()> {
        for (name, e) in self.list(node, None)? {
            let child_rel = rel.join(&name);
            self.out.added.push(Self::path_of(node, child_rel.clone()));
            if let Some(n) = e.as_node() {
                self.add_recursive(&n, &child_rel)?;
            }
        }
        Ok(())
    }
}

/// `ostree diff --stats`: objects reachable from each commit and what they share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiffStats {
    pub a_objects: usize,
    pub b_objects: usize,
    pub common_objects: usize,
    /// Bytes the common objects take in the store.
    pub common_size: u64,
}

/// Counts objects reachable from `a` and `b` (no parents) and the size of those in common.
pub fn diff_stats(repo: &Repo, a: Checksum, b: Checksum) -> Result<DiffStats> {
    let ra = traverse_commit(repo, a, 0)?;
    let rb = traverse_commit(repo, b, 0)?;
    let common: HashSet<&ObjectName> = ra.intersection(&rb).collect();
    let mut size = 0u64;
    for name in &common {
        let p = repo.object_path(name);
        let m = fs::symlink_metadata(&p).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => DiffError::Repo(RepoError::ObjectMissing(**name)),
            _ => DiffError::Io {
                path: p.clone(),
                source,
            },
        })?;
        size += m.len();
    }
    Ok(DiffStats {
        a_objects: ra.len(),
        b_objects: rb.len(),
        common_objects: common.len(),
        common_size: size,
    })
}

/// Whether a command-line argument names a directory (`/…` or `./…`) rather than a rev.
pub fn is_dir_arg(arg: &str) -> bool {
    arg.starts_with('/') || arg.starts_with("./")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_args() {
        assert!(is_dir_arg("/tmp/x"));
        assert!(is_dir_arg("./co"));
        assert!(!is_dir_arg("co"));
        assert!(!is_dir_arg("main^"));
        assert!(!is_dir_arg("../co"));
    }

    #[test]
    fn paths_render_like_ostree() {
        assert_eq!(
            DiffPath {
                rel: "a/b".into(),
                in_commit: true
            }
            .to_string(),
            "/a/b"
        );
        assert_eq!(
            DiffPath {
                rel: "a/b".into(),
                in_commit: false
            }
            .to_string(),
            "a/b"
        );
    }
}
