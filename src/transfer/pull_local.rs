//! Copying commits between local repositories (`pull-local`): the engine
//! ([`super::engine`]) with a repository on this machine as the source.
//!
//! This module resolves what to copy — refspecs of the source (every ref
//! when none is named), commits, `REF@COMMIT` — walks the requested commits
//! (and `depth` ancestors; a missing parent the source marks with a
//! tombstone brings the tombstone), checks signatures when asked, and lists
//! every object the destination lacks: content largest first
//! ([`super::content_order`]), then dirmeta, then dirtree. Objects are hardlinked when both repositories
//! store them the same way on one filesystem (archive → archive bytes are
//! never recompressed), and converted otherwise (bare-user → archive
//! compresses on the way). With `untrusted`, every object is re-hashed
//! before it lands.
//!
//! With `require_static_deltas` each requested commit comes through a
//! static delta the source advertises, chosen by the rule `pull` follows
//! ([`crate::delta::fetch::choose_deltas`]) with the scratch delta always
//! allowed, and its superblock read and checked from the source's
//! `deltas/` while planning; the commit's tree is then not walked. The
//! engine's deltas phase ([`super::delta_source::apply`]) reads the parts
//! through the source ([`super::source::ObjectSource::delta_part`], checked
//! at their size and SHA-256) and runs them into the destination, every
//! object hashed as it is stored; what a delta leaves missing (its fallback
//! objects) is copied loose after it, as a pull's is.
//!
//! [`request`] is the whole command as a library call: the source opened
//! and both repositories locked, the keys of a remote, then this module's
//! plan and execute.
//!
//! Upstream: `ostree-repo-pull.c` (the `file://` path of
//! `ostree_repo_pull_with_options`), `ot-builtin-pull-local.c`.

pub mod request;
pub use request::{LocalPullError, LocalPullPlan, LocalPullRequest};

use std::fs;

use rayon::prelude::*;

use super::content_order;
pub use super::engine::{execute, Plan, PullItem, PullStats, RefMove};
use super::engine::{walk_history, PlannedCommit, PlannedDelta, PlannedObject};
pub use super::error::{Result, TransferError};
use super::verify::{self, Checks, ContentCheck};
use crate::delta::fetch;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::progress::Control;
use crate::repo::refs::Refspec;
use crate::repo::{Repo, RepoError};
use crate::tree::traverse::Traversal;

/// What `pull-local --json` reports: the counts of a local copy and the
/// refs it moved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LocalPullReport {
    /// Commits walked.
    pub commits: u64,
    pub objects_copied: u64,
    pub objects_linked: u64,
    pub bytes_written: u64,
    pub refs: Vec<MovedRef>,
}

/// A ref a pull moved.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MovedRef {
    #[serde(rename = "ref")]
    pub name: Refspec,
    pub old: Option<Checksum>,
    pub new: Checksum,
}

