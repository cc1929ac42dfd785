//! Copying commits between local repositories (`pull-local`).
//!
//! Walks the requested commits (and `depth` ancestors), copies every object
//! the destination lacks — content first, then dirmeta/dirtree, then the
//! commit and its detached metadata — and only then moves refs. Objects are
//! hardlinked when both repositories store them the same way on one
//! filesystem (archive → archive bytes are never recompressed), and
//! converted otherwise (bare-user → archive compresses on the way). With
//! `untrusted`, every object is re-hashed before it lands.
//! Upstream: `ostree-repo-pull.c` (the `file://` path of `ostree_repo_pull_with_options`).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::repo::refs::{RefError, Refspec};
use crate::repo::{Repo, RepoError, RepoMode};
use crate::tree::traverse::{Traversal, TraverseError};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("Refspec '{0}' not found in the source repository")]
    RefNotFound(String),
    #[error("Commit {0} not found in the source repository")]
    CommitNotFound(Checksum),
    #[error("Corrupted {} object; checksum expected='{}' actual='{actual}'", .name.objtype, .name.checksum)]
    Corrupted { name: ObjectName, actual: Checksum },
    #[error("{} object {} in the source repository: {source}", .name.objtype, .name.checksum)]
    SourceObject {
        name: ObjectName,
        source: std::io::Error,
    },
    #[error("Commit {0} is partial in the source repository")]
    PartialSource(Checksum),
    /// Pulling every ref of a source that holds remote refs, as ostree refuses it.
    #[error("Invalid ref name {0}")]
    RemoteRefInSource(String),
    #[error("Commit {commit}: GPG verification enabled, but no signatures found")]
    Unsigned { commit: Checksum },
    #[error("Commit {commit}: GPG verification failed: {why}")]
    Signature { commit: Checksum, why: String },
    #[error("GPG verification enabled, but {0}")]
    SummaryUnsigned(&'static str),
    #[error("summary: GPG verification failed: {0}")]
    SummarySignature(String),
    #[error(transparent)]
    Traverse(#[from] TraverseError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = PullError> = std::result::Result<T, E>;

/// What to pull: a ref (whose name is set in the destination) or a bare
/// commit. A local pull names refs as refspecs; [`crate::transfer::pull`] names the
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
}

/// Progress: objects done / total, bytes written (received, for [`crate::transfer::pull`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct PullProgress {
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
}

/// What a pull did.
#[derive(Clone, Debug, Default)]
pub struct PullStats {
    pub commits: u64,
    pub objects_copied: u64,
    pub objects_linked: u64,
    pub bytes_written: u64,
    /// Metadata objects (commits included) the destination did not have.
    pub metadata_imported: u64,
    /// Content objects the destination did not have.
    pub content_imported: u64,
    /// Refs moved in the destination: (ref, old, new).
    pub refs: Vec<(Refspec, Option<Checksum>, Checksum)>,
}

/// A destination ref a pull moves: from what it was when the pull was planned.
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

/// The plan of a pull, computed before anything is written.
pub struct PullPlan {
    /// Refs to move in the destination once the objects are in; each moves
    /// only if it still holds `old` (compare-and-swap).
    pub refs: BTreeMap<Refspec, RefMove>,
    /// Commits to copy, parents before children.
    pub commits: Vec<Checksum>,
    /// Missing parents that the source marks with tombstones.
    pub tombstones: Vec<Checksum>,
    /// Objects the destination lacks, content first.
    pub objects: Vec<ObjectName>,
    /// Only the commits are copied: their partial markers stay.
    pub keep_partial: bool,
}

