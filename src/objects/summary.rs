//! The summary format: building the bytes of `REPO/summary` for a
//! repository, and reading a summary (a local one, or one a server sent).
//! Publishing it — the `ostree-metadata` commit, the delta reindex, the
//! signed replacement of `summary` and `summary.sig` — is
//! [`crate::lifecycle::summary`]'s; the static-delta indexes under
//! `REPO/delta-indexes/` are [`crate::delta::index`]'s.
//!
//! The summary is the GVariant `(a(s(taya{sv}))a{sv})`: for every local ref,
//! sorted by name, the commit object's size, its checksum bytes and
//! `{ostree.commit.timestamp: <big-endian t>, ostree.commit.version: <s>}`;
//! then repository metadata (`ostree.static-deltas` with each delta's
//! superblock digest, `ostree.summary.*`, the collection id and map, and
//! any extra keys the caller gives). Upstream: `ostree_repo_regenerate_summary`
//! and `summary_add_ref_entry` in `ostree-repo.c`, key names in
//! `ostree-repo-private.h`, the `--view` dump in `ot-dump.c`. ostree builds
//! the dictionaries with `GVariantDict`, whose key order is GLib hash-table
//! order; grove reproduces that order so its summaries are byte-identical
//! to ostree's for the same repository and time. Reading goes through the
//! one bounds-checked reader, [`crate::gvariant::reader`].

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use zgvariant::Variant;

use crate::delta::DeltaName;
use crate::gvariant::{reader, string, Array, Tuple};
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::repo::collections::{CollectionId, CollectionSources};
use crate::repo::{Repo, RepoError};
use crate::trust::gpg;

pub const KEY_LAST_MODIFIED: &str = "ostree.summary.last-modified";
pub const KEY_EXPIRES: &str = "ostree.summary.expires";
pub const KEY_COLLECTION_ID: &str = "ostree.summary.collection-id";
pub const KEY_COLLECTION_MAP: &str = "ostree.summary.collection-map";
pub const KEY_MODE: &str = "ostree.summary.mode";
pub const KEY_TOMBSTONE_COMMITS: &str = "ostree.summary.tombstone-commits";
pub const KEY_INDEXED_DELTAS: &str = "ostree.summary.indexed-deltas";
pub const KEY_STATIC_DELTAS: &str = "ostree.static-deltas";
pub const KEY_COMMIT_TIMESTAMP: &str = "ostree.commit.timestamp";
pub const KEY_COMMIT_VERSION: &str = "ostree.commit.version";

/// Errors from building, reading and publishing the summary.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Delta(#[from] crate::delta::DeltaError),
    #[error("corrupt summary {path}: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{}: No such file or directory", path.display())]
    Missing { path: PathBuf },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Sign(#[from] gpg::SignError),
    #[error(transparent)]
    Refs(#[from] crate::repo::refs::RefError),
}

pub type Result<T, E = SummaryError> = std::result::Result<T, E>;

trait At<T> {
    fn at(self, p: &Path) -> Result<T>;
}
impl<T> At<T> for std::io::Result<T> {
    fn at(self, p: &Path) -> Result<T> {
        self.map_err(|source| SummaryError::Io {
            path: p.to_path_buf(),
            source,
        })
    }
}

// ---------------------------------------------------------------------------
// A raw a{sv}: values already serialised, with their type string.

/// A value ready to be boxed in a `v`: its normal-form bytes and type string.
#[derive(Clone, Debug, PartialEq)]
pub struct RawValue {
    pub sig: String,
    pub bytes: Vec<u8>,
}

impl RawValue {
    pub fn new(sig: &str, bytes: Vec<u8>) -> Self {
        RawValue {
            sig: sig.to_string(),
            bytes,
        }
    }
    pub fn string(s: &str) -> Self {
        RawValue::new("s", string(s))
    }
    pub fn boolean(b: bool) -> Self {
        RawValue::new("b", vec![b as u8])
    }
    /// A `t` holding `v` big-endian, as ostree stores timestamps.
    pub fn u64_be(v: u64) -> Self {
        RawValue::new("t", v.to_be_bytes().to_vec())
    }
    pub fn bytes(b: &[u8]) -> Self {
        RawValue::new("ay", b.to_vec())
    }
    pub fn from_variant(v: &Variant<'_>) -> Self {
        RawValue::new(
            &v.value_signature().to_string(),
            crate::gvariant::encode_value(v),
        )
    }
    fn boxed(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.push(0);
        out.extend_from_slice(self.sig.as_bytes());
        out
    }
}

/// An `a{sv}` built like a `GVariantDict`: inserting an existing key
/// replaces its value; serialisation follows GLib hash-table order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VarDict {
    entries: Vec<(String, RawValue)>,
}

