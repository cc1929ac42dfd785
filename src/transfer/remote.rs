//! An archive repository served over `http://`, `https://` or `file://`
//! — what a static web server serves — as a transfer source
//! ([`ObjectSource`]): its `config` (it must say `mode=archive-z2`), its
//! `summary` (kept in a [`SummaryCache`], verified when the remote's
//! `gpg-verify-summary` asks), its refs (through the summary, else
//! `refs/heads/REF`) and its objects, fetched by path
//! (`objects/XX/REST.{commit,dirtree,dirmeta,filez,commitmeta}`). The
//! [`Fetcher`] only GETs; what to fetch is the plan's business
//! ([`super::pull`]) and what is accepted [`super::verify`]'s.
//!
//! Upstream: `ostree-repo-pull.c` (`fetch_*`, the summary cache
//! `_ostree_repo_load_cache_summary_*`), `ostree-fetcher-curl.c`.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::error::{Result, TransferError};
use super::source::{Content, ObjectSource};
use super::verify;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::objects::summary::Summary;
use crate::objects::FormatError;
use crate::repo::refs::RefName;
use crate::repo::{Repo, RepoError, RepoMode};

/// Concurrent fetches (ostree keeps 8 requests outstanding too).
pub const FETCH_THREADS: usize = 8;

/// Largest summary or ref file accepted.
pub const MAX_SUMMARY: u64 = 64 * 1024 * 1024;

/// Largest metadata object (commit, dirtree, dirmeta, commitmeta) accepted:
/// ostree 2022.7's `OSTREE_MAX_METADATA_SIZE`, so grove pulls what those
/// clients pull.
pub const MAX_METADATA_OBJECT: u64 = 10 * 1024 * 1024;

