//! The plan/execute engine every transfer runs on.
//!
//! A configuration ([`super::pull_local`], [`super::pull`]) resolves what
//! was asked for and makes a [`Plan`] — the refs to move, compare-and-swap
//! against the values they hold now; the commits, parents first; the
//! metadata and content objects the sink lacks — reading the source and the
//! sink and writing nothing, under the repository's shared lock. The
//! caller may run hooks on [`Plan::refs`]. [`execute`] then stores, in the
//! order that keeps the sink consistent at every moment: the commits marked
//! partial, content, then dirmeta, then dirtrees (a tree never lands before
//! what it names), then commits and their detached metadata, then a sync,
//! then the partial markers cleared, and the refs last in one
//! [`RefTransaction`]. A failure or an interruption between objects leaves
//! complete objects only and moves no ref; the markers of commits that
//! never landed are removed again.
//!
//! Upstream: `ostree-repo-pull.c` (`ostree_repo_pull_with_options`:
//! scan, fetch, `ostree_repo_commit_transaction`, refs written last).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::error::{Result, TransferError};
use super::pool;
use super::sink::{How, ObjectSink, Put};
use super::source::ObjectSource;
use super::verify::Checks;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::progress::{Control, Phase};
use crate::repo::refs::{RefError, Refspec};
use crate::repo::transaction::RefTransaction;
use crate::repo::Repo;

/// What to pull: a ref (whose name is set in the destination) or a bare
/// commit. A local pull names refs as refspecs; [`super::pull`] names the
/// remote's refs by name (`PullItem<RefName>`).
#[derive(Clone, Debug)]
pub enum PullItem<R = Refspec> {
    Ref(R),
    Commit(Checksum),
    /// `REF@CHECKSUM`: that commit, and the ref set to it (ostree's override).
    RefAt(R, Checksum),
}

impl<R: std::str::FromStr<Err = RefError>> PullItem<R> {
    /// A 64-digit checksum is a commit, `REF@CHECKSUM` a ref pinned to a
    /// commit; anything else a ref.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        if let Ok(c) = s.parse::<Checksum>() {
            return Ok(PullItem::Commit(c));
        }
        if let Some((r, c)) = s.rsplit_once('@') {
            if let Ok(c) = c.parse::<Checksum>() {
                return Ok(PullItem::RefAt(r.parse()?, c));
            }
        }
        Ok(PullItem::Ref(s.parse()?))
    }
}

/// A destination ref a transfer moves: from what it was when the transfer
/// was planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefMove {
    pub old: Option<Checksum>,
    pub new: Checksum,
}

impl RefMove {
    /// Plans moving `dest` in `dst` to `new`, compare-and-swap against the
    /// value it has now; `None` if it already points there.
    pub fn plan(dst: &Repo, dest: &Refspec, new: Checksum) -> Result<Option<RefMove>, RefError> {
        let old = dst.read_ref_exact(dest)?;
        Ok((old != Some(new)).then_some(RefMove { old, new }))
    }
}

/// What a transfer did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PullStats {
    /// Commits the plan brought (pull-local: every commit walked).
    pub commits: u64,
    /// Metadata objects (commits included) taken from the source.
    pub metadata_fetched: u64,
    /// Content objects taken from the source.
    pub content_fetched: u64,
    /// Bytes received from a network source.
    pub bytes_received: u64,
    /// Bytes of content written (file sizes, as ostree's `content written`).
    pub content_bytes_written: u64,
    /// Objects hardlinked from a local source.
    pub objects_linked: u64,
    /// Objects stored otherwise (copied or converted).
    pub objects_copied: u64,
    /// Bytes written into the sink's files.
    pub bytes_written: u64,
    /// Refs moved: (ref, old, new).
    pub refs: Vec<(Refspec, Option<Checksum>, Checksum)>,
}

