//! The plan/execute engine every transfer runs on.
//!
//! A configuration ([`super::pull_local`], [`super::pull`],
//! [`crate::lifecycle::publish`]) resolves what was asked for and makes a
//! [`Plan`] — the refs to move, compare-and-swap against the values they
//! hold now; the commits, parents first; the metadata and content objects
//! the sink lacks — reading the source and the sink and writing nothing,
//! under the repository's shared lock. The caller may run hooks on
//! [`Plan::refs`]. [`store_objects`] then stores, in the order that keeps
//! the sink consistent at every moment, whatever the sink (a repository,
//! object storage): the commits marked partial, content, then dirmeta,
//! then dirtrees children before parents (by height: a tree never lands
//! before what it names), then detached metadata and tombstones, then
//! commits parents first, then a sync, then the partial markers cleared.
//! [`execute`] does that into a repository and moves the refs last in one
//! [`RefTransaction`]; a publish moves its target's refs its own way. A
//! failure or an interruption between objects leaves complete objects only
//! and moves no ref; the markers of commits that never landed are removed
//! again.
//!
//! Upstream: `ostree-repo-pull.c` (`ostree_repo_pull_with_options`:
//! scan, fetch, `ostree_repo_commit_transaction`, refs written last).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::error::{Result, TransferError};
use super::pool;
use super::sink::{How, ObjectSink, Put};
use super::source::ObjectSource;
use super::verify::Checks;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::DirTree;
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

/// Carries out a plan into a repository: its objects ([`store_objects`]),
/// then its refs in one [`RefTransaction`] (see the module doc).
pub fn execute(
    source: &dyn ObjectSource,
    dst: &Repo,
    plan: &Plan,
    control: &Control,
) -> Result<PullStats> {
    let mut stats = store_objects(source, dst, plan, control)?;
    let mut refs = RefTransaction::new();
    for (spec, m) in &plan.refs {
        refs.push(spec.clone(), m.old, Some(m.new));
    }
    let _refs = control.phase(Phase::Refs, plan.refs.len() as u64);
    stats.refs = refs
        .commit(dst)?
        .into_iter()
        .filter_map(|e| Some((e.spec, e.expected, e.new?)))
        .collect();
    Ok(stats)
}

/// Stores a plan's objects into any sink, moving no ref: content, then
/// dirmeta, then dirtrees children first, then detached metadata and
/// tombstones, then commits parents first; a sync; the partial markers
/// cleared. The caller moves refs after it (a repository's in one
/// [`RefTransaction`], [`execute`]; a publish target's its own way).
pub fn store_objects(
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
    let workers = sink.workers().unwrap_or_else(|| source.workers());
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
        // Dirmetas, then dirtrees by height: a tree never lands before what it names.
        let (dirmetas, dirtrees): (Vec<&PlannedObject>, Vec<&PlannedObject>) = plan
            .metadata
            .iter()
            .partition(|o| o.name.objtype != ObjectType::DirTree);
        let levels = by_height(source, &dirtrees, workers)?;
        for chunk in std::iter::once(dirmetas).chain(levels) {
            pool::map(&chunk, workers, |o| {
                let put = sink.put_metadata(source, &o.name, o.bytes.as_deref(), &plan.checks)?;
                record(put);
                meta.tick(put.bytes)?;
                Ok::<_, TransferError>(())
            })?;
        }
        // Detached metadata and tombstones, then the commits, parents
        // first: a commit lands after its signatures.
        let detached: Vec<(Checksum, &Metadata)> = plan
            .commits
            .iter()
            .filter_map(|pc| Some((pc.checksum, pc.detached.as_ref()?)))
            .chain(plan.detached.iter().map(|(c, m)| (*c, m)))
            .collect();
        pool::map(&detached, workers, |&(c, m)| {
            sink.put_detached(c, m)?;
            Ok::<_, TransferError>(control.check()?)
        })?;
        for &c in &plan.tombstones {
            let name = ObjectName::new(c, ObjectType::TombstoneCommit);
            let bytes = source.metadata_required(&name)?;
            sink.put_metadata(source, &name, Some(&bytes), &plan.checks)?;
        }
        for pc in &plan.commits {
            let name = commit_name(pc.checksum);
            if pc.bytes.is_some() || !sink.has(&name) {
                sink.put_metadata(source, &name, pc.bytes.as_deref(), &plan.checks)?;
                commits_fetched += 1;
            }
            meta.tick(0)?;
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
        refs: Vec::new(),
    })
}

/// The plan's dirtrees by height, leaves first: each lands only after
/// every dirtree it names that the plan brings too. Each tree is read
/// (the plan's bytes, else the source's) for the trees it names.
fn by_height<'p>(
    source: &dyn ObjectSource,
    trees: &[&'p PlannedObject],
    workers: usize,
) -> Result<Vec<Vec<&'p PlannedObject>>> {
    let kids: Vec<Vec<Checksum>> = pool::map(trees, workers, |o| {
        let read;
        let bytes = match &o.bytes {
            Some(b) => b,
            None => {
                read = source.metadata_required(&o.name)?;
                &read
            }
        };
        let tree = DirTree::from_bytes(bytes).map_err(|source| TransferError::Format {
            name: o.name,
            source,
        })?;
        Ok::<_, TransferError>(tree.dirs.iter().map(|d| d.tree).collect())
    })?;
    let index: HashMap<Checksum, usize> = trees
        .iter()
        .enumerate()
        .map(|(i, o)| (o.name.checksum, i))
        .collect();
    let planned_kids = |i: usize| kids[i].iter().filter_map(|c| index.get(c).copied());
    // Depth-first, children before their parent, without recursion (trees nest deep).
    let mut height: Vec<Option<usize>> = vec![None; trees.len()];
    for root in 0..trees.len() {
        let mut stack = vec![(root, false)];
        while let Some((i, children_done)) = stack.pop() {
            if height[i].is_some() {
                continue;
            }
            if children_done {
                let h = planned_kids(i)
                    .map(|j| height[j].map_or(0, |h| h + 1))
                    .max()
                    .unwrap_or(0);
                height[i] = Some(h);
            } else {
                stack.push((i, true));
                stack.extend(
                    planned_kids(i)
                        .filter(|&j| height[j].is_none())
                        .map(|j| (j, false)),
                );
            }
        }
    }
    let mut levels: Vec<Vec<&PlannedObject>> = Vec::new();
    for (o, h) in trees.iter().zip(height) {
        let h = h.expect("every tree was visited");
        if levels.len() <= h {
            levels.resize_with(h + 1, Vec::new);
        }
        levels[h].push(o);
    }
    Ok(levels)
}