/// Works out which commits and objects `items` need in `dst`.
pub fn plan(src: &Repo, dst: &Repo, items: &[PullItem], opts: &PullOptions) -> Result<PullPlan> {
    let mut refs = BTreeMap::new();
    let mut tips = Vec::new();
    let items: Vec<PullItem> = if items.is_empty() {
        // Every ref of the source. ostree names them as refspecs, and a
        // remote ref (REMOTE:REF) is no valid ref name there: refused alike.
        let all: Vec<Refspec> = src.list_refs()?.into_keys().collect();
        if let Some(r) = all.iter().find(|r| r.remote.is_some()) {
            return Err(PullError::RemoteRefInSource(r.to_string()));
        }
        all.into_iter().map(PullItem::Ref).collect()
    } else {
        items.to_vec()
    };
    if let Some(keys) = &opts.verify_summary {
        verify_summary(src, keys)?;
    }
    for item in &items {
        match item {
            PullItem::Commit(c) => tips.push(*c),
            PullItem::Ref(spec) | PullItem::RefAt(spec, _) => {
                let c = match item {
                    PullItem::RefAt(_, c) => *c,
                    _ => src
                        .read_ref(spec)?
                        .ok_or_else(|| PullError::RefNotFound(spec.to_string()))?,
                };
                let dest = Refspec {
                    remote: opts.remote.clone().or_else(|| spec.remote.clone()),
                    name: spec.name.clone(),
                };
                if let Some(m) = RefMove::plan(dst, &dest, c)? {
                    refs.insert(dest, m);
                }
                tips.push(c);
            }
        }
    }
    let mut commits = Vec::new();
    let mut tombstones = Vec::new();
    let mut seen = HashSet::new();
    for tip in tips {
        let mut cur = Some(tip);
        let mut level = 0i64;
        while let Some(c) = cur {
            if !seen.insert(c) {
                break;
            }
            let commit = match src.load_commit(c) {
                Ok(commit) => commit,
                Err(RepoError::ObjectMissing(_)) if c != tip => {
                    if src.has_object(&ObjectName::new(c, ObjectType::TombstoneCommit)) {
                        tombstones.push(c);
                    }
                    break;
                }
                Err(RepoError::ObjectMissing(_)) => return Err(PullError::CommitNotFound(c)),
                Err(e) => return Err(e.into()),
            };
            commits.push(c);
            cur = if opts.depth < 0 || level < opts.depth as i64 {
                commit.parent
            } else {
                None
            };
            level += 1;
        }
    }
    commits.reverse();

    // Objects the destination lacks. A complete commit already there needs
    // nothing; a partial one in the source would be copied incomplete.
    let wanted: Vec<Checksum> = commits
        .iter()
        .copied()
        .filter(|&c| !dst.has_object(&ObjectName::new(c, ObjectType::Commit)) || dst.is_partial(c))
        .collect();
    if let Some(&c) = wanted.iter().find(|&&c| src.is_partial(c)) {
        return Err(PullError::PartialSource(c));
    }
    if let Some(keys) = &opts.verify {
        for &c in &wanted {
            let bytes = src.read_metadata(&ObjectName::new(c, ObjectType::Commit))?;
            let meta = src
                .read_detached_metadata(c)?
                .ok_or(PullError::Unsigned { commit: c })?;
            crate::trust::gpg::require_good(&bytes, &meta, keys, &format!("commit {c}"))
                .map_err(|why| PullError::Signature { commit: c, why })?;
        }
    }
    if opts.commit_only {
        return Ok(PullPlan {
            refs,
            commits,
            tombstones,
            objects: Vec::new(),
            keep_partial: true,
        });
    }
    let mut walk = Traversal::new(src);
    walk.add_commits(&wanted, 0)?;
    let candidates: Vec<ObjectName> = walk
        .into_reachable()
        .into_iter()
        .filter(|o| o.objtype != ObjectType::Commit)
        .collect();
    // Content largest first, so no core is left compressing one big file at the end.
    let mut objects: Vec<(ObjectName, u64)> = candidates
        .into_par_iter()
        .filter(|o| !dst.has_object(o))
        .map(|o| {
            let size = if o.objtype == ObjectType::File {
                fs::symlink_metadata(src.object_path(&o))
                    .map(|m| m.len())
                    .unwrap_or(0)
            } else {
                0
            };
            (o, size)
        })
        .collect();
    // Content first, then metadata: a dirtree never lands before what it names.
    objects.sort_unstable_by_key(|(o, size)| {
        let rank = match o.objtype {
            ObjectType::File => 0,
            ObjectType::DirMeta => 1,
            _ => 2,
        };
        (rank, std::cmp::Reverse(*size), *o)
    });
    Ok(PullPlan {
        refs,
        commits,
        tombstones,
        objects: objects.into_iter().map(|(o, _)| o).collect(),
        keep_partial: false,
    })
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
    let summary = read("summary")?.ok_or(PullError::SummaryUnsigned("no summary found"))?;
    let sig = read("summary.sig")?.ok_or(PullError::SummaryUnsigned("no summary.sig found"))?;
    let meta = crate::objects::metadata::Metadata::from_bytes(&sig)
        .map_err(|e| PullError::SummarySignature(format!("summary.sig: {e}")))?;
    crate::trust::gpg::require_good(&summary, &meta, keys, "summary.sig")
        .map_err(PullError::SummarySignature)
}

