//! A new commit on a branch: what `ostree commit` decides around the tree
//! builder of [`crate::tree::commit`].
//!
//! [`plan`] does everything but move the ref, under the repository's shared
//! lock (held by the [`CommitPlan`], so the new, still unreferenced commit
//! cannot be pruned before [`execute`]):
//! - the parent: `--parent`, else where the branch is now, else (a local
//!   branch that does not exist yet) a remote ref of that name, as ostree;
//!   the branch's current value is also the value the ref must still hold
//!   when it moves (compare-and-swap);
//! - the metadata: the caller's keys, keys kept from the parent
//!   (`--keep-metadata`), the provenance of `--source` and git trees (read
//!   before anything is written: a bad source changes nothing), ostree's
//!   ref and collection bindings, the bootable keys;
//! - the tree: an optional base commit, then each [`TreeSource`] in order,
//!   with the commit filter, `--statoverride` and `--skip-list` (whose
//!   paths must all match);
//! - `skip_if_unchanged`: a tree equal to the parent's writes no commit
//!   ([`Planned::Unchanged`]);
//! - the commit object, its detached metadata, and a signature by each key.
//!
//! Between the two the caller may veto (the porcelain runs `pre-commit`;
//! the commit object exists, the ref has not moved); dropping the plan
//! changes no ref. [`execute`] syncs and moves the ref. With `consume`,
//! [`CommitOutcome::consume_sources`] then removes the committed
//! directories.
//!
//! Upstream: `ot-builtin-commit.c` (`ostree_builtin_commit`,
//! `parse_keyvalue_strings`), `ostree-repo-commit.c`
//! (`ostree_repo_write_commit_with_time`).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::gvariant::text::ParseError;
use crate::lifecycle::provenance::{ConfigFile, Provenance, ProvenanceError};
use crate::objects::checksum::Checksum;
use crate::objects::Metadata;
use crate::repo::lock::{LockKind, RepoLock};
use crate::repo::refs::{RefError, Refspec};
use crate::repo::{Repo, RepoError};
use crate::tree::bootable::BootableError;
use crate::tree::commit::{
    add_bindings, import_commit_tree, import_dir, write_commit, CommitError, CommitFilter,
    CommitSpec, DevInoCache, ImportOptions, ImportStats, PathRules,
};
use crate::tree::git::{GitError, SourceSpec};
use crate::tree::mtree::{MtreeError, MutableTree};
use crate::tree::tar_import::{import_tar, PathnameFilter, TarError, TarOptions};
use crate::trust::gpg::{SignError, SigningKey};

/// Which commit the new one follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parent {
    /// Where the branch is (or its remote namesake, for a new local branch).
    #[default]
    Branch,
    /// No parent (`--parent=none`).
    None,
    /// This commit.
    Commit(Checksum),
}

impl std::str::FromStr for Parent {
    type Err = NewCommitError;

    /// `--parent`: `none`, or a commit checksum.
    fn from_str(s: &str) -> Result<Parent> {
        match s {
            "none" => Ok(Parent::None),
            s => s
                .parse()
                .map(Parent::Commit)
                .map_err(|_| NewCommitError::InvalidParent(s.to_string())),
        }
    }
}

/// One tree laid over the commit's tree (`--tree=KIND=VALUE`), in order.
#[derive(Clone, Debug)]
pub enum TreeSource {
    /// A directory (`dir=PATH`).
    Dir(PathBuf),
    /// A tarball, `-` for stdin (`tar=FILE`).
    Tar(PathBuf),
    /// The tree of a commit (`ref=REV`).
    Ref(String),
    /// A git tree (`git=[NAME=]PATH[@REV][:SUBDIR]`).
    Git(SourceSpec),
}

impl FromStr for TreeSource {
    type Err = NewCommitError;

    fn from_str(t: &str) -> Result<Self, NewCommitError> {
        let (kind, value) = t
            .split_once('=')
            .ok_or_else(|| NewCommitError::TreeType(t.to_string()))?;
        Ok(match kind {
            "dir" => TreeSource::Dir(value.into()),
            "tar" => TreeSource::Tar(value.into()),
            "ref" => TreeSource::Ref(value.into()),
            "git" => TreeSource::Git(SourceSpec::parse(value, true).map_err(|source| {
                NewCommitError::Spec {
                    arg: format!("--tree={t}"),
                    source: Box::new(source),
                }
            })?),
            other => return Err(NewCommitError::UnknownTreeType(other.to_string())),
        })
    }
}

