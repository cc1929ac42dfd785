//! Static deltas: precomputed update bundles between two commits.
//!
//! A delta from commit FROM (or from nothing, a "scratch" delta) to commit
//! TO lives in `deltas/` as a *superblock* plus numbered *parts*. The
//! superblock carries the TO commit object, a header per part (checksum,
//! sizes, the objects the part creates) and a list of *fallback* objects the
//! client fetches one by one. Each part is a compressed GVariant holding a
//! table of modes, a table of xattrs, a blob of raw data and a small program
//! (open / write / set-read-source / bspatch / close …) that recreates
//! objects, possibly from objects of the FROM commit.
//!
//! Submodules:
//! - [`superblock`]: the superblock format (`ostree-repo-static-delta-private.h`).
//! - [`part`]: part payloads, compression and the op program.
//! - [`compile`]: generation (`ostree-repo-static-delta-compilation*.c`).
//! - [`apply`]: execution (`ostree-repo-static-delta-processing.c` and
//!   `ostree_repo_static_delta_execute_offline` in `-core.c`).
//! - [`index`]: delta indexes (`delta-indexes/`), listing and deletion.
//! - [`fetch`]: deltas a transfer's source offers, the one a transfer takes
//!   to each target, fetched verified to mirror or apply them
//!   (`ostree-repo-pull.c`).
//!
//! Naming and layout follow `ostree-core.c` (`static_delta_path_base`):
//! checksums are written in "modified base64" (43 characters, `/` → `_`);
//! a delta FROM→TO lives in `deltas/FF/ROM-TO` and a scratch delta in
//! `deltas/TT/O`.

pub mod apply;
pub mod bsdiff;
pub mod compile;
pub mod fetch;
#[doc(hidden)]
pub mod fuzz;
pub mod index;
pub mod part;
pub mod show;
pub mod superblock;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::objects::checksum::{Checksum, ObjectName};
use crate::repo::RepoError;

pub use apply::{apply_offline, describe, ApplyStats, PartInfo};
pub use compile::{
    generate, DeltaFrom, GenerateOptions, GenerateStats, GenerateTarget, InlineParts,
};
pub use index::{advertised_to, delete, exists, list, list_indexes, reindex};
pub use show::{show, DeltaReport, Sizes};
pub use superblock::Superblock;

/// Errors of static-delta generation, parsing and application.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("{0}")]
    Repo(#[from] RepoError),
    #[error("{0}")]
    Traverse(#[from] crate::tree::traverse::TraverseError),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A delta name whose FROM or TO part (named here) is no checksum, in ostree's words.
    #[error("Invalid rev {0}")]
    InvalidName(String),
    #[error("Can't find delta {0}")]
    NotFound(String),
    /// `--set-endianness` other than `l` or `B`.
    #[error("Cannot specify both --empty and --from=REV")]
    EmptyAndFrom,
    #[error("TO revision must be specified")]
    NoTo,
    #[error(transparent)]
    Ref(#[from] crate::repo::refs::RefError),
    #[error("Invalid endianness '{0}'")]
    InvalidEndianness(String),
    #[error("Invalid static delta superblock {path}: {why}")]
    Superblock { path: PathBuf, why: String },
    #[error("Invalid static delta part {part}: {why}")]
    Part { part: String, why: String },
    #[error("Executing delta part {part}: {why}")]
    Execute { part: String, why: String },
    #[error("Commit {0}, which is the delta source, is not in repository")]
    MissingSource(Checksum),
    #[error("Cannot execute delta offline: contains nonempty http fallback entries")]
    HasFallbacks,
    #[error("Checksum mismatch in static delta part {part}; expected={expected} actual={actual}")]
    PartChecksum {
        part: String,
        expected: Checksum,
        actual: Checksum,
    },
    #[error("Delta part {part} has too new version {version}")]
    PartVersion { part: String, version: u32 },
    #[error("Object {0} listed by the delta was not written by it")]
    ObjectNotWritten(ObjectName),
    #[error("Corrupted object {name} in delta (actual checksum {actual})")]
    Corrupted { name: ObjectName, actual: Checksum },
}

pub type Result<T, E = DeltaError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DeltaError {
    let path = path.into();
    move |source| DeltaError::Io { path, source }
}

/// The identity of a delta: an optional source commit and a target commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaName {
    pub from: Option<Checksum>,
    pub to: Checksum,
}

/// As its name (`FROM-TO` or `TO`), the way `static-delta list` prints it.
impl serde::Serialize for DeltaName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl DeltaName {
    pub fn new(from: Option<Checksum>, to: Checksum) -> Self {
        DeltaName { from, to }
    }

    /// The directory of the delta relative to the repository, e.g. `deltas/AB/CD…-EF…`.
    pub fn relative_dir(&self) -> String {
        let to = b64_encode(&self.to);
        match self.from {
            Some(from) => {
                let f = b64_encode(&from);
                format!("deltas/{}/{}-{}", &f[..2], &f[2..], to)
            }
            None => format!("deltas/{}/{}", &to[..2], &to[2..]),
        }
    }

    /// `deltas/…/superblock`.
    pub fn superblock_path(&self) -> String {
        format!("{}/superblock", self.relative_dir())
    }

    /// `deltas/…/N`: also the metadata key of an inline part.
    pub fn part_path(&self, i: usize) -> String {
        format!("{}/{}", self.relative_dir(), i)
    }

    /// `deltas/…/commitmeta`: the metadata key of the TO commit's detached metadata.
    pub fn commitmeta_key(&self) -> String {
        format!("{}/commitmeta", self.relative_dir())
    }
}

impl fmt::Display for DeltaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => write!(f, "{from}-{}", self.to),
            None => write!(f, "{}", self.to),
        }
    }
}

