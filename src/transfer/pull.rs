//! Pulling commits from a remote archive repository over `http://`,
//! `https://` or `file://` — what a static web server serves.
//!
//! The remote's `config` must say `mode=archive-z2`. Refs resolve through
//! its `summary` when there is one, else `refs/heads/REF`. Then, as for
//! [`crate::transfer::pull_local`]: plan (commits per `depth`, then the dirtrees and
//! dirmetas the destination lacks, fetched and held in memory, then the list
//! of missing content), execute (content, then dirmeta/dirtree, then commits
//! and their detached metadata), sync, and move refs compare-and-swap.
//! Every object is verified before it lands: metadata by the SHA-256 of its
//! bytes, content by decompressing the `.filez` and hashing header and
//! content. An archive destination stores the `.filez` bytes verbatim; the
//! other modes get the content decompressed. A missing parent commit ends
//! the history walk. Static deltas are not used (a mirror fetches objects).
//! With [`PullOptions::verify`], every commit fetched must carry a good
//! signature by one of the given keys (in its `.commitmeta`, checked as
//! [`crate::trust::gpg::verify`] does) before anything below it is fetched; with
//! [`RemoteRepo::open_verified`] the summary must be signed too.
//! Upstream: `ostree-repo-pull.c`.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::transfer::verify::{filez_body, hash_filez_body, read_archive_header, Tee};

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::summary::Summary;
use crate::objects::{Commit, DirTree, FormatError};
use crate::repo::refs::{RefError, RefName, Refspec};
use crate::repo::{Repo, RepoError, RepoMode};
use crate::transfer::engine::RefMove;

/// Progress: objects done / total, bytes received.
#[derive(Clone, Copy, Debug, Default)]
pub struct PullProgress {
    pub done: u64,
    pub total: u64,
    pub bytes: u64,
}

/// Concurrent fetches (ostree keeps 8 requests outstanding too).
pub const FETCH_THREADS: usize = 8;

/// Largest summary or ref file accepted.
pub const MAX_SUMMARY: u64 = 64 * 1024 * 1024;

/// Largest metadata object (commit, dirtree, dirmeta, commitmeta) accepted:
/// ostree 2022.7's `OSTREE_MAX_METADATA_SIZE`, so grove pulls what those
/// clients pull.
pub const MAX_METADATA_OBJECT: u64 = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{url}: {why}")]
    Fetch { url: String, why: String },
    #[error("{url}: server returned HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {source}")]
    Read { url: String, source: io::Error },
    #[error("{url}: {why}: not an OSTree repository (no config)")]
    NotARepo { url: String, why: &'static str },
    #[error("remote repository {url} has mode {mode}; only archive repositories can be pulled over the network")]
    RemoteMode { url: String, mode: String },
    #[error("No such branch '{name}' in remote {url}")]
    RefNotFound { name: RefName, url: String },
    #[error("Commit {0} not found on the remote")]
    CommitNotFound(Checksum),
    /// A ref file whose content is no checksum (a web server's HTML page, say).
    #[error("Fetching checksum for ref ((empty), {name}): Invalid rev {text}")]
    InvalidRefContent { name: RefName, text: String },
    #[error("Upgrade target revision '{new}' with timestamp '{new_ts}' is chronologically older than current revision '{current}' with timestamp '{current_ts}'; use --allow-downgrade to permit")]
    Downgrade {
        new: Checksum,
        new_ts: String,
        current: Checksum,
        current_ts: String,
    },
    #[error("Reading {rev} for timestamp-check-from-rev: {source}")]
    TimestampFrom { rev: Checksum, source: RepoError },
    #[error("{} object {} not found on the remote ({url}: {why})", .name.objtype, .name.checksum)]
    ObjectNotFound {
        name: ObjectName,
        url: String,
        why: &'static str,
    },
    #[error("Corrupted {} object; checksum expected='{}' actual='{actual}'", .name.objtype, .name.checksum)]
    Corrupted { name: ObjectName, actual: Checksum },
    #[error("{name}: {source}")]
    Format {
        name: ObjectName,
        source: FormatError,
    },
    #[error("URI {url} exceeded maximum size of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("Invalid URI scheme in {0}")]
    Url(String),
    #[error("{0}")]
    Summary(String),
    #[error("GPG verification enabled, but {0} (use gpg-verify-summary=false in remote config to disable)")]
    SummaryUnsigned(&'static str),
    #[error("summary: GPG verification failed: {0}")]
    SummarySignature(String),
    #[error(
        "Remote {0} cached summary invalid and OSTREE_REPO_TEST_ERROR_INVALID_CACHE specified"
    )]
    InvalidCache(String),
    #[error("Commit {commit}: GPG verification enabled, but no signatures found (use gpg-verify=false in remote config to disable)")]
    Unsigned { commit: Checksum },
    #[error("Commit {commit}: GPG verification failed: {why}")]
    Signature { commit: Checksum, why: String },
    #[error("static delta {name}: {why}")]
    Delta {
        name: crate::delta::DeltaName,
        why: String,
    },
    #[error("Static deltas required, but none found for {}", match .from { Some(f) => format!("{f} to {to}"), None => to.to_string() })]
    NoDelta {
        from: Option<Checksum>,
        to: Checksum,
    },
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = PullError> = std::result::Result<T, E>;

