//! A whole pull from a configured remote, as `grove pull` asks for it: the
//! remote's configuration (its URL, its GPG settings and trusted keys, its
//! `branches`), what to pull, and the order of the steps.
//!
//! `mirror` writes `refs/heads/REF`, otherwise `refs/remotes/REMOTE/REF`.
//! GPG: with the remote's `gpg-verify=true` (ostree's default when the key
//! is absent) every commit fetched needs a good signature by a key trusted
//! for the remote — `REPO/REMOTE.trustedkeys.gpg` (`remote add
//! --gpg-import`), else the system keyrings, plus the remote's `gpgkeypath`
//! — or the pull fails before any ref moves; with `gpg-verify-summary=true`
//! the summary must carry a good signature by one of those keys too. A
//! remote without trusted keys is refused; `no_gpg_verify` skips both
//! checks. The keys of a remote defined in a `core.parent` repository are
//! read there.
//!
//! [`PullRequest::plan`] decides everything that can be decided before anything is
//! written: it reads the remote's configuration and keys, fetches the
//! remote's summary (through the summary cache), resolves the refs, checks
//! the options and takes the repository lock. [`PullPlan::execute`] then
//! plans the objects ([`super::plan`]: the static deltas a remote offers
//! for the targets among them; a bad delta is left to the loose objects
//! unless deltas are required) and writes them ([`super::execute`]: the
//! deltas, then the objects still missing, the refs moved last), then for
//! `mirror` the remote's deltas for the mirrored commits and, when
//! every ref of the remote is mirrored, its `summary` and `summary.sig`
//! byte for byte. A `file://` remote that is not an archive is read as a
//! local repository ([`crate::transfer::pull_local`]), as ostree does, its
//! static deltas taken only when required.
//!
//! Upstream: `ot-builtin-pull.c`, `ostree_repo_pull_with_options` in
//! `ostree-repo-pull.c`.

use std::path::PathBuf;

use super::{PullItem, PullOptions, PullStats, RemoteRepo, SummaryCache, TransferError};
use crate::delta::fetch::{self, DeltaDryRun, DeltaPolicy, DeltaReport};
use crate::objects::checksum::Checksum;
use crate::progress::Control;
use crate::repo::refs::RefError;
use crate::repo::remote::{self, RemoteError};
use crate::repo::{LockKind, Repo, RepoError, RepoLock};
use crate::transfer::pull_local;
use crate::trust::keys::TrustError;

/// What a pull asks for.
#[derive(Clone, Debug, Default)]
pub struct PullRequest {
    /// The remote's name.
    pub remote: String,
    /// Refs or commits to pull (`REF`, `REF@COMMIT`, `COMMIT`); none: the
    /// remote's `branches`, else with `mirror` every ref of its summary.
    pub refs: Vec<String>,
    /// Write `refs/heads/REF` instead of `refs/remotes/REMOTE/REF`.
    pub mirror: bool,
    /// Parent commits to follow: 0 only the commit, -1 all history.
    pub depth: i32,
    /// Skip the signature checks the remote's `gpg-verify` and
    /// `gpg-verify-summary` ask for (`--no-gpg-verify`).
    pub no_gpg_verify: bool,
    /// The system keyring directories, trusted for a remote without a
    /// keyring of its own.
    pub system_keyrings: Vec<PathBuf>,
    /// Where the summary cache lives (default `REPO/tmp/cache`); it must exist.
    pub cache_dir: Option<PathBuf>,
    /// A cached summary that fails verification is an error (ostree's
    /// `OSTREE_REPO_TEST_ERROR=invalid-cache`).
    pub fail_on_invalid_cache: bool,
    /// Static deltas as asked; a partial pull uses none.
    pub deltas: DeltaPolicy,
    /// Fetch only the commits and their detached metadata.
    pub commit_only: bool,
    /// Fetch only these absolute paths of the trees.
    pub subpaths: Vec<String>,
    /// Refuse a commit older than the one its ref holds now.
    pub timestamp_check: bool,
    /// Refuse any commit fetched that is older than this revision.
    pub timestamp_check_from: Option<String>,
    /// Store archive content as served, without hashing it.
    pub http_trusted: bool,
    /// Refuse regular files a bare-user-only repository could not hold.
    pub bareuseronly_files: bool,
}

