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
//! object storage): the commits marked partial, the static deltas the plan
//! chose (a repository only: [`super::delta_source::apply`]; then their
//! commits' trees checked in the sink and what is still missing added to
//! the loose objects, [`super::walk`]), content, then dirmeta,
//! then dirtrees (children before parents, by height, where the sink asks
//! for it: a publish target, where nothing may land before what it names),
//! then detached metadata and tombstones, then
//! commits parents first, then a sync, then the partial markers cleared.
//! [`execute`] does that into a repository and moves the refs last in one
//! [`RefTransaction`]; a publish moves its target's refs its own way. A
//! failure or an interruption between objects leaves complete objects only
//! and moves no ref; the markers of commits that never landed are removed
//! again.
//!
//! Upstream: `ostree-repo-pull.c` (`ostree_repo_pull_with_options`:
//! scan, fetch, `ostree_repo_commit_transaction`, refs written last).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::error::{Result, TransferError};
use super::pool;
use super::sink::{How, ObjectSink, Put};
use super::source::ObjectSource;
use super::verify::Checks;
use super::walk::{self, Missing};
use crate::delta::fetch::DeltaReport;
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
    /// The static deltas applied, and those that could not be (reported
    /// apart, as a pull's `static_deltas`).
    #[serde(skip)]
    pub static_deltas: DeltaReport,
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

