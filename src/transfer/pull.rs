//! Pulling commits from an archive remote over `http://`, `https://` or
//! `file://` (`pull`, `pull --mirror`): the engine ([`super::engine`]) with
//! a [`RemoteRepo`] as the source.
//!
//! This module resolves what to pull — the remote's refs through its
//! summary (else `refs/heads/REF`), commits, `REF@COMMIT` — and makes the
//! engine's [`Plan`]: the commits per `depth` (a missing parent ends the
//! history; a commit the destination holds complete is read there), each
//! fetched, parsed and, with [`PullOptions::verify`], required to carry a
//! good signature before anything below it is fetched; then the trees level
//! by level — dirtrees and dirmetas the destination lacks fetched, checked
//! and held in memory, the destination's own read in place, `--subpath`
//! choosing entries by path — and the content the destination lacks. The
//! timestamp checks (`-T`, `--timestamp-check-from-rev`) refuse a downgrade
//! before anything is written. [`execute`] then stores it all: an archive
//! destination keeps each `.filez` as served, other modes get it
//! decompressed, every object hashed on the way ([`super::verify`]).
//!
//! Static deltas are one more way objects arrive: for each target the
//! destination lacks, the plan chooses the delta the remote offers
//! ([`crate::delta::fetch::choose_deltas`], the rule `pull-local` follows
//! too, as ostree; the scratch delta only for a ref the destination does
//! not have yet) and fetches and checks its superblock, whose commit (and
//! signatures, if it carries them) stands for the fetched commit; that
//! commit's tree is not walked. [`execute`] applies the deltas first, then
//! fetches loose whatever they did not bring ([`super::engine`]). A missing
//! or bad delta is left to the loose objects unless deltas are required. `--mirror` copies the remote's
//! deltas after the objects instead ([`crate::delta::fetch::mirror_deltas`]).
//!
//! Upstream: `ostree-repo-pull.c`, `ot-builtin-pull.c`.

pub mod request;
pub use request::{PullError, PullPlan, PullReport, PullRequest};

pub use super::engine::{execute, Plan, PullStats, RefMove};
use super::engine::{walk_history, PlannedCommit, PlannedDelta};
pub use super::error::{Result, TransferError};
pub use super::remote::{
    object_rel, prune_summary_cache, Fetcher, RemoteRepo, SummaryCache, FETCH_THREADS,
    MAX_METADATA_OBJECT, MAX_SUMMARY, SUMMARY_CACHE_DIR,
};
use super::source::ObjectSource;
use super::verify::{self, Checks, ContentCheck};
use crate::delta::fetch::{self, DeltaPolicy};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::Commit;
use crate::progress::Control;
use crate::repo::refs::{RefName, Refspec};
use crate::repo::Repo;

/// What to pull: a remote ref by name, or a commit.
pub type PullItem = crate::transfer::engine::PullItem<RefName>;

#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// The remote's name: refs go to `refs/remotes/REMOTE/` unless `mirror`.
    pub remote: String,
    /// Write `refs/heads/REF` (ostree's `--mirror`).
    pub mirror: bool,
    /// Parent commits to follow: 0 only the commit, -1 all history.
    pub depth: i32,
    /// Require a good GPG signature by one of these keys on every commit
    /// fetched (the remote's `gpg-verify=true`).
    pub verify: Option<crate::trust::gpg::Keyring>,
    /// Fetch only the commits and their detached metadata (ostree's
    /// `--commit-metadata-only`); the commits stay marked partial.
    pub commit_only: bool,
    /// Fetch only these absolute paths of the tree (ostree's `--subpath`),
    /// plus the directories leading to them; empty means the whole tree.
    /// The commits stay marked partial.
    pub subpaths: Vec<String>,
    /// Static deltas as asked (a mirror copies them afterwards instead:
    /// `Disabled` here).
    pub deltas: DeltaPolicy,
    /// Refuse a tip commit older than the commit its ref holds now (ostree's `-T`).
    pub timestamp_check: bool,
    /// Refuse any commit fetched that is older than this one (ostree's
    /// `--timestamp-check-from-rev`).
    pub timestamp_check_from: Option<Checksum>,
    /// Store content into an archive destination as served, without hashing
    /// it (ostree's `--http-trusted`, for mirrors of a trusted server). Other
    /// destinations and all metadata are verified regardless.
    pub http_trusted: bool,
    /// Refuse regular files a bare-user-only repository could not hold
    /// (setuid, setgid, sticky, world-writable), as `--bareuseronly-files`.
    pub bareuseronly_files: bool,
}