/// Why a pull failed; the steps that talk to the remote name it.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pulling from remote \"{remote}\"")]
    Pulling {
        remote: String,
        #[source]
        source: Box<TransferError>,
    },
    #[error("remote \"{remote}\" has GPG verification on but no trusted keys ({} or the system keyrings): \
             add the remote with --gpg-import=KEYFILE, or pass --no-gpg-verify", .keyring.display())]
    NoTrustedKeys { remote: String, keyring: PathBuf },
    #[error("opendir({}): No such file or directory", .0.display())]
    NoCacheDir(PathBuf),
    #[error("No refs to pull: name REMOTE:REF, or configure 'branches' for remote \"{0}\"")]
    NoRefs(String),
    #[error("--subpath: expected an absolute path, got '{0}'")]
    RelativeSubpath(String),
    #[error("Can't use static deltas in an archive repo")]
    DeltasIntoArchive,
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Keys(#[from] TrustError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = PullError> = std::result::Result<T, E>;

/// What a pull did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PullReport {
    /// The objects fetched and the refs moved.
    pub objects: PullStats,
    /// The deltas applied (or, for a mirror, copied).
    pub static_deltas: DeltaReport,
    /// The remote was read as a local repository (a `file://` remote that
    /// is not an archive): nothing fetched over the network; its deltas,
    /// when required, come through pull-local's deltas phase.
    #[serde(skip)]
    pub local: bool,
}

/// A pull decided, the repository locked, nothing written yet.
pub struct PullPlan {
    /// The remote's name, for errors.
    name: String,
    how: How,
    /// The destination's shared lock (taken after the source's).
    _lock: Option<RepoLock>,
}

enum How {
    Local {
        src: Repo,
        _src_lock: Option<RepoLock>,
        items: Vec<pull_local::PullItem>,
        opts: pull_local::PullOptions,
    },
    Remote(Box<RemotePull>),
}

struct RemotePull {
    remote: RemoteRepo,
    items: Vec<PullItem>,
    opts: PullOptions,
    /// For each item: the destination's current commit and the target.
    targets: Vec<(Option<Checksum>, Checksum)>,
    policy: DeltaPolicy,
    /// Every ref of the remote is mirrored: its summary is copied too.
    mirror_all: bool,
}

impl PullRequest {
    /// Reads the remote's configuration and keys, resolves what to pull
    /// and locks `dst` (see the module documentation).
    pub fn plan(&self, dst: &Repo) -> Result<PullPlan> {
        plan(dst, self)
    }
}

