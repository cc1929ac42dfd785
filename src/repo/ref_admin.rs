//! Refs by hand, as `ostree refs` handles them: listing under a prefix,
//! deleting what a prefix names, and the rules of `--create` (a ref, an
//! alias, or a collection ref).
//!
//! Upstream: `ostree_repo_list_refs_ext` in `ostree-repo-refs.c` (the
//! prefix rules) and `ot-builtin-refs.c` (`--create`, `--alias`,
//! `--collections`).
//!
//! A prefix that names a directory of refs lists the refs under it, the
//! prefix stripped unless `full_names`; a prefix that names a ref lists that
//! ref; `REMOTE:` lists everything of that remote. Listings are sorted by
//! name (ostree prints them in hash-table order; a stable order is a
//! deliberate improvement).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::objects::checksum::Checksum;
use crate::repo::collections::{CollectionId, CollectionRef, CollectionSources};
use crate::repo::refs::{RefError, RefName, Refspec};
use crate::repo::Repo;

/// What a listed ref points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefValue {
    Commit(Checksum),
    /// An alias and the ref it stands for.
    Alias(RefName),
}

/// One listed ref: its name as printed and its value. Serialized as
/// `{"checksum", "ref"}` or, for an alias, `{"ref", "target"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedRef {
    pub name: String,
    pub value: RefValue,
}

impl Serialize for ListedRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match &self.value {
            RefValue::Commit(c) => {
                m.serialize_entry("checksum", c)?;
                m.serialize_entry("ref", &self.name)?;
            }
            RefValue::Alias(t) => {
                m.serialize_entry("ref", &self.name)?;
                m.serialize_entry("target", t.as_str())?;
            }
        }
        m.end()
    }
}

/// Serialized as `{"collection_id", "ref"}`.
impl Serialize for CollectionRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("collection_id", self.collection.as_str())?;
        m.serialize_entry("ref", self.name.as_str())?;
        m.end()
    }
}