/// A commit a plan brings.
#[derive(Clone, Debug)]
pub struct PlannedCommit {
    pub checksum: Checksum,
    /// Its bytes, fetched and checked while planning; `None`: read from the
    /// source when stored (a local source), and only if the sink lacks it.
    pub bytes: Option<Vec<u8>>,
    /// Its detached metadata, to store with it.
    pub detached: Option<Metadata>,
}

/// A dirtree or dirmeta a plan brings.
#[derive(Clone, Debug)]
pub struct PlannedObject {
    pub name: ObjectName,
    /// Fetched and checked while planning; `None`: read from the source.
    pub bytes: Option<Vec<u8>>,
}

/// What a transfer will do, computed before anything is written. Only a
/// configuration's `plan` makes one; [`execute`] carries it out.
pub struct Plan {
    pub(crate) refs: BTreeMap<Refspec, RefMove>,
    pub(crate) commits: Vec<PlannedCommit>,
    /// Detached metadata fetched again for commits the sink holds.
    pub(crate) detached: Vec<(Checksum, Metadata)>,
    /// Missing parents the source marks with tombstones.
    pub(crate) tombstones: Vec<Checksum>,
    /// Content objects the sink lacks, in the order to move them.
    pub(crate) content: Vec<Checksum>,
    /// Dirmetas, then dirtrees, the sink lacks.
    pub(crate) metadata: Vec<PlannedObject>,
    /// Only part of the commits' trees is moved: their partial markers stay.
    pub(crate) keep_partial: bool,
    pub(crate) checks: Checks,
}

impl Plan {
    pub(crate) fn new(checks: Checks) -> Plan {
        Plan {
            refs: BTreeMap::new(),
            commits: Vec::new(),
            detached: Vec::new(),
            tombstones: Vec::new(),
            content: Vec::new(),
            metadata: Vec::new(),
            keep_partial: false,
            checks,
        }
    }

    /// Refs to move once everything is in, each compare-and-swap against `old`.
    pub fn refs(&self) -> &BTreeMap<Refspec, RefMove> {
        &self.refs
    }

    /// The commits the plan brings, parents first.
    pub fn commits(&self) -> impl Iterator<Item = Checksum> + '_ {
        self.commits.iter().map(|c| c.checksum)
    }

    /// Content objects the plan brings.
    pub fn content(&self) -> &[Checksum] {
        &self.content
    }

    /// Plans `dest` in `dst` to move to `new`; a later request for the
    /// same ref replaces an earlier one (`main main@C`: the last wins).
    pub(crate) fn move_ref(&mut self, dst: &Repo, dest: Refspec, new: Checksum) -> Result<()> {
        match RefMove::plan(dst, &dest, new)? {
            Some(m) => self.refs.insert(dest, m),
            None => self.refs.remove(&dest),
        };
        Ok(())
    }
}

/// Walks each tip's history, parents first in the result's reverse:
/// `visit(commit, is_tip)` returns the commit's parent to continue with,
/// or `None` to end that line (a missing parent). `depth` parents are
/// followed (-1: all); a commit seen already ends a line.
pub(crate) fn walk_history(
    tips: &[Checksum],
    depth: i32,
    mut visit: impl FnMut(Checksum, bool) -> Result<Option<Option<Checksum>>>,
) -> Result<()> {
    let mut seen = HashSet::new();
    for &tip in tips {
        let mut cur = Some(tip);
        let mut level = 0i64;
        while let Some(c) = cur {
            if !seen.insert(c) {
                break;
            }
            let Some(parent) = visit(c, c == tip)? else {
                break;
            };
            cur = if depth < 0 || level < depth as i64 {
                parent
            } else {
                None
            };
            level += 1;
        }
    }
    Ok(())
}