impl From<&PullStats> for LocalPullReport {
    fn from(s: &PullStats) -> Self {
        LocalPullReport {
            commits: s.commits,
            objects_copied: s.objects_copied,
            objects_linked: s.objects_linked,
            bytes_written: s.bytes_written,
            refs: s
                .refs
                .iter()
                .map(|(name, old, new)| MovedRef {
                    name: name.clone(),
                    old: *old,
                    new: *new,
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Parent commits to follow: 0 only the commit, -1 all history.
    pub depth: i32,
    /// Re-hash every object before it is written.
    pub untrusted: bool,
    /// Write refs under `refs/remotes/REMOTE/` instead of `refs/heads/`.
    pub remote: Option<String>,
    /// Refuse regular files a bare-user-only repository could not hold
    /// (setuid, setgid, sticky, world-writable), as `--bareuseronly-files`.
    pub bareuseronly_files: bool,
    /// Copy only the commits and their detached metadata (ostree's
    /// `--commit-metadata-only`); the commits stay marked partial.
    pub commit_only: bool,
    /// Require a good GPG signature by one of these keys on every commit
    /// copied (ostree's `pull-local --gpg-verify`).
    pub verify: Option<crate::trust::gpg::Keyring>,
    /// Require the source's `summary` to carry a good signature by one of
    /// these keys (ostree's `pull-local --gpg-verify-summary`).
    pub verify_summary: Option<crate::trust::gpg::Keyring>,
    /// Bring each requested commit through a static delta the source
    /// advertises, none being the error (`--require-static-deltas`); unused
    /// with `commit_only`, as ostree.
    pub require_static_deltas: bool,
}

/// Works out which commits and objects `items` need in `dst`, writing nothing.
pub fn plan(src: &Repo, dst: &Repo, items: &[PullItem], opts: &PullOptions) -> Result<Plan> {
    let mut plan = Plan::new(Checks {
        metadata: opts.untrusted,
        content: if opts.untrusted {
            ContentCheck::Always
        } else {
            // A trusted local source is not re-hashed (ostree's default).
            ContentCheck::Never
        },
        bareuseronly_files: opts.bareuseronly_files,
    });
    let items: Vec<PullItem> = if items.is_empty() {
        // Every ref of the source. ostree names them as refspecs, and a
        // remote ref (REMOTE:REF) is no valid ref name there: refused alike.
        let all: Vec<Refspec> = src.list_refs()?.into_keys().collect();
        if let Some(r) = all.iter().find(|r| r.remote.is_some()) {
            return Err(TransferError::RemoteRefInSource(r.to_string()));
        }
        all.into_iter().map(PullItem::Ref).collect()
    } else {
        items.to_vec()
    };
    if let Some(keys) = &opts.verify_summary {
        verify_summary(src, keys)?;
    }
    let mut tips = Vec::new();
    // Each tip with the destination's commit of its ref name (none for a
    // bare commit): the FROM the error for a missing delta names, as ostree's.
    let mut targets = Vec::new();
    for item in &items {
        match item {
            PullItem::Commit(c) => {
                tips.push(*c);
                targets.push((None, *c));
            }
            PullItem::Ref(spec) | PullItem::RefAt(spec, _) => {
                let c = match item {
                    PullItem::RefAt(_, c) => *c,
                    _ => src
                        .read_ref(spec)?
                        .ok_or_else(|| TransferError::RefNotFound(spec.to_string()))?,
                };
                let dest = Refspec {
                    remote: opts.remote.clone().or_else(|| spec.remote.clone()),
                    name: spec.name.clone(),
                };
                plan.move_ref(dst, dest, c)?;
                tips.push(c);
                let current = dst.resolve_rev_opt(spec.name.as_str()).ok().flatten();
                targets.push((current, c));
            }
        }
    }
    // Static deltas, chosen by pull's rule, but from scratch whenever no
    // delta starts from a commit the destination holds: they are required.
    let deltas = if opts.require_static_deltas && !opts.commit_only {
        plan.deltas_required = true;
        fetch::choose_deltas(src, dst, &targets, fetch::Scratch::Always, true)?
    } else {
        fetch::Chosen::default()
    };
    let mut commits = Vec::new();
    walk_history(&tips, opts.depth, |c, is_tip| match src.load_commit(c) {
        Ok(commit) => {
            commits.push(c);
            Ok(Some(commit.parent))
        }
        Err(RepoError::ObjectMissing(_)) if !is_tip => {
            if src.has_object(&ObjectName::new(c, ObjectType::TombstoneCommit)) {
                plan.tombstones.push(c);
            }
            Ok(None)
        }
        Err(RepoError::ObjectMissing(_)) => Err(TransferError::CommitNotFound {
            commit: c,
            place: super::source::ObjectSource::place(src),
        }),
        Err(e) => Err(e.into()),
    })?;
    commits.reverse();

    // Objects the destination lacks. A complete commit already there needs
    // nothing; a partial one in the source would be copied incomplete.
    let wanted: Vec<Checksum> = commits
        .iter()
        .copied()
        .filter(|&c| !dst.has_object(&ObjectName::new(c, ObjectType::Commit)) || dst.is_partial(c))
        .collect();
    if let Some(&c) = wanted.iter().find(|&&c| src.is_partial(c)) {
        return Err(TransferError::PartialSource(c));
    }
    if let Some(keys) = &opts.verify {
        for &c in &wanted {
            let bytes = src.read_metadata(&ObjectName::new(c, ObjectType::Commit))?;
            let meta = src.read_detached_metadata(c)?;
            verify::commit_signature(c, &bytes, meta.as_ref(), keys, "")?;
        }
    }
    for &c in &commits {
        plan.commits.push(PlannedCommit {
            checksum: c,
            bytes: None,
            detached: src.read_detached_metadata(c)?,
        });
    }
    if opts.commit_only {
        plan.keep_partial = true;
        return Ok(plan);
    }
    // A delta carries its commit's tree: that tree is not walked.
    for f in deltas.deltas {
        let to = f.offer.name.to;
        let commit = src.load_commit(to)?;
        plan.deltas.push(PlannedDelta {
            name: f.offer.name,
            superblock: f.superblock,
            root: (commit.root_contents, commit.root_meta),
        });
    }
    let loose: Vec<Checksum> = wanted
        .iter()
        .copied()
        .filter(|&c| !plan.deltas.iter().any(|d| d.name.to == c))
        .collect();
    // Content is listed as met, not kept in a set: at a million objects the
    // set alone would outweigh the rest of the pull (`content_order`).
    let mut walk = Traversal::new(src).list_content();
    walk.add_commits(&loose, 0)?;
    let (reachable, content) = walk.into_parts();
    // Dirmeta, then dirtree: a dirtree never lands before what it names
    // (content lands before both).
    let mut metadata: Vec<ObjectName> = reachable
        .into_par_iter()
        .filter(|o| o.objtype != ObjectType::Commit && !dst.has_object(o))
        .collect();
    metadata.sort_unstable_by_key(|o| (o.objtype != ObjectType::DirMeta, *o));
    plan.metadata = metadata
        .into_iter()
        .map(|name| PlannedObject { name, bytes: None })
        .collect();
    // Content largest first, so no core is left compressing one big file at the end.
    plan.content = content_order::largest_first(content, |c| {
        (!dst.has_content(c)).then(|| {
            src.loose_size(&ObjectName::new(c, ObjectType::File))
                .unwrap_or(0)
        })
    });
    Ok(plan)
}

/// Checks that the source's `summary` is signed by one of `keys` (`summary.sig`).
fn verify_summary(src: &Repo, keys: &crate::trust::gpg::Keyring) -> Result<()> {
    let read = |name: &str| -> Result<Option<Vec<u8>>> {
        let p = src.path().join(name);
        match fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RepoError::Io { path: p, source }.into()),
        }
    };
    let unsigned = |why| TransferError::SummaryUnsigned { why, hint: "" };
    let summary = read("summary")?.ok_or(unsigned("no summary found"))?;
    let sig = read("summary.sig")?.ok_or(unsigned("no summary.sig found"))?;
    let meta = crate::objects::metadata::Metadata::from_bytes(&sig)
        .map_err(|e| TransferError::SummarySignature(format!("summary.sig: {e}")))?;
    crate::trust::gpg::require_good(&summary, &meta, keys, "summary.sig")
        .map_err(TransferError::SummarySignature)
}

/// Pulls `items` from `src` into `dst`: plan, then execute; refs move only
/// after every object is in place.
pub fn pull_local(
    src: &Repo,
    dst: &Repo,
    items: &[PullItem],
    opts: &PullOptions,
    control: &Control,
) -> Result<PullStats> {
    let plan = plan(src, dst, items, opts)?;
    execute(src, dst, &plan, control)
}
