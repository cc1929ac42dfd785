//! Object storage as a transfer sink: an S3-compatible bucket (or a plain
//! directory) holding an archive repository under a key prefix, written
//! through the `object_store` crate.
//!
//! The store is synchronous to its callers: it owns a tokio runtime and
//! blocks on it; several worker threads may block on it at once, which is
//! how uploads run in parallel (the transfer engine's pool, with the store
//! as its sink: [`super::store_sink`]).
//!
//! Writes come in three kinds, after what the key holds:
//! - immutable objects (content, dirtrees, commits, delta parts):
//!   [`Store::put_new`], a create-only write (`If-None-Match: *`); "already
//!   exists" means present, which is success;
//! - files that move under a compare-and-swap (refs, summary, the prune
//!   record): [`Store::put_if`] with the [`Version`] (ETag) read before, or
//!   [`Expect::Absent`]; a mismatch is [`StoreError::Moved`];
//! - files rewritten whole (delta indexes, `.commitmeta`): [`Store::put`].
//!
//! On S3 the conditions are the store's own (`If-None-Match`, `If-Match`).
//! A `file://` target has no conditional overwrite, so a writer holds an
//! exclusive `flock` on `ROOT/.grove-publish.lock` for its whole life and
//! compares versions under it: every grove publisher of that directory
//! takes the same lock, and a killed one releases it with its process.
//!
//! Large bodies (over [`MULTIPART_THRESHOLD`]) go up in parts; retries with
//! backoff on 5xx and timeouts are the client's (`object_store::RetryConfig`).
//! Every request is counted by kind ([`RequestCounts`]).
//!
//! Upstream has no equivalent (ostree leaves publishing to `rsync`); the
//! write modes are object_store's `PutMode`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};
use serde::Serialize;

use crate::repo::target::{Credentials, Target, TargetUrl};

/// Bodies larger than this go up as multipart uploads.
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
const PART_SIZE: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{url}: access denied (check the AWS credentials and the bucket policy): {why}")]
    Denied { url: String, why: String },
    #[error("{url}/{key}: another publisher changed it since this publish read it")]
    Moved { url: String, key: String },
    #[error("{url}/{key}: {why}")]
    Request {
        url: String,
        key: String,
        why: String,
    },
    #[error("{url}: {why}")]
    Open { url: String, why: String },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a key held when it was read: the store's ETag (and version id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    pub e_tag: Option<String>,
    pub version: Option<String>,
}

impl Version {
    fn update(&self) -> UpdateVersion {
        UpdateVersion {
            e_tag: self.e_tag.clone(),
            version: self.version.clone(),
        }
    }
}

/// What a compare-and-swap write expects the key to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Absent,
    Version(Version),
}

impl From<Option<Version>> for Expect {
    fn from(v: Option<Version>) -> Self {
        v.map(Expect::Version).unwrap_or(Expect::Absent)
    }
}

/// A body to upload: in memory, or spooled to a file when large.
pub enum Payload {
    Bytes(Vec<u8>),
    File { file: File, len: u64 },
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A key found by [`Store::list`].
#[derive(Clone, Debug)]
pub struct Listed {
    /// The key relative to the repository root.
    pub key: String,
    pub size: u64,
    pub version: Version,
}

/// Requests made, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub list: u64,
    pub delete: u64,
}

#[derive(Default)]
struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
}

