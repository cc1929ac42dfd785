//! Building commits: importing directories and stored trees into a
//! [`MutableTree`], the commit filter (`--owner-uid`, `--canonical-permissions`,
//! `--no-xattrs`), the (device, inode) cache behind `--link-checkout-speedup`,
//! and writing the commit object itself.
//! Upstream: `ostree-repo-commit.c` (`write_directory_to_mtree`,
//! `_ostree_repo_commit_modifier_apply`, `ostree_repo_write_commit_with_time`)
//! and `ot-builtin-commit.c`.
//!
//! Files are checksummed in parallel before anything is written, so content
//! the repository already holds is never compressed or copied again.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::checksum::{Checksum, Hasher, ObjectType};
use crate::metadata::Metadata;
use crate::mtree::{MtreeError, MutableTree};
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::objects::{Commit, DirMeta, FileHeader, Xattrs};
use crate::repo::content::checksum_content;
use crate::repo::{Repo, RepoError, RepoMode};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("Unsupported file type for path \"{}\"", .0.display())]
    UnsupportedType(PathBuf),
    #[error("{}: file name is not valid UTF-8", .0.display())]
    NonUtf8Name(PathBuf),
    #[error("{}: file changed while it was being committed", .0.display())]
    Changed(PathBuf),
    #[error("content object {checksum}: {source}")]
    SourceObject { checksum: Checksum, source: std::io::Error },
    #[error(transparent)]
    Tree(#[from] MtreeError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = CommitError> = std::result::Result<T, E>;

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> CommitError + '_ {
    move |source| CommitError::Io { path: path.to_path_buf(), source }
}

/// How file and directory metadata is rewritten on the way in.
#[derive(Clone, Debug, Default)]
pub struct CommitFilter {
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    /// uid/gid 0, modes masked to 0755 (implied in bare-user-only repos).
    pub canonical_permissions: bool,
    /// Drop xattrs (implied in bare-user-only repos).
    pub skip_xattrs: bool,
}

impl CommitFilter {
    /// The filter with what `repo`'s mode implies added.
    pub fn for_repo(mut self, repo: &Repo) -> Self {
        if repo.mode() == RepoMode::BareUserOnly {
            self.canonical_permissions = true;
            self.skip_xattrs = true;
        }
        if matches!(repo.config().get_bool("core", "disable-xattrs"), Some(Ok(true))) {
            self.skip_xattrs = true;
        }
        self
    }

    /// Whether the filter can change anything.
    pub fn is_identity(&self) -> bool {
        self.owner_uid.is_none() && self.owner_gid.is_none() && !self.canonical_permissions && !self.skip_xattrs
    }

    /// Applies ownership and permission rules to (uid, gid, mode).
    pub fn apply(&self, uid: &mut u32, gid: &mut u32, mode: &mut u32) {
        if let Some(u) = self.owner_uid {
            *uid = u;
        }
        if let Some(g) = self.owner_gid {
            *gid = g;
        }
        if self.canonical_permissions {
            *uid = 0;
            *gid = 0;
            match *mode & S_IFMT {
                S_IFREG => *mode &= S_IFREG | 0o755,
                S_IFDIR => *mode &= S_IFDIR | 0o755,
                _ => {}
            }
        }
    }

    pub fn apply_header(&self, h: &mut FileHeader) {
        self.apply(&mut h.uid, &mut h.gid, &mut h.mode);
        if self.skip_xattrs {
            h.xattrs = Xattrs::new();
        }
    }

    pub fn apply_dirmeta(&self, m: &mut DirMeta) {
        self.apply(&mut m.uid, &mut m.gid, &mut m.mode);
        if self.skip_xattrs {
            m.xattrs = Xattrs::new();
        }
    }

    /// For local directories ostree also drops xattrs under canonical permissions.
    fn drops_local_xattrs(&self) -> bool {
        self.skip_xattrs || self.canonical_permissions
    }
}

