//! The one error type of the transfer engine: every variant names the
//! object, ref, commit or URL at fault, in ostree's words where ostree has
//! them (`ostree-repo-pull.c`).

use std::io;

use crate::objects::checksum::{Checksum, ObjectName};
use crate::objects::FormatError;
use crate::progress::Interrupted;
use crate::repo::refs::{RefError, RefName};
use crate::repo::RepoError;
use crate::tree::traverse::TraverseError;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    // Resolving what to pull.
    /// A local source has no such ref.
    #[error("Refspec '{0}' not found in the source repository")]
    RefNotFound(String),
    /// A remote has no such branch.
    #[error("No such branch '{name}' in remote {url}")]
    NoSuchBranch { name: RefName, url: String },
    /// `place`: where the source looked ("in the source repository", "on the remote").
    #[error("Commit {commit} not found {place}")]
    CommitNotFound {
        commit: Checksum,
        place: &'static str,
    },
    /// Pulling every ref of a source that holds remote refs, as ostree refuses it.
    #[error("Invalid ref name {0}")]
    RemoteRefInSource(String),
    #[error("Commit {0} is partial in the source repository")]
    PartialSource(Checksum),
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

    // Verification.
    #[error("Corrupted {} object; checksum expected='{}' actual='{actual}'", .name.objtype, .name.checksum)]
    Corrupted { name: ObjectName, actual: Checksum },
    #[error("{name}: {source}")]
    Format {
        name: ObjectName,
        source: FormatError,
    },
    /// `hint`: how to turn the check off, for a remote's configuration.
    #[error("Commit {commit}: GPG verification enabled, but no signatures found{hint}")]
    Unsigned {
        commit: Checksum,
        hint: &'static str,
    },
    #[error("Commit {commit}: GPG verification failed: {why}")]
    Signature { commit: Checksum, why: String },
    #[error("GPG verification enabled, but {why}{hint}")]
    SummaryUnsigned {
        why: &'static str,
        hint: &'static str,
    },
    #[error("summary: GPG verification failed: {0}")]
    SummarySignature(String),

    // Reading the source.
    /// An object a local source holds could not be read.
    #[error("{} object {} in the source repository: {source}", .name.objtype, .name.checksum)]
    SourceObject { name: ObjectName, source: io::Error },
    #[error("{} object {} not found on the remote ({url}: {why})", .name.objtype, .name.checksum)]
    ObjectNotFound {
        name: ObjectName,
        url: String,
        why: &'static str,
    },
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
    #[error("URI {url} exceeded maximum size of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("Invalid URI scheme in {0}")]
    Url(String),
    #[error("{0}")]
    Summary(String),
    #[error(
        "Remote {0} cached summary invalid and OSTREE_REPO_TEST_ERROR_INVALID_CACHE specified"
    )]
    InvalidCache(String),

    // Static deltas.
    #[error("static delta {name}: {why}")]
    Delta {
        name: crate::delta::DeltaName,
        why: String,
    },
    /// ostree's words: an empty FROM for a commit pulled by checksum.
    #[error("Static deltas required, but none found for {} to {to}", match .from { Some(f) => f.to_string(), None => String::new() })]
    NoDelta {
        from: Option<Checksum>,
        to: Checksum,
    },

    /// A publish target's request failed.
    #[error(transparent)]
    Store(#[from] crate::transfer::store::StoreError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Traverse(#[from] TraverseError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = TransferError> = std::result::Result<T, E>;