/// Everything a new commit is made from.
#[derive(Debug, Default)]
pub struct CommitRequest {
    /// The branch to move; `None` with `orphan` for a commit no ref names.
    pub branch: Option<Refspec>,
    pub orphan: bool,
    pub parent: Parent,
    pub subject: String,
    pub body: String,
    /// Applied in order over `base`.
    pub trees: Vec<TreeSource>,
    /// A rev whose tree the commit starts from (no filter applies to it).
    pub base: Option<String>,
    pub metadata: Metadata,
    /// Keys copied from the parent commit (it must have them).
    pub keep_metadata: Vec<String>,
    pub detached: Option<Metadata>,
    /// Git checkouts whose provenance is recorded (`--source`).
    pub sources: Vec<SourceSpec>,
    /// Build configuration files whose SHA-256 is recorded (`--source-config`).
    pub source_configs: Vec<PathBuf>,
    /// Seconds since 1970; an earlier date wraps around, as ostree stores it
    /// (a guint64 from a signed time).
    pub timestamp: i64,
    /// Leave out ostree's ref and collection bindings.
    pub no_bindings: bool,
    /// More refs for the ref binding.
    pub bind_refs: Vec<String>,
    /// Owner, permission and xattr rules (`paths` is set from the two files below).
    pub filter: CommitFilter,
    pub statoverride: Option<PathBuf>,
    pub skip_list: Option<PathBuf>,
    /// Reuse the checksums of files hardlinked from the repository.
    pub link_checkout_speedup: bool,
    /// ... trusting (device, inode) over file metadata.
    pub devino_canonical: bool,
    /// Move the files of `Dir` trees in, and remove the directories after.
    pub consume: bool,
    pub tar_autocreate_parents: bool,
    pub tar_pathname_filter: Option<PathnameFilter>,
    pub skip_if_unchanged: bool,
    pub bootable: bool,
    pub generate_sizes: bool,
}

