//! What a repository lacks below a set of root trees: the walk a pull's
//! plan makes for the commits it brings loose ([`super::pull::plan`]), and
//! the engine makes after static deltas to find what a delta did not bring
//! (its fallback objects, or everything once a delta failed). Level by
//! level: dirtrees the repository has are read there, the others fetched
//! from the source on [`super::pool`], hashed and parsed; `--subpath`
//! chooses entries by path.
//!
//! Upstream: `ostree-repo-pull.c` (`scan_dirtree_object`,
//! `scan_one_metadata_object`).

use std::collections::{HashMap, HashSet};

use super::engine::PlannedObject;
use super::error::{Result, TransferError};
use super::pool;
use super::source::ObjectSource;
use super::verify;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::DirTree;
use crate::repo::Repo;

/// What a walk found missing.
#[derive(Default)]
pub struct Missing {
    /// Content objects, each once, sorted by checksum.
    pub content: Vec<Checksum>,
    /// Dirmetas, then dirtrees (each sorted by checksum), with their bytes.
    pub metadata: Vec<PlannedObject>,
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

/// A metadata object from `source`, hashed to its name.
fn fetch_checked(source: &dyn ObjectSource, name: &ObjectName) -> Result<Vec<u8>> {
    let bytes = source.metadata_required(name)?;
    verify::metadata(name, &bytes)?;
    Ok(bytes)
}

/// Walks the trees `roots` (root dirtree, root dirmeta) and lists what
/// `dst` lacks below them (see the module doc), fetching the missing
/// dirtrees and dirmetas from `source` with `workers` at once.
pub fn missing_below(
    source: &dyn ObjectSource,
    dst: &Repo,
    roots: &[(Checksum, Checksum)],
    subpaths: &[String],
    workers: usize,
) -> Result<Missing> {
    let mut out = Missing::default();
    let mut seen_trees = HashSet::new();
    let mut seen_metas = HashSet::new();
    // Content as met, repeats included; deduplicated now and then and at
    // the end: 32 bytes an object instead of a hash set's entry.
    let mut content: Vec<Checksum> = Vec::new();
    let mut deduped = 0;
    let mut frontier: Vec<(Checksum, String)> = Vec::new();
    let mut metas = Vec::new();
    let by_path = !subpaths.is_empty();
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
    for &(tree, meta) in roots {
        want_tree(tree, String::new(), &mut frontier);
        want_meta(meta, &mut metas);
    }
    let mut trees = HashMap::new();
    let mut dirtrees = Vec::new();
    while !frontier.is_empty() {
        let level: Vec<(Checksum, String)> = std::mem::take(&mut frontier);
        let mut missing: Vec<Checksum> = level
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| {
                !trees.contains_key(t) && !dst.has_object(&ObjectName::new(*t, ObjectType::DirTree))
            })
            .collect();
        missing.sort();
        missing.dedup();
        let fetched = pool::map(&missing, workers, |&t| {
            let name = ObjectName::new(t, ObjectType::DirTree);
            let bytes = fetch_checked(source, &name)?;
            let tree = DirTree::from_bytes(&bytes)
                .map_err(|source| TransferError::Format { name, source })?;
            Ok::<_, TransferError>((name, bytes, tree))
        })?;
        for (name, bytes, tree) in fetched {
            dirtrees.push(PlannedObject {
                name,
                bytes: Some(bytes),
            });
            trees.insert(name.checksum, tree);
        }
        for (t, path) in level {
            // A tree is met once unless by path: then it stays for the next path.
            let fetched = if by_path {
                trees.get(&t).cloned()
            } else {
                trees.remove(&t)
            };
            let tree = match fetched {
                Some(tree) => tree,
                None => dst.load_dirtree(t)?,
            };
            for f in &tree.files {
                if by_path && !matches_subpaths(subpaths, &format!("{path}/{}", f.name), false) {
                    continue;
                }
                content.push(f.checksum);
            }
            if content.len() > 2 * deduped.max(4096) {
                content.sort_unstable();
                content.dedup();
                deduped = content.len();
            }
            for d in &tree.dirs {
                let sub = if by_path {
                    format!("{path}/{}", d.name)
                } else {
                    String::new()
                };
                if by_path && !matches_subpaths(subpaths, &sub, true) {
                    continue;
                }
                want_tree(d.tree, sub, &mut frontier);
                want_meta(d.meta, &mut metas);
            }
        }
    }
    content.sort_unstable();
    content.dedup();
    content.retain(|&c| !dst.has_content(c));
    content.shrink_to_fit();
    out.content = content;
    let dirmetas = pool::map(&metas, workers, |&m| {
        let name = ObjectName::new(m, ObjectType::DirMeta);
        let bytes = fetch_checked(source, &name)?;
        crate::objects::DirMeta::from_bytes(&bytes)
            .map_err(|source| TransferError::Format { name, source })?;
        Ok::<_, TransferError>(PlannedObject {
            name,
            bytes: Some(bytes),
        })
    })?;
    // Dirmetas first, then dirtrees; their order among themselves does not
    // matter, as the commit that makes them reachable lands last.
    out.metadata = dirmetas;
    out.metadata.extend(dirtrees);
    out.metadata
        .sort_by_key(|o| (o.name.objtype != ObjectType::DirMeta, o.name.checksum));
    Ok(out)
}
