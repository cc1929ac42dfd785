//! Reading git repositories with `gix` (no `git` binary): the provenance of
//! a build ([`read_source`]), a git tree committed directly
//! (`commit --tree=git=PATH[@REV][:SUBDIR]`, [`import_tree`]) and the commits
//! between two revisions for release notes ([`log_between`]).
//!
//! A git tree is committed as a clean checkout of it committed with
//! `--owner-uid=0 --owner-gid=0` would be: directories 0755, blobs 0644 or
//! 0755, symlinks 0777, all owned by 0:0, no xattrs, the blob bytes as stored
//! (no smudge or end-of-line filters). A submodule (gitlink) becomes the
//! empty directory a checkout leaves, and is reported so the caller can warn.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use rayon::prelude::*;

use crate::lifecycle::provenance::{valid_name, NoteCommit, Provenance, Source, SourceNotes};
use crate::objects::checksum::Checksum;
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::objects::{DirMeta, FileHeader, Xattrs};
use crate::repo::{Repo, RepoError};
use crate::tree::commit::CommitFilter;
use crate::tree::mtree::{MtreeError, MutableTree};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{}: not a git repository: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("{}: {what}: {message}", path.display())]
    Read {
        path: PathBuf,
        what: String,
        message: String,
    },
    #[error("{}: HEAD has no commit yet", path.display())]
    Unborn { path: PathBuf },
    #[error("{}: '{subdir}' is not a directory in {rev}", path.display())]
    NoSubdir {
        path: PathBuf,
        rev: String,
        subdir: String,
    },
    #[error("{}: '{entry}': {message}", path.display())]
    Entry {
        path: PathBuf,
        entry: String,
        message: String,
    },
    #[error("invalid git source '{0}': expected [NAME=]PATH[@REV]")]
    BadSpec(String),
    #[error("{}: the directory does not exist", .0.display())]
    NoPath(PathBuf),
    #[error("{}: {source}", path.display())]
    Tree { path: PathBuf, source: MtreeError },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = GitError> = std::result::Result<T, E>;

/// A git source named on the command line: `[NAME=]PATH[@REV][:SUBDIR]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceSpec {
    pub name: Option<String>,
    pub path: PathBuf,
    pub rev: Option<String>,
    pub subdir: Option<String>,
}

impl SourceSpec {
    /// Parses `[NAME=]PATH[@REV]` (`allow_subdir`: also `[:SUBDIR]`). PATH is
    /// the longest prefix that is an existing directory, so paths may hold
    /// `@`, `:` and `=`.
    pub fn parse(s: &str, allow_subdir: bool) -> Result<SourceSpec> {
        if let Some((name, rest)) = s.split_once('=') {
            if valid_name(name) && !Path::new(s).is_dir() {
                if let Ok(mut spec) = Self::parse_unnamed(rest, allow_subdir) {
                    spec.name = Some(name.to_string());
                    return Ok(spec);
                }
            }
        }
        Self::parse_unnamed(s, allow_subdir)
    }

    fn parse_unnamed(s: &str, allow_subdir: bool) -> Result<SourceSpec> {
        let mut cuts: Vec<usize> = s.match_indices(['@', ':']).map(|(i, _)| i).collect();
        cuts.push(s.len());
        let Some(&cut) = cuts
            .iter()
            .rev()
            .find(|&&i| i > 0 && Path::new(&s[..i]).is_dir())
        else {
            let first = cuts.first().copied().unwrap_or(s.len());
            return Err(GitError::NoPath(PathBuf::from(&s[..first])));
        };
        let path = PathBuf::from(&s[..cut]);
        let rest = &s[cut..];
        let (rev_part, subdir) = match rest.find(':') {
            Some(i) if allow_subdir => (
                &rest[..i],
                Some(rest[i + 1..].trim_matches('/').to_string()),
            ),
            Some(_) => return Err(GitError::BadSpec(s.to_string())),
            None => (rest, None),
        };
        let rev = match rev_part.strip_prefix('@') {
            Some("") => return Err(GitError::BadSpec(s.to_string())),
            Some(r) => Some(r.to_string()),
            None if rev_part.is_empty() => None,
            None => return Err(GitError::BadSpec(s.to_string())),
        };
        let subdir = subdir.filter(|d| !d.is_empty());
        Ok(SourceSpec {
            name: None,
            path,
            rev,
            subdir,
        })
    }
}

