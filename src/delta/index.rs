//! Listing and deleting deltas, and delta indexes (`delta-indexes/`).
//!
//! From `ostree-repo-static-delta-core.c`: a delta is listed when
//! `deltas/XX/REST/superblock` exists, its name rebuilt from the two path
//! components (modified base64, split at `-`). An index
//! `delta-indexes/XX/REST.index` (the TO checksum in modified base64) is an
//! `a{sv}` whose key `ostree.static-deltas` holds an `a{sv}` from delta name
//! (`FROM-TO` or `TO`, hex) to the SHA-256 of its superblock (`ay`) — the
//! same shape the summary uses. `reindex` sets `core.indexed-deltas=true`,
//! rewrites the index of every delta target (or only one), and removes
//! indexes whose deltas are gone.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::{b64_decode, b64_encode, io_err, DeltaError, DeltaName, Result};
use crate::gvariant::{Array, Tuple};
use crate::objects::checksum::Checksum;
use crate::repo::Repo;

fn subdirs(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(DeltaError::Io {
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err(dir))?;
        if e.file_type().map_err(io_err(e.path()))?.is_dir() {
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every delta in the repository, sorted.
pub fn list(repo: &Repo) -> Result<Vec<DeltaName>> {
    let base = repo.path().join("deltas");
    let mut out = Vec::new();
    for d1 in subdirs(&base)? {
        for d2 in subdirs(&base.join(&d1))? {
            if !base.join(&d1).join(&d2).join("superblock").exists() {
                continue;
            }
            let full = format!("{d1}{d2}");
            let name = match full.split_once('-') {
                Some((a, b)) => b64_decode(a)
                    .zip(b64_decode(b))
                    .map(|(f, t)| DeltaName::new(Some(f), t)),
                None => b64_decode(&full).map(|t| DeltaName::new(None, t)),
            };
            if let Some(n) = name {
                out.push(n);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether `repo` holds the delta `name` (its superblock).
pub fn exists(repo: &Repo, name: &DeltaName) -> bool {
    repo.path().join(name.superblock_path()).exists()
}

/// Removes a delta's directory.
pub fn delete(repo: &Repo, name: &DeltaName) -> Result<()> {
    let dir = repo.path().join(name.relative_dir());
    if !dir.exists() {
        return Err(DeltaError::NotFound(name.to_string()));
    }
    fs::remove_dir_all(&dir).map_err(io_err(&dir))
}

/// `delta-indexes/XX/REST.index`: the index of the deltas to `to`.
pub fn index_path(to: &Checksum) -> String {
    let b = b64_encode(to);
    format!("delta-indexes/{}/{}.index", &b[..2], &b[2..])
}

/// The TO checksums that have an index file.
pub fn list_indexes(repo: &Repo) -> Result<Vec<Checksum>> {
    let base = repo.path().join("delta-indexes");
    let mut out = Vec::new();
    for d1 in subdirs(&base)?.into_iter().filter(|d| d.len() == 2) {
        let dir = base.join(&d1);
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let Some(n) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Some(rest) = n.strip_suffix(".index").filter(|r| r.len() == 41) else {
                continue;
            };
            if let Some(c) = b64_decode(&format!("{d1}{rest}")) {
                out.push(c);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The serialized index for the deltas `names` (all to the same commit).
pub fn index_bytes(repo: &Repo, names: &[DeltaName]) -> Result<Vec<u8>> {
    let mut with = Vec::new();
    for n in names {
        let p = repo.path().join(n.superblock_path());
        with.push((*n, Checksum::digest(&fs::read(&p).map_err(io_err(&p))?)));
    }
    Ok(index_bytes_from(&with))
}

/// The serialized index for deltas (all to the same commit) given with the
/// SHA-256 of each superblock.
pub fn index_bytes_from(names: &[(DeltaName, Checksum)]) -> Vec<u8> {
    let mut inner = Array::new(false);
    let mut sorted: Vec<&(DeltaName, Checksum)> = names.iter().collect();
    // As ostree orders them: the scratch delta first, then by source checksum.
    sorted.sort_by_key(|(n, _)| n.from.map(|c| c.to_hex()));
    for (n, digest) in sorted {
        let mut boxed = digest.as_bytes().to_vec();
        boxed.extend_from_slice(b"\0ay");
        let mut e = Tuple::new();
        e.str(&n.to_string()).var(&boxed, 8);
        inner.push(&e.finish(), 8);
    }
    let mut boxed = inner.finish();
    boxed.extend_from_slice(b"\0a{sv}");
    let mut e = Tuple::new();
    e.str("ostree.static-deltas").var(&boxed, 8);
    let mut outer = Array::new(false);
    outer.push(&e.finish(), 8);
    outer.finish()
}

/// Regenerates delta indexes, for every target or only `to`
/// (`ostree_repo_static_delta_reindex`), under the repository's shared
/// lock as ostree takes it. Sets `core.indexed-deltas=true`.
pub fn reindex(repo: &mut Repo, to: Option<Checksum>) -> Result<()> {
    let _lock = repo.lock(crate::repo::LockKind::Shared)?;
    if !matches!(
        repo.config().get_bool("core", "indexed-deltas"),
        Some(Ok(true))
    ) {
        let mut cfg = repo.config().clone();
        cfg.set("core", "indexed-deltas", "true");
        repo.write_config(cfg)?;
    }
    let mut by_to: BTreeMap<Checksum, Vec<DeltaName>> = BTreeMap::new();
    match to {
        None => {
            for c in list_indexes(repo)? {
                by_to.insert(c, Vec::new());
            }
        }
        Some(c) => {
            by_to.insert(c, Vec::new());
        }
    }
    for n in list(repo)? {
        if to.is_some_and(|t| t != n.to) {
            continue;
        }
        by_to.entry(n.to).or_default().push(n);
    }
    for (target, names) in by_to {
        let rel = index_path(&target);
        let path = repo.path().join(&rel);
        if names.is_empty() {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DeltaError::Io { path, source: e })
                }
                _ => continue,
            }
        }
        let bytes = index_bytes(repo, &names)?;
        if fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        let dir = path.parent().expect("index paths have a parent");
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // As ostree's index writer: synced only when it replaces an index.
        crate::repo::atomic::write_atomic(
            &path,
            &bytes,
            crate::repo::atomic::Fsync::WhenReplacing,
        )?;
    }
    Ok(())
}

/// Writes a delta part or superblock atomically, mode 0644,
/// without a sync ([`Fsync::Never`](crate::repo::atomic::Fsync::Never)):
/// delta files are regenerable, and ostree writes them without one too.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::repo::atomic::write_atomic(path, bytes, crate::repo::atomic::Fsync::Never)?;
    Ok(())
}

/// Delta names in a serialized `a{sv}` whose `ostree.static-deltas` key maps
/// delta names to digests (an index file, or a summary's metadata).
fn names_in(dict: &[u8]) -> Vec<DeltaName> {
    let Some(entries) = crate::objects::summary::split_vardict(dict) else {
        return Vec::new();
    };
    let Some((_, _, inner)) = entries
        .iter()
        .find(|(k, t, _)| k == "ostree.static-deltas" && t == "a{sv}")
    else {
        return Vec::new();
    };
    crate::objects::summary::split_vardict(inner)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, _, _)| k.parse().ok())
        .collect()
}

/// The deltas to `to` that `src` advertises to a client, as ostree's pull
/// finds them: those its summary lists, and those its delta index for `to`
/// names (a delta that is only on disk is not found).
pub fn advertised_to(src: &Repo, to: Checksum) -> Vec<DeltaName> {
    let mut out = Vec::new();
    if let Ok(summary) = fs::read(src.path().join("summary")) {
        if let Some(meta) =
            crate::objects::summary::Summary::from_bytes(&summary, &src.path().join("summary"))
                .ok()
                .map(|s| s.raw_metadata)
        {
            for (k, t, v) in meta {
                if k == "ostree.static-deltas" && t == "a{sv}" {
                    out.extend(
                        crate::objects::summary::split_vardict(&v)
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|(k, _, _)| k.parse::<DeltaName>().ok()),
                    );
                }
            }
        }
    }
    if let Ok(index) = fs::read(src.path().join(index_path(&to))) {
        out.extend(names_in(&index));
    }
    out.retain(|n| n.to == to);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{LockKind, RepoMode};

    #[test]
    fn reindex_waits_for_the_repository_lock() {
        let d = tempfile::tempdir().unwrap();
        let mut repo = Repo::init(d.path(), RepoMode::Archive, None).unwrap();
        let mut cfg = repo.config().clone();
        cfg.set("core", "lock-timeout-secs", "1");
        repo.write_config(cfg).unwrap();
        let held = repo.lock(LockKind::Exclusive).unwrap();
        assert!(
            reindex(&mut repo, None).is_err(),
            "reindex ran under a prune's lock"
        );
        drop(held);
        reindex(&mut repo, None).unwrap();
    }
}
