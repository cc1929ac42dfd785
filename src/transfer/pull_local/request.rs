//! A whole `pull-local` as the command asks for it: the source repository
//! by path, what to copy, the remote whose keys must have signed it, and
//! whether the source's static deltas must carry the commits.
//!
//! [`LocalPullRequest::plan`] decides everything that can be decided
//! before anything is written: it opens the source, reads the keys of
//! `remote` when signatures are to be checked (a remote defined in a
//! `core.parent` repository keeps its keys there), takes the source's
//! shared lock and then the destination's, and plans the commits, objects,
//! static deltas and refs ([`super::plan`]: signatures are checked there;
//! with `require_static_deltas` the delta for each rev is the one the
//! source advertises from the newest commit the destination holds whole or
//! will hold once an earlier rev's delta lands, else the scratch one, by
//! the rule `pull` follows, [`crate::delta::fetch::choose_deltas`]; none is
//! the error, in ostree's words). [`LocalPullPlan::execute`] runs that plan
//! on the engine ([`super::execute`]): the deltas first, their parts read
//! from the source and every object hashed as it is stored, then what is
//! still missing copied loose, the refs moved last; the locks are released
//! when it returns.
//!
//! Upstream: `ot-builtin-pull-local.c`; the `file://` path of
//! `ostree_repo_pull_with_options` in `ostree-repo-pull.c` (locks through
//! `ostree_repo_prepare_transaction`, deltas before objects).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{PullItem, PullOptions, PullStats, RefMove, TransferError};
use crate::progress::Control;
use crate::repo::refs::{RefError, Refspec};
use crate::repo::remote::{self, RemoteError};
use crate::repo::{LockKind, Repo, RepoError, RepoLock};
use crate::transfer::engine::Plan;
use crate::trust::keys::{self, TrustError};

/// What `pull-local` asks for.
#[derive(Clone, Debug, Default)]
pub struct LocalPullRequest {
    /// The source repository, as named (errors name it so).
    pub src: PathBuf,
    /// Refs, `REF@COMMIT` or commits to copy; none: every ref of the source.
    pub refs: Vec<String>,
    /// Parent commits to follow: 0 only the commit, -1 all history.
    pub depth: i32,
    /// Re-hash every object before it is written.
    pub untrusted: bool,
    /// Write refs under `refs/remotes/REMOTE/`; the remote whose keys the
    /// signature checks trust.
    pub remote: Option<String>,
    /// Refuse regular files a bare-user-only repository could not hold.
    pub bareuseronly_files: bool,
    /// Copy only the commits and their detached metadata.
    pub commit_only: bool,
    /// Every commit copied must be signed by a key trusted for `remote`.
    pub gpg_verify: bool,
    /// The source's summary must be signed by a key trusted for `remote`.
    pub gpg_verify_summary: bool,
    /// The system keyring directories, trusted for a remote without a
    /// keyring of its own.
    pub system_keyrings: Vec<PathBuf>,
    /// Each of `refs` comes through a static delta the source advertises.
    pub require_static_deltas: bool,
}

/// Why a local pull failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalPullError {
    #[error("opening source repo {}", .path.display())]
    OpenSource {
        path: PathBuf,
        #[source]
        source: RepoError,
    },
    /// A failure while reading the source or writing the copy.
    #[error("pulling from {}", .src.display())]
    Pulling {
        src: PathBuf,
        #[source]
        source: Box<TransferError>,
    },
    /// Errors that name the ref, delta or commit at fault themselves.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Keys(#[from] TrustError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// A local pull decided, both repositories locked, nothing written yet.
pub struct LocalPullPlan {
    src_path: PathBuf,
    src: Repo,
    plan: Plan,
    // Released in this order: the destination's, then the source's.
    _dst_lock: Option<RepoLock>,
    _src_lock: Option<RepoLock>,
}

impl LocalPullRequest {
    /// Opens and locks the source, locks `dst`, chooses the deltas and
    /// plans the copy (see the module documentation).
    pub fn plan(&self, dst: &Repo) -> Result<LocalPullPlan, LocalPullError> {
        let src = Repo::open(&self.src).map_err(|source| LocalPullError::OpenSource {
            path: self.src.clone(),
            source,
        })?;
        let items = self
            .refs
            .iter()
            .map(|r| PullItem::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match &self.remote {
            Some(name) if self.gpg_verify || self.gpg_verify_summary => {
                let rem = remote::find(dst, name)?;
                Some(keys::configured_remote_keys(
                    dst,
                    &rem,
                    &self.system_keyrings,
                )?)
            }
            _ => None,
        };
        let opts = PullOptions {
            depth: self.depth,
            untrusted: self.untrusted,
            remote: self.remote.clone(),
            commit_only: self.commit_only,
            verify: keys.clone().filter(|_| self.gpg_verify),
            verify_summary: keys.filter(|_| self.gpg_verify_summary),
            bareuseronly_files: self.bareuseronly_files,
            require_static_deltas: self.require_static_deltas,
        };
        let src_lock = src.lock(LockKind::Shared)?;
        let dst_lock = dst.lock(LockKind::Shared)?;
        let plan = super::plan(&src, dst, &items, &opts).map_err(|e| match e {
            // These name the ref or commit at fault already, in ostree's words.
            TransferError::RefNotFound(_)
            | TransferError::RemoteRefInSource(_)
            | TransferError::NoDelta { .. } => e.into(),
            e => self.pulling(e),
        })?;
        Ok(LocalPullPlan {
            src_path: self.src.clone(),
            src,
            plan,
            _dst_lock: dst_lock,
            _src_lock: src_lock,
        })
    }

    fn pulling(&self, source: TransferError) -> LocalPullError {
        LocalPullError::Pulling {
            src: self.src.clone(),
            source: Box::new(source),
        }
    }
}

impl LocalPullPlan {
    /// The refs the pull will move, each compare-and-swap against `old`.
    pub fn refs(&self) -> &BTreeMap<Refspec, RefMove> {
        self.plan.refs()
    }

    /// Applies the chosen deltas, copies what is still missing and moves
    /// the refs; releases both locks.
    pub fn execute(self, dst: &Repo, control: &Control) -> Result<PullStats, LocalPullError> {
        super::execute(&self.src, dst, &self.plan, control).map_err(|source| {
            LocalPullError::Pulling {
                src: self.src_path.clone(),
                source: Box::new(source),
            }
        })
    }
}