impl VarDict {
    pub fn new() -> Self {
        VarDict::default()
    }
    pub fn insert(&mut self, key: &str, value: RawValue) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Normal-form `a{sv}` bytes, keys in `GHashTable` iteration order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        let mut arr = Array::new(false);
        for i in crate::gvariant::vardict::ghash_order(&keys) {
            let (k, v) = &self.entries[i];
            let mut t = Tuple::new();
            t.str(k).var(&v.boxed(), 8);
            arr.push(&t.finish(), 8);
        }
        arr.finish()
    }
}

// ---------------------------------------------------------------------------
// Static deltas: names, listing and indexes are `crate::delta`'s.

fn superblock_digest(repo: &Repo, d: &DeltaName) -> Result<Checksum> {
    let p = repo.path().join(d.superblock_path());
    let bytes = fs::read(&p).at(&p)?;
    Ok(Checksum::digest(&bytes))
}

// ---------------------------------------------------------------------------
// Building the summary.

/// One ref entry of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRef {
    pub name: String,
    pub commit_size: u64,
    pub checksum: Checksum,
    pub timestamp: Option<u64>,
    pub version: Option<String>,
}

impl SummaryRef {
    fn encode(&self) -> Vec<u8> {
        let mut meta = VarDict::new();
        if let Some(ts) = self.timestamp {
            meta.insert(KEY_COMMIT_TIMESTAMP, RawValue::u64_be(ts));
        }
        if let Some(v) = &self.version {
            meta.insert(KEY_COMMIT_VERSION, RawValue::string(v));
        }
        let mut inner = Tuple::new();
        inner
            .u64(self.commit_size)
            .bytes(self.checksum.as_bytes())
            .var(&meta.to_bytes(), 8);
        let mut t = Tuple::new();
        t.str(&self.name).var(&inner.finish(), 8);
        t.finish()
    }
}

fn encode_refs(refs: &[SummaryRef]) -> Vec<u8> {
    let mut arr = Array::new(false);
    for r in refs {
        arr.push(&r.encode(), 8);
    }
    arr.finish()
}

/// Builds ref entries, reading each commit once however many refs name it
/// (thousands of refs often share a few dozen commits).
#[derive(Default)]
struct RefEntries(HashMap<Checksum, SummaryRef>);

impl RefEntries {
    fn entry(&mut self, repo: &Repo, name: &str, checksum: Checksum) -> Result<SummaryRef> {
        if let Some(e) = self.0.get(&checksum) {
            return Ok(SummaryRef {
                name: name.to_string(),
                ..e.clone()
            });
        }
        let object = ObjectName::new(checksum, ObjectType::Commit);
        let bytes = repo.read_metadata(&object)?;
        let e =
            SummaryRef::for_commit(name, checksum, &bytes).map_err(|source| RepoError::Format {
                name: object,
                source,
            })?;
        self.0.insert(checksum, e.clone());
        Ok(e)
    }
}

impl SummaryRef {
    /// The entry of ref `name` at commit `checksum`, whose object is `bytes`.
    pub fn for_commit(
        name: &str,
        checksum: Checksum,
        bytes: &[u8],
    ) -> std::result::Result<SummaryRef, crate::objects::FormatError> {
        let commit = crate::objects::Commit::from_bytes(bytes)?;
        // GLib refuses dates past year 9999; ostree then omits the timestamp.
        let timestamp = (commit.timestamp <= 253_402_300_799).then_some(commit.timestamp);
        Ok(SummaryRef {
            name: name.to_string(),
            commit_size: bytes.len() as u64,
            checksum,
            timestamp,
            version: commit.version(),
        })
    }
}

/// A summary described without a repository on disk (a published copy's).
#[derive(Clone, Debug)]
pub struct SummaryContents {
    pub refs: Vec<SummaryRef>,
    /// Deltas and the SHA-256 of each superblock.
    pub deltas: Vec<(DeltaName, Checksum)>,
    /// `ostree.summary.last-modified`.
    pub now: u64,
    /// `ostree.summary.mode`.
    pub mode: String,
    pub tombstones: bool,
    pub collection_id: Option<String>,
}

