//! What `ls` lists of a commit's tree, with the stat it prints of each entry.
//!
//! Upstream `ot-builtin-ls.c`: each path is looked up ([`path::lookup`]) and
//! listed, then — for a directory, unless `dironly` — its files, then its
//! subdirectories, in the order the dirtree stores them (sorted), descending
//! into each subdirectory after listing it when `recursive`. A directory's
//! stat is its dirmeta; a file's is its content object's header (a partial
//! commit may lack it: then listing stops with ostree's "Couldn't find file
//! object" error).

use crate::objects::checksum::{Checksum, ObjectName};
use crate::objects::file_header::{S_IFMT, S_IFREG};
use crate::objects::{Commit, Xattrs};
use crate::repo::{Repo, RepoError};
use crate::tree::path::{self, Node, TreeEntry, TreePathError};

/// How much to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListOptions {
    /// List a directory argument itself, not its entries.
    pub dironly: bool,
    /// Descend into subdirectories.
    pub recursive: bool,
    /// Read each entry's [`Stat`] (names alone need no object but dirtrees).
    pub stat: bool,
}

/// What kind of entry a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Regular,
    Symlink,
}

/// The stat `ls` prints of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits (the file type is [`Stat::kind`]).
    pub permissions: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes of a regular file; 0 for directories and symlinks.
    pub size: u64,
    pub xattrs: Xattrs,
    /// A symlink's target.
    pub target: Option<String>,
}

/// One listed entry, in listing order.
#[derive(Clone, Debug)]
pub struct Listed {
    pub entry: TreeEntry,
    /// With [`ListOptions::stat`].
    pub stat: Option<Stat>,
}

/// Why listing stopped, in ostree's words.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("Inspecting path '{path}'")]
    Lookup {
        path: String,
        #[source]
        source: TreePathError,
    },
    #[error("Couldn't find file object '{0}'")]
    ContentMissing(Checksum),
    #[error("Opening content object {checksum}")]
    Content {
        checksum: Checksum,
        #[source]
        source: RepoError,
    },
    #[error("No such metadata object {0}")]
    MetadataMissing(ObjectName),
    #[error(transparent)]
    Repo(RepoError),
}

impl From<RepoError> for ListError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::ObjectMissing(name) => ListError::MetadataMissing(name),
            e => ListError::Repo(e),
        }
    }
}

/// Lists `paths` of `commit` (`/` when empty), handing each entry to
/// `each` in ostree's order; `each`'s error (a failed write) stops the listing.
pub fn list<E: From<ListError>>(
    repo: &Repo,
    commit: &Commit,
    paths: &[String],
    opts: ListOptions,
    each: &mut dyn FnMut(Listed) -> Result<(), E>,
) -> Result<(), E> {
    let root = TreeEntry::root(commit);
    let default = ["/".to_string()];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut l = Lister { repo, opts, each };
    for p in paths {
        let e = path::lookup(repo, &root, p).map_err(|source| ListError::Lookup {
            path: p.clone(),
            source,
        })?;
        l.one(&e)?;
        if e.is_dir() && !opts.dironly {
            l.dir(&e)?;
        }
    }
    Ok(())
}

struct Lister<'a, E> {
    repo: &'a Repo,
    opts: ListOptions,
    each: &'a mut dyn FnMut(Listed) -> Result<(), E>,
}

impl<E: From<ListError>> Lister<'_, E> {
    fn one(&mut self, e: &TreeEntry) -> Result<(), E> {
        let stat = match self.opts.stat {
            true => Some(stat(self.repo, e)?),
            false => None,
        };
        (self.each)(Listed {
            entry: e.clone(),
            stat,
        })
    }

    /// A directory's files, then its subdirectories (each followed by its
    /// own entries when recursive).
    fn dir(&mut self, dir: &TreeEntry) -> Result<(), E> {
        let Node::Dir { tree, .. } = dir.node else {
            return Ok(());
        };
        let t = self.repo.load_dirtree(tree).map_err(ListError::from)?;
        for f in &t.files {
            self.one(&TreeEntry {
                path: dir.child_path(&f.name),
                node: Node::File {
                    checksum: f.checksum,
                },
            })?;
        }
        for d in &t.dirs {
            let child = TreeEntry {
                path: dir.child_path(&d.name),
                node: Node::Dir {
                    tree: d.tree,
                    meta: d.meta,
                },
            };
            self.one(&child)?;
            if self.opts.recursive {
                self.dir(&child)?;
            }
        }
        Ok(())
    }
}

/// The stat of one entry: its dirmeta, or its content object's header.
pub fn stat(repo: &Repo, e: &TreeEntry) -> Result<Stat, ListError> {
    Ok(match e.node {
        Node::Dir { meta, .. } => {
            let m = repo.load_dirmeta(meta)?;
            Stat {
                kind: Kind::Dir,
                permissions: m.mode & !S_IFMT,
                uid: m.uid,
                gid: m.gid,
                size: 0,
                xattrs: m.xattrs,
                target: None,
            }
        }
        Node::File { checksum } => {
            let obj = match repo.open_content(checksum) {
                Ok(o) => o,
                Err(RepoError::ObjectMissing(_)) => {
                    return Err(ListError::ContentMissing(checksum))
                }
                Err(source) => return Err(ListError::Content { checksum, source }),
            };
            let h = obj.header;
            let regular = h.mode & S_IFMT == S_IFREG;
            Stat {
                kind: if regular {
                    Kind::Regular
                } else {
                    Kind::Symlink
                },
                permissions: h.mode & !S_IFMT,
                uid: h.uid,
                gid: h.gid,
                size: if regular { obj.size } else { 0 },
                xattrs: h.xattrs,
                target: (!regular).then_some(h.symlink_target),
            }
        }
    })
}