/// Why no commit was made.
#[derive(Debug, thiserror::Error)]
pub enum NewCommitError {
    #[error("A branch must be specified with --branch, or use --orphan")]
    NoBranch,
    #[error("Invalid rev {0}")]
    InvalidParent(String),
    #[error("Cannot specify both --canonical-permissions and non-zero --owner-{0}")]
    CanonicalOwner(&'static str),
    #[error("Either --branch or --parent must be specified when using --keep-metadata")]
    KeepMetadataNeedsParent,
    #[error("Missing metadata key '{key}' from commit '{commit}'")]
    MissingKey { key: String, commit: Checksum },
    #[error("Missing '=' in KEY=VALUE metadata '{0}'")]
    MissingEquals(String),
    #[error("Empty metadata key")]
    EmptyKey,
    #[error("Parsing {arg}: {source}")]
    Variant { arg: String, source: ParseError },
    #[error("Missing type in tree specification '{0}'")]
    TreeType(String),
    #[error("Invalid tree type specification '{0}'")]
    UnknownTreeType(String),
    #[error("{arg}: {source}")]
    Spec { arg: String, source: Box<GitError> },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("committing directory {}: {source}", path.display())]
    Dir { path: PathBuf, source: CommitError },
    #[error("importing {}: {source}", path.display())]
    Tar {
        path: PathBuf,
        source: Box<TarError>,
    },
    #[error("signing commit {commit}: {source}")]
    Sign { commit: Checksum, source: SignError },
    #[error("updating ref {branch}: {source}")]
    MoveRef {
        branch: Refspec,
        source: Box<RefError>,
    },
    #[error("consuming {}: {source}", path.display())]
    Consume {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Provenance(#[from] ProvenanceError),
    #[error(transparent)]
    Bootable(#[from] BootableError),
    #[error(transparent)]
    Tree(#[from] MtreeError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Metadata(#[from] zgvariant::Error),
}

pub type Result<T, E = NewCommitError> = std::result::Result<T, E>;

/// `KEY=VALUE` metadata as ostree's `commit` takes it: `strings` as
/// strings, `variants` as GVariant text.
pub fn parse_metadata(strings: &[String], variants: &[String]) -> Result<Metadata> {
    fn split_kv(s: &str) -> Result<(&str, &str)> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| NewCommitError::MissingEquals(s.to_string()))?;
        if k.is_empty() {
            return Err(NewCommitError::EmptyKey);
        }
        Ok((k, v))
    }
    let mut metadata = Metadata::new();
    for s in strings {
        let (k, v) = split_kv(s)?;
        metadata.push(k, crate::objects::metadata::owned(v.to_string()));
    }
    for s in variants {
        let (k, v) = split_kv(s)?;
        let value = crate::gvariant::text::parse(v).map_err(|source| NewCommitError::Variant {
            arg: s.clone(),
            source,
        })?;
        metadata.push(k, value);
    }
    Ok(metadata)
}

/// A commit written and signed, its ref not moved yet.
#[derive(Debug)]
pub struct CommitPlan {
    pub commit: Checksum,
    pub branch: Option<Refspec>,
    /// Where the branch was when planned: it must still be there to move.
    pub old: Option<Checksum>,
    pub stats: ImportStats,
    /// Git submodules committed as empty directories: (repository, path).
    pub submodules: Vec<(PathBuf, String)>,
    consumed: Vec<PathBuf>,
    _lock: Option<RepoLock>,
}

/// What [`plan`] found to do.
#[derive(Debug)]
pub enum Planned {
    Commit(CommitPlan),
    /// `skip_if_unchanged`, and the tree is the parent's: nothing written.
    Unchanged(Checksum),
}

/// A commit made and its ref moved.
#[derive(Debug)]
pub struct CommitOutcome {
    pub commit: Checksum,
    pub branch: Option<Refspec>,
    pub stats: ImportStats,
    consumed: Vec<PathBuf>,
}

impl CommitRequest {
    /// The flag combinations ostree refuses.
    pub fn validate(&self) -> Result<()> {
        if self.branch.is_none() && !self.orphan {
            return Err(NewCommitError::NoBranch);
        }
        if self.filter.canonical_permissions && self.filter.owner_uid.is_some_and(|u| u > 0) {
            return Err(NewCommitError::CanonicalOwner("uid"));
        }
        if self.filter.canonical_permissions && self.filter.owner_gid.is_some_and(|g| g > 0) {
            return Err(NewCommitError::CanonicalOwner("gid"));
        }
        Ok(())
    }

    fn path_rules(&self) -> Result<Option<Arc<PathRules>>> {
        if self.statoverride.is_none() && self.skip_list.is_none() {
            return Ok(None);
        }
        let read = |f: &PathBuf| {
            std::fs::read_to_string(f).map_err(|source| NewCommitError::Read {
                path: f.clone(),
                source,
            })
        };
        let mut rules = PathRules::new();
        if let Some(f) = &self.statoverride {
            rules.add_statoverride(&read(f)?)?;
        }
        if let Some(f) = &self.skip_list {
            rules.add_skip_list(&read(f)?);
        }
        Ok(Some(Arc::new(rules)))
    }
}

/// Writes the commit `req` asks for and signs it with `keys`; the ref does
/// not move (see the module doc for the rules).
pub fn plan(repo: &Repo, mut req: CommitRequest, keys: &mut [SigningKey]) -> Result<Planned> {
    req.validate()?;
    let lock = repo.lock(LockKind::Shared)?;
    let old = match &req.branch {
        Some(b) => repo.read_ref_exact(b)?,
        None => None,
    };
    let parent = match (req.parent, &req.branch) {
        (Parent::None, _) => None,
        (Parent::Commit(c), _) => Some(c),
        (Parent::Branch, Some(b)) if old.is_none() => repo.read_ref(b)?,
        (Parent::Branch, _) => old,
    };
    if !req.keep_metadata.is_empty() && parent.is_none() {
        return Err(NewCommitError::KeepMetadataNeedsParent);
    }
    let mut metadata = std::mem::take(&mut req.metadata);
    if let (Some(p), false) = (parent, req.keep_metadata.is_empty()) {
        let pc = repo.load_commit(p)?;
        for key in &req.keep_metadata {
            let v = pc
                .metadata
                .get(key)
                .ok_or_else(|| NewCommitError::MissingKey {
                    key: key.clone(),
                    commit: p,
                })?;
            metadata.push(key.clone(), v.try_clone()?);
        }
    }
    let mut provenance = Provenance::default();
    for spec in &req.sources {
        provenance
            .sources
            .push(crate::tree::git::read_source(spec)?);
    }
    for f in &req.source_configs {
        provenance.config.push(ConfigFile::read(f)?);
    }

    let paths = req.path_rules()?;
    let filter = CommitFilter {
        paths: paths.clone(),
        ..req.filter.clone()
    }
    .for_repo(repo);
    let devino = if req.link_checkout_speedup || req.devino_canonical {
        Some(DevInoCache::scan(repo)?)
    } else {
        None
    };
    let import = ImportOptions {
        filter: filter.clone(),
        devino,
        devino_canonical: req.devino_canonical,
        consume: req.consume,
    };
    let tar = TarOptions {
        filter: filter.clone(),
        autocreate_parents: req.tar_autocreate_parents,
        pathname_filter: req.tar_pathname_filter.take(),
    };
    let mut stats = ImportStats::default();
    let mut consumed = Vec::new();
    let mut submodules = Vec::new();
    let mut mtree = MutableTree::new();
    if let Some(base) = &req.base {
        let c = repo.resolve_rev(base)?;
        import_commit_tree(repo, &mut mtree, c, &CommitFilter::default())?;
    }
    for t in &req.trees {
        match t {
            TreeSource::Dir(path) => {
                let s = import_dir(repo, &mut mtree, path, &import).map_err(|source| {
                    NewCommitError::Dir {
                        path: path.clone(),
                        source,
                    }
                })?;
                stats.add(&s);
                consumed.push(path.clone());
            }
            TreeSource::Tar(path) => {
                import_tar(repo, &mut mtree, path, &tar).map_err(|source| NewCommitError::Tar {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
            TreeSource::Ref(rev) => {
                let c = repo.resolve_rev(rev)?;
                import_commit_tree(repo, &mut mtree, c, &filter)?;
            }
            TreeSource::Git(spec) => {
                let done = crate::tree::git::import_tree(repo, &mut mtree, spec, &filter)?;
                submodules.extend(done.submodules.into_iter().map(|s| (spec.path.clone(), s)));
                provenance.sources.push(done.source);
            }
        }
    }
    if let Some(rules) = &paths {
        rules.check_all_matched()?;
    }
    let root = mtree.write(repo)?;
    provenance.check()?;
    provenance.write_to(&mut metadata);
    if !req.no_bindings {
        let mut refs: Vec<String> = req.branch.iter().map(|b| b.name.to_string()).collect();
        refs.extend(req.bind_refs.iter().cloned());
        add_bindings(repo, &mut metadata, &refs);
    }
    if req.skip_if_unchanged {
        if let Some(p) = parent {
            let pc = repo.load_commit(p)?;
            if (pc.root_contents, pc.root_meta) == root {
                return Ok(Planned::Unchanged(p));
            }
        }
    }
    if req.bootable {
        metadata = crate::tree::bootable::add_bootable_metadata(repo, root, metadata)?;
    }
    let spec = CommitSpec {
        subject: req.subject,
        body: req.body,
        parent,
        timestamp: req.timestamp as u64,
        metadata,
        detached: req.detached,
        generate_sizes: req.generate_sizes,
    };
    let commit = write_commit(repo, root, &spec)?;
    if !keys.is_empty() {
        crate::trust::gpg::sign_commit(repo, commit, keys)
            .map_err(|source| NewCommitError::Sign { commit, source })?;
    }
    Ok(Planned::Commit(CommitPlan {
        commit,
        branch: req.branch,
        old,
        stats,
        submodules,
        consumed: if req.consume { consumed } else { Vec::new() },
        _lock: lock,
    }))
}

/// Syncs the repository and moves the branch to the planned commit, if it
/// is still where the plan found it; the shared lock is released after.
pub fn execute(repo: &Repo, plan: CommitPlan) -> Result<CommitOutcome> {
    repo.sync()?;
    if let Some(b) = &plan.branch {
        repo.set_ref(b, Some(plan.commit), Some(plan.old))
            .map_err(|source| NewCommitError::MoveRef {
                branch: b.clone(),
                source: Box::new(source),
            })?;
    }
    Ok(CommitOutcome {
        commit: plan.commit,
        branch: plan.branch,
        stats: plan.stats,
        consumed: plan.consumed,
    })
}

impl CommitOutcome {
    /// `consume`: removes the directories committed (call it once the
    /// commit is final, after any hook that may still read them).
    pub fn consume_sources(&self) -> Result<()> {
        for dir in &self.consumed {
            std::fs::remove_dir_all(dir).map_err(|source| NewCommitError::Consume {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
