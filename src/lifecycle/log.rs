//! What `log` and `show` say about a commit, as typed values: the fields
//! ostree prints for a commit (parent, content checksum, date, `version`),
//! the build provenance grove records, the metadata as GVariant text, and
//! the `ostree.sizes` totals of `show --print-sizes`, which object a `show`
//! argument names ([`show_target`]) and a content object's header
//! ([`content_info`]). The porcelain renders
//! them as ostree's text or as JSON (serde of [`CommitInfo`]).
//!
//! Upstream: `ot-builtin-log.c` (`dump_log`), `ot-builtin-show.c`
//! (`print_object`, `--print-sizes`), `ot-dump.c` (`dump_commit`, whose date
//! is always UTC). History walks are [`Repo::history`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lifecycle::provenance::Provenance;
use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::sizes::{SizeEntry, SIZES_KEY};
use crate::objects::{Commit, FileHeader, FormatError};
use crate::repo::refs::RefError;
use crate::repo::{Repo, RepoError};

/// One commit as `log --json` and `show --json` report it.
#[derive(Clone, Debug, Serialize)]
pub struct CommitInfo {
    pub body: String,
    pub checksum: Checksum,
    /// [`Commit::content_checksum`].
    pub content_checksum: Checksum,
    /// The timestamp as ostree prints it: [`format_date`].
    pub date: String,
    /// Every metadata key with its value as type-annotated GVariant text.
    pub metadata: BTreeMap<String, String>,
    pub parent: Option<Checksum>,
    pub provenance: Provenance,
    pub subject: String,
    /// Seconds since the epoch.
    pub timestamp: u64,
    /// The `version` metadata string.
    pub version: Option<String>,
}

impl CommitInfo {
    pub fn new(checksum: Checksum, c: &Commit) -> CommitInfo {
        CommitInfo {
            body: c.body.clone(),
            checksum,
            content_checksum: c.content_checksum(),
            date: format_date(c.timestamp),
            metadata: c
                .metadata
                .iter()
                .map(|(k, v)| (k.to_string(), crate::gvariant::text::print(v, true)))
                .collect(),
            parent: c.parent,
            provenance: Provenance::from_metadata(&c.metadata),
            subject: c.subject.clone(),
            timestamp: c.timestamp,
            version: c.version(),
        }
    }
}

/// `2026-11-26 10:12:42 +0000`: always UTC, as `ostree log` prints it.
pub fn format_date(timestamp: u64) -> String {
    match i64::try_from(timestamp)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    {
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S +0000").to_string(),
        None => format!("(invalid timestamp {timestamp})"),
    }
}

/// The metadata object a full checksum names in `repo`, looked up as
/// `ostree show` looks: commit, then dirmeta, then dirtree; `None` when it
/// is none of them (a content object, or nothing).
pub fn metadata_object_type(repo: &Repo, checksum: Checksum) -> Option<ObjectType> {
    [ObjectType::Commit, ObjectType::DirMeta, ObjectType::DirTree]
        .into_iter()
        .find(|t| repo.has_object(&ObjectName::new(checksum, *t)))
}

/// The object a `show` argument names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowTarget {
    Commit(Checksum),
    DirMeta(Checksum),
    DirTree(Checksum),
    /// A full checksum that names no metadata object: shown as content.
    Content(Checksum),
}

/// What `ostree show OBJECT` shows: a full checksum is looked up as a
/// commit, dirmeta, dirtree, then content object; anything else is a rev.
pub fn show_target(repo: &Repo, object: &str) -> Result<ShowTarget, RefError> {
    let Ok(c) = object.parse::<Checksum>() else {
        return Ok(ShowTarget::Commit(repo.resolve_rev(object)?));
    };
    Ok(match metadata_object_type(repo, c) {
        Some(ObjectType::DirMeta) => ShowTarget::DirMeta(c),
        Some(ObjectType::DirTree) => ShowTarget::DirTree(c),
        Some(_) => ShowTarget::Commit(c),
        None => ShowTarget::Content(c),
    })
}

/// A content object's header and size (`show` of a content checksum).
#[derive(Clone, Debug)]
pub struct ContentInfo {
    pub checksum: Checksum,
    pub header: FileHeader,
    /// Uncompressed size (0 for symlinks).
    pub size: u64,
}

/// Why a content object cannot be shown, in ostree's words.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// Missing; ostree's wording differs by mode (an archive repository
    /// omits the prefix).
    #[error("{}Couldn't find file object '{checksum}'", if *.archive { String::new() } else { format!("Opening content object {checksum}: ") })]
    Missing { checksum: Checksum, archive: bool },
    #[error("Opening content object {checksum}: {source}")]
    Open {
        checksum: Checksum,
        source: RepoError,
    },
}

/// The header of content object `checksum` (its bytes are not read).
pub fn content_info(repo: &Repo, checksum: Checksum) -> Result<ContentInfo, ContentError> {
    match repo.open_content(checksum) {
        Ok(o) => Ok(ContentInfo {
            checksum,
            header: o.header,
            size: o.size,
        }),
        Err(RepoError::ObjectMissing(_)) => Err(ContentError::Missing {
            checksum,
            archive: repo.mode().is_archive(),
        }),
        Err(source) => Err(ContentError::Open { checksum, source }),
    }
}

/// Why a commit's sizes cannot be reported.
#[derive(Debug, thiserror::Error)]
pub enum SizesError {
    #[error("No metadata key {SIZES_KEY} in commit")]
    Missing,
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// The totals of a commit's `ostree.sizes`, and how much of it `repo`
/// still lacks (`show --print-sizes`: "needed/total").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub archived: u64,
    pub unpacked: u64,
    pub objects: usize,
    pub needed_archived: u64,
    pub needed_unpacked: u64,
    pub needed_objects: usize,
}

impl Sizes {
    /// Sums the `ostree.sizes` entries of `commit`; an entry counts as
    /// needed when `repo` lacks its object.
    pub fn of(repo: &Repo, commit: &Commit) -> Result<Sizes, SizesError> {
        let entries = commit
            .metadata
            .get_bytes_list(SIZES_KEY)
            .ok_or(SizesError::Missing)?;
        let mut s = Sizes {
            objects: entries.len(),
            ..Sizes::default()
        };
        for e in &entries {
            let e = SizeEntry::from_bytes(e)?;
            s.archived += e.archived;
            s.unpacked += e.unpacked;
            if !repo.has_object(&e.name) {
                s.needed_archived += e.archived;
                s.needed_unpacked += e.unpacked;
                s.needed_objects += 1;
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::Metadata;

    #[test]
    fn dates_are_utc() {
        assert_eq!(format_date(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(format_date(1_795_687_962), "2026-11-26 10:12:42 +0000");
    }

    #[test]
    fn info_fields() {
        let mut metadata = Metadata::new();
        metadata.insert_str("version", "1.0");
        let c = Commit {
            metadata,
            parent: Some(Checksum::digest(b"p")),
            related: vec![],
            subject: "s".into(),
            body: String::new(),
            timestamp: 0,
            root_contents: Checksum::digest(b"t"),
            root_meta: Checksum::digest(b"m"),
        };
        let i = CommitInfo::new(Checksum::digest(b"c"), &c);
        assert_eq!(i.version.as_deref(), Some("1.0"));
        assert_eq!(i.metadata["version"], "'1.0'");
        assert_eq!(i.content_checksum, c.content_checksum());
        let j = serde_json::to_value(&i).unwrap();
        assert_eq!(j["parent"], Checksum::digest(b"p").to_string());
    }
}