/// Where objects come from: an HTTP(S) base URL or a local directory.
pub struct Fetcher {
    base: String,
    kind: FetchKind,
    /// Bytes received.
    received: AtomicU64,
}

enum FetchKind {
    Http(ureq::Agent),
    File(PathBuf),
}

impl Fetcher {
    /// A fetcher for `url` (`http://`, `https://` or `file://`).
    pub fn new(url: &str) -> Result<Fetcher> {
        let base = url.trim_end_matches('/').to_string();
        let kind = if let Some(path) = base.strip_prefix("file://") {
            if path.is_empty() {
                return Err(PullError::Url(url.to_string()));
            }
            FetchKind::File(PathBuf::from(path))
        } else if base.starts_with("http://") || base.starts_with("https://") {
            let agent = ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(30))
                .timeout_read(Duration::from_secs(300))
                .user_agent(concat!("grove/", env!("CARGO_PKG_VERSION")))
                .max_idle_connections_per_host(FETCH_THREADS)
                .build();
            FetchKind::Http(agent)
        } else {
            return Err(PullError::Url(url.to_string()));
        };
        Ok(Fetcher {
            base,
            kind,
            received: AtomicU64::new(0),
        })
    }

    /// The URL of `rel` under the base.
    pub fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base)
    }

    /// How a missing file shows on this transport (error messages name it).
    pub fn missing_reason(&self) -> &'static str {
        match self.kind {
            FetchKind::Http(_) => "Server returned HTTP 404",
            FetchKind::File(_) => "No such file or directory",
        }
    }

    pub fn bytes_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Adds `n` bytes read through [`Fetcher::open`] to the total.
    pub(crate) fn count_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    /// Opens `rel` for reading; `None` if the server has no such file (404 / ENOENT).
    pub fn open(&self, rel: &str) -> Result<Option<Box<dyn Read + Send>>> {
        let url = self.url(rel);
        match &self.kind {
            FetchKind::File(root) => match std::fs::File::open(root.join(rel)) {
                Ok(f) => Ok(Some(Box::new(f))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(PullError::Read { url, source }),
            },
            FetchKind::Http(agent) => match agent.get(&url).call() {
                Ok(resp) => Ok(Some(Box::new(resp.into_reader()))),
                Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => Ok(None),
                Err(ureq::Error::Status(status, _)) => Err(PullError::Status { url, status }),
                Err(ureq::Error::Transport(t)) => Err(PullError::Fetch {
                    url,
                    why: transport_reason(&t),
                }),
            },
        }
    }

    /// Fetches a whole (small) file of at most `limit` bytes; `None` if absent.
    pub fn get(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some(r) = self.open(rel)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        let url = self.url(rel);
        r.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|source| PullError::Read {
                url: url.clone(),
                source,
            })?;
        if buf.len() as u64 > limit {
            return Err(PullError::TooLarge { url, limit });
        }
        self.received.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(Some(buf))
    }
}

/// A transport error in one line, without ureq's repetition of the URL.
fn transport_reason(t: &ureq::Transport) -> String {
    use std::error::Error as _;
    let mut s = t.kind().to_string();
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    let mut src = t.source();
    while let Some(e) = src {
        let m = e.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = e.source();
    }
    s.replace('\n', " ")
}

/// The path of an object in an archive repository.
pub fn object_rel(name: &ObjectName) -> String {
    let hex = name.checksum.to_hex();
    format!(
        "objects/{}/{}.{}",
        &hex[..2],
        &hex[2..],
        name.objtype.extension(true)
    )
}

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

/// Whether `file` (an absolute path in the tree) is fetched by a pull of
/// `subpaths`: it is one of them, lies below one, or (a directory) leads to one.
pub fn matches_subpaths(subpaths: &[String], file: &str, is_dir: bool) -> bool {
    if subpaths.is_empty() {
        return true;
    }
    subpaths.iter().any(|want| {
        let want = want.trim_end_matches('/');
        if let Some(rest) = want.strip_prefix(file) {
            rest.is_empty() || (rest.starts_with('/') && is_dir)
        } else {
            file.strip_prefix(want)
                .is_some_and(|rest| rest.starts_with('/') || want.is_empty())
        }
    })
}

/// What a pull did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PullStats {
    pub commits: u64,
    pub metadata_fetched: u64,
    pub content_fetched: u64,
    pub bytes_received: u64,
    /// Bytes of content written (file sizes, as ostree's `content written`).
    pub content_bytes_written: u64,
    /// Refs moved: (ref, old, new).
    pub refs: Vec<(Refspec, Option<Checksum>, Checksum)>,
}