/// A (device, inode) → content checksum map of the repository's objects, so
/// a tree of hardlinks into the repository is committed without reading it
/// (`--link-checkout-speedup`; upstream `ostree_repo_scan_hardlinks`).
#[derive(Clone, Debug, Default)]
pub struct DevInoCache {
    map: HashMap<(u64, u64), Checksum>,
}

impl DevInoCache {
    /// Scans the content objects of a bare or bare-user repository.
    pub fn scan(repo: &Repo) -> Result<Self> {
        let mut map = HashMap::new();
        if repo.mode() == RepoMode::Archive {
            return Ok(DevInoCache { map });
        }
        for name in repo.list_objects(Some(ObjectType::File))? {
            let p = repo.object_path(&name);
            if let Ok(st) = fs::symlink_metadata(&p) {
                if st.file_type().is_file() {
                    map.insert((st.dev(), st.ino()), name.checksum);
                }
            }
        }
        Ok(DevInoCache { map })
    }

    pub fn get(&self, dev: u64, ino: u64) -> Option<Checksum> {
        self.map.get(&(dev, ino)).copied()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Options for importing a directory.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    pub filter: CommitFilter,
    pub devino: Option<DevInoCache>,
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct ImportStats {
    pub files: u64,
    pub files_written: u64,
    pub devino_hits: u64,
}

struct FileJob {
    dir: Vec<String>,
    name: String,
    path: PathBuf,
    header: FileHeader,
    size: u64,
    /// Index of an earlier job for the same inode (hardlinks in the source).
    same_as: Option<usize>,
    cached: Option<Checksum>,
}

fn name_of(path: &Path, os: &std::ffi::OsStr) -> Result<String> {
    os.to_str().map(str::to_string).ok_or_else(|| CommitError::NonUtf8Name(path.to_path_buf()))
}

/// Commits the directory at `src` into `mtree`, overlaying what is there.
pub fn import_dir(repo: &Repo, mtree: &mut MutableTree, src: &Path, opts: &ImportOptions) -> Result<ImportStats> {
    let filter = &opts.filter;
    let mut jobs: Vec<FileJob> = Vec::new();
    let mut inodes: HashMap<(u64, u64), usize> = HashMap::new();
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(src.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let st = fs::symlink_metadata(&dir).map_err(io_at(&dir))?;
        let xattrs = if filter.drops_local_xattrs() { Xattrs::new() } else { crate::xattr::read_path(&dir).map_err(io_at(&dir))? };
        let mut meta = DirMeta { uid: st.uid(), gid: st.gid(), mode: st.mode(), xattrs };
        filter.apply_dirmeta(&mut meta);
        let meta_csum = repo.write_dirmeta(&meta)?;
        {
            let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
            let (parent, last) = match refs.split_last() {
                Some((last, parent)) => (parent.to_vec(), Some(*last)),
                None => (Vec::new(), None),
            };
            let node = mtree.walk(repo, &parent)?;
            let node = match last {
                Some(l) => node.ensure_dir(repo, l)?,
                None => node,
            };
            node.set_metadata(meta_csum);
        }
        let mut entries: Vec<_> = fs::read_dir(&dir).map_err(io_at(&dir))?.collect::<Result<_, _>>().map_err(io_at(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = name_of(&path, &e.file_name())?;
            let st = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            let ft = st.file_type();
            if ft.is_dir() {
                let mut r = rel.clone();
                r.push(name);
                stack.push((path, r));
                continue;
            }
            if !ft.is_file() && !ft.is_symlink() {
                return Err(CommitError::UnsupportedType(path));
            }
            let cached = opts.devino.as_ref().and_then(|c| c.get(st.dev(), st.ino()));
            let xattrs = if filter.drops_local_xattrs() || cached.is_some() { Xattrs::new() } else { crate::xattr::read_path(&path).map_err(io_at(&path))? };
            let symlink_target = if ft.is_symlink() {
                let t = fs::read_link(&path).map_err(io_at(&path))?;
                t.into_os_string().into_string().map_err(|_| CommitError::NonUtf8Name(path.clone()))?
            } else {
                String::new()
            };
            let mode = if ft.is_symlink() { S_IFLNK | (st.mode() & 0o7777) } else { st.mode() };
            let mut header = FileHeader { uid: st.uid(), gid: st.gid(), mode, symlink_target, xattrs };
            filter.apply_header(&mut header);
            let same_as = if ft.is_file() && st.nlink() > 1 && cached.is_none() {
                let key = (st.dev(), st.ino());
                let found = inodes.get(&key).copied();
                if found.is_none() {
                    inodes.insert(key, jobs.len());
                }
                found
            } else {
                None
            };
            jobs.push(FileJob { dir: rel.clone(), name, path, header, size: st.len(), same_as, cached });
        }
    }

    // Checksum (and write when missing) every file in parallel.
    let results: Vec<Result<(Checksum, bool)>> = jobs
        .par_iter()
        .map(|job| {
            if let Some(c) = job.cached {
                return Ok((c, false));
            }
            if job.same_as.is_some() {
                return Ok((Checksum::default(), false)); // filled in below
            }
            import_file(repo, job)
        })
        .collect();
    let mut sums: Vec<Checksum> = Vec::with_capacity(jobs.len());
    let mut stats = ImportStats::default();
    for (i, r) in results.into_iter().enumerate() {
        let (c, written) = r?;
        let c = match jobs[i].same_as {
            // Hardlinks share content but the filter may differ per path; same header ⇒ same checksum.
            Some(j) if jobs[j].header == jobs[i].header => sums[j],
            Some(_) => import_file(repo, &jobs[i])?.0,
            None => c,
        };
        stats.files += 1;
        stats.files_written += written as u64;
        stats.devino_hits += jobs[i].cached.is_some() as u64;
        sums.push(c);
    }
    for (job, c) in jobs.iter().zip(sums) {
        let refs: Vec<&str> = job.dir.iter().map(String::as_str).collect();
        mtree.walk(repo, &refs)?.replace_file(repo, &job.name, c)?;
    }
    Ok(stats)
}

/// Checksums one file and writes it if the repository lacks it.
fn import_file(repo: &Repo, job: &FileJob) -> Result<(Checksum, bool)> {
    let path = &job.path;
    if job.header.is_symlink() {
        let mut h = Hasher::new();
        h.update(&job.header.to_stream_prefix());
        let c = h.finish();
        if repo.has_content(c) {
            return Ok((c, false));
        }
        repo.write_content_known(c, &job.header, 0, &mut std::io::empty())?;
        return Ok((c, true));
    }
    let mut f = File::open(path).map_err(io_at(path))?;
    let c = checksum_content(&job.header, &mut f).map_err(io_at(path))?;
    if repo.has_content(c) {
        return Ok((c, false));
    }
    let mut f = File::open(path).map_err(io_at(path))?;
    match repo.write_content_known(c, &job.header, job.size, &mut f) {
        Ok(()) => Ok((c, true)),
        Err(RepoError::Corrupted { .. }) => Err(CommitError::Changed(path.clone())),
        Err(RepoError::Io { source, .. }) if source.kind() == std::io::ErrorKind::UnexpectedEof => Err(CommitError::Changed(path.clone())),
        Err(RepoError::ContentRead { source }) => Err(CommitError::Io { path: path.clone(), source }),
        Err(e) => Err(e.into()),
    }
}

/// Overlays a stored commit's tree (`--tree=ref=`). With a non-identity
/// filter every file and directory is rewritten through it, as ostree does.
pub fn import_commit_tree(repo: &Repo, mtree: &mut MutableTree, commit: Checksum, filter: &CommitFilter) -> Result<()> {
    let c = repo.load_commit(commit)?;
    if filter.is_identity() {
        mtree.merge_stored(repo, c.root_contents, c.root_meta)?;
        return Ok(());
    }
    filter_stored_tree(repo, mtree, c.root_contents, c.root_meta, filter)
}

fn filter_stored_tree(repo: &Repo, mtree: &mut MutableTree, contents: Checksum, meta: Checksum, filter: &CommitFilter) -> Result<()> {
    let mut m = repo.load_dirmeta(meta)?;
    filter.apply_dirmeta(&mut m);
    mtree.set_metadata(repo.write_dirmeta(&m)?);
    let tree = repo.load_dirtree(contents)?;
    let rewritten: Vec<Result<(String, Checksum)>> = tree
        .files
        .par_iter()
        .map(|f| {
            let obj = repo.open_content(f.checksum)?;
            let mut h = obj.header.clone();
            filter.apply_header(&mut h);
            if h == obj.header {
                return Ok((f.name.clone(), f.checksum));
            }
            let mut reader = obj.reader;
            let c = repo.write_content(&h, obj.size, &mut reader).map_err(|e| match e {
                RepoError::ContentRead { source } => CommitError::SourceObject { checksum: f.checksum, source },
                e => e.into(),
            })?;
            Ok((f.name.clone(), c))
        })
        .collect();
    for r in rewritten {
        let (name, c) = r?;
        mtree.replace_file(repo, &name, c)?;
    }
    for d in tree.dirs {
        let sub = mtree.ensure_dir(repo, &d.name)?;
        filter_stored_tree(repo, sub, d.tree, d.meta, filter)?;
    }
    Ok(())
}

/// Everything in a commit object besides its tree.
#[derive(Clone, Debug, Default)]
pub struct CommitSpec {
    pub subject: String,
    pub body: String,
    pub parent: Option<Checksum>,
    /// Seconds since the epoch.
    pub timestamp: u64,
    pub metadata: Metadata,
    /// Written as `.commitmeta` when set.
    pub detached: Option<Metadata>,
}

/// Writes a commit for the tree `(contents, meta)`, plus its detached metadata.
pub fn write_commit(repo: &Repo, root: (Checksum, Checksum), spec: &CommitSpec) -> Result<Checksum> {
    let commit = Commit {
        metadata: spec.metadata.clone(),
        parent: spec.parent,
        related: Vec::new(),
        subject: spec.subject.clone(),
        body: spec.body.clone(),
        timestamp: spec.timestamp,
        root_contents: root.0,
        root_meta: root.1,
    };
    let c = repo.write_commit(&commit)?;
    if let Some(d) = &spec.detached {
        repo.write_detached_metadata(c, Some(d))?;
    }
    Ok(c)
}

/// Adds `ostree.ref-binding` (sorted refs) and, if the repo has a collection
/// id and the metadata does not set one, `ostree.collection-binding` —
/// appended last, as `ostree commit` does.
pub fn add_bindings(repo: &Repo, metadata: &mut Metadata, refs: &[String]) {
    let mut refs: Vec<String> = refs.to_vec();
    refs.sort();
    metadata.push("ostree.ref-binding", crate::metadata::owned(refs));
    if let Some(id) = repo.collection_id() {
        if !metadata.contains("ostree.collection-binding") {
            metadata.push("ostree.collection-binding", crate::metadata::owned(id.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_permissions() {
        let f = CommitFilter { canonical_permissions: true, owner_uid: Some(5), ..Default::default() };
        let (mut u, mut g, mut m) = (5, 6, S_IFREG | 0o4775);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!((u, g, m), (0, 0, S_IFREG | 0o755));
        let (mut u, mut g, mut m) = (1, 1, S_IFDIR | 0o2770);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!(m, S_IFDIR | 0o750);
        let (mut u, mut g, mut m) = (1, 1, S_IFLNK | 0o777);
        f.apply(&mut u, &mut g, &mut m);
        assert_eq!(m, S_IFLNK | 0o777);
    }
}