/// Pulls `items` from `src` into `dst`; refs move only after every object is in place.
pub fn pull_local(
    src: &Repo,
    dst: &Repo,
    items: &[PullItem],
    opts: &PullOptions,
    progress: &(dyn Fn(PullProgress) + Sync),
) -> Result<PullStats> {
    let plan = plan(src, dst, items, opts)?;
    execute(src, dst, &plan, opts, progress)
}

/// Carries out a plan made by [`plan`].
pub fn execute(
    src: &Repo,
    dst: &Repo,
    plan: &PullPlan,
    opts: &PullOptions,
    progress: &(dyn Fn(PullProgress) + Sync),
) -> Result<PullStats> {
    let total = plan.objects.len() as u64 + plan.commits.len() as u64;
    let done = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let linked = AtomicU64::new(0);
    let content_imported = plan
        .objects
        .iter()
        .filter(|o| o.objtype == ObjectType::File)
        .count() as u64;
    let mut metadata_imported = plan.objects.len() as u64 - content_imported;
    for &c in &plan.commits {
        if !dst.has_object(&ObjectName::new(c, ObjectType::Commit)) {
            dst.set_partial(c, true, false)?;
        }
    }
    let tick = |n: u64| {
        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
        let b = bytes.fetch_add(n, Ordering::Relaxed) + n;
        progress(PullProgress {
            done: d,
            total,
            bytes: b,
        });
    };
    // Dirtrees after all content, so a crash never leaves a tree naming absent content.
    let split = plan
        .objects
        .iter()
        .position(|o| o.objtype == ObjectType::DirTree)
        .unwrap_or(plan.objects.len());
    for chunk in [&plan.objects[..split], &plan.objects[split..]] {
        in_order_parallel(chunk, |name| -> Result<()> {
            let (n, was_linked) = copy_object(src, dst, name, opts)?;
            if was_linked {
                linked.fetch_add(1, Ordering::Relaxed);
            }
            tick(n);
            Ok(())
        })?;
    }
    for &c in &plan.commits {
        let name = ObjectName::new(c, ObjectType::Commit);
        if !dst.has_object(&name) {
            copy_object(src, dst, &name, opts)?;
            metadata_imported += 1;
        }
        if let Some(meta) = src.read_detached_metadata(c)? {
            dst.write_detached_metadata(c, Some(&meta))?;
        }
        tick(0);
    }
    for &c in &plan.tombstones {
        let name = ObjectName::new(c, ObjectType::TombstoneCommit);
        let bytes = src.read_metadata(&name)?;
        dst.write_metadata_as(name, &bytes)?;
    }
    dst.sync()?;
    if !plan.keep_partial {
        for &c in &plan.commits {
            dst.set_partial(c, false, false)?;
        }
    }
    let mut moved = Vec::new();
    for (spec, m) in &plan.refs {
        dst.set_ref(spec, Some(m.new), Some(m.old))?;
        moved.push((spec.clone(), m.old, m.new));
    }
    let linked = linked.into_inner();
    Ok(PullStats {
        commits: plan.commits.len() as u64,
        objects_copied: plan.objects.len() as u64 - linked,
        objects_linked: linked,
        bytes_written: bytes.into_inner(),
        metadata_imported,
        content_imported,
        refs: moved,
    })
}

/// Runs `f` on every item on all of rayon's threads, each thread taking the
/// next item in order: a list sorted largest first is then scheduled
/// largest first (rayon's splitting would hand one thread the whole tail).
/// Stops at the first error.
fn in_order_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(None);
    rayon::scope(|s| {
        for _ in 0..rayon::current_num_threads().min(items.len()) {
            s.spawn(|_| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(e) = f(item) {
                    next.store(items.len(), Ordering::Relaxed);
                    failed
                        .lock()
                        .expect("no worker panics holding the lock")
                        .get_or_insert(e);
                    break;
                }
            });
        }
    });
    match failed
        .into_inner()
        .expect("no worker panics holding the lock")
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether both repositories store content objects byte-identically.
fn same_storage(a: RepoMode, b: RepoMode) -> bool {
    a == b
}