/// An archive repository in object storage, opened for reading and writing.
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Key prefix of the repository root, empty or ending in `/`.
    prefix: String,
    url: String,
    rt: tokio::runtime::Runtime,
    counters: Counters,
    /// `file://` targets: the exclusive lock held while this store is open.
    _lock: Option<File>,
    /// Whether conditional overwrites are checked here (under `_lock`) rather than by the store.
    local_cas: bool,
    local_cas_guard: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Opens `target`. S3 targets use `credentials` when given (else the
    /// store's own fallbacks, such as instance metadata); a `file://`
    /// target's directory is created if missing and locked.
    pub fn open(target: &Target, credentials: Option<&Credentials>) -> Result<Store> {
        let url = target.url.to_string();
        let open_err = |why: String| StoreError::Open {
            url: url.clone(),
            why,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| open_err(format!("starting the I/O runtime: {e}")))?;
        let (inner, prefix, lock): (Arc<dyn ObjectStore>, String, Option<File>) = match &target.url
        {
            TargetUrl::S3 { bucket, prefix } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&target.region)
                    .with_virtual_hosted_style_request(!target.path_style)
                    .with_allow_http(target.allow_http)
                    .with_retry(object_store::RetryConfig {
                        backoff: object_store::BackoffConfig::default(),
                        max_retries: 5,
                        retry_timeout: Duration::from_secs(60),
                    })
                    .with_client_options(
                        object_store::ClientOptions::new()
                            .with_allow_http(target.allow_http)
                            .with_connect_timeout(Duration::from_secs(10))
                            .with_timeout(Duration::from_secs(300)),
                    );
                if let Some(e) = &target.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(c) = credentials {
                    b = b
                        .with_access_key_id(&c.access_key_id)
                        .with_secret_access_key(&c.secret_access_key);
                    if let Some(t) = &c.session_token {
                        b = b.with_token(t);
                    }
                }
                let s = b.build().map_err(|e| open_err(e.to_string()))?;
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                };
                (Arc::new(s), prefix, None)
            }
            TargetUrl::File { path } => {
                std::fs::create_dir_all(path).map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
                let lock_path = path.join(".grove-publish.lock");
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|source| StoreError::Io {
                        path: lock_path.clone(),
                        source,
                    })?;
                use std::os::fd::AsFd;
                rustix::fs::flock(
                    f.as_fd(),
                    rustix::fs::FlockOperation::NonBlockingLockExclusive,
                )
                .map_err(|_| {
                    open_err(format!(
                        "another grove publish holds {} (it stops when that publish ends)",
                        lock_path.display()
                    ))
                })?;
                let s = object_store::local::LocalFileSystem::new_with_prefix(path)
                    .map_err(|e| open_err(e.to_string()))?
                    .with_automatic_cleanup(true);
                (Arc::new(s), String::new(), Some(f))
            }
        };
        let local_cas = lock.is_some();
        Ok(Store {
            inner,
            prefix,
            url,
            rt,
            counters: Counters::default(),
            _lock: lock,
            local_cas,
            local_cas_guard: Mutex::new(()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn requests(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            get: c.get.load(Ordering::Relaxed),
            head: c.head.load(Ordering::Relaxed),
            put: c.put.load(Ordering::Relaxed),
            list: c.list.load(Ordering::Relaxed),
            delete: c.delete.load(Ordering::Relaxed),
        }
    }

    fn key(&self, key: &str) -> Key {
        Key::from(format!("{}{key}", self.prefix))
    }

    fn err(&self, key: &str, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => StoreError::Denied {
                url: self.url.clone(),
                why: one_line(&source.to_string()),
            },
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. } => StoreError::Moved {
                url: self.url.clone(),
                key: key.to_string(),
            },
            e => StoreError::Request {
                url: self.url.clone(),
                key: key.to_string(),
                why: one_line(&e.to_string()),
            },
        }
    }

    /// GETs `key`: its bytes and version, or `None` when absent.
    pub fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>> {
        self.counters.get.fetch_add(1, Ordering::Relaxed);
        let k = self.key(key);
        let r = self.rt.block_on(async {
            let r = self.inner.get(&k).await?;
            let v = Version {
                e_tag: r.meta.e_tag.clone(),
                version: r.meta.version.clone(),
            };
            let bytes = r.bytes().await?;
            Ok::<_, object_store::Error>((bytes.to_vec(), v))
        });
        match r {
            Ok(x) => Ok(Some(x)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// The version of `key`, or `None` when absent.
    pub fn head(&self, key: &str) -> Result<Option<Version>> {
        self.counters.head.fetch_add(1, Ordering::Relaxed);
        match self.rt.block_on(self.inner.head(&self.key(key))) {
            Ok(m) => Ok(Some(Version {
                e_tag: m.e_tag,
                version: m.version,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    fn put_mode(&self, key: &str, payload: PutPayload, mode: PutMode) -> Result<Version> {
        self.counters.put.fetch_add(1, Ordering::Relaxed);
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let r = self
            .rt
            .block_on(self.inner.put_opts(&self.key(key), payload, opts))
            .map_err(|e| self.err(key, e))?;
        Ok(Version {
            e_tag: r.e_tag,
            version: r.version,
        })
    }

    /// Writes an immutable object unless the key exists; false when it did
    /// (whatever it holds: immutable keys are named by their content).
    pub fn put_new(&self, key: &str, payload: Payload) -> Result<bool> {
        match payload {
            Payload::Bytes(b) => match self.put_mode(key, b.into(), PutMode::Create) {
                Ok(_) => Ok(true),
                Err(StoreError::Moved { .. }) => Ok(false),
                Err(e) => Err(e),
            },
            Payload::File { file, len } => {
                // Multipart uploads have no create-only form: look first.
                if self.head(key)?.is_some() {
                    return Ok(false);
                }
                self.put_multipart(key, file, len)?;
                Ok(true)
            }
        }
    }

    fn put_multipart(&self, key: &str, mut file: File, len: u64) -> Result<()> {
        self.counters.put.fetch_add(1, Ordering::Relaxed);
        let k = self.key(key);
        let io = |source| StoreError::Io {
            path: PathBuf::from(format!("(spooled body of {key})")),
            source,
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let r: Result<()> = self.rt.block_on(async {
            let upload = self
                .inner
                .put_multipart(&k)
                .await
                .map_err(|e| self.err(key, e))?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut left = len;
            let mut buf = vec![0u8; PART_SIZE];
            while left > 0 {
                let n = (left as usize).min(buf.len());
                if let Err(e) = file.read_exact(&mut buf[..n]) {
                    let _ = w.abort().await;
                    return Err(io(e));
                }
                if let Err(e) = w.wait_for_capacity(4).await {
                    return Err(self.err(key, e));
                }
                w.write(&buf[..n]);
                left -= n as u64;
            }
            w.finish().await.map_err(|e| self.err(key, e))?;
            Ok(())
        });
        r
    }

    /// Overwrites `key` whatever it holds.
    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<Version> {
        self.put_mode(key, bytes.into(), PutMode::Overwrite)
    }

    /// Writes `key` only if it still holds what `expect` says (compare and
    /// swap); [`StoreError::Moved`] otherwise.
    pub fn put_if(&self, key: &str, bytes: Vec<u8>, expect: &Expect) -> Result<Version> {
        if self.local_cas {
            let _g = self
                .local_cas_guard
                .lock()
                .expect("no panics under the guard");
            let now = self.head(key)?;
            let ok = match expect {
                Expect::Absent => now.is_none(),
                Expect::Version(v) => now.as_ref() == Some(v),
            };
            if !ok {
                return Err(StoreError::Moved {
                    url: self.url.clone(),
                    key: key.to_string(),
                });
            }
            return self.put(key, bytes);
        }
        let mode = match expect {
            Expect::Absent => PutMode::Create,
            Expect::Version(v) => PutMode::Update(v.update()),
        };
        self.put_mode(key, bytes.into(), mode)
    }

    /// Deletes `key` (absent is fine).
    pub fn delete(&self, key: &str) -> Result<()> {
        self.counters.delete.fetch_add(1, Ordering::Relaxed);
        match self.rt.block_on(self.inner.delete(&self.key(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Deletes `key` if it still holds `version` (checked just before: the
    /// store has no conditional delete; under a `file://` target's lock the
    /// check is exact).
    pub fn delete_if(&self, key: &str, version: &Version) -> Result<()> {
        let _g = self
            .local_cas_guard
            .lock()
            .expect("no panics under the guard");
        if self.head(key)?.as_ref() != Some(version) {
            return Err(StoreError::Moved {
                url: self.url.clone(),
                key: key.to_string(),
            });
        }
        self.delete(key)
    }

    /// Every key under `dir` (relative to the repository root, e.g. `refs/heads/`).
    pub fn list(&self, dir: &str) -> Result<Vec<Listed>> {
        self.counters.list.fetch_add(1, Ordering::Relaxed);
        let k = self.key(dir.trim_end_matches('/'));
        let prefix_len = self.prefix.len();
        let r: std::result::Result<Vec<Listed>, object_store::Error> = self.rt.block_on(async {
            let mut out = Vec::new();
            let mut s = self.inner.list(Some(&k));
            while let Some(m) = s.next().await {
                let m = match m {
                    Ok(m) => m,
                    // A file:// target may hold a directory the lister cannot read: report it.
                    Err(e) => return Err(e),
                };
                let full = m.location.to_string();
                let key = full.get(prefix_len..).unwrap_or_default().to_string();
                out.push(Listed {
                    key,
                    size: m.size,
                    version: Version {
                        e_tag: m.e_tag,
                        version: m.version,
                    },
                });
            }
            Ok(out)
        });
        let mut v = r.map_err(|e| self.err(dir, e))?;
        // Leftovers of an interrupted local write (`KEY#N`) are no keys.
        v.retain(|l| !(self.local_cas && l.key.contains('#')));
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