/// Serialises a summary from its parts, with the keys and order of [`build`].
pub fn encode(c: &SummaryContents) -> Vec<u8> {
    let mut refs = c.refs.clone();
    refs.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut meta = VarDict::new();
    if !c.deltas.is_empty() {
        let mut dict = VarDict::new();
        for (d, digest) in &c.deltas {
            dict.insert(&d.to_string(), RawValue::bytes(digest.as_bytes()));
        }
        meta.insert(KEY_STATIC_DELTAS, RawValue::new("a{sv}", dict.to_bytes()));
    }
    meta.insert(KEY_LAST_MODIFIED, RawValue::u64_be(c.now));
    meta.insert(KEY_MODE, RawValue::string(&c.mode));
    meta.insert(KEY_TOMBSTONE_COMMITS, RawValue::boolean(c.tombstones));
    meta.insert(KEY_INDEXED_DELTAS, RawValue::boolean(true));
    if let Some(cid) = &c.collection_id {
        meta.insert(KEY_COLLECTION_ID, RawValue::string(cid));
    }
    let mut top = Tuple::new();
    top.var(&encode_refs(&refs), 8).var(&meta.to_bytes(), 8);
    top.finish()
}

/// Options for [`build`].
#[derive(Debug, Default)]
pub struct BuildOptions {
    /// Extra metadata (`summary -m KEY=VALUE`), first in the dictionary.
    pub additional: Vec<(String, RawValue)>,
    /// Seconds since the epoch for `ostree.summary.last-modified`.
    pub now: u64,
    /// Ref edits prepared but not yet committed: the summary lists the refs
    /// as they will be once they are (a promotion publishes its summary
    /// before its ref move commits, see `lifecycle::promote`).
    pub pending: Vec<crate::repo::transaction::RefEdit>,
}

/// Serialises the summary for the repository as it is now (the bytes
/// `ostree summary -u` would write at time `opts.now`).
pub fn build(repo: &Repo, opts: &BuildOptions, deltas: &[DeltaName]) -> Result<Vec<u8>> {
    let mut meta = VarDict::new();
    for (k, v) in &opts.additional {
        meta.insert(k, v.clone());
    }
    // Collection refs: those of the repository's own collection go into the
    // main refs list, the others (mirrored, or of remotes with a collection
    // ID) into the collection map, as ostree does.
    let main_cid = repo.collection();
    let mut collections: BTreeMap<CollectionId, BTreeMap<String, Checksum>> = BTreeMap::new();
    for (cref, c) in repo.list_collection_refs(None, CollectionSources::ALL)? {
        collections
            .entry(cref.collection)
            .or_default()
            .insert(cref.name.to_string(), c);
    }
    let heads = match &main_cid {
        Some(own) => collections.remove(own).unwrap_or_default(),
        None => {
            // Local refs (refs/heads); remote refs never go into a summary.
            // Aliases are refs here too, as in ostree's summary.
            let mut heads = BTreeMap::new();
            crate::repo::refs::read_refs_under(&repo.path().join("refs/heads"), &mut |name, c| {
                heads.insert(name.to_string(), c);
            })?;
            heads
        }
    };
    let mut heads = heads;
    for e in opts.pending.iter().filter(|e| e.spec.remote.is_none()) {
        match e.new {
            Some(c) => heads.insert(e.spec.name.to_string(), c),
            None => heads.remove(e.spec.name.as_str()),
        };
    }
    let mut entries = RefEntries::default();
    let mut refs = Vec::new();
    for (name, c) in &heads {
        refs.push(entries.entry(repo, name, *c)?);
    }
    refs.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));

    if !matches!(
        repo.config().get_bool("core", "no-deltas-in-summary"),
        Some(Ok(true))
    ) && !deltas.is_empty()
    {
        let mut dict = VarDict::new();
        for d in deltas {
            dict.insert(
                &d.to_string(),
                RawValue::bytes(superblock_digest(repo, d)?.as_bytes()),
            );
        }
        meta.insert(KEY_STATIC_DELTAS, RawValue::new("a{sv}", dict.to_bytes()));
    }
    meta.insert(KEY_LAST_MODIFIED, RawValue::u64_be(opts.now));
    meta.insert(
        KEY_MODE,
        RawValue::string(repo.config().get("core", "mode").unwrap_or("bare")),
    );
    let tombstones = matches!(
        repo.config().get_bool("core", "tombstone-commits"),
        Some(Ok(true))
    );
    meta.insert(KEY_TOMBSTONE_COMMITS, RawValue::boolean(tombstones));
    meta.insert(KEY_INDEXED_DELTAS, RawValue::boolean(true));

    if let Some(cid) = &main_cid {
        meta.insert(KEY_COLLECTION_ID, RawValue::string(cid.as_str()));
    }
    let mut cmap = Array::new(false);
    let mut n_map = 0;
    for (cid, m) in &collections {
        let mut list = Vec::new();
        for (name, c) in m {
            list.push(entries.entry(repo, name, *c)?);
        }
        list.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        n_map += list.len();
        let mut t = Tuple::new();
        t.str(cid.as_str()).var(&encode_refs(&list), 8);
        cmap.push(&t.finish(), 8);
    }
    if n_map > 0 {
        meta.insert(
            KEY_COLLECTION_MAP,
            RawValue::new("a{sa(s(taya{sv}))}", cmap.finish()),
        );
    }

    let mut top = Tuple::new();
    top.var(&encode_refs(&refs), 8).var(&meta.to_bytes(), 8);
    Ok(top.finish())
}