/// [`PullRequest::plan`].
fn plan(dst: &Repo, req: &PullRequest) -> Result<PullPlan> {
    let name = req.remote.as_str();
    let rem = remote::find(dst, name)?;
    let url = rem.pull_url()?.to_string();
    let keys = if (rem.gpg_verify || rem.gpg_verify_summary) && !req.no_gpg_verify {
        let keys = crate::trust::keys::configured_remote_keys(dst, &rem, &req.system_keyrings)?;
        if keys.is_empty() {
            return Err(PullError::NoTrustedKeys {
                remote: name.to_string(),
                keyring: remote::keyring_path(dst, name),
            });
        }
        Some(keys)
    } else {
        None
    };
    if let Some(d) = req.cache_dir.as_deref().filter(|d| !d.is_dir()) {
        return Err(PullError::NoCacheDir(d.to_path_buf()));
    }
    // As ostree, before any request and whatever the remote: required
    // deltas cannot go into an archive repository unless mirroring.
    if req.deltas == DeltaPolicy::Required && dst.mode().is_archive() && !req.mirror {
        return Err(PullError::DeltasIntoArchive);
    }
    let pulling = |source| PullError::Pulling {
        remote: name.to_string(),
        source: Box::new(source),
    };
    let mut wanted = req.refs.clone();
    if wanted.is_empty() {
        wanted = rem.branches.iter().map(|b| b.to_string()).collect();
    }

    // Like ostree, a file:// remote is read as a local repository, so any
    // mode may be pulled from; only archives go through the network path.
    if let Some(src) = url
        .strip_prefix("file://")
        .and_then(|path| Repo::open(std::path::Path::new(path)).ok())
        .filter(|src| !src.mode().is_archive())
    {
        if wanted.is_empty() {
            return Err(PullError::NoRefs(name.to_string()));
        }
        let items = wanted
            .iter()
            .map(|r| pull_local::PullItem::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = pull_local::PullOptions {
            depth: req.depth,
            untrusted: false,
            remote: (!req.mirror).then(|| name.to_string()),
            bareuseronly_files: req.bareuseronly_files,
            commit_only: req.commit_only,
            verify: keys.filter(|_| rem.gpg_verify),
            verify_summary: None,
            // As ostree's pull from a local repository: its deltas only
            // when required, through pull-local's deltas phase.
            require_static_deltas: req.deltas == DeltaPolicy::Required,
        };
        let src_lock = src.lock(LockKind::Shared)?;
        let lock = dst.lock(LockKind::Shared)?;
        return Ok(PullPlan {
            name: name.to_string(),
            how: How::Local {
                src,
                _src_lock: src_lock,
                items,
                opts,
            },
            _lock: lock,
        });
    }

    let cache = SummaryCache::of_repo(
        dst,
        req.cache_dir.as_deref(),
        name,
        req.fail_on_invalid_cache,
    );
    let remote = RemoteRepo::open_cached(
        &url,
        keys.as_ref().filter(|_| rem.gpg_verify_summary),
        Some(&cache),
    )
    .map_err(pulling)?;
    // A mirror of every ref (none named, no `branches`) copies the summary too, as ostree's.
    let mirror_all = wanted.is_empty() && req.mirror;
    if mirror_all {
        wanted = remote
            .summary_refs()
            .iter()
            .map(|b| b.to_string())
            .collect();
    }
    if wanted.is_empty() {
        return Err(PullError::NoRefs(name.to_string()));
    }
    let items = wanted
        .iter()
        .map(|r| PullItem::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = req.subpaths.iter().find(|p| !p.starts_with('/')) {
        return Err(PullError::RelativeSubpath(p.clone()));
    }
    // A delta brings whole trees: no use for commits only or subpaths (as ostree).
    let policy = if req.commit_only || !req.subpaths.is_empty() {
        DeltaPolicy::Disabled
    } else {
        req.deltas
    };
    let opts = PullOptions {
        remote: name.to_string(),
        // A mirror copies the remote's deltas after the objects instead.
        deltas: if req.mirror {
            DeltaPolicy::Disabled
        } else {
            policy
        },
        mirror: req.mirror,
        depth: req.depth,
        verify: keys.filter(|_| rem.gpg_verify),
        commit_only: req.commit_only,
        subpaths: req.subpaths.clone(),
        timestamp_check: req.timestamp_check,
        timestamp_check_from: match &req.timestamp_check_from {
            Some(rev) => Some(dst.resolve_rev(rev)?),
            None => None,
        },
        http_trusted: req.http_trusted,
        bareuseronly_files: req.bareuseronly_files,
    };
    let lock = dst.lock(LockKind::Shared)?;
    // Resolution errors name the ref themselves (ostree's `Fetching checksum for ref ...`).
    let targets = opts.targets(&remote, dst, &items)?;
    Ok(PullPlan {
        name: name.to_string(),
        how: How::Remote(Box::new(RemotePull {
            remote,
            items,
            opts,
            targets,
            policy,
            mirror_all,
        })),
        _lock: lock,
    })
}

impl PullPlan {
    /// What the static deltas of this pull would fetch, without writing
    /// anything (every target needs a delta); `None` for a local source.
    pub fn dry_run(&self, dst: &Repo) -> Result<Option<DeltaDryRun>> {
        match &self.how {
            How::Local { .. } => Ok(None),
            How::Remote(p) => fetch::dry_run(&p.remote, dst, &p.targets)
                .map(Some)
                .map_err(|e| self.pulling(e)),
        }
    }

    /// Pulls: deltas, objects, then for a mirror its deltas and summary.
    /// `fallback` hears why each delta that could not be used was skipped,
    /// before the objects are fetched instead.
    pub fn execute(
        self,
        dst: &mut Repo,
        control: &Control,
        fallback: &mut dyn FnMut(&str),
    ) -> Result<PullReport> {
        let report = match &self.how {
            How::Local {
                src, items, opts, ..
            } => pull_local::pull_local(src, dst, items, opts, control).map(|objects| PullReport {
                objects,
                local: true,
                ..Default::default()
            }),
            How::Remote(p) => p.execute(dst, control, fallback),
        };
        report.map_err(|e| self.pulling(e))
    }

    fn pulling(&self, source: TransferError) -> PullError {
        PullError::Pulling {
            remote: self.name.clone(),
            source: Box::new(source),
        }
    }
}

impl RemotePull {
    fn execute(
        &self,
        dst: &mut Repo,
        control: &Control,
        fallback: &mut dyn FnMut(&str),
    ) -> Result<PullReport, TransferError> {
        let remote = &self.remote;
        let plan = super::plan(remote, dst, &self.items, &self.opts)?;
        for why in &plan.delta_fallbacks {
            fallback(why);
        }
        let mut objects = super::execute(remote, dst, &plan, control)?;
        let mut deltas = std::mem::take(&mut objects.static_deltas);
        for why in &deltas.fallbacks[plan.delta_fallbacks.len()..] {
            fallback(why);
        }
        if self.opts.mirror && self.policy != DeltaPolicy::Disabled {
            let tips: Vec<_> = self.targets.iter().map(|&(_, to)| to).collect();
            deltas = fetch::mirror_deltas(remote, dst, &tips)?;
        }
        if self.mirror_all {
            remote.write_mirror_summary(dst)?;
        }
        Ok(PullReport {
            objects,
            static_deltas: deltas,
            local: false,
        })
    }
}