fn read_err(path: &Path, what: impl Into<String>) -> impl FnOnce(gix::Error) -> GitError + '_ {
    let what = what.into();
    move |e| GitError::Read {
        path: path.to_path_buf(),
        what,
        message: e.to_string(),
    }
}

/// Opens the repository at `path` (its work tree or its git directory),
/// isolated from the user's global git configuration.
pub fn open(path: &Path) -> Result<gix::Repository> {
    gix::open_opts(path, gix::open::Options::isolated()).map_err(|e| GitError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The default source name: the work tree's directory name, or the git
/// directory's without `.git`; characters a key cannot hold become `_`.
fn default_name(repo: &gix::Repository) -> String {
    let dir = repo
        .workdir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.git_dir().to_path_buf());
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = base
        .strip_suffix(".git")
        .filter(|b| !b.is_empty())
        .unwrap_or(&base)
        .to_string();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "source".into()
    } else {
        name
    }
}

/// A URL with any password removed, and for non-ssh URLs the whole user part
/// (which often is a token).
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((user, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let keep_user = scheme.contains("ssh");
    match (keep_user, user.split_once(':')) {
        (true, Some((u, _))) => format!("{scheme}://{u}@{host}{path}"),
        (true, None) => url.to_string(),
        (false, _) => format!("{scheme}://{host}{path}"),
    }
}

fn remote_url(repo: &gix::Repository, branch: Option<&str>) -> Option<String> {
    let config = repo.config_snapshot();
    let from_branch = branch
        .and_then(|b| config.string(format!("branch.{b}.remote").as_str()))
        .map(|s| s.to_string());
    let name = from_branch.filter(|n| n != ".").or_else(|| {
        repo.remote_default_name(gix::remote::Direction::Fetch)
            .map(|n| n.to_string())
    })?;
    let url = config.string(format!("remote.{name}.url").as_str())?;
    Some(strip_credentials(&url.to_str_lossy()))
}

fn describe(repo: &gix::Repository, commit: &gix::Commit<'_>) -> Option<String> {
    let mut d = commit
        .describe()
        .names(gix::commit::describe::SelectRef::AllTags);
    match d.format() {
        Ok(f) => Some(f.to_string()),
        // A shallow history can end before any tag: the abbreviated id, as `git describe --always`.
        Err(_) => repo
            .find_object(commit.id)
            .ok()
            .map(|o| o.id().shorten_or_id().to_string()),
    }
}

/// Paths whose state differs from HEAD as `git status --porcelain` shows
/// them: staged or unstaged changes and untracked files that are not ignored.
pub fn dirty_paths(repo: &gix::Repository) -> Result<Vec<String>> {
    let path = repo.workdir().unwrap_or(repo.git_dir()).to_path_buf();
    let status = repo
        .status(gix::progress::Discard)
        .map_err(read_err(&path, "reading the status"))?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .into_iter(None)
        .map_err(read_err(&path, "reading the status"))?;
    let mut out = Vec::new();
    for item in status {
        let item = item.map_err(|e| GitError::Read {
            path: path.clone(),
            what: "reading the status".into(),
            message: e.to_string(),
        })?;
        use gix::status::index_worktree::Item as W;
        use gix::status::plumbing::index_as_worktree::EntryStatus;
        let p = match &item {
            gix::status::Item::TreeIndex(c) => Some(c.location().to_string()),
            gix::status::Item::IndexWorktree(W::Modification {
                status: EntryStatus::NeedsUpdate(_),
                ..
            }) => None,
            gix::status::Item::IndexWorktree(W::Modification { rela_path, .. }) => {
                Some(rela_path.to_string())
            }
            gix::status::Item::IndexWorktree(W::DirectoryContents { entry, .. }) => (entry.status
                == gix::dir::entry::Status::Untracked)
                .then(|| entry.rela_path.to_string()),
            gix::status::Item::IndexWorktree(W::Rewrite { dirwalk_entry, .. }) => {
                Some(dirwalk_entry.rela_path.to_string())
            }
        };
        out.extend(p);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn hash_name(kind: gix::hash::Kind) -> &'static str {
    match kind {
        gix::hash::Kind::Sha256 => "sha256",
        _ => "sha1",
    }
}

fn resolve_commit<'r>(
    repo: &'r gix::Repository,
    path: &Path,
    rev: Option<&str>,
) -> Result<gix::Commit<'r>> {
    match rev {
        Some(r) => {
            let id = repo
                .rev_parse_single(r)
                .map_err(read_err(path, format!("resolving '{r}'")))?;
            let obj = id
                .object()
                .map_err(read_err(path, format!("reading '{r}'")))?;
            obj.peel_to_commit()
                .map_err(read_err(path, format!("'{r}' is not a commit")))
        }
        None => match repo.head_commit() {
            Ok(c) => Ok(c),
            Err(_) if repo.head_id().is_err() => Err(GitError::Unborn {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(read_err(path, "reading HEAD")(e)),
        },
    }
}

/// What a build records about one git source. `check_worktree`: whether the
/// work tree's state matters (the build read files from it), so a dirty
/// work tree at the named revision is recorded as dirty.
fn source_of(
    repo: &gix::Repository,
    spec: &SourceSpec,
    commit: &gix::Commit<'_>,
    check_worktree: bool,
) -> Result<Source> {
    let path = &spec.path;
    let head = repo.head_id().ok().map(|h| h.detach());
    let at_head = head == Some(commit.id);
    let branch = if at_head {
        repo.head_name()
            .ok()
            .flatten()
            .map(|n| n.shorten().to_string())
    } else {
        None
    };
    let dirty = if check_worktree && at_head && repo.workdir().is_some() {
        !dirty_paths(repo)?.is_empty()
    } else {
        false
    };
    Ok(Source {
        name: spec.name.clone().unwrap_or_else(|| default_name(repo)),
        url: remote_url(repo, branch.as_deref()),
        commit: commit.id.to_string(),
        describe: describe(repo, commit),
        branch,
        dirty,
        shallow: repo
            .is_shallow()
            .map_err(read_err(path, "reading the shallow file"))?,
        object_format: hash_name(repo.object_hash()).to_string(),
        subdir: spec.subdir.clone(),
        tree: None,
    })
}

/// Reads the provenance of the source `spec` names (`--source=`): the
/// revision (HEAD when none is named), its describe name, the remote, and
/// whether the work tree was dirty.
pub fn read_source(spec: &SourceSpec) -> Result<Source> {
    let repo = open(&spec.path)?;
    let commit = resolve_commit(&repo, &spec.path, spec.rev.as_deref())?;
    source_of(&repo, spec, &commit, true)
}

/// What [`import_tree`] did.
#[derive(Clone, Debug, Default)]
pub struct GitImport {
    /// The provenance to record (with `tree` set; never dirty: the tree comes from the object database).
    pub source: Source,
    pub files: u64,
    pub files_written: u64,
    /// Submodule paths committed as empty directories.
    pub submodules: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum BlobKind {
    File,
    Exec,
    Link,
}

/// A blob to write once: its git id and the kind of file it becomes.
type BlobKey = (gix::ObjectId, BlobKind);

struct Job {
    dir: Vec<String>,
    name: String,
    oid: gix::ObjectId,
    kind: BlobKind,
}

/// Commits the git tree `spec` names into `mtree` (`--tree=git=`).
pub fn import_tree(
    repo: &Repo,
    mtree: &mut MutableTree,
    spec: &SourceSpec,
    filter: &CommitFilter,
) -> Result<GitImport> {
    let path = &spec.path;
    let git = open(path)?;
    let commit = resolve_commit(&git, path, spec.rev.as_deref())?;
    let mut source = source_of(&git, spec, &commit, false)?;
    let rev_text = spec.rev.clone().unwrap_or_else(|| "HEAD".into());
    let mut tree = commit
        .tree()
        .map_err(read_err(path, format!("reading the tree of {rev_text}")))?;
    if let Some(sub) = &spec.subdir {
        let no_subdir = || GitError::NoSubdir {
            path: path.clone(),
            rev: rev_text.clone(),
            subdir: sub.clone(),
        };
        let entry = tree
            .peel_to_entry_by_path(sub)
            .map_err(read_err(path, format!("looking up '{sub}'")))?
            .ok_or_else(no_subdir)?;
        if !entry.mode().is_tree() {
            return Err(no_subdir());
        }
        let id = entry.object_id();
        tree = git
            .find_tree(id)
            .map_err(read_err(path, format!("reading '{sub}'")))?;
    }
    source.tree = Some(tree.id.to_string());

    let mut dm = DirMeta {
        uid: 0,
        gid: 0,
        mode: S_IFDIR | 0o755,
        xattrs: Xattrs::new(),
    };
    filter.apply_dirmeta(&mut dm);
    let dir_meta = repo.write_dirmeta(&dm)?;
    let tree_err = |source| GitError::Tree {
        path: path.clone(),
        source,
    };

    // Walk the trees: directories go into the mtree now, blobs become jobs.
    let mut jobs = Vec::new();
    let mut submodules = Vec::new();
    let mut stack: Vec<(gix::ObjectId, Vec<String>)> = vec![(tree.id, Vec::new())];
    while let Some((id, rel)) = stack.pop() {
        {
            let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
            mtree
                .walk(repo, &refs)
                .map_err(tree_err)?
                .set_metadata(dir_meta);
        }
        let t = git
            .find_tree(id)
            .map_err(read_err(path, format!("reading tree {id}")))?;
        let decoded = t
            .decode()
            .map_err(read_err(path, format!("decoding tree {id}")))?;
        for e in &decoded.entries {
            let name = e
                .filename
                .to_str()
                .map(str::to_string)
                .map_err(|_| GitError::Entry {
                    path: path.clone(),
                    entry: rel_path(&rel, &e.filename.to_str_lossy()),
                    message: "file name is not valid UTF-8".into(),
                })?;
            let mode = e.mode;
            if mode.is_tree() || mode.is_commit() {
                let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
                let node = mtree.walk(repo, &refs).map_err(tree_err)?;
                node.ensure_dir(repo, &name)
                    .map_err(tree_err)?
                    .set_metadata(dir_meta);
                let mut r = rel.clone();
                r.push(name);
                if mode.is_tree() {
                    stack.push((e.oid.to_owned(), r));
                } else {
                    submodules.push(r.join("/"));
                }
                continue;
            }
            let kind = if mode.is_link() {
                BlobKind::Link
            } else if mode.is_executable() {
                BlobKind::Exec
            } else {
                BlobKind::File
            };
            jobs.push(Job {
                dir: rel.clone(),
                name,
                oid: e.oid.to_owned(),
                kind,
            });
        }
    }
    submodules.sort();

    // Each distinct (blob, kind) once, in parallel, each thread with its own handle.
    let mut unique: Vec<BlobKey> = jobs.iter().map(|j| (j.oid, j.kind)).collect();
    unique.sort_by(|a, b| a.0.cmp(&b.0).then((a.1 as u8).cmp(&(b.1 as u8))));
    unique.dedup();
    // gix handles are per thread (without gix's `parallel` feature they are not Send): each worker opens its own.
    let results: Vec<Result<(BlobKey, Checksum, bool)>> = unique
        .par_iter()
        .map_init(
            || open(path),
            |g, &(oid, kind)| {
                let g = match g {
                    Ok(g) => g,
                    Err(e) => {
                        return Err(GitError::Open {
                            path: path.clone(),
                            message: e.to_string(),
                        })
                    }
                };
                let blob = g
                    .find_blob(oid)
                    .map_err(read_err(path, format!("reading blob {oid}")))?;
                let data = &blob.data;
                let (c, written) = write_blob(repo, data, kind, filter).map_err(|e| match e {
                    WriteBlobError::Repo(e) => GitError::Repo(e),
                    WriteBlobError::Target => GitError::Entry {
                        path: path.clone(),
                        entry: oid.to_string(),
                        message: "symlink target is not valid UTF-8".into(),
                    },
                })?;
                Ok(((oid, kind), c, written))
            },
        )
        .collect();
    let mut sums: HashMap<BlobKey, Checksum> = HashMap::with_capacity(results.len());
    let mut files_written = 0;
    for r in results {
        let (k, c, w) = r?;
        files_written += w as u64;
        sums.insert(k, c);
    }
    for j in &jobs {
        let refs: Vec<&str> = j.dir.iter().map(String::as_str).collect();
        let c = sums[&(j.oid, j.kind)];
        mtree
            .walk(repo, &refs)
            .map_err(tree_err)?
            .replace_file(repo, &j.name, c)
            .map_err(tree_err)?;
    }
    Ok(GitImport {
        source,
        files: jobs.len() as u64,
        files_written,
        submodules,
    })
}

fn rel_path(dir: &[String], name: &str) -> String {
    let mut p = dir.join("/");
    if !p.is_empty() {
        p.push('/');
    }
    p.push_str(name);
    p
}

enum WriteBlobError {
    Repo(RepoError),
    Target,
}

/// Checksums one blob as a content object and writes it if missing.
fn write_blob(
    repo: &Repo,
    data: &[u8],
    kind: BlobKind,
    filter: &CommitFilter,
) -> std::result::Result<(Checksum, bool), WriteBlobError> {
    let (mode, target) = match kind {
        BlobKind::Link => (
            S_IFLNK | 0o777,
            std::str::from_utf8(data)
                .map_err(|_| WriteBlobError::Target)?
                .to_string(),
        ),
        BlobKind::Exec => (S_IFREG | 0o755, String::new()),
        BlobKind::File => (S_IFREG | 0o644, String::new()),
    };
    let mut header = FileHeader {
        uid: 0,
        gid: 0,
        mode,
        symlink_target: target,
        xattrs: Xattrs::new(),
    };
    filter.apply_header(&mut header);
    repo.write_content_bytes(&header, data)
        .map_err(WriteBlobError::Repo)
}

/// The commits in `old..new` of the repository at `path`, newest first, as
/// `git log --oneline` lists them. None when either revision is not there
/// (e.g. a clone that has not fetched it).
pub fn log_between(path: &Path, old: &str, new: &str) -> Result<Option<Vec<NoteCommit>>> {
    let repo = open(path)?;
    let parse = |s: &str| {
        gix::ObjectId::from_hex(s.as_bytes())
            .ok()
            .filter(|id| repo.find_object(*id).is_ok())
    };
    let (Some(old), Some(new)) = (parse(old), parse(new)) else {
        return Ok(None);
    };
    let walk = repo
        .rev_walk([new])
        .with_hidden([old])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            Default::default(),
        ))
        .all()
        .map_err(read_err(path, format!("walking {old}..{new}")))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| GitError::Read {
            path: path.to_path_buf(),
            what: format!("walking {old}..{new}"),
            message: e.to_string(),
        })?;
        let commit = info
            .object()
            .map_err(read_err(path, format!("reading commit {}", info.id)))?;
        let message = commit.message_raw_sloppy().to_str_lossy().into_owned();
        let subject = message
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        out.push(NoteCommit {
            short: info.id().shorten_or_id().to_string(),
            id: info.id.to_string(),
            subject,
        });
    }
    Ok(Some(out))
}