/// The ref of the repository metadata commit (ostree's `OSTREE_REPO_METADATA_REF`).
pub const METADATA_REF: &str = "ostree-metadata";

// ---------------------------------------------------------------------------
// Reading a summary.

/// Splits serialised `a{sv}` bytes into `(key, type string, value bytes)` in
/// stored order (decoders that build maps lose the order ostree wrote); the
/// owned form of [`reader::vardict`]. None when the bytes are no `a{sv}`.
pub fn split_vardict(b: &[u8]) -> Option<Vec<(String, String, Vec<u8>)>> {
    let entries = reader::vardict(b).ok()?;
    Some(
        entries
            .into_iter()
            .map(|(k, v, t)| (k.to_string(), t.to_string(), v.to_vec()))
            .collect(),
    )
}

/// A decoded summary.
#[derive(Debug)]
pub struct Summary {
    pub refs: Vec<SummaryRef>,
    /// Other metadata of each ref entry beyond timestamp and version.
    pub ref_extra: Vec<Metadata>,
    /// `ostree.summary.collection-map`: refs of other collections, by
    /// collection ID, each with the other metadata of its entry.
    pub collection_refs: Vec<(String, Vec<(SummaryRef, Metadata)>)>,
    pub metadata: Metadata,
    /// The metadata as stored: `(key, type string, value bytes)` in file order.
    pub raw_metadata: Vec<(String, String, Vec<u8>)>,
}

/// Reads one `(s(taya{sv}))` ref entry: the ref, and its entry's metadata.
fn read_ref_entry(entry: &[u8]) -> std::result::Result<(SummaryRef, Metadata), String> {
    let (name, checksum, inner) = ref_entry_head(entry)?;
    let err = |what: &str, e: &dyn std::fmt::Display| format!("ref {name}: {what}: {e}");
    let commit_size = reader::u64_le(inner[0]).map_err(|e| err("size", &e))?;
    let meta = Metadata::from_bytes(inner[2]).map_err(|e| err("metadata", &e))?;
    let timestamp = match meta.get(KEY_COMMIT_TIMESTAMP).map(|v| &**v) {
        Some(Variant::U64(t)) => Some(u64::from_be(*t)),
        _ => None,
    };
    let version = meta.get_str(KEY_COMMIT_VERSION);
    Ok((
        SummaryRef {
            name: name.to_string(),
            commit_size,
            checksum,
            timestamp,
            version,
        },
        meta,
    ))
}

/// The name and commit of one `(s(taya{sv}))` ref entry, and the members
/// of its inner tuple (size, checksum, metadata) for whoever reads on.
fn ref_entry_head(entry: &[u8]) -> std::result::Result<(&str, Checksum, Vec<&[u8]>), String> {
    let m = reader::tuple(entry, &[reader::var(1), reader::var(8)]).map_err(|e| e.to_string())?;
    let name = reader::string(m[0]).map_err(|e| format!("ref name: {e}"))?;
    let err = |what: &str, e: &dyn std::fmt::Display| format!("ref {name}: {what}: {e}");
    let inner = reader::tuple(m[1], &[reader::fixed(8, 8), reader::var(1), reader::var(8)])
        .map_err(|e| err("entry", &e))?;
    let checksum = Checksum::from_slice(inner[1]).map_err(|e| err("checksum", &e))?;
    Ok((name, checksum, inner))
}