/// Where a pull keeps the last verified summary of a remote, as ostree
/// does: `DIR/summaries/REMOTE` and `DIR/summaries/REMOTE.sig`, DIR being
/// the repository's `tmp/cache` or a `--cache-dir`.
#[derive(Clone, Debug)]
pub struct SummaryCache {
    /// The `summaries` directory.
    pub dir: PathBuf,
    pub remote: String,
    /// Fail when the cached summary does not verify instead of fetching it
    /// anew (ostree's `OSTREE_REPO_TEST_ERROR=invalid-cache`).
    pub fail_on_invalid: bool,
}

/// The directory of summary caches under a cache directory.
pub const SUMMARY_CACHE_DIR: &str = "summaries";

impl SummaryCache {
    /// The cache of `remote` under `cache_dir` (`REPO/tmp/cache` by default).
    pub fn new(cache_dir: &Path, remote: &str) -> Self {
        SummaryCache {
            dir: cache_dir.join(SUMMARY_CACHE_DIR),
            remote: remote.to_string(),
            fail_on_invalid: false,
        }
    }

    fn path(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}{ext}", self.remote))
    }

    fn read(&self, ext: &str) -> Result<Option<Vec<u8>>> {
        let p = self.path(ext);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RepoError::Io { path: p, source: e }.into()),
        }
    }

    fn remove(&self, ext: &str) -> Result<()> {
        let p = self.path(ext);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RepoError::Io { path: p, source: e }.into()),
        }
    }

    /// Replaces the cached pair: the summary first, then its signatures.
    fn store(&self, summary: &[u8], sig: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| RepoError::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        crate::repo::write_atomic(&self.path(""), summary, &self.dir)?;
        crate::repo::write_atomic(&self.path(".sig"), sig, &self.dir)?;
        Ok(())
    }
}

