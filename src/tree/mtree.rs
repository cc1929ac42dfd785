//! The mutable tree: an in-memory directory tree being assembled for a
//! commit from directories, tarballs and existing commits, then written as
//! dirtree/dirmeta objects. Unmodified subtrees adopted from the repository
//! stay lazy (just their checksums), so re-committing a tree costs nothing.
//! Upstream: `ostree-mutable-tree.c`.

use std::collections::BTreeMap;

use crate::objects::checksum::Checksum;
use crate::objects::{DirTree, DirTreeDir, DirTreeFile};
use crate::repo::{Repo, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum MtreeError {
    #[error("No such file or directory: {0}")]
    NotFound(String),
    #[error("Can't replace directory with file: {0}")]
    DirWithFile(String),
    #[error("Can't replace file with directory: {0}")]
    FileWithDir(String),
    #[error("Invalid file name '{0}'")]
    BadName(String),
    #[error("Can't commit an empty tree")]
    NoMetadata,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = MtreeError> = std::result::Result<T, E>;

/// A directory being assembled.
#[derive(Clone, Debug, Default)]
pub struct MutableTree {
    meta: Option<Checksum>,
    /// Set while this directory is exactly an existing dirtree, not yet expanded.
    lazy: Option<Checksum>,
    files: BTreeMap<String, Checksum>,
    dirs: BTreeMap<String, MutableTree>,
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(MtreeError::BadName(name.to_string()));
    }
    Ok(())
}

impl MutableTree {
    pub fn new() -> Self {
        MutableTree::default()
    }

    /// A tree that is exactly the stored dirtree `contents` with `meta`.
    pub fn from_stored(contents: Checksum, meta: Checksum) -> Self {
        MutableTree {
            meta: Some(meta),
            lazy: Some(contents),
            ..Default::default()
        }
    }

    pub fn metadata(&self) -> Option<Checksum> {
        self.meta
    }

    pub fn set_metadata(&mut self, meta: Checksum) {
        self.meta = Some(meta);
    }

    /// Whether this is an untouched, empty tree (no entries, nothing adopted).
    pub fn is_empty(&self) -> bool {
        self.lazy.is_none() && self.files.is_empty() && self.dirs.is_empty()
    }

    /// Expands a lazy directory into its entries (children stay lazy).
    fn expand(&mut self, repo: &Repo) -> Result<()> {
        if let Some(contents) = self.lazy.take() {
            let tree = repo.load_dirtree(contents)?;
            for f in tree.files {
                self.files.insert(f.name, f.checksum);
            }
            for d in tree.dirs {
                self.dirs
                    .insert(d.name, MutableTree::from_stored(d.tree, d.meta));
            }
        }
        Ok(())
    }

    pub fn files(&mut self, repo: &Repo) -> Result<&BTreeMap<String, Checksum>> {
        self.expand(repo)?;
        Ok(&self.files)
    }

    pub fn subdirs(&mut self, repo: &Repo) -> Result<&mut BTreeMap<String, MutableTree>> {
        self.expand(repo)?;
        Ok(&mut self.dirs)
    }

    /// Adds or replaces a file entry.
    pub fn replace_file(&mut self, repo: &Repo, name: &str, checksum: Checksum) -> Result<()> {
        check_name(name)?;
        self.expand(repo)?;
        if self.dirs.contains_key(name) {
            return Err(MtreeError::DirWithFile(name.to_string()));
        }
        self.files.insert(name.to_string(), checksum);
        Ok(())
    }

    /// The subdirectory `name`, created empty (without metadata) if missing.
    pub fn ensure_dir(&mut self, repo: &Repo, name: &str) -> Result<&mut MutableTree> {
        check_name(name)?;
        self.expand(repo)?;
        if self.files.contains_key(name) {
            return Err(MtreeError::FileWithDir(name.to_string()));
        }
        Ok(self.dirs.entry(name.to_string()).or_default())
    }

    /// Removes an entry of either kind; true if it existed.
    pub fn remove(&mut self, repo: &Repo, name: &str) -> Result<bool> {
        self.expand(repo)?;
        Ok(self.files.remove(name).is_some() || self.dirs.remove(name).is_some())
    }

    /// Walks existing subdirectories along `components`.
    pub fn walk(&mut self, repo: &Repo, components: &[&str]) -> Result<&mut MutableTree> {
        let mut cur = self;
        for c in components {
            cur.expand(repo)?;
            cur = cur
                .dirs
                .get_mut(*c)
                .ok_or_else(|| MtreeError::NotFound(c.to_string()))?;
        }
        Ok(cur)
    }

    /// Overlays a stored tree: files replace, directories merge, and the
    /// stored metadata replaces this directory's (`--tree=ref=`).
    pub fn merge_stored(&mut self, repo: &Repo, contents: Checksum, meta: Checksum) -> Result<()> {
        if self.is_empty() {
            self.lazy = Some(contents);
            self.meta = Some(meta);
            return Ok(());
        }
        self.expand(repo)?;
        self.meta = Some(meta);
        let tree = repo.load_dirtree(contents)?;
        for f in tree.files {
            self.replace_file(repo, &f.name, f.checksum)?;
        }
        for d in tree.dirs {
            self.ensure_dir(repo, &d.name)?
                .merge_stored(repo, d.tree, d.meta)?;
        }
        Ok(())
    }

    /// Writes every modified directory and returns the root's (dirtree, dirmeta) checksums.
    pub fn write(&self, repo: &Repo) -> Result<(Checksum, Checksum)> {
        let meta = self.meta.ok_or(MtreeError::NoMetadata)?;
        if let Some(contents) = self.lazy {
            return Ok((contents, meta));
        }
        let mut tree = DirTree::default();
        for (name, c) in &self.files {
            tree.files.push(DirTreeFile {
                name: name.clone(),
                checksum: *c,
            });
        }
        for (name, d) in &self.dirs {
            let (t, m) = d.write(repo)?;
            tree.dirs.push(DirTreeDir {
                name: name.clone(),
                tree: t,
                meta: m,
            });
        }
        Ok((repo.write_dirtree(&tree)?, meta))
    }
}