/// Reads an `a(s(taya{sv}))` list of ref entries.
fn read_ref_entries(bytes: &[u8]) -> std::result::Result<Vec<(SummaryRef, Metadata)>, String> {
    reader::var_array(bytes, 8)
        .map_err(|e| format!("refs: {e}"))?
        .into_iter()
        .map(read_ref_entry)
        .collect()
}

impl Summary {
    /// Parses a summary (bytes from a server: every offset is checked by
    /// [`crate::gvariant::reader`], and malformed input is
    /// [`SummaryError::Corrupt`] naming `path`).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Summary> {
        let corrupt = |why: String| SummaryError::Corrupt {
            path: path.to_path_buf(),
            why,
        };
        let top = reader::tuple(bytes, &[reader::var(8), reader::var(8)])
            .map_err(|e| corrupt(e.to_string()))?;
        let (refs, ref_extra) = read_ref_entries(top[0])
            .map_err(corrupt)?
            .into_iter()
            .unzip();
        let metadata = Metadata::from_bytes(top[1]).map_err(|e| corrupt(e.to_string()))?;
        let raw_metadata =
            split_vardict(top[1]).ok_or_else(|| corrupt("malformed metadata dictionary".into()))?;
        let mut collection_refs = Vec::new();
        if let Some((_, _, map)) = raw_metadata
            .iter()
            .find(|(k, t, _)| k == KEY_COLLECTION_MAP && t == "a{sa(s(taya{sv}))}")
        {
            let in_map = |e: String| corrupt(format!("{KEY_COLLECTION_MAP}: {e}"));
            let mut by_collection = BTreeMap::new();
            for entry in reader::var_array(map, 8).map_err(|e| in_map(e.to_string()))? {
                let m = reader::tuple(entry, &[reader::var(1), reader::var(8)])
                    .map_err(|e| in_map(e.to_string()))?;
                let collection = reader::string(m[0]).map_err(|e| in_map(e.to_string()))?;
                by_collection.insert(
                    collection.to_string(),
                    read_ref_entries(m[1]).map_err(in_map)?,
                );
            }
            collection_refs = by_collection.into_iter().collect();
        }
        Ok(Summary {
            refs,
            ref_extra,
            collection_refs,
            metadata,
            raw_metadata,
        })
    }

    /// Reads `REPO/summary`.
    pub fn read(repo: &Repo) -> Result<Summary> {
        let (bytes, p) = read_file(repo)?;
        Summary::from_bytes(&bytes, &p)
    }

    /// The name and commit of each ref in `REPO/summary`'s main list (not
    /// its collection map): what `status` compares with the refs, thousands
    /// of them at Flathub's size. Each dictionary's framing is checked (the
    /// summary's and each entry's), not decoded into values.
    pub fn read_ref_list(repo: &Repo) -> Result<Vec<(String, Checksum)>> {
        let (bytes, p) = read_file(repo)?;
        let corrupt = |why: String| SummaryError::Corrupt {
            path: p.clone(),
            why,
        };
        let top = reader::tuple(&bytes, &[reader::var(8), reader::var(8)])
            .map_err(|e| corrupt(e.to_string()))?;
        reader::vardict(top[1]).map_err(|e| corrupt(format!("metadata: {e}")))?;
        reader::var_array(top[0], 8)
            .map_err(|e| corrupt(format!("refs: {e}")))?
            .into_iter()
            .map(|entry| {
                let (name, checksum, inner) = ref_entry_head(entry).map_err(&corrupt)?;
                reader::vardict(inner[2])
                    .map_err(|e| corrupt(format!("ref {name}: metadata: {e}")))?;
                Ok((name.to_string(), checksum))
            })
            .collect()
    }
}

/// The bytes of `REPO/summary`, and its path.
fn read_file(repo: &Repo) -> Result<(Vec<u8>, PathBuf)> {
    let p = repo.path().join("summary");
    match fs::read(&p) {
        Ok(b) => Ok((b, p)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(SummaryError::Missing { path: p })
        }
        Err(e) => Err(SummaryError::Io { path: p, source: e }),
    }
}

