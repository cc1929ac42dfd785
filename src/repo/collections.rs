//! Collection IDs and collection refs: refs named by `(COLLECTION-ID, REF)`.
//!
//! A collection ID is a reverse-DNS name (`org.example.Os`) that says which
//! repository a ref comes from, wherever it is mirrored. A repository may have
//! one of its own (`core.collection-id`); its refs in `refs/heads` belong to
//! that collection. Refs mirrored from other collections live in
//! `refs/mirrors/COLLECTION-ID/REF`, and the refs of a remote whose config sets
//! `collection-id` (`refs/remotes/REMOTE/REF`) belong to that collection.
//!
//! Upstream: `ostree-repo-refs.c` (`ostree_repo_list_collection_refs`,
//! `ostree_repo_set_collection_ref_immediate`) and `ostree-core.c`
//! (`ostree_validate_collection_id`, which uses D-Bus interface name rules).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::objects::checksum::Checksum;
use crate::repo::refs::{self, RefError, RefName, Refspec};
use crate::repo::Repo;

/// A validated collection ID: at least two `.`-separated elements, each a
/// letter or `_` followed by letters, digits or `_`, 255 bytes at most.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(String);

impl CollectionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_collection_id(s: &str) -> bool {
    let element_ok = |e: &str| {
        let mut chars = e.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    s.len() <= 255 && s.split('.').count() >= 2 && s.split('.').all(element_ok)
}

impl FromStr for CollectionId {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, RefError> {
        if valid_collection_id(s) {
            Ok(CollectionId(s.to_string()))
        } else {
            Err(RefError::InvalidCollectionId(s.to_string()))
        }
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A ref qualified by its collection, shown as ostree shows it: `(COLLECTION, REF)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionRef {
    pub collection: CollectionId,
    pub name: RefName,
}

impl CollectionRef {
    /// Parses `COLLECTION:REF`, the form `ostree refs --collections --create` takes.
    pub fn parse_colon(s: &str) -> Result<Self, RefError> {
        let (c, r) = s
            .split_once(':')
            .ok_or_else(|| RefError::InvalidCollectionId(s.to_string()))?;
        Ok(CollectionRef {
            collection: c.parse()?,
            name: r.parse()?,
        })
    }
}

impl fmt::Display for CollectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.collection, self.name)
    }
}

/// Which refs [`Repo::list_collection_refs`] lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionSources {
    /// `refs/heads`, when the repository has a collection ID.
    pub heads: bool,
    /// `refs/mirrors/COLLECTION/…`.
    pub mirrors: bool,
    /// `refs/remotes/REMOTE/…` of remotes that have a valid `collection-id`.
    pub remotes: bool,
}

impl CollectionSources {
    /// Every source, as `ostree refs --collections` lists them.
    pub const ALL: CollectionSources = CollectionSources {
        heads: true,
        mirrors: true,
        remotes: true,
    };
    /// Mirrored refs only (`refs/mirrors`).
    pub const MIRRORS: CollectionSources = CollectionSources {
        heads: false,
        mirrors: true,
        remotes: false,
    };
}

impl Repo {
    /// The repository's own collection ID (`core.collection-id`), if it is valid.
    pub fn collection(&self) -> Option<CollectionId> {
        self.collection_id().and_then(|s| s.parse().ok())
    }

    /// Collection refs and the commits they point at, from `sources`. `only`
    /// limits the listing to one collection. Refs of `refs/heads` are listed
    /// only when the repository has a collection ID; remotes without a valid
    /// `collection-id` are skipped; a missing `refs/mirrors` is empty.
    pub fn list_collection_refs(
        &self,
        only: Option<&CollectionId>,
        sources: CollectionSources,
    ) -> refs::Result<BTreeMap<CollectionRef, Checksum>> {
        let mut out = BTreeMap::new();
        let wanted = |c: &CollectionId| only.is_none_or(|o| o == c);
        let mut add_dir = |collection: &CollectionId, dir: &std::path::Path| -> refs::Result<()> {
            refs::read_refs_under(dir, &mut |name, c| {
                out.insert(
                    CollectionRef {
                        collection: collection.clone(),
                        name,
                    },
                    c,
                );
            })
        };
        if let Some(own) = self.collection().filter(|c| sources.heads && wanted(c)) {
            add_dir(&own, &self.path().join("refs/heads"))?;
        }
        if sources.mirrors {
            for (name, dir) in refs::ref_subdirs(&self.path().join("refs/mirrors"))? {
                if let Ok(collection) = name.parse::<CollectionId>() {
                    if wanted(&collection) {
                        add_dir(&collection, &dir)?;
                    }
                }
            }
        }
        if sources.remotes {
            for (remote, dir) in refs::ref_subdirs(&self.path().join("refs/remotes"))? {
                let configured = self
                    .config()
                    .get(&crate::repo::remote::group_name(&remote), "collection-id");
                if let Some(collection) = configured.and_then(|c| c.parse::<CollectionId>().ok()) {
                    if wanted(&collection) {
                        add_dir(&collection, &dir)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Points a collection ref at a commit (None deletes it): a ref of the
    /// repository's own collection is a local ref, any other goes to
    /// `refs/mirrors/COLLECTION/REF`.
    pub fn set_collection_ref(
        &self,
        cref: &CollectionRef,
        target: Option<Checksum>,
    ) -> refs::Result<()> {
        if self.collection().as_ref() == Some(&cref.collection) {
            return self.set_ref(
                &Refspec {
                    remote: None,
                    name: cref.name.clone(),
                },
                target,
                None,
            );
        }
        self.set_mirror_ref(cref, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_id_validation() {
        for ok in ["org.example.Os", "a.b", "_x.y_1", "com.Example_2.App"] {
            assert!(ok.parse::<CollectionId>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "org",
            "org.",
            ".org.x",
            "org..x",
            "org.1x",
            "org.ex-ample",
            "org/x.y",
        ] {
            assert!(bad.parse::<CollectionId>().is_err(), "{bad}");
        }
        let r = CollectionRef::parse_colon("org.example.C:a/b").unwrap();
        assert_eq!(r.to_string(), "(org.example.C, a/b)");
        assert!(CollectionRef::parse_colon("nocolon").is_err());
    }
}