impl FromStr for DeltaName {
    type Err = DeltaError;
    /// `FROM-TO` or `TO`, hex checksums (`_ostree_parse_delta_name`).
    fn from_str(s: &str) -> Result<Self> {
        let part = |p: &str| {
            p.parse::<Checksum>()
                .map_err(|_| DeltaError::InvalidName(p.to_string()))
        };
        match s.split_once('-') {
            Some((a, b)) => Ok(DeltaName {
                from: Some(part(a)?),
                to: part(b)?,
            }),
            None => Ok(DeltaName {
                from: None,
                to: part(s)?,
            }),
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_";

/// Modified base64 of a checksum: 43 characters, no padding, `_` for `/`.
pub fn b64_encode(c: &Checksum) -> String {
    let b = c.as_bytes();
    let mut out = String::with_capacity(44);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod b64_tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = Checksum::digest(b"x");
        let s = b64_encode(&c);
        assert_eq!(s.len(), 43);
        assert!(!s.contains('/') && !s.contains('='));
        assert_eq!(b64_decode(&s), Some(c));
        assert_eq!(b64_decode("short"), None);
    }
}

/// Decodes modified base64 (43 characters; `/` is accepted for `_`).
pub fn b64_decode(s: &str) -> Option<Checksum> {
    if s.len() != 43 {
        return None;
    }
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(33);
    for ch in s.bytes() {
        let v = match ch {
            b'/' => 63,
            _ => B64.iter().position(|&c| c == ch)? as u32,
        };
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if bits != 0 {
        return None;
    }
    Checksum::from_slice(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_matches_the_ostree_docs() {
        let c: Checksum = "1a94f265a56eb768d714f5a73b82c988a11d453bcec3f985502b48296d4d217d"
            .parse()
            .unwrap();
        assert_eq!(
            b64_encode(&c),
            "GpTyZaVut2jXFPWnO4LJiKEdRTvOw_mFUCtIKW1NIX0"
        );
        assert_eq!(
            b64_decode("GpTyZaVut2jXFPWnO4LJiKEdRTvOw_mFUCtIKW1NIX0"),
            Some(c)
        );
        let to: Checksum = "2fc7fe5550e410128d73535c77e98352b495478132c9b4060a4b8ab640e74f09"
            .parse()
            .unwrap();
        let name = DeltaName::new(Some(c), to);
        assert_eq!(name.relative_dir(), "deltas/Gp/TyZaVut2jXFPWnO4LJiKEdRTvOw_mFUCtIKW1NIX0-L8f+VVDkEBKNc1Ncd+mDUrSVR4EyybQGCkuKtkDnTwk");
        assert_eq!(name.to_string().parse::<DeltaName>().unwrap(), name);
        assert_eq!(
            DeltaName::new(None, to).relative_dir(),
            "deltas/L8/f+VVDkEBKNc1Ncd+mDUrSVR4EyybQGCkuKtkDnTwk"
        );
        assert!(b64_decode("short").is_none());
    }
}