/// Where objects come from: an HTTP(S) base URL or a local directory.
pub struct Fetcher {
    base: String,
    kind: FetchKind,
    /// Bytes received.
    received: Arc<AtomicU64>,
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
                return Err(TransferError::Url(url.to_string()));
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
            return Err(TransferError::Url(url.to_string()));
        };
        Ok(Fetcher {
            base,
            kind,
            received: Arc::new(AtomicU64::new(0)),
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
                Err(source) => Err(TransferError::Read { url, source }),
            },
            FetchKind::Http(agent) => match agent.get(&url).call() {
                Ok(resp) => Ok(Some(Box::new(resp.into_reader()))),
                Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => Ok(None),
                Err(ureq::Error::Status(status, _)) => Err(TransferError::Status { url, status }),
                Err(ureq::Error::Transport(t)) => Err(TransferError::Fetch {
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
            .map_err(|source| TransferError::Read {
                url: url.clone(),
                source,
            })?;
        if buf.len() as u64 > limit {
            return Err(TransferError::TooLarge { url, limit });
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

    /// The cache of `remote` for `repo`: under `cache_dir` if given, else
    /// under the repository's `tmp/cache`.
    pub fn of_repo(
        repo: &crate::repo::Repo,
        cache_dir: Option<&Path>,
        remote: &str,
        fail_on_invalid: bool,
    ) -> Self {
        let dir = cache_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.path().join("tmp/cache"));
        SummaryCache {
            fail_on_invalid,
            ..SummaryCache::new(&dir, remote)
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

/// A summary the remote's `gpg-verify-summary` requires is unsigned.
fn summary_unsigned(why: &'static str) -> TransferError {
    TransferError::SummaryUnsigned {
        why,
        hint: " (use gpg-verify-summary=false in remote config to disable)",
    }
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
        let config =
            fetcher
                .get("config", MAX_SUMMARY)?
                .ok_or_else(|| TransferError::NotARepo {
                    url: fetcher.url("config"),
                    why: fetcher.missing_reason(),
                })?;
        let text = String::from_utf8_lossy(&config);
        let config =
            crate::repo::keyfile::KeyFile::parse(&text).map_err(|e| TransferError::Fetch {
                url: fetcher.url("config"),
                why: e.to_string(),
            })?;
        let mode = config.get("core", "mode").unwrap_or("bare").to_string();
        if RepoMode::parse(&mode) != Some(RepoMode::Archive) {
            return Err(TransferError::RemoteMode {
                url: fetcher.base.clone(),
                mode,
            });
        }
        // summary.sig is fetched first, as ostree does, and kept even when
        // not verified: a mirror copies it as it is.
        let sig = fetcher.get("summary.sig", MAX_SUMMARY)?;
        if summary_keys.is_some() && sig.is_none() {
            return Err(summary_unsigned("no summary.sig found"));
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
                let b = b.ok_or(summary_unsigned("no summary found"))?;
                // A summary.sig that is no a{sv} holds no signatures.
                let meta = Metadata::from_bytes(sig).unwrap_or_default();
                crate::trust::gpg::require_good(b, &meta, keys, "summary.sig")
                    .map_err(TransferError::SummarySignature)
            };
            if let Err(e) = verify(bytes.as_deref()) {
                if !from_cache {
                    return Err(e);
                }
                if let Some(c) = cache.filter(|c| c.fail_on_invalid) {
                    return Err(TransferError::InvalidCache(c.remote.clone()));
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

    /// The OpenPGP signatures in the `summary.sig` this remote served,
    /// each checked against `keys` at `now`; `None` when it served no
    /// summary or no `summary.sig`.
    pub fn summary_signatures(
        &self,
        keys: &crate::trust::gpg::Keyring,
        now: std::time::SystemTime,
    ) -> std::result::Result<
        Option<Vec<crate::trust::gpg::SignatureReport>>,
        crate::trust::gpg::SignError,
    > {
        use crate::trust::gpg;
        let (Some(bytes), Some(sig)) = (self.summary_bytes(), self.summary_sig()) else {
            return Ok(None);
        };
        let meta = Metadata::from_bytes(sig).unwrap_or_default();
        let sigs = gpg::gpgsigs(&meta).map_err(|why| gpg::SignError::CorruptSignature {
            what: "summary.sig".to_string(),
            why,
        })?;
        gpg::verify(bytes, &sigs, keys, now, "summary.sig").map(Some)
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
        let not_found = || TransferError::NoSuchBranch {
            name: name.clone(),
            url: self.fetcher.base.clone(),
        };
        if let Some(e) = &self.summary_error {
            return Err(TransferError::Summary(e.clone()));
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
            TransferError::InvalidRefContent {
                name: name.clone(),
                text: shown,
            }
        })
    }

    /// The refs the remote's summary lists (`remote refs`); an error without a summary.
    pub fn list_refs(&self) -> Result<Vec<RefName>> {
        if let Some(e) = &self.summary_error {
            return Err(TransferError::Summary(e.clone()));
        }
        if self.summary.is_none() {
            return Err(TransferError::Summary(
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
    pub(crate) fn fetch_metadata(&self, name: &ObjectName) -> Result<Option<Vec<u8>>> {
        let bytes = self.metadata(name)?;
        if let Some(b) = &bytes {
            verify::metadata(name, b)?;
        }
        Ok(bytes)
    }
}

/// An archive remote as a transfer source.
impl ObjectSource for RemoteRepo {
    /// Those its summary lists, and its delta index for `to` when the
    /// summary says it keeps indexes (or there is no summary).
    fn delta_offers(&self, to: Checksum) -> Result<Vec<crate::delta::fetch::Offer>> {
        Ok(crate::delta::fetch::offers(self, to)?.0)
    }

    fn delta_superblock(
        &self,
        offer: crate::delta::fetch::Offer,
    ) -> Result<crate::delta::fetch::Fetched> {
        crate::delta::fetch::fetch_superblock(self, offer)
    }

    fn delta_part(
        &self,
        name: crate::delta::DeltaName,
        i: usize,
        h: &crate::delta::superblock::PartHeader,
    ) -> Result<Vec<u8>> {
        crate::delta::fetch::fetch_part(self, name, i, h)
    }

    fn place(&self) -> &'static str {
        "on the remote"
    }

    fn gpg_hint(&self) -> &'static str {
        " (use gpg-verify=false in remote config to disable)"
    }

    fn metadata(&self, name: &ObjectName) -> Result<Option<Vec<u8>>> {
        self.fetcher.get(&object_rel(name), MAX_METADATA_OBJECT)
    }

    fn missing(&self, name: &ObjectName) -> TransferError {
        TransferError::ObjectNotFound {
            name: *name,
            url: self.fetcher.url(&object_rel(name)),
            why: self.fetcher.missing_reason(),
        }
    }

    fn content(&self, checksum: Checksum) -> Result<Content> {
        let name = ObjectName::new(checksum, ObjectType::File);
        let body = self
            .fetcher
            .open(&object_rel(&name))?
            .ok_or_else(|| self.missing(&name))?;
        Ok(Content::Filez(Box::new(Counted {
            inner: io::BufReader::with_capacity(64 * 1024, body),
            count: Arc::clone(&self.fetcher.received),
        })))
    }

    fn read_error(&self, name: ObjectName, source: io::Error) -> TransferError {
        if verify::is_malformed(&source) {
            TransferError::Format {
                name,
                source: FormatError::malformed("compressed content", source),
            }
        } else {
            TransferError::Read {
                url: self.fetcher.url(&object_rel(&name)),
                source,
            }
        }
    }

    fn workers(&self) -> usize {
        FETCH_THREADS
    }

    fn bytes_received(&self) -> u64 {
        self.fetcher.bytes_received()
    }
}

/// Counts bytes read into the fetcher's total.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