// ---------------------------------------------------------------------------
// Publishing is the life cycle's: `crate::lifecycle::summary`.

/// Publication moved to [`crate::lifecycle::summary`]; these names stay
/// reachable here for callers written before the move.
pub use crate::lifecycle::summary::{
    update, write_metadata_commit, Published, SummaryLock, UpdateOptions,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_encodes_and_refuses_every_truncation() {
        let c: Checksum = "a0dfaf6c8e3d7c1b54d97cfeb18a551b5dae8e1ec3edc3595b13d63e8f683d1a"
            .parse()
            .expect("hex");
        let refs = ["exampleos/x86_64/stable", "main"].map(|name| SummaryRef {
            name: name.to_string(),
            commit_size: 300,
            checksum: c,
            timestamp: Some(1_600_000_000),
            version: Some("1.0".into()),
        });
        let bytes = encode(&SummaryContents {
            refs: refs.to_vec(),
            deltas: vec![(DeltaName::new(None, c), c)],
            now: 1_700_000_000,
            mode: "archive-z2".into(),
            tombstones: false,
            collection_id: Some("org.example.Os".into()),
        });
        let s = Summary::from_bytes(&bytes, Path::new("summary")).expect("valid summary");
        assert_eq!(s.refs.len(), 2);
        for (got, want) in s.refs.iter().zip(&refs) {
            assert_eq!(got.name, want.name);
            assert_eq!(got.commit_size, 300);
            assert_eq!(got.checksum, c);
            assert_eq!(got.timestamp, want.timestamp);
            assert_eq!(got.version, want.version);
        }
        let keys: Vec<_> = s.raw_metadata.iter().map(|(k, _, _)| k.as_str()).collect();
        assert!(keys.contains(&KEY_STATIC_DELTAS), "{keys:?}");
        assert_eq!(
            s.metadata.get_str(KEY_COLLECTION_ID).as_deref(),
            Some("org.example.Os")
        );
        for n in 0..bytes.len() {
            // Any prefix, and any single corrupted framing byte, is an error
            // or a summary — never a panic.
            let _ = Summary::from_bytes(&bytes[..n], Path::new("summary"));
            let mut b = bytes.clone();
            b[n] ^= 0xff;
            let _ = Summary::from_bytes(&b, Path::new("summary"));
        }
        let e = Summary::from_bytes(&bytes[..bytes.len() - 1], Path::new("REPO/summary"))
            .expect_err("a truncated summary is corrupt");
        assert!(e.to_string().contains("REPO/summary"), "{e}");
    }

    #[test]
    fn b64_roundtrip() {
        let c: Checksum = "a0dfaf6c8e3d7c1b54d97cfeb18a551b5dae8e1ec3edc3595b13d63e8f683d1a"
            .parse()
            .expect("hex");
        let b = crate::delta::b64_encode(&c);
        assert_eq!(b, "oN+vbI49fBtU2Xz+sYpVG12ujh7D7cNZWxPWPo9oPRo");
        assert_eq!(crate::delta::b64_decode(&b), Some(c));
        let d = DeltaName::new(None, c);
        assert_eq!(
            d.relative_dir(),
            "deltas/oN/+vbI49fBtU2Xz+sYpVG12ujh7D7cNZWxPWPo9oPRo"
        );
    }

    #[test]
    fn hash_order_matches_glib_for_summary_keys() {
        // Order observed from ostree 2022.7 `summary -u -m foo=… -m num=…` with deltas.
        let keys = [
            "foo",
            "num",
            KEY_STATIC_DELTAS,
            KEY_LAST_MODIFIED,
            KEY_MODE,
            KEY_TOMBSTONE_COMMITS,
            KEY_INDEXED_DELTAS,
        ];
        let order: Vec<&str> = crate::gvariant::vardict::ghash_order(&keys)
            .into_iter()
            .map(|i| keys[i])
            .collect();
        assert_eq!(
            order,
            [
                KEY_MODE,
                "num",
                KEY_LAST_MODIFIED,
                KEY_STATIC_DELTAS,
                KEY_TOMBSTONE_COMMITS,
                KEY_INDEXED_DELTAS,
                "foo"
            ]
        );
    }
}