/// A static delta a plan applies: its superblock fetched and checked while
/// planning; its TO commit among the plan's commits, whose tree is not
/// walked (the delta carries it).
#[derive(Clone, Debug)]
pub struct PlannedDelta {
    pub name: crate::delta::DeltaName,
    pub superblock: crate::delta::superblock::Superblock,
    /// The TO commit's root dirtree and dirmeta: what must be complete
    /// after the delta.
    pub root: (Checksum, Checksum),
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
    /// Static deltas to apply first, in the order chosen: one that starts
    /// from another's TO commit comes after it.
    pub(crate) deltas: Vec<PlannedDelta>,
    /// A delta that fails is the error (`--require-static-deltas`), not a
    /// reason to fetch its objects loose.
    pub(crate) deltas_required: bool,
    /// Why deltas offered could not be used while planning.
    pub(crate) delta_fallbacks: Vec<String>,
    /// Bytes of the superblocks (and indexes) fetched while planning.
    pub(crate) delta_bytes: u64,
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
            deltas: Vec::new(),
            deltas_required: false,
            delta_fallbacks: Vec::new(),
            delta_bytes: 0,
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
    let mut deltas = DeltaReport {
        fallbacks: plan.delta_fallbacks.clone(),
        bytes: plan.delta_bytes,
        ..Default::default()
    };
    let mut extra = Missing::default();
    let result = (|| -> Result<()> {
        extra = store_deltas(source, sink, plan, control, workers, &mut deltas)?;
        // The plan's list as it is unless a delta left content to add: a
        // copy of a million checksums is 32 MB more at the peak.
        let all_content: Cow<[Checksum]> = if extra.content.is_empty() {
            Cow::Borrowed(&plan.content)
        } else {
            plan.content.iter().chain(&extra.content).copied().collect()
        };
        let content = control.phase(Phase::Content, all_content.len() as u64);
        pool::map(&all_content, workers, |&c| {
            let put = sink.put_content(source, c, &plan.checks)?;
            record(put);
            content_bytes.fetch_add(put.size, Ordering::Relaxed);
            content.tick(put.bytes)?;
            Ok::<_, TransferError>(())
        })?;
        let meta = control.phase(
            Phase::Metadata,
            (plan.metadata.len() + extra.metadata.len() + plan.commits.len()) as u64,
        );
        // Dirmetas, then dirtrees (by height where the sink asks: a tree
        // never lands before what it names).
        let (dirmetas, dirtrees): (Vec<&PlannedObject>, Vec<&PlannedObject>) = plan
            .metadata
            .iter()
            .chain(&extra.metadata)
            .partition(|o| o.name.objtype != ObjectType::DirTree);
        let levels = if sink.children_first() {
            by_height(source, &dirtrees, workers)?
        } else {
            vec![dirtrees]
        };
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
    let (content, metadata) = (
        (plan.content.len() + extra.content.len()) as u64,
        (plan.metadata.len() + extra.metadata.len()) as u64,
    );
    Ok(PullStats {
        commits: plan.commits.len() as u64,
        metadata_fetched: metadata + commits_fetched,
        content_fetched: content,
        bytes_received: source.bytes_received(),
        content_bytes_written: content_bytes.into_inner(),
        objects_linked: linked,
        objects_copied: content + metadata - linked,
        bytes_written: bytes.into_inner(),
        refs: Vec::new(),
        static_deltas: deltas,
    })
}

/// The deltas phase: each planned delta applied into the sink
/// ([`super::delta_source::apply`]), in the plan's order (one may start
/// from the TO commit of one before it); one that fails is noted in `report`
/// and left to the loose objects, unless deltas are required. Then the
/// trees of the deltas' commits are checked in the sink, as ostree does:
/// what is still missing (the deltas' fallback objects; everything a
/// failed delta did not bring) and not in the plan already is returned, to
/// be fetched loose — with deltas required, only fallback objects may be
/// missing.
fn store_deltas(
    source: &dyn ObjectSource,
    sink: &dyn ObjectSink,
    plan: &Plan,
    control: &Control,
    workers: usize,
    report: &mut DeltaReport,
) -> Result<Missing> {
    let Some(first) = plan.deltas.first() else {
        return Ok(Missing::default());
    };
    let local = sink.local().ok_or_else(|| TransferError::Delta {
        name: first.name,
        why: "static deltas apply only into a repository on this machine".into(),
    })?;
    let parts = plan.deltas.iter().map(|d| d.superblock.parts.len());
    let phase = control.phase(Phase::Deltas, parts.sum::<usize>() as u64);
    // TO commits of the deltas applied so far: a later delta may start from
    // one (its tree is in the sink; its commit object lands with the others).
    let mut landed = Vec::new();
    for d in &plan.deltas {
        let applied = super::delta_source::apply(
            source,
            sink,
            local,
            d,
            &landed,
            &plan.checks,
            &phase,
            workers,
        );
        match applied {
            Ok(a) => {
                landed.push(d.name.to);
                report.deltas.push(d.name.to_string());
                report.parts_fetched += a.parts_fetched;
                report.bytes += a.bytes;
                report.objects_written += a.objects_written;
            }
            Err(e @ TransferError::Interrupted(_)) => return Err(e),
            Err(e) if plan.deltas_required => return Err(e),
            Err(e) => report.fallbacks.push(e.to_string()),
        }
    }
    let roots: Vec<(Checksum, Checksum)> = plan.deltas.iter().map(|d| d.root).collect();
    let mut missing = walk::missing_below(source, local, &roots, &[], workers)?;
    let planned: HashSet<Checksum> = plan.content.iter().copied().collect();
    missing.content.retain(|c| !planned.contains(c));
    let planned: HashSet<ObjectName> = plan.metadata.iter().map(|o| o.name).collect();
    missing.metadata.retain(|o| !planned.contains(&o.name));
    if plan.deltas_required {
        let fallbacks: HashSet<ObjectName> = plan
            .deltas
            .iter()
            .flat_map(|d| d.superblock.fallbacks.iter().map(|f| f.object))
            .collect();
        let names = missing
            .content
            .iter()
            .map(|&c| ObjectName::new(c, ObjectType::File))
            .chain(missing.metadata.iter().map(|o| o.name));
        for name in names {
            if !fallbacks.contains(&name) {
                return Err(TransferError::Delta {
                    name: first.name,
                    why: format!("{name} is neither in the delta nor one of its fallback objects"),
                });
            }
        }
    }
    Ok(missing)
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