/// Release notes from the provenance `old` (the previous release; None for a
/// first one) to `new`: per source of `new` whose commit changed, the source
/// commits between the two revisions, read from the local clone `repos`
/// names for it. Unchanged sources give nothing.
pub fn release_notes(
    old: Option<&Provenance>,
    new: &Provenance,
    repos: &HashMap<String, PathBuf>,
) -> Result<Vec<SourceNotes>> {
    let mut out = Vec::new();
    for n in &new.sources {
        let prev = old.and_then(|o| o.source(&n.name));
        if prev.is_some_and(|p| p.commit == n.commit) {
            continue;
        }
        let (commits, note) = match (prev, repos.get(&n.name)) {
            (None, _) => (None, None),
            (Some(_), None) => (
                None,
                Some(format!(
                    "no --source-repo={}=PATH given: commits not listed",
                    n.name
                )),
            ),
            (Some(p), Some(path)) => match log_between(path, &p.commit, &n.commit)? {
                Some(c) => (Some(c), None),
                None => (
                    None,
                    Some(format!(
                        "{} does not have both revisions: commits not listed",
                        path.display()
                    )),
                ),
            },
        };
        out.push(SourceNotes {
            name: n.name.clone(),
            old: prev.cloned(),
            new: n.clone(),
            commits,
            note,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://user:tok@example.com/a.git"),
            "https://example.com/a.git"
        );
        assert_eq!(
            strip_credentials("https://tok@example.com"),
            "https://example.com"
        );
        assert_eq!(
            strip_credentials("ssh://git:pw@example.com/a"),
            "ssh://git@example.com/a"
        );
        assert_eq!(
            strip_credentials("git@example.com:a.git"),
            "git@example.com:a.git"
        );
        assert_eq!(strip_credentials("/srv/git/a.git"), "/srv/git/a.git");
    }

    #[test]
    fn specs_split_at_an_existing_directory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a@b:c");
        std::fs::create_dir(&p).unwrap();
        let s = format!("{}@v1.0:sub/dir/", p.display());
        let spec = SourceSpec::parse(&s, true).unwrap();
        assert_eq!(spec.path, p);
        assert_eq!(spec.rev.as_deref(), Some("v1.0"));
        assert_eq!(spec.subdir.as_deref(), Some("sub/dir"));
        let spec = SourceSpec::parse(&format!("app={}", p.display()), false).unwrap();
        assert_eq!((spec.name.as_deref(), spec.rev), (Some("app"), None));
        assert!(SourceSpec::parse(&format!("{}:x", p.display()), false).is_err());
        assert!(matches!(
            SourceSpec::parse("/no/such/dir@v1", false),
            Err(GitError::NoPath(_))
        ));
    }
}