impl PullOptions {
    /// Where a pulled remote ref lands: `refs/heads/NAME` with `mirror`,
    /// else `refs/remotes/REMOTE/NAME`.
    pub fn dest_ref(&self, name: &RefName) -> Refspec {
        Refspec {
            remote: (!self.mirror).then(|| self.remote.clone()),
            name: name.clone(),
        }
    }

    /// For each item: the destination's current commit for it (none for a
    /// commit pulled by checksum) and the commit it will get.
    pub fn targets(
        &self,
        remote: &RemoteRepo,
        dst: &Repo,
        items: &[PullItem],
    ) -> Result<Vec<(Option<Checksum>, Checksum)>> {
        items
            .iter()
            .map(|item| match item {
                PullItem::Commit(c) => Ok((None, *c)),
                PullItem::RefAt(r, c) => Ok((dst.read_ref_exact(&self.dest_ref(r))?, *c)),
                PullItem::Ref(r) => {
                    Ok((dst.read_ref_exact(&self.dest_ref(r))?, remote.resolve(r)?))
                }
            })
            .collect()
    }

    /// Whether this pull leaves its commits partial (only part of their trees fetched).
    pub fn is_partial(&self) -> bool {
        self.commit_only || !self.subpaths.is_empty()
    }
}

pub use super::walk::matches_subpaths;