/// Removes the cached summaries (and signatures) of remotes not in
/// `remotes` from `cache_dir/summaries`, as ostree's prune does.
pub fn prune_summary_cache(cache_dir: &Path, remotes: &[String]) -> Result<usize> {
    let dir = cache_dir.join(SUMMARY_CACHE_DIR);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(RepoError::Io {
                path: dir,
                source: e,
            }
            .into())
        }
    };
    let mut removed = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let remote = name
            .strip_suffix(".sig")
            .filter(|r| !r.is_empty())
            .unwrap_or(&name);
        if !remotes.iter().any(|r| r == remote) {
            let p = e.path();
            std::fs::remove_file(&p).map_err(|source| RepoError::Io { path: p, source })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The remote side of a pull: its URL and (if published) summary.
pub struct RemoteRepo {
    pub fetcher: Fetcher,
    pub summary: Option<Summary>,
    /// Why the summary the remote serves could not be read: an error only
    /// when a ref must be resolved through it (a `REF@COMMIT` pull needs none).
    summary_error: Option<String>,
    /// The summary's bytes and its `summary.sig` as fetched (a mirror copies them).
    summary_bytes: Option<Vec<u8>>,
    summary_sig: Option<Vec<u8>>,
}

impl RemoteRepo {
    /// Connects: reads the remote `config` (must be an archive) and `summary`.
    pub fn open(url: &str) -> Result<RemoteRepo> {
        Self::open_verified(url, None)
    }

    /// As [`RemoteRepo::open`]; with `summary_keys` (the remote's
    /// `gpg-verify-summary=true`) the summary must exist and `summary.sig`
    /// (fetched first, as ostree does) must hold a good signature over it by
    /// one of those keys.
    pub fn open_verified(
        url: &str,
        summary_keys: Option<&crate::trust::gpg::Keyring>,
    ) -> Result<RemoteRepo> {
        Self::open_cached(url, summary_keys, None)
    }

    /// As [`RemoteRepo::open_verified`], keeping the summary in `cache`
    /// (not for `file://` remotes, as ostree): when the remote's
    /// `summary.sig` is byte for byte the cached one, the cached summary is
    /// used instead of fetching it; if that cached summary then fails
    /// verification it is fetched anew (or, with
    /// [`SummaryCache::fail_on_invalid`], the pull fails). A summary fetched
    /// with a `summary.sig` is cached after it verified, never before.
    pub fn open_cached(
        url: &str,
        summary_keys: Option<&crate::trust::gpg::Keyring>,
        cache: Option<&SummaryCache>,
    ) -> Result<RemoteRepo> {
        let fetcher = Fetcher::new(url)?;
        let cache = cache.filter(|_| matches!(fetcher.kind, FetchKind::Http(_)));
        let config = fetcher
            .get("config", MAX_SUMMARY)?
            .ok_or_else(|| PullError::NotARepo {
                url: fetcher.url("config"),
                why: fetcher.missing_reason(),
            })?;
        let text = String::from_utf8_lossy(&config);
        let config = crate::repo::keyfile::KeyFile::parse(&text).map_err(|e| PullError::Fetch {
            url: fetcher.url("config"),
            why: e.to_string(),
        })?;
        let mode = config.get("core", "mode").unwrap_or("bare").to_string();
        if RepoMode::parse(&mode) != Some(RepoMode::Archive) {
            return Err(PullError::RemoteMode {
                url: fetcher.base.clone(),
                mode,
            });
        }
        // summary.sig is fetched first, as ostree does, and kept even when
        // not verified: a mirror copies it as it is.
        let sig = fetcher.get("summary.sig", MAX_SUMMARY)?;
        if summary_keys.is_some() && sig.is_none() {
            return Err(PullError::SummaryUnsigned("no summary.sig found"));
        }
        let mut from_cache = false;
        let mut bytes = None;
        if let (Some(c), Some(sig)) = (cache, &sig) {
            if c.read(".sig")?.as_ref() == Some(sig) {
                bytes = c.read("")?;
                match bytes {
                    Some(_) => from_cache = true,
                    None => c.remove(".sig")?, // a signature without its summary
                }
            }
        }
        if bytes.is_none() {
            bytes = fetcher.get("summary", MAX_SUMMARY)?;
        }
        if let (Some(keys), Some(sig)) = (summary_keys, &sig) {
            let verify = |b: Option<&[u8]>| -> Result<()> {
                let b = b.ok_or(PullError::SummaryUnsigned("no summary found"))?;
                // A summary.sig that is no a{sv} holds no signatures.
                let meta = Metadata::from_bytes(sig).unwrap_or_default();
                crate::trust::gpg::require_good(b, &meta, keys, "summary.sig")
                    .map_err(PullError::SummarySignature)
            };
            if let Err(e) = verify(bytes.as_deref()) {
                if !from_cache {
                    return Err(e);
                }
                if let Some(c) = cache.filter(|c| c.fail_on_invalid) {
                    return Err(PullError::InvalidCache(c.remote.clone()));
                }
                from_cache = false;
                bytes = fetcher.get("summary", MAX_SUMMARY)?;
                verify(bytes.as_deref())?;
            }
        }
        if let (Some(c), false, Some(b), Some(sig)) = (cache, from_cache, &bytes, &sig) {
            c.store(b, sig)?;
        }
        let (summary, summary_error) = match &bytes {
            Some(b) => match Summary::from_bytes(b, Path::new(&fetcher.url("summary"))) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, None),
        };
        let summary_sig = sig.filter(|_| bytes.is_some() && summary_error.is_none());
        let summary_bytes = bytes.filter(|_| summary_error.is_none());
        Ok(RemoteRepo {
            fetcher,
            summary,
            summary_error,
            summary_bytes,
            summary_sig,
        })
    }

    /// The summary's bytes as fetched (or read from the cache), if the remote has one.
    pub fn summary_bytes(&self) -> Option<&[u8]> {
        self.summary_bytes.as_deref()
    }

    /// The `summary.sig` that came with the summary, if any.
    pub fn summary_sig(&self) -> Option<&[u8]> {
        self.summary_sig.as_deref()
    }

    /// Copies the remote's `summary` and `summary.sig`, byte for byte as
    /// fetched (and verified, if they were), into `dst` — what `ostree pull
    /// --mirror` does when it mirrors every ref. The summary goes first, its
    /// signatures last; a `summary.sig` the remote lacks is removed. Does
    /// nothing if the remote has no summary.
    pub fn write_mirror_summary(&self, dst: &Repo) -> Result<()> {
        let Some(bytes) = &self.summary_bytes else {
            return Ok(());
        };
        crate::repo::write_atomic(&dst.path().join("summary"), bytes, &dst.tmp_dir())?;
        let sig_path = dst.path().join("summary.sig");
        match &self.summary_sig {
            Some(sig) => crate::repo::write_atomic(&sig_path, sig, &dst.tmp_dir())?,
            None => match std::fs::remove_file(&sig_path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(RepoError::Io {
                        path: sig_path,
                        source: e,
                    }
                    .into())
                }
            },
        }
        Ok(())
    }

    /// The commit a remote ref points at: from the summary if there is one, else `refs/heads/REF`.
    pub fn resolve(&self, name: &RefName) -> Result<Checksum> {
        let not_found = || PullError::RefNotFound {
            name: name.clone(),
            url: self.fetcher.base.clone(),
        };
        if let Some(e) = &self.summary_error {
            return Err(PullError::Summary(e.clone()));
        }
        if let Some(s) = &self.summary {
            return s
                .refs
                .iter()
                .find(|r| r.name == name.as_str())
                .map(|r| r.checksum)
                .ok_or_else(not_found);
        }
        let rel = format!("refs/heads/{name}");
        let bytes = self.fetcher.get(&rel, MAX_SUMMARY)?.ok_or_else(not_found)?;
        let text = String::from_utf8_lossy(&bytes);
        text.trim().parse().map_err(|_| {
            // ostree shows the first 64 characters, one line.
            let shown: String = text
                .chars()
                .take(64)
                .map(|c| if c == '\n' { ' ' } else { c })
                .collect();
            PullError::InvalidRefContent {
                name: name.clone(),
                text: shown,
            }
        })
    }

    /// The refs the remote's summary lists (`remote refs`); an error without a summary.
    pub fn list_refs(&self) -> Result<Vec<RefName>> {
        if let Some(e) = &self.summary_error {
            return Err(PullError::Summary(e.clone()));
        }
        if self.summary.is_none() {
            return Err(PullError::Summary(
                "Remote refs not available; server has no summary file".into(),
            ));
        }
        let mut refs = self.summary_refs();
        refs.sort();
        Ok(refs)
    }

    /// Every ref the summary lists (empty without a summary).
    pub fn summary_refs(&self) -> Vec<RefName> {
        self.summary
            .iter()
            .flat_map(|s| s.refs.iter().filter_map(|r| r.name.parse().ok()))
            .collect()
    }

    /// Fetches and verifies a metadata object; `None` if the server lacks it.
    fn fetch_metadata(&self, name: &ObjectName) -> Result<Option<Vec<u8>>> {
        let Some(bytes) = self.fetcher.get(&object_rel(name), MAX_METADATA_OBJECT)? else {
            return Ok(None);
        };
        if name.objtype != ObjectType::CommitMeta {
            let actual = Checksum::digest(&bytes);
            if actual != name.checksum {
                return Err(PullError::Corrupted {
                    name: *name,
                    actual,
                });
            }
        }
        Ok(Some(bytes))
    }

    fn fetch_required(&self, name: &ObjectName) -> Result<Vec<u8>> {
        self.fetch_metadata(name)?
            .ok_or_else(|| PullError::ObjectNotFound {
                name: *name,
                url: self.fetcher.url(&object_rel(name)),
                why: self.fetcher.missing_reason(),
            })
    }
}