/// Carries out a plan: content, then dirmeta/dirtree, then commits; sync;
/// refs (see the module doc).
pub fn execute(
    source: &dyn ObjectSource,
    sink: &dyn ObjectSink,
    plan: &Plan,
    control: &Control,
) -> Result<PullStats> {
    let commit_name = |c: Checksum| ObjectName::new(c, ObjectType::Commit);
    let marked: Vec<Checksum> = plan
        .commits()
        .filter(|&c| !sink.has(&commit_name(c)))
        .collect();
    for &c in &marked {
        sink.set_partial(c, true)?;
    }
    let linked = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let content_bytes = AtomicU64::new(0);
    let record = |put: Put| {
        if put.how == How::Linked {
            linked.fetch_add(1, Ordering::Relaxed);
        }
        bytes.fetch_add(put.bytes, Ordering::Relaxed);
    };
    let workers = source.workers();
    let mut commits_fetched = 0u64;
    let result = (|| -> Result<()> {
        let content = control.phase(Phase::Content, plan.content.len() as u64);
        pool::map(&plan.content, workers, |&c| {
            let put = sink.put_content(source, c, &plan.checks)?;
            record(put);
            content_bytes.fetch_add(put.size, Ordering::Relaxed);
            content.tick(put.bytes)?;
            Ok::<_, TransferError>(())
        })?;
        let meta = control.phase(
            Phase::Metadata,
            (plan.metadata.len() + plan.commits.len()) as u64,
        );
        // Dirmetas, then dirtrees: a tree never lands before what it names.
        let split = plan
            .metadata
            .iter()
            .position(|o| o.name.objtype == ObjectType::DirTree)
            .unwrap_or(plan.metadata.len());
        for chunk in [&plan.metadata[..split], &plan.metadata[split..]] {
            pool::map(chunk, workers, |o| {
                let put = sink.put_metadata(source, &o.name, o.bytes.as_deref(), &plan.checks)?;
                record(put);
                meta.tick(put.bytes)?;
                Ok::<_, TransferError>(())
            })?;
        }
        for pc in &plan.commits {
            let name = commit_name(pc.checksum);
            if pc.bytes.is_some() || !sink.has(&name) {
                sink.put_metadata(source, &name, pc.bytes.as_deref(), &plan.checks)?;
                commits_fetched += 1;
            }
            if let Some(m) = &pc.detached {
                sink.put_detached(pc.checksum, m)?;
            }
            meta.tick(0)?;
        }
        for (c, m) in &plan.detached {
            sink.put_detached(*c, m)?;
        }
        for &c in &plan.tombstones {
            let name = ObjectName::new(c, ObjectType::TombstoneCommit);
            let bytes = source.metadata_required(&name)?;
            sink.put_metadata(source, &name, Some(&bytes), &plan.checks)?;
        }
        sink.sync()
    })();
    if let Err(e) = result {
        // Markers only for commits that never landed: nothing else refers to them.
        for &c in &marked {
            if !sink.has(&commit_name(c)) {
                let _ = sink.set_partial(c, false);
            }
        }
        return Err(e);
    }
    if !plan.keep_partial {
        for c in plan.commits() {
            sink.set_partial(c, false)?;
        }
    }
    let mut refs = RefTransaction::new();
    for (spec, m) in &plan.refs {
        refs.push(spec.clone(), m.old, Some(m.new));
    }
    let _refs = control.phase(Phase::Refs, plan.refs.len() as u64);
    let moved = sink
        .commit_refs(refs)?
        .into_iter()
        .filter_map(|e| Some((e.spec, e.expected, e.new?)))
        .collect();
    let linked = linked.into_inner();
    let objects = (plan.content.len() + plan.metadata.len()) as u64;
    Ok(PullStats {
        commits: plan.commits.len() as u64,
        metadata_fetched: plan.metadata.len() as u64 + commits_fetched,
        content_fetched: plan.content.len() as u64,
        bytes_received: source.bytes_received(),
        content_bytes_written: content_bytes.into_inner(),
        objects_linked: linked,
        objects_copied: objects - linked,
        bytes_written: bytes.into_inner(),
        refs: moved,
    })
}