/// ostree's downgrade check: `new` may not be older than `current`
/// (equal timestamps pass).
fn check_timestamp(current: Checksum, current_ts: u64, new: Checksum, new_ts: u64) -> Result<()> {
    if new_ts >= current_ts || current == new {
        return Ok(());
    }
    let show = |ts: u64| {
        chrono::DateTime::from_timestamp(ts as i64, 0)
            .map(|d| d.format("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_else(|| ts.to_string())
    };
    Err(TransferError::Downgrade {
        new,
        new_ts: show(new_ts),
        current,
        current_ts: show(current_ts),
    })
}

/// Resolves `items`, walks history per `depth` and the trees of every commit
/// the destination lacks, fetching commits, dirtrees and dirmetas (verified)
/// but writing nothing.
pub fn plan(
    remote: &RemoteRepo,
    dst: &Repo,
    items: &[PullItem],
    opts: &PullOptions,
) -> Result<Plan> {
    let mut plan = Plan::new(Checks {
        metadata: true,
        content: if opts.http_trusted {
            ContentCheck::WhenDecoded
        } else {
            ContentCheck::Always
        },
        bareuseronly_files: opts.bareuseronly_files,
    });
    plan.keep_partial = opts.is_partial();
    plan.deltas_required = opts.deltas == DeltaPolicy::Required;
    let mut tips = Vec::new();
    // Each tip with the commit its destination ref holds now (none for a bare commit).
    let mut targets: Vec<(Option<Checksum>, Checksum)> = Vec::new();
    // Tips reached through a ref, with the commit that ref holds now (for `timestamp_check`).
    let mut ref_tips: Vec<(Checksum, Option<Checksum>)> = Vec::new();
    for item in items {
        match item {
            PullItem::Commit(c) => {
                targets.push((None, *c));
                tips.push(*c)
            }
            PullItem::Ref(name) | PullItem::RefAt(name, _) => {
                let c = match item {
                    PullItem::RefAt(_, c) => *c,
                    _ => remote.resolve(name)?,
                };
                let dest = opts.dest_ref(name);
                let current = dst.read_ref_exact(&dest)?;
                ref_tips.push((c, current));
                targets.push((current, c));
                plan.move_ref(dst, dest, c)?;
                tips.push(c);
            }
        }
    }
    let from_ts = match opts.timestamp_check_from {
        Some(rev) => Some((
            rev,
            dst.load_commit(rev)
                .map_err(|source| TransferError::TimestampFrom { rev, source })?
                .timestamp,
        )),
        None => None,
    };

    // Static deltas, chosen per target as ostree does; their superblocks
    // are fetched and checked now, as metadata is. A missing or bad one is
    // left to the objects unless deltas are required.
    let received = remote.fetcher.bytes_received();
    let deltas = if opts.deltas == DeltaPolicy::Disabled {
        fetch::Chosen::default()
    } else {
        fetch::choose_deltas(
            remote,
            dst,
            &targets,
            fetch::Scratch::NewRefsOnly,
            plan.deltas_required,
        )?
    };
    plan.delta_fallbacks = deltas.fallbacks.clone();
    plan.delta_bytes = remote.fetcher.bytes_received() - received;

    // History: a commit the destination has complete is read locally; a
    // commit a delta brings is the one its superblock carries.
    let mut commits: Vec<(PlannedCommit, Commit)> = Vec::new();
    let mut timestamps = std::collections::HashMap::new();
    walk_history(&tips, opts.depth, |c, is_tip| {
        let name = ObjectName::new(c, ObjectType::Commit);
        let commit = if dst.has_object(&name) && !dst.is_partial(c) {
            // As ostree: a commit already here is checked too (with its
            // local detached metadata) before a ref may move to it.
            // Signatures missing here are fetched again, as ostree does.
            if let Some(keyring) = &opts.verify {
                let bytes = dst.read_metadata(&name)?;
                let meta = match dst.read_detached_metadata(c)? {
                    Some(m) => m,
                    None => {
                        let m = fetch_detached(remote, c)?.ok_or(TransferError::Unsigned {
                            commit: c,
                            hint: remote.gpg_hint(),
                        })?;
                        plan.detached.push((c, m.clone()));
                        m
                    }
                };
                verify::commit_signature(c, &bytes, Some(&meta), keyring, remote.gpg_hint())?;
            }
            dst.load_commit(c)?
        } else {
            let delta = deltas.get(c);
            let bytes = match delta {
                Some(f) => f.superblock.commit.clone(),
                None => match remote.fetch_metadata(&name)? {
                    Some(bytes) => bytes,
                    None if is_tip => {
                        return Err(TransferError::CommitNotFound {
                            commit: c,
                            place: remote.place(),
                        })
                    }
                    None => return Ok(None), // a missing parent ends the history, as ostree
                },
            };
            let commit = Commit::from_bytes(&bytes)
                .map_err(|source| TransferError::Format { name, source })?;
            if let Some((rev, ts)) = from_ts {
                check_timestamp(rev, ts, c, commit.timestamp)?;
            }
            // A delta's superblock may carry the signatures; else the remote's `.commitmeta`.
            let detached = match delta
                .and_then(|f| f.superblock.meta(&f.offer.name.commitmeta_key(), "a{sv}"))
            {
                Some(m) => {
                    Some(
                        Metadata::from_bytes(m).map_err(|source| TransferError::Format {
                            name: ObjectName::new(c, ObjectType::CommitMeta),
                            source,
                        })?,
                    )
                }
                None => fetch_detached(remote, c)?,
            };
            if let Some(keyring) = &opts.verify {
                verify::commit_signature(c, &bytes, detached.as_ref(), keyring, remote.gpg_hint())?;
            }
            commits.push((
                PlannedCommit {
                    checksum: c,
                    bytes: Some(bytes),
                    detached,
                },
                commit.clone(),
            ));
            commit
        };
        timestamps.insert(c, commit.timestamp);
        Ok(Some(commit.parent))
    })?;
    commits.reverse();
    if opts.timestamp_check {
        for (c, current) in &ref_tips {
            if let (Some(cur), Some(&ts)) = (current, timestamps.get(c)) {
                check_timestamp(*cur, dst.load_commit(*cur)?.timestamp, *c, ts)?;
            }
        }
    }

    // Trees, level by level, of the commits no delta brings.
    if !opts.commit_only {
        let roots: Vec<(Checksum, Checksum)> = commits
            .iter()
            .filter(|(pc, _)| deltas.get(pc.checksum).is_none())
            .map(|(_, commit)| (commit.root_contents, commit.root_meta))
            .collect();
        let missing =
            super::walk::missing_below(remote, dst, &roots, &opts.subpaths, FETCH_THREADS)?;
        plan.content = missing.content;
        plan.metadata = missing.metadata;
    }
    // The deltas, in the order chosen (one from another's TO after it).
    for f in deltas.deltas {
        let Some((_, commit)) = commits
            .iter()
            .find(|(pc, _)| pc.checksum == f.offer.name.to)
        else {
            continue; // none: every chosen TO is a tip the walk brought
        };
        plan.deltas.push(PlannedDelta {
            name: f.offer.name,
            root: (commit.root_contents, commit.root_meta),
            superblock: f.superblock,
        });
    }
    plan.commits = commits.into_iter().map(|(c, _)| c).collect();
    Ok(plan)
}

/// Fetches and parses a commit's detached metadata; `None` if the remote has none.
fn fetch_detached(remote: &RemoteRepo, c: Checksum) -> Result<Option<Metadata>> {
    let name = ObjectName::new(c, ObjectType::CommitMeta);
    remote
        .fetch_metadata(&name)?
        .map(|raw| {
            Metadata::from_bytes(&raw).map_err(|source| TransferError::Format { name, source })
        })
        .transpose()
}

/// Plans and executes.
pub fn pull(
    remote: &RemoteRepo,
    dst: &Repo,
    items: &[PullItem],
    opts: &PullOptions,
    control: &Control,
) -> Result<PullStats> {
    let plan = plan(remote, dst, items, opts)?;
    execute(remote, dst, &plan, control)
}