fn bare_user_to_bare_user_only(src: RepoMode, dst: RepoMode) -> bool {
    src == RepoMode::BareUser && dst == RepoMode::BareUserOnly
}

/// Copies one object; returns (bytes written, whether it was hardlinked).
fn copy_object(
    src: &Repo,
    dst: &Repo,
    name: &ObjectName,
    opts: &PullOptions,
) -> Result<(u64, bool)> {
    let untrusted = opts.untrusted;
    if opts.bareuseronly_files && name.objtype == ObjectType::File {
        let header = src.open_content(name.checksum)?.header;
        crate::repo::check_bare_user_only_mode(name.checksum, header.mode)?;
    }
    if name.objtype.is_meta() {
        let bytes = src.read_metadata(name)?;
        if untrusted && name.objtype != ObjectType::CommitMeta {
            let actual = Checksum::digest(&bytes);
            if actual != name.checksum {
                return Err(PullError::Corrupted {
                    name: *name,
                    actual,
                });
            }
        }
        // Metadata objects are the same bytes in every mode: hardlink when possible, as ostree does.
        if name.objtype != ObjectType::CommitMeta
            && link_object(&src.object_path(name), &dst.object_path(name))?
        {
            return Ok((0, true));
        }
        dst.write_metadata_as(*name, &bytes)?;
        return Ok((bytes.len() as u64, false));
    }
    if untrusted {
        let actual = src.checksum_stored_content(name.checksum)?;
        if actual != name.checksum {
            return Err(PullError::Corrupted {
                name: *name,
                actual,
            });
        }
    }
    if bare_user_to_bare_user_only(src.mode(), dst.mode())
        && !src.open_content(name.checksum)?.header.is_symlink()
    {
        // A bare-user regular file is a plain file with its own mode: ostree links it too.
        if link_object(&src.object_path(name), &dst.object_path(name))? {
            return Ok((0, true));
        }
    }
    if same_storage(src.mode(), dst.mode()) {
        let from = src.object_path(name);
        if link_object(&from, &dst.object_path(name))? {
            return Ok((0, true));
        }
        if dst.mode() == RepoMode::Archive {
            // Another filesystem: archive bytes are copied unchanged, never recompressed.
            let mut tmp = dst.temp_file()?;
            let mut f = fs::File::open(&from).map_err(|source| RepoError::Io {
                path: from.clone(),
                source,
            })?;
            let n = std::io::copy(&mut f, tmp.as_file_mut()).map_err(|source| RepoError::Io {
                path: from.clone(),
                source,
            })?;
            crate::repo::set_mode(tmp.as_file(), 0o644).map_err(|source| RepoError::Io {
                path: tmp.path().to_path_buf(),
                source,
            })?;
            dst.link_into_place(tmp, &dst.object_path(name))?;
            return Ok((n, false));
        }
    }
    let mut obj = src.open_content(name.checksum)?;
    let size = obj.size;
    // A trusted local source is not re-hashed (ostree's default; `--untrusted` hashed it above).
    let write = if untrusted {
        Repo::write_content_known
    } else {
        Repo::write_content_trusted
    };
    write(dst, name.checksum, &obj.header, size, &mut obj.reader).map_err(|e| match e {
        RepoError::Corrupted { name, actual } => PullError::Corrupted { name, actual },
        RepoError::ContentRead { source } => PullError::SourceObject {
            name: *name,
            source,
        },
        e => e.into(),
    })?;
    Ok((size, false))
}

/// Hardlinks an object into place; false when the repositories are on different filesystems.
fn link_object(from: &Path, to: &Path) -> Result<bool> {
    let dir = to.parent().expect("object path has a parent");
    for attempt in 0..2 {
        match fs::hard_link(from, to) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 0 => {
                fs::create_dir_all(dir).map_err(|source| RepoError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EXDEV)
                    || e.raw_os_error() == Some(libc::EPERM)
                    || e.raw_os_error() == Some(libc::EMLINK) =>
            {
                return Ok(false)
            }
            Err(e) => {
                return Err(RepoError::Io {
                    path: from.to_path_buf(),
                    source: e,
                }
                .into())
            }
        }
    }
    Ok(false)
}