/// Why a ref could not be listed, made or removed.
#[derive(Debug, thiserror::Error)]
pub enum RefAdminError {
    #[error("Listing refs: {0}")]
    Prefix(RefError),
    #[error("--create specified but ref {0} already exists")]
    Exists(String),
    #[error("Cannot create alias to remote ref: {0}")]
    AliasToRemote(String),
    #[error(transparent)]
    Ref(#[from] RefError),
}

pub type Result<T, E = RefAdminError> = std::result::Result<T, E>;

/// Refs (or, with `aliases`, only aliases) under `prefix`, sorted by name.
pub fn list(
    repo: &Repo,
    prefix: Option<&str>,
    full_names: bool,
    aliases: bool,
) -> Result<Vec<ListedRef>> {
    let all: Vec<(Refspec, RefValue)> = if aliases {
        (repo.list_aliases()?.into_iter())
            .map(|(name, t)| (Refspec { remote: None, name }, RefValue::Alias(t)))
            .collect()
    } else {
        (repo.list_refs()?.into_iter())
            .map(|(s, c)| (s, RefValue::Commit(c)))
            .collect()
    };
    let mut out = match prefix {
        None => all
            .into_iter()
            .map(|(s, value)| ListedRef {
                name: s.to_string(),
                value,
            })
            .collect(),
        Some(p) => under_prefix(repo, p, all, full_names)?,
    };
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn under_prefix(
    repo: &Repo,
    prefix: &str,
    all: Vec<(Refspec, RefValue)>,
    full_names: bool,
) -> Result<Vec<ListedRef>> {
    let whole = |(s, value): (Refspec, RefValue)| ListedRef {
        name: s.to_string(),
        value,
    };
    // `REMOTE:` lists everything of that remote.
    if let Some(remote) = prefix
        .strip_suffix(':')
        .or_else(|| prefix.strip_suffix(":."))
    {
        if !remote.is_empty() && !remote.contains(['/', ':']) {
            return Ok(all
                .into_iter()
                .filter(|(s, _)| s.remote.as_deref() == Some(remote))
                .map(whole)
                .collect());
        }
    }
    let spec: Refspec = prefix.parse().map_err(RefAdminError::Prefix)?;
    let base = match &spec.remote {
        Some(r) => repo.path().join("refs/remotes").join(r),
        None => repo.path().join("refs/heads"),
    };
    let Ok(meta) = std::fs::metadata(base.join(spec.name.as_str())) else {
        return Ok(Vec::new());
    };
    if !meta.is_dir() {
        return Ok(all
            .into_iter()
            .filter(|(s, _)| *s == spec)
            .map(whole)
            .collect());
    }
    let dir_prefix = format!("{}/", spec.name);
    let mut out = Vec::new();
    for (s, value) in all {
        if s.remote != spec.remote {
            continue;
        }
        let Some(rest) = s.name.as_str().strip_prefix(&dir_prefix) else {
            continue;
        };
        let name = match (full_names, &s.remote) {
            (true, _) => s.to_string(),
            (false, Some(r)) => format!("{r}:{rest}"),
            (false, None) => rest.to_string(),
        };
        out.push(ListedRef { name, value });
    }
    Ok(out)
}

/// Deletes every ref `prefix` names (as [`list`] finds them).
pub fn delete(repo: &Repo, prefix: Option<&str>) -> Result<()> {
    for r in list(repo, prefix, true, false)? {
        let spec: Refspec = r.name.parse()?;
        repo.set_ref(&spec, None, None)?;
    }
    Ok(())
}

/// The collection refs of `collection` (a collection ID), or all.
pub fn collection_refs(repo: &Repo, collection: Option<&str>) -> Result<Vec<CollectionRef>> {
    let only = collection
        .map(|p| p.parse::<CollectionId>().map_err(RefAdminError::Prefix))
        .transpose()?;
    Ok(repo
        .list_collection_refs(only.as_ref(), CollectionSources::ALL)?
        .into_keys()
        .collect())
}

/// What `new` holds now; a directory of refs of that name counts as
/// nothing (writing the ref reports it).
fn current(repo: &Repo, new: &str) -> Result<Option<Checksum>> {
    match repo.resolve_rev_exact_opt(new) {
        Ok(c) => Ok(c),
        Err(RefError::Unreadable(_, why)) if why == "Is a directory" => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `--create=NEW EXISTING`: the ref `new` at the commit `existing` names;
/// an existing `new` only with `force`.
pub fn create(repo: &Repo, new: &str, existing: &str, force: bool) -> Result<()> {
    if current(repo, new)?.is_some() && !force {
        return Err(RefAdminError::Exists(new.to_string()));
    }
    let spec: Refspec = new.parse()?;
    let checksum = repo.resolve_rev(existing)?;
    repo.set_ref(&spec, Some(checksum), None)?;
    Ok(())
}

/// `--create=NEW --alias EXISTING`: the local alias `new` of the ref
/// `existing`; an existing ref `new` only with `force`, an alias `new` is
/// replaced.
pub fn create_alias(repo: &Repo, new: &str, existing: &str, force: bool) -> Result<()> {
    let current = current(repo, new)?;
    let replacing_alias = new
        .parse::<RefName>()
        .is_ok_and(|n| repo.list_aliases().is_ok_and(|a| a.contains_key(&n)));
    if !replacing_alias && !force && current.is_some() {
        return Err(RefAdminError::Exists(new.to_string()));
    }
    let spec: Refspec = new.parse()?;
    if let Some(r) = &spec.remote {
        return Err(RefAdminError::AliasToRemote(r.clone()));
    }
    if !repo.list_refs()?.keys().any(|s| s.to_string() == existing) {
        return Err(RefError::AliasTarget(existing.to_string()).into());
    }
    let target: RefName = existing.parse()?;
    repo.set_alias(&spec.name, &target)?;
    Ok(())
}

/// `--collections --create=COLLECTION:REF EXISTING`: a ref of the
/// repository's own collection is a local ref, any other a mirrored one
/// (`refs/mirrors`).
pub fn create_collection_ref(repo: &Repo, new: &str, existing: &str, force: bool) -> Result<()> {
    if current(repo, new)?.is_some() && !force {
        return Err(RefAdminError::Exists(new.to_string()));
    }
    let checksum = repo.resolve_rev(existing)?;
    let cref = CollectionRef::parse_colon(new)?;
    repo.set_collection_ref(&cref, Some(checksum))?;
    Ok(())
}

/// Deletes the collection refs of `collection`, or all.
pub fn delete_collection_refs(repo: &Repo, collection: Option<&str>) -> Result<()> {
    for cref in collection_refs(repo, collection)? {
        repo.set_collection_ref(&cref, None)?;
    }
    Ok(())
}