/// The plan of a pull, computed before anything is written.
pub struct PullPlan {
    /// Refs to move once everything is in, each compare-and-swap against `old`.
    pub refs: BTreeMap<Refspec, RefMove>,
    /// Commits the destination lacks (or has partial), parents first, with
    /// their verified bytes and detached metadata.
    pub commits: Vec<(Checksum, Vec<u8>, Option<Vec<u8>>)>,
    /// Verified dirtree and dirmeta objects the destination lacks.
    pub metadata: Vec<(ObjectName, Vec<u8>)>,
    /// Content objects the destination lacks.
    pub content: Vec<Checksum>,
    /// Only part of the commits' trees is fetched: their partial markers stay.
    pub keep_partial: bool,
    /// Detached metadata fetched again for commits the destination holds.
    pub detached: Vec<(Checksum, Vec<u8>)>,
    /// How content objects are checked as they arrive.
    pub content_policy: ContentPolicy,
}

/// How content objects are checked as they arrive.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContentPolicy {
    /// Archive destinations store the `.filez` unhashed ([`PullOptions::http_trusted`]).
    pub trusted: bool,
    /// [`PullOptions::bareuseronly_files`].
    pub bareuseronly_files: bool,
}

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
    Err(PullError::Downgrade {
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
) -> Result<PullPlan> {
    let mut refs = BTreeMap::new();
    let mut tips = Vec::new();
    // Tips reached through a ref, with the commit that ref holds now (for `timestamp_check`).
    let mut ref_tips: Vec<(Checksum, Option<Checksum>)> = Vec::new();
    for item in items {
        match item {
            PullItem::Commit(c) => tips.push(*c),
            PullItem::Ref(name) | PullItem::RefAt(name, _) => {
                let c = match item {
                    PullItem::RefAt(_, c) => *c,
                    _ => remote.resolve(name)?,
                };
                let dest = opts.dest_ref(name);
                let current = dst.read_ref_exact(&dest)?;
                // `main main@C main`: the last request for a ref wins.
                match RefMove::plan(dst, &dest, c)? {
                    Some(m) => refs.insert(dest, m),
                    None => refs.remove(&dest),
                };
                ref_tips.push((c, current));
                tips.push(c);
            }
        }
    }
    let from_ts = match opts.timestamp_check_from {
        Some(rev) => Some((
            rev,
            dst.load_commit(rev)
                .map_err(|source| PullError::TimestampFrom { rev, source })?
                .timestamp,
        )),
        None => None,
    };

    // History: a commit the destination has complete is read locally.
    let mut commits = Vec::new();
    let mut detached = Vec::new();
    let mut timestamps = std::collections::HashMap::new();
    let mut seen = HashSet::new();
    for tip in tips {
        let mut cur = Some(tip);
        let mut level = 0i64;
        while let Some(c) = cur {
            if !seen.insert(c) {
                break;
            }
            let name = ObjectName::new(c, ObjectType::Commit);
            let have = dst.has_object(&name) && !dst.is_partial(c);
            let commit = if have {
                // As ostree: a commit already here is checked too (with its
                // local detached metadata) before a ref may move to it.
                // Signatures missing here are fetched again, as ostree does.
                if let Some(keyring) = &opts.verify {
                    let bytes = dst.read_metadata(&name)?;
                    let meta = match dst.read_detached_metadata(c)? {
                        Some(m) => m,
                        None => {
                            let mname = ObjectName::new(c, ObjectType::CommitMeta);
                            let raw = remote
                                .fetch_metadata(&mname)?
                                .ok_or(PullError::Unsigned { commit: c })?;
                            let m =
                                Metadata::from_bytes(&raw).map_err(|source| PullError::Format {
                                    name: mname,
                                    source,
                                })?;
                            detached.push((c, raw));
                            m
                        }
                    };
                    crate::trust::gpg::require_good(&bytes, &meta, keyring, &format!("commit {c}"))
                        .map_err(|why| PullError::Signature { commit: c, why })?;
                }
                dst.load_commit(c)?
            } else {
                let Some(bytes) = remote.fetch_metadata(&name)? else {
                    if c == tip {
                        return Err(PullError::CommitNotFound(c));
                    }
                    break; // a missing parent ends the history, as ostree
                };
                let commit = Commit::from_bytes(&bytes)
                    .map_err(|source| PullError::Format { name, source })?;
                if let Some((rev, ts)) = from_ts {
                    check_timestamp(rev, ts, c, commit.timestamp)?;
                }
                let meta = remote.fetch_metadata(&ObjectName::new(c, ObjectType::CommitMeta))?;
                let parsed_meta = match &meta {
                    Some(m) => {
                        Some(Metadata::from_bytes(m).map_err(|source| PullError::Format {
                            name: ObjectName::new(c, ObjectType::CommitMeta),
                            source,
                        })?)
                    }
                    None => None,
                };
                if let Some(keyring) = &opts.verify {
                    let meta = parsed_meta
                        .as_ref()
                        .ok_or(PullError::Unsigned { commit: c })?;
                    crate::trust::gpg::require_good(&bytes, meta, keyring, &format!("commit {c}"))
                        .map_err(|why| PullError::Signature { commit: c, why })?;
                }
                let parsed = commit.clone();
                commits.push((c, bytes, meta, parsed));
                commit
            };
            timestamps.insert(c, commit.timestamp);
            cur = if opts.depth < 0 || level < opts.depth as i64 {
                commit.parent
            } else {
                None
            };
            level += 1;
        }
    }
    commits.reverse();
    if opts.timestamp_check {
        for (c, current) in &ref_tips {
            if let (Some(cur), Some(&ts)) = (current, timestamps.get(c)) {
                check_timestamp(*cur, dst.load_commit(*cur)?.timestamp, *c, ts)?;
            }
        }
    }

    // Trees, level by level; dirtrees the destination has are read locally.
    // Each tree is walked at the path it appears (subpaths choose entries by path).
    let mut metadata = Vec::new();
    let mut seen_trees = HashSet::new();
    let mut seen_metas = HashSet::new();
    let mut content = Vec::new();
    let mut seen_content = HashSet::new();
    let mut frontier: Vec<(Checksum, String)> = Vec::new();
    let mut metas = Vec::new();
    let by_path = !opts.subpaths.is_empty();
    let mut want_meta = |m: Checksum, metas: &mut Vec<Checksum>| {
        if seen_metas.insert(m) && !dst.has_object(&ObjectName::new(m, ObjectType::DirMeta)) {
            metas.push(m);
        }
    };
    let mut want_tree = |t: Checksum, path: String, frontier: &mut Vec<(Checksum, String)>| {
        let key = (t, if by_path { path.clone() } else { String::new() });
        if seen_trees.insert(key) {
            frontier.push((t, path));
        }
    };
    if !opts.commit_only {
        for (_, _, _, commit) in &commits {
            want_tree(commit.root_contents, String::new(), &mut frontier);
            want_meta(commit.root_meta, &mut metas);
        }
    }
    let mut trees = std::collections::HashMap::new();
    while !frontier.is_empty() {
        let level: Vec<(Checksum, String)> = std::mem::take(&mut frontier);
        let missing: Vec<Checksum> = {
            let mut m: Vec<Checksum> = level
                .iter()
                .map(|(t, _)| *t)
                .filter(|t| {
                    !trees.contains_key(t)
                        && !dst.has_object(&ObjectName::new(*t, ObjectType::DirTree))
                })
                .collect();
            m.sort();
            m.dedup();
            m
        };
        let fetched = parallel_map(&missing, |&t| {
            let name = ObjectName::new(t, ObjectType::DirTree);
            let bytes = remote.fetch_required(&name)?;
            let tree =
                DirTree::from_bytes(&bytes).map_err(|source| PullError::Format { name, source })?;
            Ok((name, bytes, tree))
        })?;
        for (name, bytes, tree) in fetched {
            metadata.push((name, bytes));
            trees.insert(name.checksum, tree);
        }
        for (t, path) in level {
            let tree = match trees.get(&t) {
                Some(tree) => tree.clone(),
                None => dst.load_dirtree(t)?,
            };
            for f in &tree.files {
                if !matches_subpaths(&opts.subpaths, &format!("{path}/{}", f.name), false) {
                    continue;
                }
                if seen_content.insert(f.checksum) && !dst.has_content(f.checksum) {
                    content.push(f.checksum);
                }
            }
            for d in &tree.dirs {
                let sub = format!("{path}/{}", d.name);
                if !matches_subpaths(&opts.subpaths, &sub, true) {
                    continue;
                }
                want_tree(d.tree, sub, &mut frontier);
                want_meta(d.meta, &mut metas);
            }
        }
    }
    let fetched = parallel_map(&metas, |&m| {
        let name = ObjectName::new(m, ObjectType::DirMeta);
        let bytes = remote.fetch_required(&name)?;
        crate::objects::DirMeta::from_bytes(&bytes)
            .map_err(|source| PullError::Format { name, source })?;
        Ok((name, bytes))
    })?;
    metadata.extend(fetched);
    // Written dirmetas first, then dirtrees; their order among themselves does not
    // matter, as the commit that makes them reachable lands last.
    metadata.sort_by_key(|(n, _)| (n.objtype != ObjectType::DirMeta, n.checksum));
    let commits = commits.into_iter().map(|(c, b, m, _)| (c, b, m)).collect();
    Ok(PullPlan {
        refs,
        commits,
        detached,
        metadata,
        content,
        keep_partial: opts.is_partial(),
        content_policy: ContentPolicy {
            trusted: opts.http_trusted,
            bareuseronly_files: opts.bareuseronly_files,
        },
    })
}

/// Carries out a plan: content, then dirmeta/dirtree, then commits; sync; refs.
pub fn execute(
    remote: &RemoteRepo,
    dst: &Repo,
    plan: &PullPlan,
    progress: &(dyn Fn(PullProgress) + Sync),
) -> Result<PullStats> {
    let total = (plan.content.len() + plan.metadata.len() + plan.commits.len()) as u64;
    let done = AtomicU64::new(0);
    let tick = || {
        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(PullProgress {
            done: d,
            total,
            bytes: remote.fetcher.bytes_received(),
        });
    };
    let marked: Vec<Checksum> = plan
        .commits
        .iter()
        .map(|(c, _, _)| *c)
        .filter(|&c| !dst.has_object(&ObjectName::new(c, ObjectType::Commit)))
        .collect();
    for &c in &marked {
        dst.set_partial(c, true, false)?;
    }
    let written = AtomicU64::new(0);
    let result = (|| -> Result<()> {
        parallel_map(&plan.content, |&c| {
            let n = fetch_content(remote, dst, c, plan.content_policy)?;
            written.fetch_add(n, Ordering::Relaxed);
            tick();
            Ok(())
        })?;
        for (name, bytes) in &plan.metadata {
            dst.write_metadata_as(*name, bytes)?;
            tick();
        }
        for (c, bytes, meta) in &plan.commits {
            dst.write_metadata_as(ObjectName::new(*c, ObjectType::Commit), bytes)?;
            if let Some(m) = meta {
                let parsed = Metadata::from_bytes(m).map_err(|source| PullError::Format {
                    name: ObjectName::new(*c, ObjectType::CommitMeta),
                    source,
                })?;
                dst.write_detached_metadata(*c, Some(&parsed))?;
            }
            tick();
        }
        for (c, m) in &plan.detached {
            let parsed = Metadata::from_bytes(m).map_err(|source| PullError::Format {
                name: ObjectName::new(*c, ObjectType::CommitMeta),
                source,
            })?;
            dst.write_detached_metadata(*c, Some(&parsed))?;
        }
        dst.sync()?;
        Ok(())
    })();
    if let Err(e) = result {
        // Markers only for commits that never landed: nothing else refers to them.
        for &c in &marked {
            if !dst.has_object(&ObjectName::new(c, ObjectType::Commit)) {
                let _ = dst.set_partial(c, false, false);
            }
        }
        return Err(e);
    }
    if !plan.keep_partial {
        for (c, _, _) in &plan.commits {
            dst.set_partial(*c, false, false)?;
        }
    }
    let mut moved = Vec::new();
    for (spec, m) in &plan.refs {
        dst.set_ref(spec, Some(m.new), Some(m.old))?;
        moved.push((spec.clone(), m.old, m.new));
    }
    Ok(PullStats {
        commits: plan.commits.len() as u64,
        metadata_fetched: (plan.metadata.len() + plan.commits.len()) as u64,
        content_fetched: plan.content.len() as u64,
        bytes_received: remote.fetcher.bytes_received(),
        content_bytes_written: written.into_inner(),
        refs: moved,
    })
}

/// Plans and executes.
pub fn pull(
    remote: &RemoteRepo,
    dst: &Repo,
    items: &[PullItem],
    opts: &PullOptions,
    progress: &(dyn Fn(PullProgress) + Sync),
) -> Result<PullStats> {
    let plan = plan(remote, dst, items, opts)?;
    execute(remote, dst, &plan, progress)
}

/// Fetches one content object, verifies it (unless `policy.trusted` and the
/// destination is an archive) and writes it into `dst`; returns its size.
fn fetch_content(
    remote: &RemoteRepo,
    dst: &Repo,
    checksum: Checksum,
    policy: ContentPolicy,
) -> Result<u64> {
    let name = ObjectName::new(checksum, ObjectType::File);
    let rel = object_rel(&name);
    let url = remote.fetcher.url(&rel);
    let body = remote
        .fetcher
        .open(&rel)?
        .ok_or_else(|| PullError::ObjectNotFound {
            name,
            url: url.clone(),
            why: remote.fetcher.missing_reason(),
        })?;
    let format = |e: FormatError| PullError::Format { name, source: e };
    let read_err = |source: io::Error| {
        if matches!(
            source.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
        ) {
            PullError::Format {
                name,
                source: FormatError::malformed("compressed content", source),
            }
        } else {
            PullError::Read {
                url: url.clone(),
                source,
            }
        }
    };
    if dst.mode() == RepoMode::Archive {
        // Keep the bytes as served; hash the decompressed content on the way.
        let mut tmp = dst.temp_file()?;
        let tpath = tmp.path().to_path_buf();
        let n = {
            let mut w = io::BufWriter::with_capacity(128 * 1024, tmp.as_file_mut());
            let mut tee = Tee {
                inner: io::BufReader::with_capacity(64 * 1024, body),
                out: &mut w,
                err: None,
                count: 0,
            };
            let step = (|| -> Result<(u64, u64)> {
                let ah = read_archive_header(&mut tee).map_err(format)?;
                if policy.bareuseronly_files {
                    crate::repo::check_bare_user_only_mode(checksum, ah.header.mode)?;
                }
                if !policy.trusted {
                    let actual = hash_filez_body(&ah, &mut tee).map_err(read_err)?;
                    if actual != checksum {
                        return Err(PullError::Corrupted { name, actual });
                    }
                }
                io::copy(&mut tee, &mut io::sink()).map_err(read_err)?;
                Ok((tee.count, ah.size))
            })();
            if let Some(e) = tee.err.take() {
                return Err(RepoError::Io {
                    path: tpath,
                    source: e,
                }
                .into());
            }
            let n = step?;
            w.flush().map_err(|source| RepoError::Io {
                path: tpath.clone(),
                source,
            })?;
            n
        };
        let (n, size) = n;
        remote.fetcher.received.fetch_add(n, Ordering::Relaxed);
        crate::repo::set_mode(tmp.as_file(), 0o644).map_err(|source| RepoError::Io {
            path: tpath.clone(),
            source,
        })?;
        dst.link_into_place(tmp, &dst.content_path(checksum))?;
        return Ok(size);
    }
    // Other modes: decompress into the store, which hashes and must match.
    let counted = Counted {
        inner: io::BufReader::with_capacity(64 * 1024, body),
        count: &remote.fetcher.received,
    };
    let mut r = counted;
    let ah = read_archive_header(&mut r).map_err(format)?;
    if policy.bareuseronly_files {
        crate::repo::check_bare_user_only_mode(checksum, ah.header.mode)?;
    }
    let size = if ah.header.is_regular() { ah.size } else { 0 };
    let mut reader: Box<dyn Read> = if ah.header.is_regular() {
        Box::new(filez_body(&ah, r))
    } else {
        Box::new(io::empty())
    };
    dst.write_content_known(checksum, &ah.header, size, &mut reader)
        .map_err(|e| match e {
            RepoError::Corrupted { name, actual } => PullError::Corrupted { name, actual },
            RepoError::ContentRead { source } => read_err(source),
            RepoError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
                PullError::Format {
                    name,
                    source: FormatError::malformed("compressed content", source),
                }
            }
            e => e.into(),
        })?;
    Ok(size)
}

/// Counts bytes read into the fetcher's total.
struct Counted<'a, R> {
    inner: R,
    count: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// [`super::pool::map`] on [`FETCH_THREADS`] threads.
fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> Result<U> + Sync) -> Result<Vec<U>> {
    super::pool::map(items, FETCH_THREADS, f)
}
